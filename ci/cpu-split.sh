#!/usr/bin/env bash
# User and system CPU per HTTP/1.1 request of several gwd binaries and
# HAProxy, side by side: each proxy (one worker thread, the settings of
# ci/bench.sh) in front of one nginx, `wrk -t1 -c50` against each in
# turn, round after round, so that a slow moment of the machine touches
# every binary alike. For changes whose gain is in the kernel (system
# time), which ci/instructions.sh does not see.
#
#   ci/cpu-split.sh [--rounds N] [--duration SECS] [--log] GWD_BIN...
#
# --log: every proxy logs each request (`option httplog`) to a UDP
# syslog on loopback that reads and drops every line (ci/bench-logging.sh).
#
# Prints, per round and proxy, req/s, user, system and total
# CPU-seconds per 100k requests (from /proc/PID/stat, all threads),
# context switches per request and the thread count; then medians and
# each proxy's total against HAProxy's. Loopback only; every process
# started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh
bench_bins_args "ci/cpu-split.sh [--rounds N] [--duration SECS] [--log] GWD_BIN..." "$@"
bench_need_proxies
NGINX=nginx
bench_workdir gwd-cpu-split
NGINX_PORT=18720; HAPROXY_PORT=18721; SINK=18722
bench_start_nginx "$NGINX_PORT"
if [ "$LOG" = 1 ]; then
  # The syslog: reads every datagram, keeps none.
  python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(('127.0.0.1', $SINK))
while True:
    s.recv(65536)
" &
  PIDS+=($!)
fi
port=18723
NAMES=(); PORTS=(); PROCS=()
for b in "${BINS[@]}"; do
  bench_gwd_toml "$WORK/gw$port.toml" "{ addr = \"127.0.0.1:$port\" }" "$NGINX_PORT"
  if [ "$LOG" = 1 ]; then
    sed -i "s/^\[frontend.bench\]/[frontend.bench]\nlog = [\"127.0.0.1:$SINK local0\"]\noption.httplog = true/" "$WORK/gw$port.toml"
  fi
  RUST_LOG=warn "$b" --config "$WORK/gw$port.toml" 2>"$WORK/gwd$port.log" &
  PIDS+=($!); PROCS+=($!); PORTS+=("$port")
  NAMES+=("gwd${#NAMES[@]}:$(basename "$b")")
  port=$((port + 1))
done
bench_haproxy_cfg "$WORK/haproxy.cfg" "$NGINX_PORT" "127.0.0.1:$HAPROXY_PORT"
if [ "$LOG" = 1 ]; then
  sed -i "s/^frontend bench/frontend bench\n  log 127.0.0.1:$SINK local0\n  option httplog/" "$WORK/haproxy.cfg"
fi
haproxy -db -f "$WORK/haproxy.cfg" 2>"$WORK/haproxy.log" &
PIDS+=($!); HAPROXY_PID=$!
wait_port "$NGINX_PORT"; wait_port "$HAPROXY_PORT"
for p in "${PORTS[@]}"; do wait_port "$p"; done
# gwd's configuration thread ends 5 s after its last job (the start): the
# runs see the process as it serves.
sleep 6

switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
# Loads proxy $2 (pid $1) and prints its row.
one() {
  wrk -t1 -c50 -d1s "http://127.0.0.1:$2/" >/dev/null
  local u0 s0 u1 s1 c0 c1 out reqs
  read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$1/stat")
  c0=$(switches "$1")
  out=$(wrk -t1 -c50 -d"${SECS}s" "http://127.0.0.1:$2/")
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$1/stat")
  c1=$(switches "$1")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  python3 -c "
tck = $(getconf CLK_TCK); u = ($u1 - $u0) / tck; s = ($s1 - $s0) / tck; r = $reqs
print(f'$3\t{r / $SECS:.0f}\t{u / r * 1e5:.3f}\t{s / r * 1e5:.3f}\t{(u + s) / r * 1e5:.3f}\t{($c1 - $c0) / r:.3f}\t$(ls /proc/"$1"/task | wc -l)')"
}
printf 'proxy\treq/s\tuser\tsys\ttotal (CPU-s per 100k requests)\tswitches/req\tthreads\n'
for _ in $(seq "$ROUNDS"); do
  for i in "${!BINS[@]}"; do one "${PROCS[$i]}" "${PORTS[$i]}" "${NAMES[$i]}"; done
  one "$HAPROXY_PID" "$HAPROXY_PORT" haproxy
done | tee "$WORK/rows.tsv"
python3 - "$WORK/rows.tsv" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, *v = line.rstrip("\n").split("\t")
    rows[name].append([float(x) for x in v])
base = statistics.median(r[3] for r in rows["haproxy"])
print("medians:")
for name, rs in rows.items():
    m = [statistics.median(r[i] for r in rs) for i in range(5)]
    print(f"{name:24} req/s {m[0]:7.0f}  user {m[1]:.3f}  sys {m[2]:.3f}  total {m[3]:.3f}  switches/req {m[4]:.2f}  x{m[3] / base:.3f} vs haproxy")
PY
