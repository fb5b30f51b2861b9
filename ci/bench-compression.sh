#!/usr/bin/env bash
# Response compression benchmark: gwd and HAProxy (2.6, libslz) in front of
# the same nginx serving a 100 KB text page, both compressing it with gzip,
# on loopback, in one run.
#
#   ci/bench-compression.sh [--duration SECS] [--rounds N] [--connections C]
#
# GWD=PATH uses that gwd binary instead of building target/release/gwd.
# LOAD_AE=VALUE sends that Accept-Encoding in the load instead of gzip
# (LOAD_AE=identity: the same proxies relaying the page uncompressed, the
# cost of everything but the compression).
# Load: wrk -t1 -cC -dSECS with `Accept-Encoding: gzip`, the targets
# alternating round by round. Before the load, each proxy must answer the
# page gzip'd (checked with curl, decoded and compared with the page).
# Prints, per target and round, requests/s, the proxy's CPU-milliseconds
# per request and the compressed size, then the medians and the gwd/HAProxy
# ratios. Every load is bounded in time; every process started here is
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10
ROUNDS=3
CONNS=20
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

for tool in haproxy nginx wrk curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "needs $tool" >&2; exit 1; }
done
if [ -z "${GWD:-}" ]; then
  cargo build --release -p gwd >&2
  GWD="$PWD/target/release/gwd"
fi
HAPROXY=haproxy; NGINX=nginx; WRK=wrk
PIN_NGINX=""; PIN_PROXY=""

source ci/lib.sh
bench_workdir gwd-comp-bench

NGINX_PORT=28180; GWD_PORT=28181; HAP_PORT=28182

# --- nginx: the page is 100 KB of the project's own prose (real text,
# as compressible as web pages are) ---
bench_start_nginx "$NGINX_PORT"
cat docs/*.md docs/*.md > "$WORK/prose.txt"
head -c 102400 "$WORK/prose.txt" > "$WORK/www/index.html"
PAGE="$WORK/www/index.html"

# --- gwd ---
cat > "$WORK/gw.toml" <<CONF
[global]
nbthread = 1

[defaults]
timeout.connect = "5s"
timeout.client = "30s"
timeout.server = "30s"
http-reuse = "safe"
compression.algo = ["gzip"]
compression.type = ["text/html", "text/plain"]

[frontend.bench]
bind = [ { addr = "127.0.0.1:$GWD_PORT" } ]
default_backend = "nginx"

[backend.nginx]
server = [ { name = "n1", addr = "127.0.0.1:$NGINX_PORT" } ]
CONF
RUST_LOG=warn $GWD --config "$WORK/gw.toml" 2>"$WORK/gwd.log" &
GWD_PID=$!
PIDS+=($GWD_PID)

# --- HAProxy (its default tune.comp.maxlevel is 1) ---
cat > "$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse safe
  compression algo gzip
  compression type text/html text/plain
frontend bench
  bind 127.0.0.1:$HAP_PORT
  default_backend nginx
backend nginx
  server n1 127.0.0.1:$NGINX_PORT
CONF
$HAPROXY -q -f "$WORK/haproxy.cfg" &
HAP_PID=$!
PIDS+=($HAP_PID)

for p in $NGINX_PORT $GWD_PORT $HAP_PORT; do wait_port "$p"; done

# Each proxy answers the page gzip'd, and it decodes to the page.
declare -A SIZE
for t in gwd:$GWD_PORT haproxy:$HAP_PORT; do
  name=${t%%:*}; port=${t#*:}
  head=$(curl -s -o "$WORK/$name.gz" -D - -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/")
  grep -qi '^content-encoding: gzip' <<<"$head" || { echo "$name does not gzip:" >&2; echo "$head" >&2; exit 1; }
  gzip -dc < "$WORK/$name.gz" | cmp -s - "$PAGE" || { echo "$name's gzip does not decode to the page" >&2; exit 1; }
  SIZE[$name]=$(stat -c %s "$WORK/$name.gz")
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
RESULTS="$WORK/results.tsv"
: > "$RESULTS"
run_one() { # name port pid
  local name=$1 port=$2 pid=$3 before after out rps
  before=$(cpu_ticks "$pid")
  out=$(timeout $((DURATION + 20)) $WRK -t1 -c"$CONNS" -d"${DURATION}s" -H "Accept-Encoding: ${LOAD_AE:-gzip}" "http://127.0.0.1:$port/")
  after=$(cpu_ticks "$pid")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  python3 - "$name" "$rps" "$((after - before))" "$TCK" "$DURATION" "${SIZE[$name]}" >>"$RESULTS" <<'PY'
import sys
name, rps, ticks, tck, dur, size = sys.argv[1:]
rps = float(rps)
reqs = rps * float(dur)
cpu_ms = int(ticks) / int(tck) * 1000 / reqs if reqs else 0
print(f"{name}\t{rps:.0f}\t{cpu_ms:.3f}\t{size}")
PY
}

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  run_one gwd $GWD_PORT $GWD_PID
  run_one haproxy $HAP_PORT $HAP_PID
done

python3 - "$RESULTS" "$(stat -c %s "$PAGE")" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
page = int(sys.argv[2])
import os
print(f"page: {page} bytes, gzip on both proxies, load with Accept-Encoding: {os.environ.get('LOAD_AE', 'gzip')}")
print("target   round  req/s   cpu-ms/req  gzip bytes")
seen = {}
for name, rps, cpu, size in rows:
    seen.setdefault(name, []).append((float(rps), float(cpu), int(size)))
    print(f"{name:8} {len(seen[name]):5}  {float(rps):6.0f}  {float(cpu):10.3f}  {size}")
med = {n: (statistics.median(r for r, _, _ in v), statistics.median(c for _, c, _ in v), v[0][2]) for n, v in seen.items()}
print("medians:")
for n, (r, c, s) in med.items():
    print(f"  {n:8} {r:6.0f} req/s  {c:.3f} cpu-ms/req  {s} bytes ({s / page:.1%} of the page)")
g, h = med["gwd"], med["haproxy"]
print(f"gwd/haproxy: throughput {g[0] / h[0]:.2f}x, cpu per request {g[1] / h[1]:.2f}x, size {g[2] / h[2]:.2f}x")
PY
