#!/usr/bin/env bash
# Runs every cargo-fuzz target for a few seconds (FUZZ_SECONDS, default 10). cargo-fuzz needs a
# nightly toolchain and cargo-fuzz itself; both are installed when missing. The smoke run builds
# all targets once, without a sanitizer, to keep CI short; long runs (README) use cargo-fuzz's
# default AddressSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-10}"
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz-smoke: installing a nightly toolchain (cargo-fuzz needs one)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
cd fuzz
export TSS2_LOG=all+none
cargo +nightly fuzz build -s none
targets=$(cargo +nightly fuzz list)
# New inputs go to a scratch corpus; the committed seeds (fuzz/seeds/<target>, README there) are
# read only, so a smoke run leaves the tree as it was.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
n=0
for t in $targets; do
  echo "fuzz-smoke: $t for ${secs}s"
  mkdir -p "$scratch/$t"
  seeds=()
  [ -d "seeds/$t" ] && seeds=("seeds/$t")
  cargo +nightly fuzz run -s none "$t" "$scratch/$t" "${seeds[@]}" -- -max_total_time="$secs" -rss_limit_mb=4096 >"/tmp/fuzz-$t.log" 2>&1 \
    || { tail -40 "/tmp/fuzz-$t.log"; echo "fuzz-smoke: $t FAILED"; exit 1; }
  n=$((n + 1))
done
echo "fuzz-smoke: $n targets ran ${secs}s each without a finding"
