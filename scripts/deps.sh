#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine with the Rust toolchain lacks for building and testing
# this workspace. Idempotent: installs only what is missing; needs root (or sudo) only then.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
while read -r pkg _; do
  case "$pkg" in ''|'#'*) continue ;; esac
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done < scripts/debian-packages.txt
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Rust targets and components the workspace uses.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "deps: adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
# The pinned toolchain of the built-in WASM modules (kms-constraints/modules/rust-toolchain.toml).
pinned="$(sed -n 's/^channel = "\(.*\)"/\1/p' kms-constraints/modules/rust-toolchain.toml)"
if ! rustup toolchain list | grep -q "^$pinned"; then
  echo "deps: installing the modules' pinned toolchain $pinned"
  rustup toolchain install "$pinned" --profile minimal --target wasm32-unknown-unknown
elif ! rustup target list --installed --toolchain "$pinned" | grep -qx wasm32-unknown-unknown; then
  rustup target add --toolchain "$pinned" wasm32-unknown-unknown
fi
for comp in rustfmt clippy; do
  rustup component list --installed | grep -q "^$comp" || rustup component add "$comp"
done
