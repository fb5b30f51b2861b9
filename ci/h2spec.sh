#!/usr/bin/env bash
# HTTP/2 conformance of gwd's visitor side with h2spec (the public suite
# of RFC 7540/7541 cases), on loopback: gwd listens h2c (`proto = "h2"`)
# and forwards to an nginx on loopback; h2spec runs every case. With
# --local gwd answers every request itself (`http-request return`): it
# then answers before some requests end, and two cases (5.1/9, 8.1.2.6/2)
# race with that early answer, as they would on any server that does.
#
#   ci/h2spec.sh [--local] [--gwd PATH]
#
# h2spec comes from $H2SPEC, else `h2spec` on the PATH, else it is built
# with `go install github.com/summerwind/h2spec/cmd/h2spec@v2.6.0` (needs
# Go and the module proxy). Exits with h2spec's status (non-zero when a
# case failed). Every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh

PROXY=1
GWD=target/debug/gwd
while [ $# -gt 0 ]; do
  case "$1" in
    --local) PROXY=0; shift ;;
    --gwd) GWD="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -x "$GWD" ] || cargo build -p gwd
H2SPEC=${H2SPEC:-$(command -v h2spec || true)}
if [ -z "$H2SPEC" ]; then
  GOBIN="$PWD/target/go-bin" go install github.com/summerwind/h2spec/cmd/h2spec@v2.6.0
  H2SPEC="$PWD/target/go-bin/h2spec"
fi

bench_workdir gwd-h2spec
PORT=19461
if [ "$PROXY" = 1 ]; then
  NGINX=${NGINX:-nginx}
  bench_start_nginx 19462
  wait_port 19462
  ROUTE='default_backend = "app"
[backend.app]
server = [ { name = "n1", addr = "127.0.0.1:19462" } ]'
else
  ROUTE='http-request = [ { action = "return", status = 200, body = "ok" } ]'
fi
cat > "$WORK/gw.toml" <<CONF
[defaults]
timeout.client = "5s"
timeout.connect = "2s"
timeout.server = "5s"
[frontend.www]
bind = [ { addr = "127.0.0.1:$PORT", proto = "h2" } ]
$ROUTE
CONF
"$GWD" --config "$WORK/gw.toml" 2>"$WORK/gwd.log" &
PIDS+=($!)
wait_port "$PORT"
status=0
timeout 600 "$H2SPEC" -h 127.0.0.1 -p "$PORT" -o 2 >"$WORK/h2spec.txt" 2>&1 || status=$?
sed -n '/^Failures:/,$p' "$WORK/h2spec.txt"
tail -1 "$WORK/h2spec.txt"
exit "$status"
