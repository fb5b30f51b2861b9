#!/usr/bin/env bash
# Reverse-HTTP whole-process measurements (issue 3's targets) against the
# real gwd binary on loopback: memory per idle tunnel, time to dial N
# tunnels, idle keepalive CPU, idle re-dials, gateway restart under load.
#
#   ci/rhttp-bench.sh [scenario...] [--tunnels N] [--idle-secs S]
#                     [--redial-secs S] [--load-secs S] [--rate R]
#
# Scenarios: memory idle-cpu redials restart (default: all). Every process
# started is stopped on exit; every wait and load is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p gwd -p gwd-rhttp-bench
exec target/release/gwd-rhttp-bench --gwd target/release/gwd "$@"
