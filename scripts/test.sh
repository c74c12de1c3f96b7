#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine with Rust: installs what is missing, builds
# once, runs every unit, integration, property and doc test of the workspace (real redb, real swtpm,
# ... started by the tests themselves on 127.0.0.1), then short smoke runs of benchmarks and fuzzers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

export TSS2_LOG=all+none
# The committed built-in WASM modules must be exactly what their sources build (reproducible
# build on the pinned toolchain; kms-constraints/modules/build.sh).
bash kms-constraints/modules/build.sh --check
# The demo's Solana runtime (litesvm, a workspace of its own: examples/kms-demo/svm/Cargo.toml
# says why); tests/demo.rs runs the demo against it.
CARGO_TARGET_DIR=target/svm cargo build --release --locked \
  --manifest-path examples/kms-demo/svm/Cargo.toml
# Unit, integration and property tests, plus every benchmark run once in test mode.
cargo test --workspace --all-targets --locked --no-fail-fast
# Documentation examples (crate READMEs are crate docs, so their examples run here).
cargo test --workspace --doc --locked --no-fail-fast
bash scripts/fuzz-smoke.sh
# Dependency policy (deny.toml): licences, one version per crate (written exceptions), no
# OpenSSL, crates.io only. The advisory database cannot be fetched here (README).
if ! cargo deny --version >/dev/null 2>&1; then
  echo "test: installing cargo-deny"
  cargo install --locked cargo-deny
fi
# cargo-deny reads the metadata of every target's crates (macOS, Windows): fetch them first.
cargo fetch --locked
cargo deny --offline check licenses bans sources
# Formatting and lints (the workspace and the demo runtime's own workspace).
cargo fmt --all -- --check
(cd examples/kms-demo/svm && cargo fmt -- --check)
cargo clippy --workspace --all-targets --locked -- -D warnings
