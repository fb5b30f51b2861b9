#!/usr/bin/env bash
# User-space work per HTTP/1.1 request, gwd against HAProxy, counted by
# valgrind's callgrind with its cache and branch models: instructions
# (Ir), data reads and writes, L1 instruction and data misses, and
# conditional and indirect branch mispredictions, per request.
#
#   ci/instructions.sh [--requests N] [--gwd PATH] [--chain]
#
# --chain counts the reverse chain instead, each side apart: visitor ->
# gateway -> TLS+h2 tunnel -> origin -> nginx, gwd on both sides against
# HAProxy 3.0 on both sides (Debian trixie's, fetched into target/haproxy3
# as ci/bench-chain.sh does; the configs are ci/bench-chain.sh's, from
# ci/lib.sh). Instructions only: no cache or branch model.
#
# Each proxy runs under callgrind in front of nginx (one thread, the same
# settings as ci/bench.sh) twice: once for N/6 requests and once for N
# (h2load --h1 -c50 -t1); the difference divided by the extra requests
# leaves start-up and shutdown out. Counts are of the proxy's own code,
# not the kernel's; they do not depend on what else the machine runs,
# though batching (how many requests one wake-up serves) moves the
# instruction-cache miss count by up to a third between runs of the same
# binary (gwd's release build: 302 to 439). Instructions are stable to
# 1 %; compare miss counts only across several runs.
# Loopback only; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
N=12000
GWD=""
CHAIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) N="$2"; shift 2 ;;
    --gwd) GWD="$2"; shift 2 ;;
    --chain) CHAIN=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
need=()
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ -z "$GWD" ]; then
  cargo build --release -p gwd >&2
  GWD="$PWD/target/release/gwd"
fi
source ci/lib.sh
NGINX=nginx
bench_workdir gwd-instructions
NGINX_PORT=18680; PROXY_PORT=18681
bench_start_nginx "$NGINX_PORT"

if [ -n "$CHAIN" ]; then
  VIS_PORT=18682; REG_PORT=18683; PKI="$PWD/examples/reverse/pki"
  fetch_haproxy3 "$PWD"
  L="$PWD/target/haproxy3/root/usr/lib/x86_64-linux-gnu"
  chain_gwd_configs "$WORK" "$NGINX_PORT" "$VIS_PORT" "$REG_PORT" "$PKI"
  chain_haproxy_configs "$WORK" "$NGINX_PORT" "$VIS_PORT" "$REG_PORT" "$PKI"
  wait_port "$NGINX_PORT"
  # Starts $1 (gateway|origin) of $2 (gwd|haproxy) under callgrind into
  # $WORK/$2-$1.cg; its pid in STARTED.
  under_callgrind() {
    local out="$WORK/$2-$1.cg"
    rm -f "$out"
    if [ "$2" = gwd ]; then
      RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$GWD" --config "$WORK/$1.toml" >/dev/null 2>"$WORK/vg-$2-$1.log" &
    else
      valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$L/ld-linux-x86-64.so.2" --library-path "$L" \
        "$PWD/target/haproxy3/root/usr/sbin/haproxy" -db -f "$WORK/hap-$1.cfg" \
        >/dev/null 2>"$WORK/vg-$2-$1.log" &
    fi
    STARTED=$!
    PIDS+=("$STARTED")
  }
  # Runs $1's chain for $2 requests; prints the gateway's and the
  # origin's totals.
  chain_counts() {
    local g o load
    under_callgrind gateway "$1"; g=$STARTED
    wait_port "$REG_PORT"
    under_callgrind origin "$1"; o=$STARTED
    # The origin's tunnels come up under callgrind in seconds: ask until
    # the chain answers (bounded).
    for _ in $(seq 1 600); do
      [ "$(http_status "$VIS_PORT" app.localhost)" = 200 ] && break
      sleep 0.1
    done
    load=$(h2load --h1 -n "$2" -c 50 -t 1 -H ':authority: app.localhost' "http://127.0.0.1:$VIS_PORT/")
    case "$load" in
      *"$2 succeeded, 0 failed"*) ;;
      *) echo "$1: requests failed: $load" >&2; exit 1 ;;
    esac
    kill -TERM "$o"; wait "$o" 2>/dev/null || true
    kill -TERM "$g"; wait "$g" 2>/dev/null || true
    for side in gateway origin; do
      grep -E "^(summary|totals):" "$WORK/$1-$side.cg" | head -1 | cut -d' ' -f2
    done
  }
  few=$((N / 6))
  printf '%-8s %9s %9s\n' proxy gateway origin
  for who in gwd haproxy; do
    chain_counts "$who" "$few" > "$WORK/few"
    chain_counts "$who" "$N" > "$WORK/all"
    a=($(cat "$WORK/few")); b=($(cat "$WORK/all"))
    n=$((N - few))
    printf '%-8s %9d %9d\n' "$who" $(( (b[0] - a[0]) / n )) $(( (b[1] - a[1]) / n ))
  done
  echo "(instructions per request, each side's own code, not the kernel's)"
  exit 0
fi
bench_gwd_toml "$WORK/gw.toml" "{ addr = \"127.0.0.1:$PROXY_PORT\" }" "$NGINX_PORT"
bench_haproxy_cfg "$WORK/haproxy.cfg" "$NGINX_PORT" "127.0.0.1:$PROXY_PORT"
wait_port "$NGINX_PORT"

# Runs $1 (gwd|haproxy) under callgrind for $2 requests; prints the
# totals line's counts.
counts() {
  local out="$WORK/cg.out"
  rm -f "$out"
  if [ "$1" = gwd ]; then
    RUST_LOG=warn valgrind --tool=callgrind --cache-sim=yes --branch-sim=yes \
      --callgrind-out-file="$out" "$GWD" --config "$WORK/gw.toml" 2>"$WORK/vg.log" &
  else
    valgrind --tool=callgrind --cache-sim=yes --branch-sim=yes \
      --callgrind-out-file="$out" haproxy -db -f "$WORK/haproxy.cfg" 2>"$WORK/vg.log" &
  fi
  local pid=$!
  wait_port "$PROXY_PORT"
  local load
  load=$(h2load --h1 -n "$2" -c 50 -t 1 "http://127.0.0.1:$PROXY_PORT/")
  case "$load" in
    *"$2 succeeded, 0 failed"*) ;;
    *) echo "$1: requests failed: $load" >&2; kill "$pid"; exit 1 ;;
  esac
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  grep -E "^(summary|totals):" "$out" | head -1 | cut -d' ' -f2-
}
few=$((N / 6))
printf '%-8s %7s %6s %6s %6s %6s %6s %6s %6s\n' proxy Ir Dr Dw I1mr D1mr D1mw Bcm Bim
for who in gwd haproxy; do
  a=$(counts "$who" "$few")
  b=$(counts "$who" "$N")
  python3 - "$who" "$a" "$b" "$((N - few))" <<'PY'
import sys
who, a, b, n = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4])
names = "Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw Bc Bcm Bi Bim".split()
d = {k: (int(y) - int(x)) / n for k, x, y in zip(names, a, b)}
print(f"{who:8} " + " ".join(f"{d[k]:6.0f}" if k != "Ir" else f"{d[k]:7.0f}"
      for k in "Ir Dr Dw I1mr D1mr D1mw Bcm Bim".split()))
PY
done
echo "(per request; Ir instructions, Dr/Dw data reads/writes, I1mr/D1mr/D1mw L1 misses, Bcm/Bim conditional/indirect mispredictions)"
