#!/usr/bin/env bash
# Runs every cargo-fuzz target for a few seconds. cargo-fuzz needs a nightly toolchain; where none
# is installed this says so and skips (the same targets' properties also run as ordinary tests).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-10}"
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz-smoke: SKIPPED, no nightly toolchain (rustup toolchain install nightly)"; exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
cd fuzz
for t in $(cargo +nightly fuzz list); do
  echo "fuzz-smoke: $t for ${secs}s"
  cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=4096 >"/tmp/fuzz-$t.log" 2>&1 \
    || { tail -40 "/tmp/fuzz-$t.log"; echo "fuzz-smoke: $t FAILED"; exit 1; }
done
echo "fuzz-smoke: all targets ran ${secs}s without a finding"
