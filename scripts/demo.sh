#!/usr/bin/env bash
# The main job on embedded defaults. Until the reference signer lands, it runs the key flow end to
# end: a fresh seed phrase, its Solana wallets, a sealed record in a real redb store, one signature.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo run --release --locked -p kms-core --example key-flow -- "$@"
