#!/usr/bin/env bash
# Packs everything ci/bench.sh runs (haproxy, nginx, wrk, h2load, taskset,
# a stripped release gwd, their shared libraries and this machine's dynamic
# loader) into one folder, so the benchmark can run on a machine with no
# package access (e.g. a lent many-core box):
#
#   ci/bench-kit.sh target/bench-kit
#   GWD_BENCH_KIT=target/bench-kit ci/bench.sh ...      # on the other machine
#
# Binaries are run through the packed loader, so the other machine's libc
# version does not matter.
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=${1:-target/bench-kit}
need=()
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release -p gwd >&2
rm -rf "$KIT"; mkdir -p "$KIT/bin" "$KIT/lib"
bins=("$(command -v haproxy)" "$(command -v nginx)" "$(command -v wrk)" "$(command -v h2load)" "$(command -v taskset)")
for b in "${bins[@]}"; do
  cp "$b" "$KIT/bin/"
  ldd "$b" | awk '$3 ~ /^\// {print $3}' | xargs -r -I{} cp -L {} "$KIT/lib/"
done
GWD_BIN="${CARGO_TARGET_DIR:-target}/release/gwd"
strip -o "$KIT/bin/gwd" "$GWD_BIN"
ldd "$GWD_BIN" | awk '$3 ~ /^\// {print $3}' | xargs -r -I{} cp -L {} "$KIT/lib/"
cp -L /lib64/ld-linux-x86-64.so.2 "$KIT/lib/"
du -sh "$KIT" >&2
