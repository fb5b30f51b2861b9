#!/usr/bin/env bash
# Memory of idle keep-alive visitor connections, gwd against HAProxy, in
# one run: each proxy in front of nginx (one worker thread each); N
# HTTP/1.1 connections each make one request, read its whole answer, and
# stay open. Prints each proxy's RSS before and with the connections held,
# and the KiB per connection.
#
#   ci/idle-conns.sh [--conns N] [--rounds R] [--h2c] [--out FILE]
#
# GWD_BIN=PATH runs that gwd binary (a profile-guided build from
# ci/pgo-build.sh, say) instead of building target/release/gwd.
# --h2c: the visitors speak HTTP/2 with prior knowledge (raw frames: the
# preface, SETTINGS and its ACK, one GET on stream 1, its whole answer)
# and the proxies listen with `proto = "h2"` / `proto h2`.
#
# With GWD_BENCH_KIT=DIR (made by ci/bench-kit.sh) every program comes from
# that folder. GWD_BASELINE=PATH also measures that gwd binary. Loopback
# only; every wait is bounded; every process started here is stopped on
# exit.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=6000
ROUNDS=1
OUT=""
H2C=0
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) CONNS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --h2c) H2C=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [ -n "${GWD_BENCH_KIT:-}" ]; then
  KIT=$(cd "$GWD_BENCH_KIT" && pwd)
  LD="$KIT/lib/ld-linux-x86-64.so.2 --library-path $KIT/lib"
  HAPROXY="$LD $KIT/bin/haproxy"; NGINX="$LD $KIT/bin/nginx"; GWD="$LD $KIT/bin/gwd"
else
  need=()
  command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
  command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
  if [ "${#need[@]}" -gt 0 ]; then
    echo "installing: ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  [ -n "${GWD_BIN:-}" ] || cargo build --release -p gwd >&2
  HAPROXY=haproxy; NGINX=nginx
  GWD="${GWD_BIN:-$PWD/target/release/gwd}"
fi
# Each side holds a descriptor per connection (and the proxies one more
# per pooled server connection).
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((CONNS * 2 + 256)) ]; then
  echo "need $((CONNS * 2 + 256)) descriptors, the limit is $(ulimit -n)" >&2; exit 1
fi

source ci/lib.sh
bench_workdir gwd-idle
NGINX_PORT=18180; GWD_PORT=18181; HAP_PORT=18183; BASE_PORT=18186
bench_start_nginx "$NGINX_PORT"
# One worker holds every upstream connection the proxies open.
sed -i "s/worker_connections 4096;/worker_connections $((CONNS * 3 + 1024));/; s/^worker_processes 1;/worker_processes 1;\nworker_rlimit_nofile $((CONNS * 3 + 2048));/" "$WORK/nginx/nginx.conf"
kill "${PIDS[0]}" 2>/dev/null || true; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()
$NGINX -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx/" &
PIDS+=($!)

cat > "$WORK/gw.toml" <<CONF
[global]
nbthread = 1

[defaults]
timeout.connect = "5s"
timeout.client = "300s"
timeout.server = "30s"
timeout.http-keep-alive = "300s"
http-reuse = "safe"

[frontend.idle]
bind = [ { addr = "127.0.0.1:$GWD_PORT"$([ "$H2C" = 1 ] && echo ', proto = "h2"') } ]
default_backend = "nginx"

[backend.nginx]
server = [ { name = "n1", addr = "127.0.0.1:$NGINX_PORT" } ]
CONF
cat > "$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn $((CONNS + 1000))
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 30s
  timeout http-keep-alive 300s
  http-reuse safe
frontend idle
  bind 127.0.0.1:$HAP_PORT$([ "$H2C" = 1 ] && echo ' proto h2')
  default_backend nginx
backend nginx
  server n1 127.0.0.1:$NGINX_PORT
CONF

# The visitors: N connections, one request each, then held until stdin
# closes (or 600 s). Prints "held N" once every answer was read.
cat > "$WORK/hold.py" <<'PY'
import asyncio, struct, sys
port, n, h2c = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
REQ = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: idle-test\r\nAccept: */*\r\n\r\n"
def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload
# HPACK: :method GET, :path /, :scheme http (static indexes), :authority
# "bench" as a literal without indexing.
H2_REQ = (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0)
          + frame(1, 0x5, 1, b"\x82\x84\x86\x01\x05bench"))
async def one_h1(r, w):
    w.write(REQ)
    head = await r.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"answer: {head[:40]!r}")
    await r.readexactly(length)
async def one_h2(r, w):
    w.write(H2_REQ)
    while True:
        hdr = await r.readexactly(9)
        length = int.from_bytes(hdr[:3], "big")
        kind, flags, stream = hdr[3], hdr[4], int.from_bytes(hdr[5:], "big") & 0x7FFFFFFF
        payload = await r.readexactly(length)
        if kind == 4 and not flags & 1:
            w.write(frame(4, 1, 0))
        if kind == 7:
            raise SystemExit(f"GOAWAY {payload!r}")
        if stream == 1 and kind in (0, 1) and flags & 1:
            return
async def one(sem):
    async with sem:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        await (one_h2(r, w) if h2c else one_h1(r, w))
        return r, w
async def main():
    sem = asyncio.Semaphore(200)
    conns = await asyncio.wait_for(asyncio.gather(*(one(sem) for _ in range(n))), 120)
    print(f"held {len(conns)}", flush=True)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.read), 600)
asyncio.run(main())
PY

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

RESULTS="$WORK/results.tsv"
: > "$RESULTS"
measure() { # name port command...
  local name=$1 port=$2; shift 2
  "$@" &
  local pid=$!
  PIDS+=($pid)
  wait_port "$port"
  # Warm: one request, so lazily built state exists before the baseline.
  if [ "$H2C" = 1 ]; then
    timeout 20 python3 "$WORK/hold.py" "$port" 1 1 </dev/null >/dev/null \
      || { echo "$name does not answer over h2c" >&2; exit 1; }
  else
    [ "$(http_status "$port")" = 200 ] || { echo "$name does not answer 200" >&2; exit 1; }
  fi
  sleep 0.5
  local before after
  before=$(rss_kib "$pid")
  exec 4> >(python3 "$WORK/hold.py" "$port" "$CONNS" "$H2C" > "$WORK/hold.out")
  local holder=$!
  for _ in $(seq 1 1200); do
    grep -q '^held' "$WORK/hold.out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '^held' "$WORK/hold.out" || { echo "$name: the connections were never all held" >&2; exit 1; }
  sleep 1
  after=$(rss_kib "$pid")
  exec 4>&-
  wait "$holder" 2>/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$WORK/hold.out"
  printf '%s\t%s\t%s\n' "$name" "$before" "$after" >> "$RESULTS"
}

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  measure gwd "$GWD_PORT" env RUST_LOG=warn $GWD --config "$WORK/gw.toml"
  if [ -n "${GWD_BASELINE:-}" ]; then
    sed "s/:$GWD_PORT\"/:$BASE_PORT\"/" "$WORK/gw.toml" > "$WORK/base.toml"
    measure gwd-base "$BASE_PORT" env RUST_LOG=warn "$GWD_BASELINE" --config "$WORK/base.toml"
  fi
  measure haproxy "$HAP_PORT" $HAPROXY -q -f "$WORK/haproxy.cfg"
done

python3 - "$RESULTS" "$CONNS" "$H2C" <<'PY' | tee "${OUT:-/dev/null}"
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
proto = "h2c" if sys.argv[3] == "1" else "HTTP/1.1 keep-alive"
print(f"# ci/idle-conns.sh: {n} idle {proto} visitors, each after one request")
print("target    rss-before(MiB)  rss-held(MiB)  KiB/conn")
per = {}
for name, before, after in rows:
    b, a = int(before), int(after)
    per.setdefault(name, []).append((a - b) / n)
    print(f"{name:9} {b/1024:15.1f}  {a/1024:13.1f}  {(a-b)/n:8.2f}")
PY
