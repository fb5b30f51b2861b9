#!/usr/bin/env bash
# Memory of the runtime API under abuse at level user, gwd against
# HAProxy in one run (issue 11's target: gwd's RSS stays within 20 MB of
# idle). Each proxy gets one `stats-socket` at level user and a map; then
# CLIENTS clients at once each send a 1 MiB line of `help;` repeated, read
# whatever comes back, then send `add map hosts.map <<` with a PAYLOAD_MB
# payload, and close. Prints each proxy's RSS idle, its peak (VmHWM) and
# its RSS after, in MB.
#
#   ci/runtime-api-memory.sh [--clients N] [--payload-mb M] [--gwd PATH]
#
# Defaults: 4 clients, 200 MB payloads, target/release/gwd (built here if
# missing). Loopback only; every read is bounded in time; every process
# started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh

CLIENTS=4
PAYLOAD_MB=200
GWD=target/release/gwd
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) CLIENTS="$2"; shift 2 ;;
    --payload-mb) PAYLOAD_MB="$2"; shift 2 ;;
    --gwd) GWD="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -x "$GWD" ] || cargo build --release -p gwd
HAPROXY=$(command -v haproxy || true)

bench_workdir gwd-cli-mem
printf 'a.local app\n' > "$WORK/hosts.map"
GWD_PORT=19301
HAP_PORT=19302

cat > "$WORK/gw.toml" <<CONF
[global]
stats-socket = [ { addr = "127.0.0.1:$GWD_PORT", level = "user" } ]
[defaults]
timeout.client = "30s"
[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
http-request = [ { action = "return", status = 200, lf-body = "%[req.hdr(host),map(hosts.map)]" } ]
CONF
cp "$WORK/hosts.map" "$WORK/hosts.map.hap"
cat > "$WORK/haproxy.cfg" <<CONF
global
    stats socket ipv4@127.0.0.1:$HAP_PORT level user
defaults
    mode http
    timeout client 30s
    timeout connect 1s
    timeout server 1s
frontend www
    bind 127.0.0.1:19303
    http-request return status 200 content-type text/plain lf-string "%[req.hdr(host),map($WORK/hosts.map.hap)]"
CONF

rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

abuse() {
  python3 - "$1" "$CLIENTS" "$PAYLOAD_MB" <<'PY'
import socket, sys, threading, time
port, clients, mb = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def drain(s, limit):
    end = time.time() + limit
    got = 0
    head = b""
    s.settimeout(0.5)
    while time.time() < end:
        try:
            b = s.recv(1 << 20)
        except socket.timeout:
            continue
        except OSError:
            break
        if not b:
            break
        if len(head) < 60:
            head += b[:60 - len(head)]
        got += len(b)
    return got, head
def one(i, out):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    line = b"help;" * ((1 << 20) // 5) + b"\n"
    try:
        s.sendall(line)
    except OSError:
        pass
    got, head = drain(s, 10)
    s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    sent = 0
    try:
        s.sendall(b"add map hosts.map <<\n")
        chunk = b"k v\n" * (1 << 18)
        while sent < mb << 20:
            s.sendall(chunk)
            sent += len(chunk)
        s.sendall(b"\n")
    except OSError:
        pass
    _, phead = drain(s, 10)
    s.close()
    out[i] = (got, head, sent, phead)
out = {}
ts = [threading.Thread(target=one, args=(i, out)) for i in range(clients)]
[t.start() for t in ts]
[t.join(120) for t in ts]
for i in sorted(out):
    got, head, sent, phead = out[i]
    print(f"  client {i}: help line answered {got} bytes ({head[:40]!r}...), payload: {sent >> 20} MB sent before close, answered {phead[:40]!r}")
PY
}

measure() { # name pid port
  local name="$1" pid="$2" port="$3"
  wait_port "$port"
  sleep 1   # settle: idle means after start-up allocations
  local idle; idle=$(rss_mb "$pid")
  abuse "$port"
  sleep 1
  printf '%-8s idle_rss_mb=%s peak_rss_mb=%s after_rss_mb=%s\n' "$name" "$idle" "$(hwm_mb "$pid")" "$(rss_mb "$pid")"
}

(cd "$WORK" && exec "$OLDPWD/$GWD" --config gw.toml) 2>"$WORK/gwd.log" &
PIDS+=($!)
measure gwd "${PIDS[-1]}" "$GWD_PORT"

if [ -n "$HAPROXY" ]; then
  "$HAPROXY" -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
  PIDS+=($!)
  measure haproxy "${PIDS[-1]}" "$HAP_PORT"
fi
