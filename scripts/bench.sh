#!/usr/bin/env bash
# Run every benchmark in bench/ in turn. Each prints ratios against a baseline
# measured in the same run; none asserts a time.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
bb_install_dependencies
bb_build
bash scripts/engine.sh
bash test-fixtures/build.sh
for bench in bench/*.mjs; do
  echo
  echo "== $bench"
  node "$bench"
done
