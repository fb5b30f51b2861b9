#!/usr/bin/env bash
# Reload under load (issue 13's targets): gwd (SIGHUP, reloaded in
# process) and HAProxy 3.0 in master-worker mode (`-W`, SIGUSR2 to the
# master: a new worker, the old one soft-stops), same load, same
# reloads, one run, on loopback:
#
#   plain     nginx behind the proxy; wrk -t1 -c50 (HTTP/1.1 keep-alive),
#             then h2load -t1 -c10 -m10 (h2c prior knowledge), DURATION s
#             each, while the proxy is reloaded RELOADS times every
#             INTERVAL s (an `http-request set-header x-version vN` value
#             and a server's weight change each time). Requests, failed
#             requests, refused connections.
#   rhttp     gateway + origin of the same software (nbconn 3, the test PKI
#             of examples/reverse/pki, nginx behind the origin); wrk -t1
#             -c50 through the gateway with Host app.localhost while the
#             gateway is reloaded RELOADS times, then again while the
#             origin is. Failed requests, and re-dials: origin-to-gateway
#             TCP connections not open when the load began.
#   frontends gwd only: 100 frontends, each a bind on its own port with an
#             `http-request return` body "vN". Reload latency (SIGHUP to
#             the first request answering the new body; median of 5) and
#             the `reloaded in N ms` gwd logs; VmRSS after 1 and after
#             100 reloads.
#
#   ci/reload-bench.sh [plain] [rhttp] [frontends] [--duration S]
#                      [--reloads N] [--interval S] [--mem-reloads N]
#                      [--out FILE]
#
# After each reload a poller opens a fresh connection every 2 ms (0 in
# `frontends`) and asks for /version until the new version answers: the
# apply time, for both proxies, and its connects that were refused are
# the "refused" column. HAPROXY=/path/to/haproxy (3.x, with rhttp) may
# name another binary; it must be able to re-execute itself (SIGUSR2
# makes the master exec its own argv[0]). Unset, Debian trixie's 3.0 is
# fetched into target/haproxy3 as ci/rhttp-interop.sh does, and run
# through a wrapper that keeps its own loader across that re-exec.
# GWD=/path/to/gwd runs that binary instead of building one; KEEP_WORK=1
# keeps the logs, configs and load outputs. Every process started here
# is stopped on exit; every wait, loop and load is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh
ROOT=$PWD
PKI="$ROOT/examples/reverse/pki"

DURATION=10
RELOADS=5
INTERVAL=1.5
MEM_RELOADS=100
FRONTENDS=100
LAT_RUNS=5
OUT=""
SCENARIOS=()
while [ $# -gt 0 ]; do
  case "$1" in
    plain|rhttp|frontends) SCENARIOS+=("$1"); shift ;;
    --duration) DURATION="$2"; shift 2 ;;
    --reloads) RELOADS="$2"; shift 2 ;;
    --interval) INTERVAL="$2"; shift 2 ;;
    --mem-reloads) MEM_RELOADS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ "${#SCENARIOS[@]}" -gt 0 ] || SCENARIOS=(plain rhttp frontends)
[ "$MEM_RELOADS" -gt "$LAT_RUNS" ] || { echo "--mem-reloads must exceed $LAT_RUNS" >&2; exit 2; }
wants() { [[ " ${SCENARIOS[*]} " == *" $1 "* ]]; }

for t in wrk h2load nginx python3; do
  command -v "$t" >/dev/null 2>&1 || { echo "$t is needed" >&2; exit 1; }
done

# --- HAProxy 3.0 (the same fetch as ci/rhttp-interop.sh) ---
HAPROXY_BIN="${HAPROXY:-}"
if [ -z "$HAPROXY_BIN" ] && { wants plain || wants rhttp; }; then
  fetch_haproxy3 "$ROOT"
  H3="$ROOT/target/haproxy3"
fi

if [ -z "${GWD:-}" ]; then
  cargo build --release -p gwd >&2
  GWD="$ROOT/target/release/gwd"
  GWD_LABEL="gwd $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates bins Cargo.lock 2>/dev/null || echo ' with uncommitted changes')"
else
  GWD_LABEL="gwd $GWD"
fi

bench_workdir gwd-reload
# A copy: a build finishing during the run does not change the binary.
cp "$GWD" "$WORK/gwd"
GWD="$WORK/gwd"

# Stops the processes given (TERM, up to 5 s, then KILL) and reaps them.
alive() { [ -n "$1" ] && [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
# Removes pid $1 from $PIDS.
forget() {
  local keep=() q
  for q in "${PIDS[@]:-}"; do [ -n "$q" ] && [ "$q" != "$1" ] && keep+=("$q"); done
  PIDS=("${keep[@]:-}")
}
stop_pids() {
  local p left
  for p in "$@"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    left=0
    for p in "$@"; do alive "$p" && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for p in "$@"; do
    [ -n "$p" ] || continue
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    forget "$p"
  done
}
# On exit: everything in $PIDS, then any process still naming $WORK on its
# command line (HAProxy's workers, forked by its master), by pid.
reload_cleanup() {
  set +e
  stop_pids "${PIDS[@]:-}"
  local d p
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = $$ ] && continue
    if tr '\0' ' ' 2>/dev/null < "$d/cmdline" | grep -qF "$WORK/"; then kill -9 "$p" 2>/dev/null; fi
  done
  if [ -n "${KEEP_WORK:-}" ]; then echo "logs and configs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap reload_cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$HAPROXY_BIN" ] && { wants plain || wants rhttp; }; then
  # The master re-executes its argv[0] on SIGUSR2: a wrapper that runs
  # trixie's loader with --argv0 set to itself survives that.
  L="$ROOT/target/haproxy3/root/usr/lib/x86_64-linux-gnu"
  HAPROXY_BIN="$WORK/haproxy"
  cat > "$HAPROXY_BIN" <<SH
#!/bin/sh
exec $L/ld-linux-x86-64.so.2 --library-path $L --argv0 "\$0" $ROOT/target/haproxy3/root/usr/sbin/haproxy "\$@"
SH
  chmod 755 "$HAPROXY_BIN"
fi

NGINX=nginx   # for ci/lib.sh's bench_start_nginx
NGINX_PORT=18480
GWD_WWW=18481; HAP_WWW=18482
GWD_VIS=18483; GWD_REG=18484; HAP_VIS=18485; HAP_REG=18486
FE_BASE=18500   # 18500 .. 18500+FRONTENDS-1
# Every port this run uses must be free.
busy=$(ss -Hltn 2>/dev/null | awk -v hi=$((FE_BASE + FRONTENDS - 1)) \
  '{n=split($4,a,":"); p=a[n]+0; if ((p>=18480 && p<=18486) || (p>=18500 && p<=hi)) print p}' | sort -u | tr '\n' ' ')
[ -z "$busy" ] || { echo "ports already in use: $busy" >&2; exit 1; }

RESULTS="$WORK/results.tsv"
: > "$RESULTS"

# --- helpers in Python: the reloader/poller and the re-dial sampler ---
cat > "$WORK/helper.py" <<'PY'
import argparse, os, re, shutil, signal, socket, sys, time

def get(port, host, path, timeout=1.0):
    """(status, body) of one GET on a fresh connection, or an error name."""
    s = None
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while len(data) < 65536:
            b = s.recv(65536)
            if not b:
                break
            data += b
        head, _, body = data.partition(b"\r\n\r\n")
        parts = head.split(b" ", 2)
        return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0), body.decode("latin-1").strip()
    except ConnectionRefusedError:
        return "refused", ""
    except OSError as e:
        return type(e).__name__, ""
    finally:
        if s is not None:
            s.close()

def count_lines(path, needle):
    try:
        with open(path, errors="replace") as f:
            return [l for l in f if needle in l]
    except FileNotFoundError:
        return []

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])

def reload_cmd(a):
    """Reload `count` times on a schedule; after each, poll until the
    new version answers and (gwd) wait for its log line."""
    sig = getattr(signal, "SIG" + a.signal)
    t0 = a.start or time.time()
    for k in range(a.first, a.first + a.count):
        at = t0 + a.first_at + (k - a.first) * a.interval
        now = time.time()
        if at > now:
            time.sleep(at - now)
        tmp = a.live + ".tmp"
        shutil.copyfile(os.path.join(a.versions, f"cfg.{k}"), tmp)
        os.replace(tmp, a.live)
        want = a.want.format(k=k)
        sent = time.monotonic()
        os.kill(a.pid, sig)
        applied = None
        polls = refused = errors = 0
        deadline = sent + a.timeout
        while time.monotonic() < deadline and polls < 200000:
            status, body = get(a.port, a.host, a.path)
            polls += 1
            if status == "refused":
                refused += 1
            elif not isinstance(status, int):
                errors += 1
            elif status == 200 and body == want:
                applied = (time.monotonic() - sent) * 1000
                break
            if a.poll_sleep:
                time.sleep(a.poll_sleep)
        logged = ""
        if a.log:
            deadline = time.monotonic() + a.timeout
            lines = []
            while time.monotonic() < deadline:
                lines = count_lines(a.log, a.log_ok)
                if len(lines) >= a.log_base + k - a.first + 1:
                    break
                if count_lines(a.log, a.log_fail):
                    break
                time.sleep(0.002)
            if len(lines) >= a.log_base + k - a.first + 1:
                m = re.search(r"reloaded in ([\d.]+) ms", lines[a.log_base + k - a.first])
                logged = m.group(1) if m else "ok"
            else:
                logged = "missing"
            if count_lines(a.log, a.log_fail):
                logged = "REFUSED"
        print(f"reload\t{k}\t{'%.1f' % applied if applied is not None else 'timeout'}"
              f"\t{logged}\t{polls}\t{refused}\t{errors}", flush=True)
        if k in a.rss_at:
            time.sleep(1.0)
            print(f"rss\t{k}\t{rss_kib(a.rss_pid or a.pid)}", flush=True)

def tcp_ports(port):
    """{local port: state} of this namespace's IPv4 TCP sockets whose
    remote port is `port` (the origin's side of each tunnel)."""
    out = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for l in f:
            p = l.split()
            lp = int(p[1].split(":")[1], 16)
            rp = int(p[2].split(":")[1], 16)
            if rp == port:
                out[lp] = p[3]
    return out

def dials_cmd(a):
    """Samples every 20 ms for `seconds`: prints the connections open at
    the start, the new ones (a port not seen at the start, any state) and
    how many are established at the end."""
    first = tcp_ports(a.port)
    seen = set(first)
    new = []
    n = 0
    while time.time() < a.until and n < 100000:
        for lp in tcp_ports(a.port):
            if lp not in seen:
                seen.add(lp)
                new.append((round(time.time() - a.start, 2), lp))
        n += 1
        time.sleep(0.02)
    end = tcp_ports(a.port)
    est = sum(1 for s in end.values() if s == "01")
    print(f"initial={sum(1 for s in first.values() if s == '01')} new={len(new)} established_end={est}")
    print("new_at=" + " ".join(f"{t}s" for t, _ in new))

def load_pids(pid):
    """`pid` and its children (the load generator under `timeout`)."""
    pids = [pid]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        pids.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return pids

def socket_inodes(pids):
    out = set()
    for p in pids:
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                try:
                    t = os.readlink(f"/proc/{p}/fd/{fd}")
                except OSError:
                    continue
                if t.startswith("socket:["):
                    out.add(t[8:-1])
        except OSError:
            pass
    return out

def conns_cmd(a):
    """The load generator's connections to `port`, sampled every 20 ms
    for `seconds`: how many it opened in all, how many were open at the
    last sample."""
    opened = set()
    last = set()
    pids = [a.pid]
    n = 0
    while time.time() < a.until and n < 100000:
        if len(pids) == 1:
            pids = load_pids(a.pid)
        inodes = socket_inodes(pids)
        now = set()
        with open("/proc/net/tcp") as f:
            next(f)
            for l in f:
                p = l.split()
                if int(p[2].split(":")[1], 16) == a.port and p[9] in inodes and p[3] == "01":
                    now.add(int(p[1].split(":")[1], 16))
        opened |= now
        last = now
        n += 1
        time.sleep(0.02)
    print(f"opened={len(opened)} open_end={len(last)}")

def wait_tunnels_cmd(a):
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        if sum(1 for s in tcp_ports(a.port).values() if s == "01") >= a.n:
            return
        time.sleep(0.02)
    sys.exit(f"fewer than {a.n} connections to :{a.port} after {a.timeout}s")

ap = argparse.ArgumentParser()
sub = ap.add_subparsers(dest="cmd", required=True)
r = sub.add_parser("reload")
r.add_argument("--pid", type=int, required=True)
r.add_argument("--signal", required=True)
r.add_argument("--live", required=True)
r.add_argument("--versions", required=True)
r.add_argument("--first", type=int, default=1)
r.add_argument("--count", type=int, required=True)
r.add_argument("--start", type=float, help="epoch the schedule counts from (default: now)")
r.add_argument("--first-at", type=float, default=0)
r.add_argument("--interval", type=float, default=0)
r.add_argument("--port", type=int, required=True)
r.add_argument("--host", default="bench")
r.add_argument("--path", default="/version")
r.add_argument("--want", default="v{k}")
r.add_argument("--poll-sleep", type=float, default=0.002)
r.add_argument("--timeout", type=float, default=5)
r.add_argument("--log")
r.add_argument("--log-ok", default="gwd: reload (signal): configuration reloaded")
r.add_argument("--log-fail", default="gwd: reload (signal) refused")
r.add_argument("--log-base", type=int, default=0)
r.add_argument("--rss-at", type=lambda s: [int(x) for x in s.split(",") if x], default=[])
r.add_argument("--rss-pid", type=int)
d = sub.add_parser("dials")
d.add_argument("--port", type=int, required=True)
d.add_argument("--start", type=float, required=True, help="epoch the load began")
d.add_argument("--until", type=float, required=True, help="epoch")
c = sub.add_parser("conns")
c.add_argument("--pid", type=int, required=True)
c.add_argument("--port", type=int, required=True)
c.add_argument("--until", type=float, required=True, help="epoch")
w = sub.add_parser("wait-tunnels")
w.add_argument("--port", type=int, required=True)
w.add_argument("--n", type=int, required=True)
w.add_argument("--timeout", type=float, default=10)
a = ap.parse_args()
{"reload": reload_cmd, "dials": dials_cmd, "conns": conns_cmd, "wait-tunnels": wait_tunnels_cmd}[a.cmd](a)
PY
# The interpreter itself, not a version manager's shim (a shim can take
# a second to start, which would shift every schedule).
HELPER="$(python3 -c 'import sys; print(sys.executable)') $WORK/helper.py"
# $1 seconds from now (or from epoch $2), as an epoch.
epoch_in() { awk -v a="${2:-$EPOCHREALTIME}" -v d="$1" 'BEGIN {printf "%.3f", a + d}'; }
# The load generators' connections are counted until half a second
# before the load ends.
SAMPLE_END=$(awk -v d="$DURATION" 'BEGIN {print d - 0.5}')

# The poller's lines ("reload k apply_ms logged polls refused errors"):
# the apply times, the log figures, the refused connects.
apply_list() { awk -F'\t' '$1=="reload" {printf "%s%s", s, $3; s=","}' "$1"; }
logged_list() { awk -F'\t' '$1=="reload" {printf "%s%s", s, $4; s=","}' "$1"; }
refused_sum() { awk -F'\t' '$1=="reload" {n+=$6} END {print n+0}' "$1"; }

# wrk's summary: "requests failed refused detail".
wrk_figures() {
  awk '
    /requests in/ {req=$1}
    /Socket errors:/ {gsub(",", ""); c=$4; r=$6; w=$8; t=$10}
    /Non-2xx or 3xx responses:/ {n=$5}
    END {
      c+=0; r+=0; w+=0; t+=0; n+=0
      printf "%d\t%d\t%d\tconnect %d, read %d, write %d, timeout %d, non-2xx/3xx %d\n", req, c+r+w+t+n, c, c, r, w, t, n
    }' "$1"
}
# h2load's: failed counts errored and timed-out requests too (h2load's
# own definitions), and requests answered other than 2xx/3xx.
h2load_figures() {
  awk '
    /^requests:/ {gsub(",", ""); done=$6; ok=$8; f=$10; e=$12; t=$14}
    /^status codes:/ {gsub(",", ""); x4=$7; x5=$9}
    END {printf "%d\t%d\t-\tfailed %d (errored %d, timeout %d), 4xx %d, 5xx %d\n", done, f, f, e, t, x4, x5}' "$1"
}

# Waits (bounded: 10 s) until log $1 holds line $2 $3 times.
wait_log() {
  local n
  for _ in $(seq 1 200); do
    n=$(grep -c -- "$2" "$1" 2>/dev/null) || true
    [ "${n:-0}" -ge "$3" ] && return 0
    sleep 0.05
  done
  echo "FAIL: '$2' not seen $3 time(s) in $1" >&2; tail -5 "$1" >&2; exit 1
}
wait_ok() { # port host: until it answers 200 (bounded: 10 s)
  for _ in $(seq 1 200); do
    [ "$(http_status "$1" "$2")" = 200 ] && return 0
    sleep 0.05
  done
  echo "FAIL: :$1 (Host $2) never answered 200" >&2; exit 1
}

bench_start_nginx "$NGINX_PORT"
wait_port "$NGINX_PORT"

# ---------------------------------------------------------------- plain
# Version k of each proxy: x-version vk on the request to nginx, server
# n2's weight 10*(k+1); /version answers "vk" (what the poller waits for).
gwd_plain_cfg() {
  cat <<CONF
[global]
nbthread = 1
[defaults]
timeout.connect = "5s"
timeout.client = "30s"
timeout.server = "30s"
http-reuse = "safe"
[frontend.www]
bind = [ { addr = "127.0.0.1:$GWD_WWW" } ]
acl.version = "path /version"
http-request = [
  { action = "return", status = 200, content-type = "text/plain", body = "v$1", if = "version" },
  { action = "set-header", name = "x-version", value = "v$1" },
]
default_backend = "nginx"
[backend.nginx]
server = [
  { name = "n1", addr = "127.0.0.1:$NGINX_PORT", weight = 10 },
  { name = "n2", addr = "127.0.0.1:$NGINX_PORT", weight = $((10 * ($1 + 1))) },
]
CONF
}
hap_plain_cfg() {
  cat <<CONF
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse safe
frontend www
  bind 127.0.0.1:$HAP_WWW
  acl version path /version
  http-request return status 200 content-type text/plain string v$1 if version
  http-request set-header x-version v$1
  default_backend nginx
backend nginx
  server n1 127.0.0.1:$NGINX_PORT weight 10
  server n2 127.0.0.1:$NGINX_PORT weight $((10 * ($1 + 1)))
CONF
}

# Writes versions 0..RELOADS of config $2 (function) into folder $1.
versions() {
  mkdir -p "$1"
  for k in $(seq 0 "$RELOADS"); do "$2" "$k" > "$1/cfg.$k"; done
}

# Starts proxy $1 (gwd|haproxy) on config $2 (a live copy of version 0
# of folder $3), log $4; sets STARTED_PID.
start_proxy() {
  cp "$3/cfg.0" "$2"
  if [ "$1" = gwd ]; then
    RUST_LOG=${RUST_LOG_LEVEL:-warn} "$GWD" -f "$2" 2>"$4" &
  else
    "$HAPROXY_BIN" -W -f "$2" 2>"$4" &
  fi
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  # HAProxy's reloads are counted by its master's "Loading success." lines.
  if [ "$1" = haproxy ]; then wait_log "$4" "Loading success." 1; fi
}

# One round: proxy $1, load $2 (h1|h2c), port $3.
plain_round() {
  local proxy=$1 load=$2 port=$3 dir="$WORK/plain-$1-$2" fn
  fn=gwd_plain_cfg; [ "$proxy" = haproxy ] && fn=hap_plain_cfg
  versions "$dir" "$fn"
  start_proxy "$proxy" "$dir/live.cfg" "$dir" "$dir/proxy.log"
  local pid=$STARTED_PID
  wait_port "$port"; wait_ok "$port" bench
  echo "plain: $proxy, $load, $RELOADS reloads every ${INTERVAL}s" >&2
  if [ "$load" = h1 ]; then
    timeout $((DURATION + 20)) wrk -t1 -c50 -d"${DURATION}s" "http://127.0.0.1:$port/" > "$dir/load.out" 2>&1 &
  else
    timeout $((DURATION + 20)) h2load -t1 -c10 -m10 -D "$DURATION" "http://127.0.0.1:$port/" > "$dir/load.out" 2>&1 &
  fi
  local load_pid=$! started=$EPOCHREALTIME
  PIDS+=("$load_pid")
  $HELPER conns --pid "$load_pid" --port "$port" --until "$(epoch_in "$SAMPLE_END" "$started")" > "$dir/conns" &
  local conns_pid=$!
  PIDS+=("$conns_pid")
  local log_args=(--log "$dir/proxy.log")
  [ "$proxy" = haproxy ] && log_args=(--log "$dir/proxy.log" --log-ok "Loading success." --log-fail "Loading failure" --log-base 1)
  local sig=HUP; [ "$proxy" = haproxy ] && sig=USR2
  $HELPER reload --pid "$pid" --signal "$sig" --live "$dir/live.cfg" --versions "$dir" \
    --count "$RELOADS" --start "$started" --first-at "$INTERVAL" --interval "$INTERVAL" --port "$port" \
    "${log_args[@]}" > "$dir/reloads.tsv"
  wait "$load_pid" || true
  wait "$conns_pid" || true
  forget "$load_pid"; forget "$conns_pid"
  local fig
  if [ "$load" = h1 ]; then fig=$(wrk_figures "$dir/load.out"); else fig=$(h2load_figures "$dir/load.out"); fi
  [ "$(cut -f1 <<<"$fig")" -gt 0 ] || { echo "FAIL: no requests in $dir/load.out" >&2; cat "$dir/load.out" >&2; exit 1; }
  local req failed wrk_refused detail
  IFS=$'\t' read -r req failed wrk_refused detail <<<"$fig"
  local refused=$(( $(refused_sum "$dir/reloads.tsv") + ${wrk_refused/-/0} ))
  printf 'plain %s\t%s\t%s\t%s\t%s\t%s\tclient connections: %s; apply ms %s; logged ms %s\n' "$load" "$proxy" "$req" "$failed" "$refused" \
    "$detail" "$(cat "$dir/conns")" "$(apply_list "$dir/reloads.tsv")" "$(logged_list "$dir/reloads.tsv")" >> "$RESULTS"
  stop_pids "$pid"
}

if wants plain; then
  for load in h1 h2c; do
    plain_round gwd "$load" "$GWD_WWW"
    plain_round haproxy "$load" "$HAP_WWW"
  done
fi

# ---------------------------------------------------------------- rhttp
gwd_gw_cfg() {
  cat <<CONF
[global]
nbthread = 1
[defaults]
timeout.connect = "5s"
timeout.client = "30s"
timeout.server = "30s"
[frontend.visitors]
bind = [ { addr = "127.0.0.1:$GWD_VIS" } ]
acl.version = "path /version"
http-request = [
  { action = "return", status = 200, content-type = "text/plain", body = "g$1", if = "version" },
  { action = "set-header", name = "x-gateway", value = "g$1" },
]
default_backend = "tunnels"
[frontend.registration]
bind = [ { addr = "127.0.0.1:$GWD_REG", ssl = true, crt = "$PKI/gateway.crt", key = "$PKI/gateway.key", ca-file = "$PKI/ca.crt", verify = "required", alpn = ["h2"] } ]
tcp-request.session = [ { action = "attach-srv", server = "tunnels/origins", name = "ssl_c_s_dn(CN)" } ]
[backend.tunnels]
http-reuse = "always"
server = [ { name = "origins", addr = "rhttp@", pool-conn-name = "req.hdr(host),field(1,:)" } ]
CONF
}
gwd_origin_cfg() {
  cat <<CONF
[global]
nbthread = 1
[defaults]
timeout.connect = "5s"
timeout.client = "30s"
timeout.server = "30s"
[frontend.from-gateway]
bind = [ { addr = "rhttp@to-gateway/gw1", nbconn = 3 } ]
acl.version = "path /origin-version"
http-request = [
  { action = "return", status = 200, content-type = "text/plain", body = "o$1", if = "version" },
  { action = "set-header", name = "x-origin", value = "o$1" },
]
default_backend = "app"
[backend.to-gateway]
server = [ { name = "gw1", addr = "127.0.0.1:$GWD_REG", ssl = true, proto = "h2", sni = "gateway.localhost", ca-file = "$PKI/ca.crt", crt = "$PKI/origin.crt", key = "$PKI/origin.key" } ]
[backend.app]
server = [ { name = "nginx", addr = "127.0.0.1:$NGINX_PORT" } ]
CONF
}
hap_gw_cfg() {
  cat <<CONF
global
  nbthread 1
  expose-experimental-directives
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend visitors
  bind 127.0.0.1:$HAP_VIS
  acl version path /version
  http-request return status 200 content-type text/plain string g$1 if version
  http-request set-header x-gateway g$1
  default_backend tunnels
frontend registration
  bind 127.0.0.1:$HAP_REG ssl crt $WORK/gateway.pem ca-file $PKI/ca.crt verify required alpn h2
  tcp-request session attach-srv tunnels/origins name ssl_c_s_dn(CN)
backend tunnels
  # Without it HAProxy 3.0 gives a visitor's first request no tunnel in
  # use by another (503 for 85 % of requests at -c10, no reload at all).
  http-reuse always
  server origins rhttp@ pool-conn-name req.hdr(host),field(1,:)
CONF
}
hap_origin_cfg() {
  cat <<CONF
global
  nbthread 1
  expose-experimental-directives
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend from_gateway
  bind rhttp@to_gateway/gw1 nbconn 3
  acl version path /origin-version
  http-request return status 200 content-type text/plain string o$1 if version
  http-request set-header x-origin o$1
  default_backend app
backend to_gateway
  server gw1 127.0.0.1:$HAP_REG ssl alpn h2 sni str(gateway.localhost) crt $WORK/origin.pem ca-file $PKI/ca.crt verify required
backend app
  server nginx 127.0.0.1:$NGINX_PORT
CONF
}

# One round: gateway/origin pair $1, reloading side $2 (gateway|origin).
rhttp_round() {
  local proxy=$1 side=$2 vis=$3 reg=$4 gwpid=$5 opid=$6 dir="$WORK/rhttp-$1"
  local pid=$gwpid live="$dir/gw/live.cfg" versions_dir="$dir/gw" path=/version want='g{k}' log="$dir/gw.log"
  if [ "$side" = origin ]; then
    pid=$opid live="$dir/origin/live.cfg" versions_dir="$dir/origin" path=/origin-version want='o{k}' log="$dir/origin.log"
  fi
  echo "rhttp: $proxy, $RELOADS $side reloads every ${INTERVAL}s" >&2
  local out="$dir/$side"
  $HELPER wait-tunnels --port "$reg" --n 3
  local reg_before; reg_before=$(grep -c "rhttp tunnel registered" "$dir/gw.log" || true)
  local started=$EPOCHREALTIME
  $HELPER dials --port "$reg" --start "$started" --until "$(epoch_in $((DURATION + 2)) "$started")" > "$out.dials" &
  local dials_pid=$!
  PIDS+=("$dials_pid")
  timeout $((DURATION + 20)) wrk -t1 -c50 -d"${DURATION}s" -H 'Host: app.localhost' "http://127.0.0.1:$vis/" > "$out.load" 2>&1 &
  local load_pid=$!
  PIDS+=("$load_pid")
  $HELPER conns --pid "$load_pid" --port "$vis" --until "$(epoch_in "$SAMPLE_END" "$started")" > "$out.conns" &
  local conns_pid=$!
  PIDS+=("$conns_pid")
  local log_args=(--log "$log")
  [ "$proxy" = haproxy ] && log_args=(--log "$log" --log-ok "Loading success." --log-fail "Loading failure" --log-base 1)
  local sig=HUP; [ "$proxy" = haproxy ] && sig=USR2
  $HELPER reload --pid "$pid" --signal "$sig" --live "$live" --versions "$versions_dir" \
    --count "$RELOADS" --start "$started" --first-at "$INTERVAL" --interval "$INTERVAL" --port "$vis" \
    --host app.localhost --path "$path" --want "$want" "${log_args[@]}" > "$out.reloads"
  wait "$load_pid" || true
  wait "$dials_pid" || true
  wait "$conns_pid" || true
  forget "$load_pid"; forget "$dials_pid"; forget "$conns_pid"
  local req failed wrk_refused detail
  IFS=$'\t' read -r req failed wrk_refused detail <<<"$(wrk_figures "$out.load")"
  [ "$req" -gt 0 ] || { echo "FAIL: no requests in $out.load" >&2; cat "$out.load" >&2; exit 1; }
  local refused=$(( $(refused_sum "$out.reloads") + wrk_refused ))
  local dials; dials=$(sed -n 1p "$out.dials")
  local extra=""
  [ "$proxy" = gwd ] && extra="; gateway log: $(( $(grep -c "rhttp tunnel registered" "$dir/gw.log" || true) - reg_before )) tunnel(s) registered"
  printf 'rhttp, %s reloaded\t%s\t%s\t%s\t%s\t%s\tre-dials: %s (%s)%s; visitor connections: %s; apply ms %s; logged ms %s\n' "$side" "$proxy" \
    "$req" "$failed" "$refused" "$detail" "$(sed 's/.*new=\([0-9]*\).*/\1/' <<<"$dials")" "$dials" "$extra" "$(cat "$out.conns")" \
    "$(apply_list "$out.reloads")" "$(logged_list "$out.reloads")" >> "$RESULTS"
}

rhttp_pair() { # gwd|haproxy
  local proxy=$1 dir="$WORK/rhttp-$1" vis reg gfn ofn
  mkdir -p "$dir"
  if [ "$proxy" = gwd ]; then vis=$GWD_VIS; reg=$GWD_REG; gfn=gwd_gw_cfg; ofn=gwd_origin_cfg
  else vis=$HAP_VIS; reg=$HAP_REG; gfn=hap_gw_cfg; ofn=hap_origin_cfg; fi
  versions "$dir/gw" "$gfn"
  versions "$dir/origin" "$ofn"
  RUST_LOG_LEVEL=info start_proxy "$proxy" "$dir/gw/live.cfg" "$dir/gw" "$dir/gw.log"
  local gwpid=$STARTED_PID
  wait_port "$vis"
  RUST_LOG_LEVEL=info start_proxy "$proxy" "$dir/origin/live.cfg" "$dir/origin" "$dir/origin.log"
  local opid=$STARTED_PID
  wait_ok "$vis" app.localhost
  rhttp_round "$proxy" gateway "$vis" "$reg" "$gwpid" "$opid"
  rhttp_round "$proxy" origin "$vis" "$reg" "$gwpid" "$opid"
  stop_pids "$opid" "$gwpid"
}

if wants rhttp; then
  # HAProxy wants certificate and key in one PEM.
  cat "$PKI/gateway.crt" "$PKI/gateway.key" > "$WORK/gateway.pem"
  cat "$PKI/origin.crt" "$PKI/origin.key" > "$WORK/origin.pem"
  rhttp_pair gwd
  rhttp_pair haproxy
fi

# ------------------------------------------------------------ frontends
# Starts gwd on the 100-frontend config (env assignments as arguments);
# sets FE_PID.
start_frontends() { # log env...
  local log=$1; shift
  cp "$FE_DIR/cfg.0" "$FE_DIR/live.toml"
  env RUST_LOG=warn "$@" "$GWD" -f "$FE_DIR/live.toml" 2>"$log" &
  FE_PID=$!
  PIDS+=("$FE_PID")
  wait_port "$FE_BASE"; wait_port "$FE_LAST"; wait_ok "$FE_LAST" bench
}
if wants frontends; then
  FE_DIR="$WORK/frontends"
  FE_LAST=$((FE_BASE + FRONTENDS - 1))
  mkdir -p "$FE_DIR"
  for k in $(seq 0 "$MEM_RELOADS"); do
    {
      printf '[defaults]\ntimeout.client = "30s"\n'
      for i in $(seq 0 $((FRONTENDS - 1))); do
        printf '[frontend.f%03d]\nbind = [ { addr = "127.0.0.1:%d" } ]\nhttp-request = [ { action = "return", status = 200, body = "v%d" } ]\n' \
          "$i" $((FE_BASE + i)) "$k"
      done
    } > "$FE_DIR/cfg.$k"
  done
  echo "frontends: $FRONTENDS frontends, $LAT_RUNS timed reloads, then to $MEM_RELOADS reloads" >&2
  start_frontends "$FE_DIR/gwd.log"
  # Timed: no load; the poller spins on the last frontend's port.
  $HELPER reload --pid "$FE_PID" --signal HUP --live "$FE_DIR/live.toml" --versions "$FE_DIR" \
    --count "$LAT_RUNS" --first-at 0.5 --interval 0.5 --port "$FE_LAST" --path / --poll-sleep 0 \
    --log "$FE_DIR/gwd.log" --rss-at "1,$LAT_RUNS" > "$FE_DIR/latency.tsv"
  # Memory: the rest, back to back, each after the previous one's line.
  $HELPER reload --pid "$FE_PID" --signal HUP --live "$FE_DIR/live.toml" --versions "$FE_DIR" \
    --first $((LAT_RUNS + 1)) --count $((MEM_RELOADS - LAT_RUNS)) --port "$FE_LAST" --path / \
    --poll-sleep 0 --log "$FE_DIR/gwd.log" --log-base "$LAT_RUNS" --rss-at "$MEM_RELOADS" > "$FE_DIR/memory.tsv"
  stop_pids "$FE_PID"
  # The same reloads with mimalloc returning freed pages at once: what
  # stays is memory gwd holds, not pages its allocator keeps.
  echo "frontends: $MEM_RELOADS reloads, MIMALLOC_PURGE_DELAY=0" >&2
  start_frontends "$FE_DIR/gwd-purge.log" MIMALLOC_PURGE_DELAY=0
  $HELPER reload --pid "$FE_PID" --signal HUP --live "$FE_DIR/live.toml" --versions "$FE_DIR" \
    --count "$MEM_RELOADS" --port "$FE_LAST" --path / --poll-sleep 0 \
    --log "$FE_DIR/gwd-purge.log" --rss-at "1,5,$MEM_RELOADS" > "$FE_DIR/memory-purge.tsv"
  stop_pids "$FE_PID"
  python3 - "$FE_DIR" "$FRONTENDS" "$MEM_RELOADS" >> "$RESULTS" <<'PY'
import statistics, sys
d, n, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rows(name):
    return [l.rstrip("\n").split("\t") for l in open(f"{d}/{name}")]
def num(x):
    try:
        return float(x)
    except ValueError:
        return None
def bad(rs):
    return sum(1 for r in rs if r[0] == "reload" and (r[2] == "timeout" or num(r[3]) is None))
lat, mem, purge = rows("latency.tsv"), rows("memory.tsv"), rows("memory-purge.tsv")
timed = [r for r in lat if r[0] == "reload"]
applied = [num(r[2]) for r in timed if num(r[2]) is not None]
logged = [num(r[3]) for r in timed if num(r[3]) is not None]
all_logged = [num(r[3]) for r in lat + mem if r[0] == "reload" and num(r[3]) is not None]
med = statistics.median(applied) if applied else float("nan")
print(f"{n} fe: SIGHUP to new body, x{len(timed)}\tgwd\t-\t{bad(lat)}\t-\t"
      f"median {med:.1f} ms of {len(applied)} (each: {', '.join('%.1f' % x for x in applied)}); "
      f"logged 'reloaded in' {', '.join('%g' % x for x in logged)} ms\t"
      f"all {len(all_logged)} reloads: logged median {statistics.median(all_logged) if all_logged else float('nan'):g} ms, "
      f"max {max(all_logged) if all_logged else float('nan'):g} ms")
for label, rs in (("", lat + mem), (", MIMALLOC_PURGE_DELAY=0", purge)):
    rss = {int(r[1]): int(r[2]) for r in rs if r[0] == "rss"}
    first, fifth, last = rss.get(1), rss.get(5), rss.get(total)
    if first and last:
        # After 5: the reload heap holds the configuration being built
        # beside the one it replaces from the second reload on; growth
        # after that is what the issue's "no leak of old states" means.
        tail = (f"; after 5: {fifth} KiB, 5 -> {total}: {(last - fifth) / fifth * 100:+.1f} %"
                if fifth else "")
        print(f"{n} fe: VmRSS after 1 / {total} reloads\tgwd\t-\t{bad(rs)}\t-\t"
              f"{first} KiB / {last} KiB ({(last - first) / first * 100:+.1f} %){tail}{label}\t")
PY
fi

# ---------------------------------------------------------------- table
{
  echo "# ci/reload-bench.sh: $(nproc) CPU(s), $(uname -r); $GWD_LABEL; $([ -n "$HAPROXY_BIN" ] && "$HAPROXY_BIN" -v 2>/dev/null | sed -n '1s/ - https.*//p')"
  echo "# ${DURATION}s loads, $RELOADS reloads every ${INTERVAL}s; failed: wrk socket errors + non-2xx/3xx, h2load failed (errored, timeout included)"
  echo "# refused: wrk connect errors + the apply poller's refused connects; frontends rows: failed = reloads not applied or not logged"
  printf '%-34s %-8s %9s %7s %8s  %s\n' scenario proxy requests failed refused details
  while IFS=$'\t' read -r sc px req failed refused detail more; do
    printf '%-34s %-8s %9s %7s %8s  %s\n' "$sc" "$px" "$req" "$failed" "$refused" "$detail"
    if [ -n "$more" ]; then printf '%-34s %-8s %9s %7s %8s    %s\n' "" "" "" "" "" "$more"; fi
  done < "$RESULTS"
} | tee "${OUT:-/dev/null}"
