#!/usr/bin/env bash
# Refreshes the vendored RustSec advisory snapshot (scripts/advisory-db/) from a checkout of
# https://github.com/rustsec/advisory-db: keeps the advisories of every crate named in this
# repository's lock files (the workspace, fuzz/, the demo runtime, the WASM modules), and
# records the snapshot's commit and date. The build machines cannot reach GitHub; run this where
# they can (or from a mirror) and commit the result.
#   bash scripts/advisory-snapshot.sh /path/to/advisory-db
set -euo pipefail
cd "$(dirname "$0")/.."
src="${1:?usage: scripts/advisory-snapshot.sh <advisory-db checkout>}"
[ -d "$src/crates" ] || { echo "advisory-snapshot: $src has no crates/ directory" >&2; exit 2; }
out=scripts/advisory-db
rm -rf "$out"
mkdir -p "$out/crates"
names=$(cat Cargo.lock fuzz/Cargo.lock examples/kms-demo/svm/Cargo.lock \
  kms-constraints/modules/Cargo.lock | sed -n 's/^name = "\(.*\)"$/\1/p' | sort -u)
kept=0
for n in $names; do
  if [ -d "$src/crates/$n" ]; then
    cp -r "$src/crates/$n" "$out/crates/$n"
    kept=$((kept + 1))
  fi
done
cp "$src/LICENSE.txt" "$out/LICENSE.txt"
commit=$(git -C "$src" log -1 --format=%H)
date=$(git -C "$src" log -1 --format=%cI)
cat > "$out/SNAPSHOT" <<SNAP
source: https://github.com/rustsec/advisory-db
commit: $commit
date: $date
crates: advisories of the $kept crates of this repository's lock files that have any
licence: CC0-1.0 (LICENSE.txt)
SNAP
echo "advisory-snapshot: $kept crates with advisories, commit $commit ($date)"
