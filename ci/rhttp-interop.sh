#!/usr/bin/env bash
# Reverse-HTTP interop with a real HAProxy (2.9+; rhttp is experimental
# there), both ways, on loopback with the committed test PKI:
#   1. HAProxy gateway  <- gwd origin     (gwd dials HAProxy)
#   2. gwd gateway      <- HAProxy origin (HAProxy dials gwd)
# Each case checks: no tunnel -> 503, tunnel up -> 200 with the origin's
# answer, another Host -> 503.
#
#   HAPROXY="/path/to/haproxy" ci/rhttp-interop.sh
#
# HAPROXY may be a command line (e.g. a loader plus --library-path). With
# HAPROXY unset, the script fetches Debian trixie's haproxy 3.0 and the
# libraries it needs into target/haproxy3 with `apt-get download` (no
# install; the system's apt sources are left alone) and runs it with its
# own loader.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh
ROOT=$PWD
PKI="$ROOT/examples/reverse/pki"

if [ -z "${HAPROXY:-}" ]; then
  fetch_haproxy3 "$ROOT"
  H3="$ROOT/target/haproxy3"
  L="$H3/root/usr/lib/x86_64-linux-gnu"
  HAPROXY="$L/ld-linux-x86-64.so.2 --library-path $L $H3/root/usr/sbin/haproxy"
fi
$HAPROXY -v | sed -n 1p
cargo build --release -q -p gwd
GWD="$ROOT/target/release/gwd"

bench_workdir gwd-interop
# HAProxy wants certificate and key in one PEM.
cat "$PKI/gateway.crt" "$PKI/gateway.key" > "$WORK/gateway.pem"
cat "$PKI/origin.crt" "$PKI/origin.key" > "$WORK/origin.pem"

VIS=18281; REG=18282; APP=18283
status() { http_status "$1" "$2"; }
wait_status() { # port host want
  for _ in $(seq 1 200); do
    [ "$(status "$1" "$2")" = "$3" ] && return 0
    sleep 0.05
  done
  echo "FAIL: Host $2 on :$1 never answered $3 (last $(status "$1" "$2"))" >&2
  return 1
}
expect() { # port host want what
  local got; got=$(status "$1" "$2")
  if [ "$got" = "$3" ]; then echo "ok   $4: $got"; else echo "FAIL $4: got $got, want $3" >&2; return 1; fi
}

# The application behind either origin.
cat > "$WORK/app.toml" <<CONF
[frontend.app]
bind = [ { addr = "127.0.0.1:$APP" } ]
http-request = [ { action = "return", status = 200, body = "app\n" } ]
CONF

echo "== 1. HAProxy gateway, gwd origin"
cat > "$WORK/gw.cfg" <<CONF
global
  expose-experimental-directives
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend visitors
  bind 127.0.0.1:$VIS
  default_backend tunnels
$(hap_rhttp_registration "$REG" "$WORK" "$PKI")
CONF
$HAPROXY -q -f "$WORK/gw.cfg" & PIDS+=($!)
wait_status $VIS app.localhost 503
expect $VIS app.localhost 503 "no tunnel yet"
cat > "$WORK/origin.toml" <<CONF
[defaults]
timeout.connect = "5s"
[frontend.from-gateway]
bind = [ { addr = "rhttp@to-gateway/gw1", nbconn = 2 } ]
default_backend = "app"
[backend.to-gateway]
server = [ { name = "gw1", addr = "127.0.0.1:$REG", ssl = true, proto = "h2", sni = "gateway.localhost", ca-file = "$PKI/ca.crt", crt = "$PKI/origin.crt", key = "$PKI/origin.key" } ]
[backend.app]
server = [ { name = "a1", addr = "127.0.0.1:$APP" } ]
CONF
RUST_LOG=warn $GWD -f "$WORK/app.toml" 2>"$WORK/app.log" & PIDS+=($!)
RUST_LOG=info $GWD -f "$WORK/origin.toml" 2>"$WORK/origin.log" & PIDS+=($!)
wait_status $VIS app.localhost 200
expect $VIS app.localhost 200 "through the gwd origin's tunnel"
expect $VIS other.localhost 503 "another name"
for i in $(seq 1 20); do [ "$(status $VIS app.localhost)" = 200 ] || { echo "FAIL request $i" >&2; exit 1; }; done
echo "ok   20 more requests"
bench_stop_all

echo "== 2. gwd gateway, HAProxy origin"
cat > "$WORK/gw.toml" <<CONF
[frontend.visitors]
bind = [ { addr = "127.0.0.1:$VIS" } ]
default_backend = "tunnels"
[frontend.registration]
bind = [ { addr = "127.0.0.1:$REG", ssl = true, crt = "$PKI/gateway.crt", key = "$PKI/gateway.key", ca-file = "$PKI/ca.crt", verify = "required" } ]
tcp-request.session = [ { action = "attach-srv", server = "tunnels/origins", name = "ssl_c_s_dn(CN)" } ]
[backend.tunnels]
server = [ { name = "origins", addr = "rhttp@", pool-conn-name = "req.hdr(host),field(1,:)" } ]
CONF
RUST_LOG=info $GWD -f "$WORK/gw.toml" 2>"$WORK/gw.log" & PIDS+=($!)
RUST_LOG=warn $GWD -f "$WORK/app.toml" 2>"$WORK/app.log" & PIDS+=($!)
wait_status $VIS app.localhost 503
expect $VIS app.localhost 503 "no tunnel yet"
cat > "$WORK/origin.cfg" <<CONF
global
  expose-experimental-directives
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend from_gateway
  bind rhttp@to_gateway/gw1 nbconn 2
  default_backend app
backend to_gateway
  server gw1 127.0.0.1:$REG ssl alpn h2 sni str(gateway.localhost) crt $WORK/origin.pem ca-file $PKI/ca.crt verify required
backend app
  server a1 127.0.0.1:$APP
CONF
$HAPROXY -q -f "$WORK/origin.cfg" & PIDS+=($!)
wait_status $VIS app.localhost 200
expect $VIS app.localhost 200 "through the HAProxy origin's tunnel"
expect $VIS other.localhost 503 "another name"
for i in $(seq 1 20); do [ "$(status $VIS app.localhost)" = 200 ] || { echo "FAIL request $i" >&2; exit 1; }; done
echo "ok   20 more requests"
echo "gwd gateway log:"; grep -c "rhttp tunnel registered" "$WORK/gw.log" | sed 's/^/  tunnels registered: /'
bench_stop_all
echo "interop: all checks passed"
