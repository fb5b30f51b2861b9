#!/usr/bin/env bash
# TCP-mode relay benchmark: bulk bytes through gwd (`mode = "tcp"`) and
# through HAProxy (`mode tcp`) in one run, on loopback, same settings (one
# worker thread each), reporting each proxy's CPU time per GB relayed and
# the gwd/HAProxy ratio (issue 14's target: gwd <= HAProxy 2.6).
#
#   ci/bench-tcp.sh [--megabytes MB] [--connections C] [--rounds N] [--out FILE]
#
# Each round and proxy: C connections at once, each uploads MB/C MiB, shuts
# its write side (half-close), then downloads as many from the server
# (which answers only after the client's FIN): every byte crosses the
# proxy once, 2 x MB MiB per round in all. CPU is the proxy process's
# user+system time (from /proc) over the round. Bounded: a fixed number
# of bytes, and a 120 s limit per round. With GWD_BENCH_KIT=DIR (see
# ci/bench-kit.sh) haproxy and gwd come from that folder; otherwise the
# release gwd is built and the system's `haproxy` is used.
set -euo pipefail
cd "$(dirname "$0")/.."

MB=1024
CONNS=4
ROUNDS=3
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --megabytes) MB="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [ -n "${GWD_BENCH_KIT:-}" ]; then
  KIT=$(cd "$GWD_BENCH_KIT" && pwd)
  LD="$KIT/lib/ld-linux-x86-64.so.2 --library-path $KIT/lib"
  HAPROXY="$LD $KIT/bin/haproxy"; GWD="$LD $KIT/bin/gwd"
else
  command -v haproxy >/dev/null 2>&1 || { echo "haproxy is not installed" >&2; exit 1; }
  [ -n "${GWD_BIN:-}" ] || cargo build --release -p gwd >&2
  HAPROXY=haproxy; GWD="${GWD_BIN:-$PWD/target/release/gwd}"
fi
command -v python3 >/dev/null 2>&1 || { echo "python3 is needed (load tool)" >&2; exit 1; }

source ci/lib.sh
bench_workdir gwd-bench-tcp

SERVER_PORT=18180; GWD_PORT=18181; HAP_PORT=18182

# The load tool: a server that drains each connection to its FIN, then
# sends as many bytes back and closes; a client that runs the connections
# and checks every byte count. Both in python with 1 MiB buffers (the
# proxies are measured, not the tool).
cat > "$WORK/bulk.py" <<'PY'
import socket, sys, threading, time
CHUNK = 1 << 20
def serve(port):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", port)); l.listen(128)
    def one(c):
        try:
            drain_and_answer(c)
        except OSError:
            pass  # the readiness probes connect and leave at once
        finally:
            c.close()
    def drain_and_answer(c):
        buf = bytearray(CHUNK); got = 0
        while True:
            n = c.recv_into(buf)
            if n == 0: break
            got += n
        out = bytes(CHUNK); left = got
        while left > 0:
            k = min(left, CHUNK); c.sendall(out[:k]); left -= k
    while True:
        c, _ = l.accept()
        threading.Thread(target=one, args=(c,), daemon=True).start()
def client(port, conns, per_conn):
    errors = []
    def one():
        s = socket.create_connection(("127.0.0.1", port)); s.settimeout(120)
        out = bytes(CHUNK); left = per_conn
        while left > 0:
            k = min(left, CHUNK); s.sendall(out[:k]); left -= k
        s.shutdown(socket.SHUT_WR)
        buf = bytearray(CHUNK); got = 0
        while True:
            n = s.recv_into(buf)
            if n == 0: break
            got += n
        s.close()
        if got != per_conn: errors.append(f"got {got} of {per_conn}")
    ts = [threading.Thread(target=one) for _ in range(conns)]
    start = time.monotonic()
    for t in ts: t.start()
    for t in ts: t.join()
    if errors: sys.exit("; ".join(errors))
    print(f"{time.monotonic() - start:.3f}")
if sys.argv[1] == "serve": serve(int(sys.argv[2]))
else: client(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
PY

python3 "$WORK/bulk.py" serve "$SERVER_PORT" &
PIDS+=($!)

cat > "$WORK/gw.toml" <<TOML
[global]
nbthread = 1

[defaults]
mode = "tcp"
timeout.connect = "5s"
timeout.client = "60s"
timeout.server = "60s"

[frontend.bench]
bind = [ { addr = "127.0.0.1:$GWD_PORT" } ]
log = []
default_backend = "bulk"

[backend.bulk]
server = [ { name = "s1", addr = "127.0.0.1:$SERVER_PORT" } ]
TOML
cat > "$WORK/haproxy.cfg" <<CFG
global
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend bench
    bind 127.0.0.1:$HAP_PORT
    default_backend bulk
backend bulk
    server s1 127.0.0.1:$SERVER_PORT
CFG

RUST_LOG=warn $GWD --config "$WORK/gw.toml" 2>"$WORK/gwd.log" &
GWD_PID=$!; PIDS+=($GWD_PID)
$HAPROXY -f "$WORK/haproxy.cfg" -db 2>"$WORK/haproxy.log" &
HAP_PID=$!; PIDS+=($HAP_PID)

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2; exit 1
}
wait_port "$SERVER_PORT"; wait_port "$GWD_PORT"; wait_port "$HAP_PORT"

# User+system CPU seconds of a process so far.
cpu_s() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"
}

PER_CONN=$(( MB * 1024 * 1024 / CONNS ))
BYTES=$(( PER_CONN * CONNS * 2 ))
echo "bytes relayed per round and proxy: $BYTES ($CONNS connections, half-close)"
printf '%-8s %5s %10s %12s %12s\n' proxy round wall_s cpu_s cpu_s_per_GB
declare -A PERGB
for round in $(seq 1 "$ROUNDS"); do
  for target in gwd haproxy; do
    case $target in
      gwd) pid=$GWD_PID; port=$GWD_PORT ;;
      haproxy) pid=$HAP_PID; port=$HAP_PORT ;;
    esac
    before=$(cpu_s "$pid")
    wall=$(timeout 120 python3 "$WORK/bulk.py" client "$port" "$CONNS" "$PER_CONN")
    after=$(cpu_s "$pid")
    used=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.3f", a - b }')
    pergb=$(awk -v u="$used" -v n="$BYTES" 'BEGIN { printf "%.3f", u / (n / 1e9) }')
    PERGB[$target]="${PERGB[$target]:-} $pergb"
    printf '%-8s %5s %10s %12s %12s\n' "$target" "$round" "$wall" "$used" "$pergb"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
G=$(echo "${PERGB[gwd]}" | median)
H=$(echo "${PERGB[haproxy]}" | median)
RATIO=$(awk -v g="$G" -v h="$H" 'BEGIN { printf "%.2f", g / h }')
SUMMARY="median CPU s per GB relayed: gwd $G, haproxy $H, gwd/haproxy $RATIO"
echo "$SUMMARY"
[ -n "$OUT" ] && echo "$SUMMARY" > "$OUT"
exit 0
