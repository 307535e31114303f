#!/usr/bin/env bash
# Regenerate package-lock.json from the package.json files alone, in a
# scratch copy, so the lock is resolved from the registry rather than from
# whatever this machine's node_modules happens to hold. `npm ci` refuses a
# lock that lacks an optional platform package (another OS's turbo or rollup
# binary), and a lock grown from one machine's node_modules can lack them.
#
#   bash scripts/relock.sh [--from-git]   # --from-git: use the committed package.json files
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$root"
if [ "${1:-}" = "--from-git" ]; then
  files=$(git ls-files 'package.json' 'packages/*/package.json')
else
  files=$(ls package.json packages/*/package.json)
fi
for f in $files; do
  mkdir -p "$scratch/$(dirname "$f")"
  if [ "${1:-}" = "--from-git" ]; then git show "HEAD:$f" > "$scratch/$f"; else cp "$f" "$scratch/$f"; fi
done
(cd "$scratch" && npm install --package-lock-only --no-audit --no-fund >&2 && npm ci --dry-run >/dev/null)
cp "$scratch/package-lock.json" "$root/package-lock.json"
echo "relock: package-lock.json regenerated and checked with npm ci --dry-run" >&2
