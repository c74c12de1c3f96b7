#!/usr/bin/env bash
# The main job on embedded defaults: `kms demo` runs the reference signer (kms dev: supervisor,
# signer, HTTPS pool, bridge) against a Bot API emulator as the user's phone, and executes every
# transaction it signs in an in-process Solana runtime (kms-svm, litesvm in its own workspace).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release --locked -p kms -p kms-demo
CARGO_TARGET_DIR=target/svm cargo build --release --locked \
  --manifest-path examples/kms-demo/svm/Cargo.toml
exec target/release/kms demo --svm target/svm/release/kms-svm "$@"
