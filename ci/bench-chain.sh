#!/usr/bin/env bash
# Reverse-HTTP chain benchmark (issues 3 and 10): the same HTTP/1.1 load
# through
#   A. visitor -> gwd gateway -> TLS+h2 tunnel -> gwd origin -> nginx
#   B. visitor -> gwd hop 1 -> TLS+h2 connection -> gwd hop 2 -> nginx
#   C. (--haproxy) visitor -> HAProxy 3 gateway -> tunnel -> HAProxy 3
#      origin -> nginx: the same chain as A, HAProxy's `rhttp` both sides
# B is two plain proxy hops with an ordinary HTTP/2-over-TLS server
# connection in between, so A-vs-B isolates what a reversed tunnel costs;
# A-vs-C is issue 10's target (each side <= 0.7x HAProxy's CPU per
# request, throughput >= 1.3x).
#
#   ci/bench-chain.sh [--duration SECS] [--rounds N] [--connections C]
#                     [--haproxy] [--h2c] [--maxpollevents N] [--large]
#
# GWD_BIN=PATH runs that gwd binary (a profile-guided build from
# ci/pgo-build.sh, say) instead of building target/release/gwd;
# GWD_BASELINE=PATH adds chain A0, chain A with that binary as gateway and
# origin, round by round beside A (a before/after comparison in one run).
# --haproxy runs C with HAProxy 3.0 from Debian trixie, fetched into
# target/haproxy3 as ci/rhttp-interop.sh does (HAPROXY=/path/to/haproxy
# runs another 3.x build); --h2c adds the same rounds with h2c visitors
# (h2load -t1 -c10 -m10 prior knowledge, HTTP/2 to the gateway).
# --maxpollevents N sets `tune.maxpollevents N` in every proxy's config,
# gwd's and HAProxy's alike. --large fetches nginx's 1 MiB file instead of
# the 1 KiB page: answers that cross the tunnel as many DATA frames.
#
# Prints requests/s, p99 and CPU-seconds per 100k requests of each proxy
# process, and the machine's idle share (a chain whose CPU sits idle is
# bound by its latency, not its CPU), per round, then medians and the
# ratios. Uses the committed
# test PKI (examples/reverse/pki). With 5 CPUs or more, nginx, each proxy
# and the load get their own CPU. Every process started here is stopped
# on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10; ROUNDS=3; CONNS=50; WITH_HAPROXY=""; WITH_H2C=""; URL_PATH=/; BODY="1 KiB body"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --haproxy) WITH_HAPROXY=1; shift ;;
    --h2c) WITH_H2C=1; shift ;;
    --maxpollevents) BENCH_MAXPOLL="$2"; shift 2 ;;
    --large) URL_PATH=/1m.bin; BODY="1 MiB body"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [ -n "${GWD_BENCH_KIT:-}" ]; then
  KIT=$(cd "$GWD_BENCH_KIT" && pwd)
  LD="$KIT/lib/ld-linux-x86-64.so.2 --library-path $KIT/lib"
  NGINX="$LD $KIT/bin/nginx"; WRK="$LD $KIT/bin/wrk"; TASKSET="$LD $KIT/bin/taskset"; GWD="$LD $KIT/bin/gwd"
else
  need=()
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
  [ -n "$WITH_H2C" ] && ! command -v h2load >/dev/null 2>&1 && need+=(nghttp2-client)
  if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  [ -n "${GWD_BIN:-}" ] || cargo build --release -q -p gwd >&2
  NGINX=nginx; WRK=wrk; TASKSET=taskset; GWD="${GWD_BIN:-$PWD/target/release/gwd}"
fi
if [ "$(nproc)" -ge 5 ]; then
  PIN_NGINX="$TASKSET -c 1"; PIN_A="$TASKSET -c 2"; PIN_B="$TASKSET -c 3"; PIN_LOAD="$TASKSET -c 4"
else
  PIN_NGINX=""; PIN_A=""; PIN_B=""; PIN_LOAD=""
fi

source ci/lib.sh
bench_workdir gwd-bench-chain

NGINX_PORT=18180; GW_VIS=18181; GW_REG=18182; HOP1=18183; HOP2=18184
HAP_VIS=18185; HAP_REG=18186; BASE_VIS=18187; BASE_REG=18188

HAPROXY_BIN="${HAPROXY:-}"
if [ -n "$WITH_HAPROXY" ] && [ -z "$HAPROXY_BIN" ]; then
  fetch_haproxy3 "$PWD"
  L="$PWD/target/haproxy3/root/usr/lib/x86_64-linux-gnu"
  HAPROXY_BIN="$WORK/haproxy"
  cat > "$HAPROXY_BIN" <<SH
#!/bin/sh
exec $L/ld-linux-x86-64.so.2 --library-path $L $PWD/target/haproxy3/root/usr/sbin/haproxy "\$@"
SH
  chmod 755 "$HAPROXY_BIN"
fi
PKI="$PWD/examples/reverse/pki"

bench_start_nginx "$NGINX_PORT"

# A: gateway + origin
chain_gwd_configs "$WORK" "$NGINX_PORT" "$GW_VIS" "$GW_REG" "$PKI"
common="$(chain_gwd_common)"
if [ -n "${GWD_BASELINE:-}" ]; then
  sed -e "s/127.0.0.1:$GW_VIS/127.0.0.1:$BASE_VIS/; s/127.0.0.1:$GW_REG/127.0.0.1:$BASE_REG/" \
    "$WORK/gateway.toml" > "$WORK/base-gateway.toml"
  sed -e "s/127.0.0.1:$GW_REG/127.0.0.1:$BASE_REG/" "$WORK/origin.toml" > "$WORK/base-origin.toml"
fi
# B: two plain hops, TLS + h2 between them
cat > "$WORK/hop1.toml" <<CONF
$common
[frontend.visitors]
bind = [ { addr = "127.0.0.1:$HOP1" } ]
default_backend = "hop2"

[backend.hop2]
server = [ { name = "h2", addr = "127.0.0.1:$HOP2", ssl = true, proto = "h2", sni = "gateway.localhost", ca-file = "$PKI/ca.crt" } ]
CONF
cat > "$WORK/hop2.toml" <<CONF
$common
[frontend.from-hop1]
bind = [ { addr = "127.0.0.1:$HOP2", ssl = true, crt = "$PKI/gateway.crt", key = "$PKI/gateway.key", alpn = ["h2"] } ]
default_backend = "nginx"

[backend.nginx]
server = [ { name = "n1", addr = "127.0.0.1:$NGINX_PORT" } ]
CONF

# C: HAProxy 3 gateway + origin, the same settings as A (one thread,
# connection reuse always, 2 tunnels).
if [ -n "$WITH_HAPROXY" ]; then
  chain_haproxy_configs "$WORK" "$NGINX_PORT" "$HAP_VIS" "$HAP_REG" "$PKI"
fi

start_gwd() { # name pin [binary]
  RUST_LOG="warn,gwd_reverse=info" $2 ${3:-$GWD} --config "$WORK/$1.toml" 2>"$WORK/$1.log" &
  PIDS+=($!)
  eval "PID_${1//-/_}=$!"
}
start_haproxy() { # name pin
  $2 "$HAPROXY_BIN" -db -f "$WORK/$1.cfg" 2>"$WORK/$1.log" &
  PIDS+=($!)
  eval "PID_${1//-/_}=$!"
}
start_gwd gateway "$PIN_A"; start_gwd origin "$PIN_B"
start_gwd hop1 "$PIN_A"; start_gwd hop2 "$PIN_B"
if [ -n "${GWD_BASELINE:-}" ]; then
  start_gwd base-gateway "$PIN_A" "$GWD_BASELINE"; start_gwd base-origin "$PIN_B" "$GWD_BASELINE"
fi
if [ -n "$WITH_HAPROXY" ]; then
  start_haproxy hap-gateway "$PIN_A"; start_haproxy hap-origin "$PIN_B"
fi

wait_for() { # file pattern count
  for _ in $(seq 1 400); do
    [ "$(grep -c "$2" "$1" 2>/dev/null || true)" -ge "$3" ] && return 0
    sleep 0.05
  done
  echo "gave up waiting for $3 x '$2' in $1" >&2; cat "$1" >&2; exit 1
}
wait_for "$WORK/gateway.log" "rhttp tunnel registered" 2
[ -n "${GWD_BASELINE:-}" ] && wait_for "$WORK/base-gateway.log" "rhttp tunnel registered" 2
for f in hop1 hop2; do wait_for "$WORK/$f.log" "gwd: ready" 1; done
PORTS=($GW_VIS $HOP1)
[ -n "${GWD_BASELINE:-}" ] && PORTS+=($BASE_VIS)
if [ -n "$WITH_HAPROXY" ]; then
  # HAProxy logs nothing when its origin's tunnels are up: ask until the
  # chain answers 200 (bounded).
  for _ in $(seq 1 200); do
    [ "$(http_status $HAP_VIS app.localhost)" = 200 ] && break
    sleep 0.05
  done
  PORTS+=($HAP_VIS)
fi
for p in "${PORTS[@]}"; do
  code=$(http_status "$p" app.localhost)
  [ "$code" = 200 ] || { echo "127.0.0.1:$p answers $code, not 200" >&2; exit 1; }
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
RESULTS="$WORK/results.tsv"; : > "$RESULTS"
run_one() { # chain port pid_front pid_back [h2c]
  local b1 b2 a1 a2 out rps p99 s0 s1
  b1=$(ticks "$3"); b2=$(ticks "$4"); s0=$(head -1 /proc/stat)
  if [ "${5:-}" = h2c ]; then
    rm -f "$WORK/h2.log"
    out=$(timeout $((DURATION + 20)) $PIN_LOAD h2load -t1 -c10 -m10 -D "$DURATION" --log-file="$WORK/h2.log" --connect-to="127.0.0.1:$2" "http://app.localhost:$2$URL_PATH" 2>&1)
    rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
    # The 99th percentile of h2load's per-request log (µs), as ci/bench.sh.
    p99=$(awk '{print $3}' "$WORK/h2.log" | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2fms", a[i]/1000}')
    # "requests: N total, N started, N done, N succeeded, N failed, N
    # errored, N timeout": failed + errored + timeout.
    local failed; failed=$(awk '/^requests:/ {print $10 + $12 + $14}' <<<"$out")
    [ "${failed:-1}" = 0 ] || { echo "$1 h2c: failed requests: $failed" >&2; echo "$out" >&2; }
    local codes; codes=$(awk '/^status codes:/ {print $5 + $7 + $9}' <<<"$out")
    [ "${codes:-1}" = 0 ] || { echo "$1 h2c: answers not 2xx: $codes" >&2; echo "$out" >&2; }
  else
    out=$(timeout $((DURATION + 20)) $PIN_LOAD $WRK -t1 -c"$CONNS" -d"${DURATION}s" --latency -H 'Host: app.localhost' "http://127.0.0.1:$2$URL_PATH")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    local non2xx; non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    [ -z "$non2xx" ] || echo "$1: $non2xx answers not 2xx/3xx" >&2
  fi
  a1=$(ticks "$3"); a2=$(ticks "$4"); s1=$(head -1 /proc/stat)
  python3 - "$1" "$rps" "$p99" "$((a1 - b1))" "$((a2 - b2))" "$TCK" "$DURATION" "$s0" "$s1" >>"$RESULTS" <<'PY'
import sys
chain, rps, p99, t1, t2, tck, dur, s0, s1 = sys.argv[1:]
# The machine's idle share over the round (/proc/stat's "cpu" line): the
# CPU no process of the chain or its load could use.
d = [int(a) - int(b) for a, b in zip(s1.split()[1:], s0.split()[1:])]
idle = 100 * d[3] / sum(d) if sum(d) else 0
rps = float(rps)
def ms(s):
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if s.endswith(unit):
            return float(s[: -len(unit)]) * f
    return float(s)
reqs = rps * float(dur)
per = lambda t: int(t) / int(tck) / reqs * 100000 if reqs else 0
print(f"{chain}\t{rps:.0f}\t{ms(p99):.2f}\t{per(t1):.3f}\t{per(t2):.3f}\t{idle:.1f}")
PY
}
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  run_one A-tunnel $GW_VIS "$PID_gateway" "$PID_origin"
  [ -n "${GWD_BASELINE:-}" ] && run_one A0-baseline $BASE_VIS "$PID_base_gateway" "$PID_base_origin"
  run_one B-plain $HOP1 "$PID_hop1" "$PID_hop2"
  [ -n "$WITH_HAPROXY" ] && run_one C-haproxy $HAP_VIS "$PID_hap_gateway" "$PID_hap_origin"
  if [ -n "$WITH_H2C" ]; then
    run_one A-tunnel-h2c $GW_VIS "$PID_gateway" "$PID_origin" h2c
    [ -n "${GWD_BASELINE:-}" ] && run_one A0-baseline-h2c $BASE_VIS "$PID_base_gateway" "$PID_base_origin" h2c
    [ -n "$WITH_HAPROXY" ] && run_one C-haproxy-h2c $HAP_VIS "$PID_hap_gateway" "$PID_hap_origin" h2c
  fi
done

python3 - "$RESULTS" "$CONNS" "$DURATION" "$BODY" "${HAPROXY_BIN:+$("$HAPROXY_BIN" -v 2>/dev/null | sed -n '1s/ - https.*//p')}" <<'PY'
import sys, statistics
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l]
print(f"chain\treq/s\tp99_ms\tfront_cpu_s/100k\tback_cpu_s/100k\tidle_%   (wrk -t1 -c{sys.argv[2]} -d{sys.argv[3]}s, {sys.argv[4]}; h2c: h2load -t1 -c10 -m10)")
if sys.argv[5]:
    print(f"C = {sys.argv[5]}")
for r in rows: print("\t".join(r))
med = {}
for chain in dict.fromkeys(r[0] for r in rows):
    rs = [r for r in rows if r[0] == chain]
    med[chain] = [statistics.median(float(r[i]) for r in rs) for i in (1, 2, 3, 4, 5)]
    print(f"median {chain}\t" + "\t".join(f"{v:.3f}" for v in med[chain]))
def ratio(x, y, what, front, back):
    if x in med and y in med and all(med[y]):
        a, b = med[x], med[y]
        print(f"ratio {what}: req/s {a[0]/b[0]:.2f}x, p99 {a[1]/b[1]:.2f}x, "
              f"front CPU/req {a[2]/b[2]:.2f}x ({front}), back CPU/req {a[3]/b[3]:.2f}x ({back})")
ratio("A-tunnel", "B-plain", "A/B", "gateway vs hop 1", "origin vs hop 2")
ratio("A-tunnel", "A0-baseline", "A/A0 (GWD_BIN/GWD_BASELINE)", "gateway", "origin")
ratio("A-tunnel-h2c", "A0-baseline-h2c", "A/A0 h2c visitors", "gateway", "origin")
ratio("A-tunnel", "C-haproxy", "A/C (gwd/HAProxy)", "gateway", "origin")
ratio("A-tunnel-h2c", "C-haproxy-h2c", "A/C h2c visitors (gwd/HAProxy)", "gateway", "origin")
PY
