#!/usr/bin/env bash
# Profile-guided build of gwd: the binary to ship where CPU per request
# matters.
#
#   ci/pgo-build.sh [--seconds S]
#
# 1. Builds gwd instrumented (-Cprofile-generate) into target/pgo-train.
# 2. Runs it under the project's own loads, S seconds each (default 4):
#    ci/bench.sh (HTTP/1.1 GETs, h2c, 1 MiB POSTs), ci/bench-chain.sh
#    --h2c (reverse-HTTP tunnels over mTLS, and two plain hops with an
#    HTTP/2-over-TLS server between them, with HTTP/1.1 and h2c
#    visitors), then TLS visitors (HTTP/1.1 and ALPN h2) on a bind with
#    the test PKI. Every process is stopped with SIGTERM, so each writes
#    its profile as it exits.
# 3. Merges the profiles with llvm-profdata (rustup's `llvm-tools`
#    component, added here when missing).
# 4. Builds gwd again with -Cprofile-use into target/pgo:
#    target/pgo/release/gwd, with the release profile's settings.
#
# The loads are loopback only and bounded in time. What the training
# never ran (TCP mode, compression, the runtime API) is still optimised,
# only without the profile's guidance. docs/PERFORMANCE.md has what this
# gains over the plain release build.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=4
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECS="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

host=$(rustc -vV | awk '/^host:/ {print $2}')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  echo "adding rustup's llvm-tools component (for llvm-profdata)" >&2
  rustup component add llvm-tools >&2
fi
[ -x "$profdata" ] || { echo "no llvm-profdata at $profdata" >&2; exit 1; }

DATA="$PWD/target/pgo-data"
rm -rf "$DATA"
mkdir -p "$DATA"

echo "== 1. instrumented build (target/pgo-train)" >&2
CARGO_TARGET_DIR=target/pgo-train RUSTFLAGS="-Cprofile-generate=$DATA" \
  cargo build --release -p gwd >&2
TRAIN="$PWD/target/pgo-train/release/gwd"
# Build scripts ran instrumented too: their profiles are not gwd's.
rm -f "$DATA"/*.profraw

echo "== 2. training loads, ${SECS}s each" >&2
GWD_BIN="$TRAIN" bash ci/bench.sh --duration "$SECS" --rounds 1 >&2
GWD_BIN="$TRAIN" bash ci/bench-chain.sh --duration "$SECS" --rounds 1 --h2c >&2

# TLS visitors: the bench scripts run clear text.
source ci/lib.sh
NGINX=nginx
bench_workdir gwd-pgo
PKI="$PWD/examples/reverse/pki"
NGINX_PORT=18580; TLS_PORT=18581
bench_start_nginx "$NGINX_PORT"
bench_gwd_toml "$WORK/tls.toml" \
  "{ addr = \"127.0.0.1:$TLS_PORT\", ssl = true, crt = \"$PKI/gateway.crt\", key = \"$PKI/gateway.key\", alpn = [\"h2\", \"http/1.1\"] }" \
  "$NGINX_PORT"
RUST_LOG=warn "$TRAIN" --config "$WORK/tls.toml" 2>"$WORK/gwd.log" &
PIDS+=($!)
wait_port "$NGINX_PORT"; wait_port "$TLS_PORT"
wrk -t1 -c20 -d"${SECS}s" "https://127.0.0.1:$TLS_PORT/" | grep -E "Requests/sec" >&2
h2load -t1 -c20 -m10 -D "$SECS" "https://127.0.0.1:$TLS_PORT/" | grep -E "^requests:" >&2
bench_stop_all

n=$(find "$DATA" -name '*.profraw' | wc -l)
[ "$n" -gt 0 ] || { echo "the training wrote no profile" >&2; exit 1; }
echo "== 3. merging $n profiles" >&2
"$profdata" merge -o "$DATA/gwd.profdata" "$DATA"/*.profraw

echo "== 4. optimised build (target/pgo)" >&2
CARGO_TARGET_DIR=target/pgo RUSTFLAGS="-Cprofile-use=$DATA/gwd.profdata" \
  cargo build --release -p gwd >&2
echo "$PWD/target/pgo/release/gwd"
