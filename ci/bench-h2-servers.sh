#!/usr/bin/env bash
# `proto = "h2"` servers: gwd in front of nginx speaking h2c (prior
# knowledge), one worker thread, the shared HTTP/2 connection per server;
# two gwd binaries side by side in the same rounds (before/after).
#
#   GWD=PATH GWD_BASELINE=PATH ci/bench-h2-servers.sh [--duration SECS] [--rounds N]
#
# Loads on each gwd: wrk -t1 -c50 (HTTP/1.1 visitors) and h2load -t1 -c50
# -m10 (h2c visitors), each bounded in time. Prints requests/s and gwd's
# CPU-seconds (user+system, /proc/PID/stat) per 100k requests, per target,
# load and round. Every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
: "${GWD:?GWD=path to the gwd binary under test}"
: "${GWD_BASELINE:?GWD_BASELINE=path to the gwd binary to compare with}"
NGINX=nginx; WRK=wrk; H2LOAD=h2load

source ci/lib.sh
bench_workdir gwd-bench-h2s

NGINX_PORT=18090; NGINX_H2C=18091
bench_start_nginx "$NGINX_PORT" "listen 127.0.0.1:$NGINX_H2C http2;"

start_gwd() { # binary h1-port h2-port -> pid in $STARTED
  cat > "$WORK/gw-$2.toml" <<CONF
[global]
nbthread = 1

[defaults]
timeout.connect = "5s"
timeout.client = "30s"
timeout.server = "30s"
http-reuse = "always"

[frontend.bench]
bind = [ { addr = "127.0.0.1:$2" }, { addr = "127.0.0.1:$3", proto = "h2" } ]
default_backend = "nginx"

[backend.nginx]
server = [ { name = "n1", addr = "127.0.0.1:$NGINX_H2C", proto = "h2" } ]
CONF
  RUST_LOG=warn "$1" --config "$WORK/gw-$2.toml" 2>"$WORK/gwd-$2.log" &
  STARTED=$!
  PIDS+=($STARTED)
}
start_gwd "$GWD" 18092 18093; NEW_PID=$STARTED
start_gwd "$GWD_BASELINE" 18094 18095; BASE_PID=$STARTED
for p in $NGINX_PORT $NGINX_H2C 18092 18093 18094 18095; do wait_port "$p"; done
for p in 18092 18094; do
  code=$(http_status "$p")
  [ "$code" = 200 ] || { echo "127.0.0.1:$p answers $code, not 200" >&2; exit 1; }
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)

run_one() { # name load port pid
  local name=$1 load=$2 port=$3 pid=$4 before after out rps
  before=$(cpu_ticks "$pid")
  if [ "$load" = h1 ]; then
    out=$(timeout $((DURATION + 20)) $WRK -t1 -c50 -d"${DURATION}s" "http://127.0.0.1:$port/")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  else
    out=$(timeout $((DURATION + 20)) $H2LOAD -t1 -c50 -m10 -D "$DURATION" "http://127.0.0.1:$port/")
    rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
  fi
  after=$(cpu_ticks "$pid")
  python3 - "$name" "$load" "$rps" "$((after - before))" "$TCK" "$DURATION" <<'PY'
import sys
name, load, rps, ticks, tck, dur = sys.argv[1:]
rps = float(rps)
cpu = int(ticks) / int(tck)
reqs = rps * float(dur)
print(f"{name}\t{load}\t{rps:.0f} req/s\t{cpu / reqs * 100000 if reqs else 0:.3f} CPU-s/100k")
PY
}

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS"
  run_one gwd h1 18092 "$NEW_PID"
  run_one gwd-base h1 18094 "$BASE_PID"
  run_one gwd h2c 18093 "$NEW_PID"
  run_one gwd-base h2c 18095 "$BASE_PID"
done
