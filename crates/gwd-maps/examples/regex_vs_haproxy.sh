#!/usr/bin/env bash
# Regex ACLs, 200,000 patterns (issue 11 item 10): gwd and HAProxy on the
# same pattern file, on this machine, in one run. Needs `haproxy` in PATH,
# `curl`, GNU `/usr/bin/time`; builds gwd and the example in release mode.
#
#   crates/gwd-maps/examples/regex_vs_haproxy.sh [N]      # default 200000
#
# Prints, for each side: load time and peak RSS of a config check
# (`gwd check`, `haproxy -c`), RSS of the running server, and the time of
# requests whose path must be tested against the ACL (distinct paths, so
# HAProxy's pattern cache does not answer them).
set -euo pipefail
N=${1:-200000}
cd "$(dirname "$0")/../../.."
ROOT=$PWD
W=$(mktemp -d /tmp/gwd-regex-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
cargo build --release -q -p gwd
cargo build --release -q -p gwd-maps --example regex_load
GWD=$ROOT/target/release/gwd

echo "== gwd-maps alone (the example; writes the pattern file)"
"$ROOT/target/release/examples/regex_load" "$N" --file "$W/pats.lst"

cat > "$W/g.toml" <<TOML
[defaults]
timeout.connect = "1s"
timeout.client = "5s"
timeout.server = "5s"

[frontend.fe]
bind = [ { addr = "127.0.0.1:18998" } ]
acl.bad = "path -m reg -f $W/pats.lst"
http-request = [
  { action = "deny", if = "bad" },
  { action = "return", status = 200 },
]
TOML
cat > "$W/h.cfg" <<CFG
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:18999
  acl bad path -m reg -f $W/pats.lst
  http-request deny if bad
  http-request return status 200
CFG

echo "== config check: wall time, peak RSS"
/usr/bin/time -f "gwd check:   %e s, %M KB" "$GWD" check --config "$W/g.toml" >/dev/null
/usr/bin/time -f "haproxy -c:  %e s, %M KB" haproxy -q -c -f "$W/h.cfg"

echo "== running servers"
"$GWD" -f "$W/g.toml" >"$W/gwd.log" 2>&1 &
GPID=$!
haproxy -db -f "$W/h.cfg" >"$W/hap.log" 2>&1 &
HPID=$!
wait_up() { for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; return 1; }
wait_up 18998
wait_up 18999
rss() { awk '/VmRSS/ {print $2 " KB"}' "/proc/$1/status"; }
echo "RSS: gwd $(rss $GPID), haproxy $(rss $HPID)"
# Median time of 15 requests to distinct paths of one shape.
median() {
    local port=$1 shape=$2
    for k in $(seq 1 15); do
        case $shape in
            miss) p="/static/js/app.$k.$RANDOM.js" ;;
            1) p="/api/v2/tenant$(( (k * 7919 * 4 + 1) % N ))/orders/17" ;;
            3) p="/user-$(( (k * 7919 * 4 + 3) % N ))-abc/profile" ;;
        esac
        curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port$p"
    done | sort -n | awk '{a[NR]=$1} END {printf "%.3f ms", a[int((NR+1)/2)] * 1000}'
}
for shape in miss 1 3; do
    echo "request, path shape $shape: gwd $(median 18998 $shape), haproxy $(median 18999 $shape)"
done
echo "RSS after: gwd $(rss $GPID), haproxy $(rss $HPID)"
