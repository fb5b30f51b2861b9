#!/usr/bin/env bash
# CPU cost of active health checks, gwd against HAProxy in one run
# (issue 12's target: checks on 1,000 servers with `inter 2s` cost at most
# 1 % of one core). Each proxy gets one backend of SERVERS servers, all
# checked every 2 s (spread over the interval), all pointing at one nginx;
# no request is sent. After a warm-up of one interval, the proxy's
# user+system CPU time is read from /proc over WINDOW seconds and printed
# as a percentage of one core, for TCP checks (Layer4) and for HTTP checks
# (`option httpchk GET /`).
#
#   ci/checks-cost.sh [--servers N] [--window S] [--gwd PATH]
#
# Defaults: 1000 servers, 20 s, target/release/gwd (built here if
# missing). Loopback only; every wait is bounded; every process started
# here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh

SERVERS=1000
WINDOW=20
GWD=target/release/gwd
while [ $# -gt 0 ]; do
  case "$1" in
    --servers) SERVERS="$2"; shift 2 ;;
    --window) WINDOW="$2"; shift 2 ;;
    --gwd) GWD="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -x "$GWD" ] || cargo build --release -p gwd
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || true)

bench_workdir gwd-checks-cost
NGINX_PORT=19401
bench_start_nginx $NGINX_PORT
wait_port $NGINX_PORT

# CPU seconds (user+system) of a process, from /proc/<pid>/stat.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Measures $1 (a pid) over WINDOW seconds after one interval of warm-up;
# prints the share of one core in percent.
measure() {
  sleep 3
  local t0 t1 hz
  hz=$(getconf CLK_TCK)
  t0=$(cpu_ticks "$1")
  sleep "$WINDOW"
  t1=$(cpu_ticks "$1")
  awk -v a="$t0" -v b="$t1" -v hz="$hz" -v w="$WINDOW" 'BEGIN { printf "%.2f", (b - a) / hz / w * 100 }'
}

gwd_conf() { # $1: "l4" or "l7"
  {
    echo '[defaults]'
    echo 'timeout.connect = "1s"'
    echo 'timeout.client = "30s"'
    echo 'timeout.server = "30s"'
    echo 'timeout.check = "1s"'
    echo '[frontend.www]'
    echo 'bind = [ { addr = "127.0.0.1:19402" } ]'
    echo 'default_backend = "app"'
    echo '[backend.app]'
    [ "$1" = l7 ] && echo 'option.httpchk = "GET /"'
    echo 'server = ['
    for i in $(seq 1 "$SERVERS"); do
      echo "  { name = \"s$i\", addr = \"127.0.0.1:$NGINX_PORT\", check = true, inter = \"2s\" },"
    done
    echo ']'
  } > "$WORK/gw-$1.toml"
}

hap_conf() { # $1: "l4" or "l7"
  {
    echo 'defaults'
    echo '    mode http'
    echo '    timeout connect 1s'
    echo '    timeout client 30s'
    echo '    timeout server 30s'
    echo '    timeout check 1s'
    echo 'frontend www'
    echo '    bind 127.0.0.1:19403'
    echo '    default_backend app'
    echo 'backend app'
    [ "$1" = l7 ] && echo '    option httpchk GET /'
    for i in $(seq 1 "$SERVERS"); do
      echo "    server s$i 127.0.0.1:$NGINX_PORT check inter 2s"
    done
  } > "$WORK/haproxy-$1.cfg"
}

echo "health checks: $SERVERS servers, inter 2s, CPU over ${WINDOW}s (percent of one core)"
echo "machine: $(nproc) cores; gwd: $GWD; haproxy: ${HAPROXY:-none} $($HAPROXY -v 2>/dev/null | head -1 | awk '{print $3}')"
for kind in l4 l7; do
  gwd_conf $kind
  "$GWD" --config "$WORK/gw-$kind.toml" 2>"$WORK/gwd-$kind.log" &
  pid=$!
  PIDS+=($pid)
  wait_port 19402
  g=$(measure $pid)
  down=$(grep -c "is DOWN" "$WORK/gwd-$kind.log" || true)
  kill $pid; wait $pid 2>/dev/null || true
  h="-"
  if [ -n "$HAPROXY" ]; then
    hap_conf $kind
    "$HAPROXY" -f "$WORK/haproxy-$kind.cfg" -db 2>"$WORK/hap-$kind.log" &
    hpid=$!
    PIDS+=($hpid)
    wait_port 19403
    h=$(measure $hpid)
    kill $hpid; wait $hpid 2>/dev/null || true
  fi
  name=$([ $kind = l4 ] && echo "TCP (L4)" || echo "HTTP (L7)")
  echo "$name checks: gwd ${g}% (servers marked DOWN: $down), HAProxy ${h}%"
done
