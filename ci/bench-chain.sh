#!/usr/bin/env bash
# Reverse-HTTP chain benchmark (issue 3): the same HTTP/1.1 load through
#   A. visitor -> gwd gateway -> TLS+h2 tunnel -> gwd origin -> nginx
#   B. visitor -> gwd hop 1 -> TLS+h2 connection -> gwd hop 2 -> nginx
# B is two plain proxy hops with an ordinary HTTP/2-over-TLS server
# connection in between, so A-vs-B isolates what a reversed tunnel costs.
#
#   ci/bench-chain.sh [--duration SECS] [--rounds N] [--connections C]
#
# Prints requests/s, p99 and CPU-seconds per 100k requests of each gwd
# process, per round, then medians and the A/B ratios. Uses the committed
# test PKI (examples/reverse/pki). With 5 CPUs or more, nginx, each gwd and
# wrk get their own CPU. Every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10; ROUNDS=3; CONNS=50
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
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
  if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  cargo build --release -q -p gwd >&2
  NGINX=nginx; WRK=wrk; TASKSET=taskset; GWD="$PWD/target/release/gwd"
fi
if [ "$(nproc)" -ge 5 ]; then
  PIN_NGINX="$TASKSET -c 1"; PIN_A="$TASKSET -c 2"; PIN_B="$TASKSET -c 3"; PIN_LOAD="$TASKSET -c 4"
else
  PIN_NGINX=""; PIN_A=""; PIN_B=""; PIN_LOAD=""
fi

source ci/lib.sh
bench_workdir gwd-bench-chain

NGINX_PORT=18180; GW_VIS=18181; GW_REG=18182; HOP1=18183; HOP2=18184
PKI="$PWD/examples/reverse/pki"

bench_start_nginx "$NGINX_PORT"

common='[global]
nbthread = 1

[defaults]
timeout.connect = "5s"
timeout.client = "30s"
timeout.server = "30s"
http-reuse = "always"
'
# A: gateway + origin
cat > "$WORK/gateway.toml" <<CONF
$common
[frontend.visitors]
bind = [ { addr = "127.0.0.1:$GW_VIS" } ]
default_backend = "tunnels"

[frontend.registration]
bind = [ { addr = "127.0.0.1:$GW_REG", ssl = true, crt = "$PKI/gateway.crt", key = "$PKI/gateway.key", ca-file = "$PKI/ca.crt", verify = "required", alpn = ["h2"] } ]
tcp-request.session = [ { action = "attach-srv", server = "tunnels/origins", name = "ssl_c_s_dn(CN)" } ]

[backend.tunnels]
server = [ { name = "origins", addr = "rhttp@", pool-conn-name = "req.hdr(host),field(1,:)" } ]
CONF
cat > "$WORK/origin.toml" <<CONF
$common
[frontend.from-gateway]
bind = [ { addr = "rhttp@to-gateway/gw1", nbconn = 2 } ]
default_backend = "nginx"

[backend.to-gateway]
server = [ { name = "gw1", addr = "127.0.0.1:$GW_REG", ssl = true, proto = "h2", sni = "gateway.localhost", ca-file = "$PKI/ca.crt", crt = "$PKI/origin.crt", key = "$PKI/origin.key" } ]

[backend.nginx]
server = [ { name = "n1", addr = "127.0.0.1:$NGINX_PORT" } ]
CONF
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

start_gwd() { # name pin
  RUST_LOG="warn,gwd_http::reverse=info" $2 $GWD --config "$WORK/$1.toml" 2>"$WORK/$1.log" &
  PIDS+=($!)
  eval "PID_$1=$!"
}
start_gwd gateway "$PIN_A"; start_gwd origin "$PIN_B"
start_gwd hop1 "$PIN_A"; start_gwd hop2 "$PIN_B"

wait_for() { # file pattern count
  for _ in $(seq 1 400); do
    [ "$(grep -c "$2" "$1" 2>/dev/null || true)" -ge "$3" ] && return 0
    sleep 0.05
  done
  echo "gave up waiting for $3 x '$2' in $1" >&2; cat "$1" >&2; exit 1
}
wait_for "$WORK/gateway.log" "rhttp tunnel registered" 2
for f in hop1 hop2; do wait_for "$WORK/$f.log" "gwd: ready" 1; done
for p in $GW_VIS $HOP1; do
  code=$(http_status "$p" app.localhost)
  [ "$code" = 200 ] || { echo "127.0.0.1:$p answers $code, not 200" >&2; exit 1; }
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
RESULTS="$WORK/results.tsv"; : > "$RESULTS"
run_one() { # chain port pid_front pid_back
  local b1 b2 a1 a2 out rps p99
  b1=$(ticks "$3"); b2=$(ticks "$4")
  out=$(timeout $((DURATION + 20)) $PIN_LOAD $WRK -t1 -c"$CONNS" -d"${DURATION}s" --latency -H 'Host: app.localhost' "http://127.0.0.1:$2/")
  a1=$(ticks "$3"); a2=$(ticks "$4")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  python3 - "$1" "$rps" "$p99" "$((a1 - b1))" "$((a2 - b2))" "$TCK" "$DURATION" >>"$RESULTS" <<'PY'
import sys
chain, rps, p99, t1, t2, tck, dur = sys.argv[1:]
rps = float(rps)
def ms(s):
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if s.endswith(unit):
            return float(s[: -len(unit)]) * f
    return float(s)
reqs = rps * float(dur)
per = lambda t: int(t) / int(tck) / reqs * 100000 if reqs else 0
print(f"{chain}\t{rps:.0f}\t{ms(p99):.2f}\t{per(t1):.3f}\t{per(t2):.3f}")
PY
}
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  run_one A-tunnel $GW_VIS "$PID_gateway" "$PID_origin"
  run_one B-plain $HOP1 "$PID_hop1" "$PID_hop2"
done

python3 - "$RESULTS" "$CONNS" "$DURATION" <<'PY'
import sys, statistics
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l]
print(f"chain\treq/s\tp99_ms\tfront_cpu_s/100k\tback_cpu_s/100k   (wrk -t1 -c{sys.argv[2]} -d{sys.argv[3]}s, 1 KiB body)")
for r in rows: print("\t".join(r))
med = {}
for chain in ("A-tunnel", "B-plain"):
    rs = [r for r in rows if r[0] == chain]
    med[chain] = [statistics.median(float(r[i]) for r in rs) for i in (1, 2, 3, 4)]
    print(f"median {chain}\t" + "\t".join(f"{v:.3f}" for v in med[chain]))
a, b = med["A-tunnel"], med["B-plain"]
print(f"ratio A/B: req/s {a[0]/b[0]:.2f}x, p99 {a[1]/b[1]:.2f}x, "
      f"front CPU/req {a[2]/b[2]:.2f}x (gateway vs hop 1), back CPU/req {a[3]/b[3]:.2f}x (origin vs hop 2)")
PY
