#!/usr/bin/env bash
# Whole-process load benchmark: nginx direct, gwd in front of nginx, and
# HAProxy in front of nginx, on loopback, same settings (one worker thread
# each, keep-alive to the server), in one run.
#
#   ci/bench.sh [--duration SECS] [--rounds N] [--connections C] [--out FILE]
#               [--maxpollevents N] [--loads LIST]
#
# GWD_BIN=PATH runs that gwd binary (a profile-guided build from
# ci/pgo-build.sh, say) instead of building target/release/gwd.
# --maxpollevents N sets `tune.maxpollevents N` in gwd's config and
# HAProxy's alike (GWD_BASELINE's too: an older build may refuse it).
# GWD_BASELINE=PATH also runs that gwd binary (an earlier build) as target
# "gwd-base" in the same rounds, for before/after figures in one run.
#
# With GWD_BENCH_KIT=DIR (made by ci/bench-kit.sh) every program comes from
# that folder and nothing is installed or built. With 4 CPUs or more, nginx,
# the proxy under test and the load generator are pinned to separate CPUs.
#
# Loads (--loads picks some, comma-separated; all by default):
#   h1      wrk -c50, GET of a 1 KiB page over HTTP/1.1
#   h2      h2load -c50 -m10, the same page over h2c (prior knowledge)
#   post    wrk -c50 POSTing 1 MiB bodies over HTTP/1.1 (nginx reads each
#           whole body, then answers: bench_upload_location)
#   get1m   wrk -c50, GET of a 1 MiB file over HTTP/1.1
#   h2post  h2load -c50 -m1 uploading 1 MiB bodies over h2c
# Prints requests/s, p99 latency, proxy CPU-seconds per 100k requests and
# the proxy's peak RSS during the load (VmHWM, reset before each load
# through /proc/PID/clear_refs) for each target and round, then the
# medians and the gwd/HAProxy ratios.
# Every load is bounded in time; every process started here is stopped on
# exit. The TCP-mode relay has its own script: ci/bench-tcp.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10
ROUNDS=3
CONNS=50
OUT=""
LOADS=h1,h2,post,get1m,h2post
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --maxpollevents) BENCH_MAXPOLL="$2"; shift 2 ;;
    --loads) LOADS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [ -n "${GWD_BENCH_KIT:-}" ]; then
  KIT=$(cd "$GWD_BENCH_KIT" && pwd)
  LD="$KIT/lib/ld-linux-x86-64.so.2 --library-path $KIT/lib"
  HAPROXY="$LD $KIT/bin/haproxy"; NGINX="$LD $KIT/bin/nginx"; WRK="$LD $KIT/bin/wrk"
  H2LOAD="$LD $KIT/bin/h2load"; TASKSET="$LD $KIT/bin/taskset"; GWD="$LD $KIT/bin/gwd"
else
  need=()
  command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
  command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
  if [ "${#need[@]}" -gt 0 ]; then
    echo "installing: ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  [ -n "${GWD_BIN:-}" ] || cargo build --release -p gwd >&2
  HAPROXY=haproxy; NGINX=nginx; WRK=wrk; H2LOAD=h2load; TASKSET=taskset
  GWD="${GWD_BIN:-$PWD/target/release/gwd}"
fi

# CPU pinning: nginx, the proxy under test and the load generator each on
# their own CPU when there are enough of them.
if [ "$(nproc)" -ge 4 ]; then
  PIN_NGINX="$TASKSET -c 1"; PIN_PROXY="$TASKSET -c 2"; PIN_LOAD="$TASKSET -c 3"
else
  PIN_NGINX=""; PIN_PROXY=""; PIN_LOAD=""
fi

source ci/lib.sh
bench_workdir gwd-bench

NGINX_PORT=18080; GWD_H1=18081; GWD_H2=18082; HAP_H1=18083; HAP_H2=18084
BASE_H1=18086; BASE_H2=18087

# --- nginx: the server behind both proxies (1 KiB static body, /1m.bin;
# /upload reads up to 2 MiB, then answers "ok") ---
bench_start_nginx "$NGINX_PORT" "listen 127.0.0.1:18085 http2; $(bench_upload_location)"
# The POST load: 1 MiB bodies.
cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.path = "/upload"
wrk.body = string.rep("x", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
LUA
head -c 1048576 /dev/zero | tr '\0' 'z' > "$WORK/upload.bin"

# --- gwd ---
bench_gwd_toml "$WORK/gw.toml" \
  "{ addr = \"127.0.0.1:$GWD_H1\" }, { addr = \"127.0.0.1:$GWD_H2\", proto = \"h2\" }" \
  "$NGINX_PORT"
RUST_LOG=warn $PIN_PROXY $GWD --config "$WORK/gw.toml" 2>"$WORK/gwd.log" &
GWD_PID=$!
PIDS+=($GWD_PID)
BASE_PID=""
if [ -n "${GWD_BASELINE:-}" ]; then
  sed -e "s/:$GWD_H1\"/:$BASE_H1\"/" -e "s/:$GWD_H2\"/:$BASE_H2\"/" "$WORK/gw.toml" > "$WORK/base.toml"
  RUST_LOG=warn $PIN_PROXY "$GWD_BASELINE" --config "$WORK/base.toml" 2>"$WORK/base.log" &
  BASE_PID=$!
  PIDS+=($BASE_PID)
fi

# --- HAProxy ---
bench_haproxy_cfg "$WORK/haproxy.cfg" "$NGINX_PORT" "127.0.0.1:$HAP_H1" "127.0.0.1:$HAP_H2 proto h2"
$PIN_PROXY $HAPROXY -q -f "$WORK/haproxy.cfg" &
HAP_PID=$!
PIDS+=($HAP_PID)

BASE_PORTS=""
[ -n "$BASE_PID" ] && BASE_PORTS="$BASE_H1 $BASE_H2"
for p in $NGINX_PORT $GWD_H1 $GWD_H2 $HAP_H1 $HAP_H2 $BASE_PORTS; do wait_port "$p"; done
# Every target must serve the 1 KiB page, not an error page.
for p in $NGINX_PORT $GWD_H1 $HAP_H1 ${BASE_PORTS%% *}; do
  code=$(http_status "$p")
  [ "$code" = 200 ] || { echo "127.0.0.1:$p answers $code, not 200" >&2; exit 1; }
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
child_of() { # first child pid of $1, from /proc (no procps needed)
  local d
  for d in /proc/[0-9]*; do
    if [ "$(awk '{print $4}' "$d/stat" 2>/dev/null)" = "$1" ]; then basename "$d"; return; fi
  done
}
NGINX_WORKER=$(child_of "$(cat "$WORK/nginx/nginx.pid")")

RESULTS="$WORK/results.tsv"
: > "$RESULTS"
# Peak RSS over one load: the kernel's high-water mark, reset first.
reset_peak() { echo 5 > "/proc/$1/clear_refs" 2>/dev/null || true; }
peak_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
run_one() { # name load port pid
  local name=$1 proto=$2 port=$3 pid=$4 before after out rps p99 peak
  reset_peak "$pid"
  before=$(cpu_ticks "$pid")
  case "$proto" in
  h1|post|get1m)
    local script="" path=/
    [ "$proto" = post ] && script="-s $WORK/post.lua"
    [ "$proto" = get1m ] && path=/1m.bin
    out=$(timeout $((DURATION + 20)) $PIN_LOAD $WRK -t1 -c"$CONNS" -d"${DURATION}s" $script --latency "http://127.0.0.1:$port$path")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    ;;
  *)
    local args="-m10" path=/
    [ "$proto" = h2post ] && args="-m1 -d $WORK/upload.bin" && path=/upload
    rm -f "$WORK/h2.log"
    out=$(timeout $((DURATION + 20)) $PIN_LOAD $H2LOAD -t1 -c"$CONNS" $args -D "$DURATION" --log-file="$WORK/h2.log" "http://127.0.0.1:$port$path")
    rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
    p99=$(awk '{print $3}' "$WORK/h2.log" | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2fms", a[i]/1000}')
    # Every stream must have got its 200 (an upload refused or cut short
    # is not an upload measured).
    if awk '$2 != 200 {bad=1} END {exit !bad}' "$WORK/h2.log"; then
      echo "$name $proto: some streams did not end in 200" >&2
    fi
    ;;
  esac
  after=$(cpu_ticks "$pid")
  peak=$(peak_kib "$pid")
  python3 - "$name" "$proto" "$rps" "$p99" "$((after - before))" "$TCK" "$DURATION" "$peak" >>"$RESULTS" <<'PY'
import sys
name, proto, rps, p99, ticks, tck, dur, peak = sys.argv[1:]
rps = float(rps)
def ms(s):
    s = s.strip()
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if s.endswith(unit):
            return float(s[: -len(unit)]) * f
    return float(s)
cpu = int(ticks) / int(tck)
reqs = rps * float(dur)
print(f"{name}\t{proto}\t{rps:.0f}\t{ms(p99):.2f}\t{cpu / reqs * 100000 if reqs else 0:.3f}\t{int(peak) / 1024:.1f}")
PY
}

# nginx's h2c port for the HTTP/2 loads, each proxy's own otherwise.
port_of() { # target load
  case "$1:$2" in
  nginx:h2|nginx:h2post) echo 18085 ;;
  nginx:*) echo $NGINX_PORT ;;
  gwd:h2|gwd:h2post) echo $GWD_H2 ;;
  gwd:*) echo $GWD_H1 ;;
  gwd-base:h2|gwd-base:h2post) echo $BASE_H2 ;;
  gwd-base:*) echo $BASE_H1 ;;
  haproxy:h2|haproxy:h2post) echo $HAP_H2 ;;
  haproxy:*) echo $HAP_H1 ;;
  esac
}
for load in ${LOADS//,/ }; do
  case "$load" in h1|h2|post|get1m|h2post) ;; *) echo "unknown load: $load" >&2; exit 2 ;; esac
done
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  for load in ${LOADS//,/ }; do
    run_one nginx "$load" "$(port_of nginx "$load")" "$NGINX_WORKER"
    run_one gwd "$load" "$(port_of gwd "$load")" $GWD_PID
    [ -n "$BASE_PID" ] && run_one gwd-base "$load" "$(port_of gwd-base "$load")" $BASE_PID
    run_one haproxy "$load" "$(port_of haproxy "$load")" $HAP_PID
  done
done

python3 - "$RESULTS" "$DURATION" "$ROUNDS" "$CONNS" <<'PY' | tee "${OUT:-/dev/null}"
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
dur, rounds, conns = sys.argv[2:]
print(f"# ci/bench.sh: {rounds} rounds x {dur}s, {conns} connections; h2: -m10; one worker thread each")
print("target   load   round  req/s     p99(ms)  cpu-s/100k-req  peak-rss(MiB)")
seen = {}
for name, proto, rps, p99, cpu, rss in rows:
    k = (name, proto)
    seen.setdefault(k, []).append((float(rps), float(p99), float(cpu), float(rss)))
    print(f"{name:8} {proto:6} {len(seen[k]):5}  {float(rps):8.0f}  {float(p99):7.2f}  {float(cpu):8.3f}        {float(rss):6.1f}")
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(4)) for k, v in seen.items()}
print()
print("medians:")
for k, (rps, p99, cpu, rss) in sorted(med.items()):
    print(f"  {k[0]:8} {k[1]}: {rps:8.0f} req/s  p99 {p99:6.2f} ms  {cpu:7.3f} cpu-s/100k  peak RSS {rss:6.1f} MiB")
print()
for proto in ("h1", "h2", "post", "get1m", "h2post"):
    g, h = med.get(("gwd", proto)), med.get(("haproxy", proto))
    if g and h:
        print(f"gwd/haproxy {proto}: req/s x{g[0]/h[0]:.2f}, cpu per request x{g[2]/h[2]:.2f}, p99 x{g[1]/h[1]:.2f}, peak RSS x{g[3]/h[3]:.2f}")
    b = med.get(("gwd-base", proto))
    if g and b:
        print(f"gwd/gwd-base {proto}: req/s x{g[0]/b[0]:.2f}, cpu per request x{g[2]/b[2]:.2f}, p99 x{g[1]/b[1]:.2f}, peak RSS x{g[3]/b[3]:.2f}")
PY
