#!/usr/bin/env bash
# Builds the built-in modules reproducibly and writes dist/*.wasm and dist/manifest.json.
#   build.sh          rebuild and update dist/
#   build.sh --check  rebuild and fail unless the bytes equal the committed dist/ (the test command)
# Reproducible: the toolchain is pinned by rust-toolchain.toml, dependencies by Cargo.lock
# (--locked), codegen by the release profile in Cargo.toml (opt-level 3, fat LTO, one codegen
# unit, panic=abort, strip) and the flags below; every absolute path is remapped.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
check=0
[ "${1:-}" = "--check" ] && check=1

modules=(sol-withdraw token-withdraw raydium-v4-swap pumpfun-trade jupiter-v6-route pumpswap-trade)
target="${KMS_MODULES_TARGET_DIR:-$here/target}"

# Cargo's metadata hash of a path dependency (kms-solana) includes its absolute path, and that
# hash orders symbols and data in the output. So the sources are copied to one fixed directory
# and built there: the bytes do not depend on where the repository is checked out.
canon="/tmp/kms-modules-reproducible-src"
exec 9>"$canon.lock"
flock 9
rm -rf "$canon"
mkdir -p "$canon"
tar -C "$root" --exclude=./target --exclude='./fuzz' --exclude='*/target' --exclude=./.git \
  -cf - Cargo.toml Cargo.lock kms-solana kms-constraints/modules | tar -C "$canon" -xf -
# The root workspace's member glob must resolve: give every other member an empty stand-in.
for d in "$root"/kms-*/ "$root"/benches/; do
  name="$(basename "$d")"
  [ -e "$canon/$name" ] && continue
  mkdir -p "$canon/$name/src"
  sed -n '1,/^\[lints\]/p' "$d/Cargo.toml" | sed '/^\[lints\]/d' > "$canon/$name/Cargo.toml"
  : > "$canon/$name/src/lib.rs"
done
here_src="$here"
root_src="$root"
here="$canon/kms-constraints/modules"
root="$canon"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
toolchain="$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)"

flags=(
  -C link-arg=-zstack-size=16384          # 16 KiB guest stack: a fresh instance stays one page
  -C link-arg=--max-memory=1048576        # declare the host's 16-page limit in the module
  -C link-arg=--no-entry
  --remap-path-prefix="$here=/kms/modules"
  --remap-path-prefix="$root=/kms"
  --remap-path-prefix="$cargo_home=/cargo"
)
# Unit separator joined: the flags contain spaces-free paths but keep CARGO_ENCODED_RUSTFLAGS exact.
enc="$(printf '%s\x1f' "${flags[@]}")"
enc="${enc%$'\x1f'}"

pkgs=()
for m in "${modules[@]}"; do pkgs+=(-p "$m"); done
(cd "$here" && CARGO_TARGET_DIR="$target" CARGO_ENCODED_RUSTFLAGS="$enc" SOURCE_DATE_EPOCH=0 \
  cargo "+$toolchain" build --release --locked --target wasm32-unknown-unknown "${pkgs[@]}")
# From here on, dist/ and the schemas are those of the checkout this script belongs to.
here="$here_src"
root="$root_src"
cd "$here"

out="$target/wasm32-unknown-unknown/release"
mkdir -p dist
manifest='{\n  "abi_version": 1,\n  "modules": ['
sep=''
fail=0
for m in "${modules[@]}"; do
  built="$out/${m//-/_}.wasm"
  if [ "$check" = 1 ]; then
    if ! cmp -s "$built" "dist/$m.wasm"; then
      echo "build.sh: dist/$m.wasm differs from the rebuilt module (sha256 $(sha256sum "$built" | cut -d' ' -f1))" >&2
      fail=1
    fi
    continue
  fi
  cp "$built" "dist/$m.wasm"
  version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$m/Cargo.toml" | head -1)"
  sha="$(sha256sum "dist/$m.wasm" | cut -d' ' -f1)"
  # The schema is the module's own `kms-params` section text, minus the header line.
  lines=''
  lsep=''
  while IFS= read -r l; do
    [ -z "$l" ] && continue
    case "$l" in 'kms-params v1') continue ;; esac
    # A `pda(...)` seed string is quoted: its quotes are escaped for JSON after printf (which
    # would read a backslash itself), through a placeholder no schema can contain.
    l="${l//\"/@Q@}"
    lines="$lines$lsep\"$l\""
    lsep=', '
  done < "$m/schema.txt"
  manifest="$manifest$sep\n    {\n      \"name\": \"$m\",\n      \"version\": \"$version\",\n      \"file\": \"$m.wasm\",\n      \"sha256\": \"$sha\",\n      \"params\": [$lines]\n    }"
  sep=','
done
if [ "$check" = 1 ]; then
  [ "$fail" = 0 ] || { echo "build.sh: the committed modules are not what this source builds" >&2; exit 1; }
  echo "build.sh: all ${#modules[@]} modules rebuild byte-identical to dist/"
  exit 0
fi
printf "$manifest\n  ]\n}\n" | sed 's/@Q@/\\"/g' > dist/manifest.json
(cd dist && sha256sum "${modules[@]/%/.wasm}")
