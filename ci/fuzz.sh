#!/usr/bin/env bash
# Runs gwd's fuzz targets (fuzz/, docs/FUZZING.md) under libFuzzer, each
# for a fixed time, a few at once, and prints one line per target: runs,
# executions per second, corpus size, and the crashes found (0 is the
# target). Exits 1 if any target crashed; the crashing inputs are under
# fuzz/artifacts/<target>/.
#
#   ci/fuzz.sh [--seconds N] [--jobs J] [--no-build] [TARGET...]
#
# Defaults: 600 seconds each, 2 at a time, every target. Uses the stable
# toolchain (`--sanitizer none`: gwd's crates are safe Rust, so the fuzzer
# looks for panics, hangs and memory growth, not memory errors). Installs
# cargo-fuzz from crates.io if it is missing. Every run is bounded by
# -max_total_time; inputs over 1 s (-timeout) or 2 GiB (-rss_limit_mb)
# count as crashes. --no-build runs the binaries of the last build.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=600
JOBS=2
BUILD=1
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(cd fuzz/fuzz_targets && ls *.rs | sed 's/\.rs$//')
fi

# Built once; each target then runs as its own binary (cargo-fuzz would
# re-check the build before every run).
if [ "$BUILD" = 1 ]; then
  (cd fuzz && cargo fuzz build --sanitizer none -O --features libfuzzer)
fi
BIN="target/$(rustc -vV | sed -n 's/^host: //p')/release"

LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
run_one() {
  local t="$1"
  mkdir -p "fuzz/corpus/$t"
  mkdir -p "fuzz/artifacts/$t"
  timeout $((SECONDS_EACH + 120)) "$BIN/$t" "fuzz/corpus/$t" "fuzz/seeds/$t" \
      -artifact_prefix="fuzz/artifacts/$t/" -max_total_time="$SECONDS_EACH" \
      -timeout=1 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$LOGS/$t.log" 2>&1 || true
  cp "$LOGS/$t.log" "fuzz/artifacts/$t/last-run.log"
}

running=0
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

failed=0
printf '%-14s %12s %10s %8s %8s\n' target runs exec/s corpus crashes
for t in "${TARGETS[@]}"; do
  log="$LOGS/$t.log"
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  eps=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  corpus=$(ls "fuzz/corpus/$t" 2>/dev/null | wc -l)
  crashes=$(ls "fuzz/artifacts/$t" 2>/dev/null | grep -cE '^(crash|timeout|oom|leak)-' || true)
  if grep -qE 'ERROR: libFuzzer|panicked at|deadly signal' "$log"; then
    crashes=$((crashes > 0 ? crashes : 1))
  fi
  printf '%-14s %12s %10s %8s %8s\n' "$t" "$runs" "$eps" "$corpus" "$crashes"
  if [ "$crashes" != 0 ]; then
    failed=1
    grep -E 'panicked at|ERROR: libFuzzer|Test unit written' "$log" | head -5 | sed 's/^/    /'
  fi
done
exit $failed
