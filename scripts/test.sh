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
  # The version whose advisory-database directory name test.sh builds (see below).
  cargo install --locked cargo-deny --version 0.20.2
fi
# cargo-deny reads the metadata of every target's crates (macOS, Windows): fetch them first.
cargo fetch --locked
cargo deny --offline check licenses bans sources
# Advisories, against the vendored RustSec snapshot (scripts/advisory-db; its SNAPSHOT says which
# commit), made into the git repository cargo-deny reads (deny.toml: db-path), dated as the
# snapshot so that its staleness check sees the snapshot's real age.
advisory_db=target/advisory-db/advisory-db-3157b0e258782691
snapshot_date=$(sed -n 's/^date: //p' scripts/advisory-db/SNAPSHOT)
rm -rf "$advisory_db"
mkdir -p "$advisory_db"
cp -r scripts/advisory-db/. "$advisory_db"
(cd "$advisory_db" && git init -q && git add -A \
  && GIT_AUTHOR_DATE="$snapshot_date" GIT_COMMITTER_DATE="$snapshot_date" \
    git -c user.name=advisory-snapshot -c user.email=snapshot@localhost commit -qm "RustSec snapshot")
cargo deny --offline check advisories
# Formatting and lints (the workspace and the demo runtime's own workspace).
cargo fmt --all -- --check
(cd examples/kms-demo/svm && cargo fmt -- --check)
cargo clippy --workspace --all-targets --locked -- -D warnings
