#!/usr/bin/env bash
# The test command: prepares everything a fresh machine lacks (Node, npm
# dependencies, the build, a Docker engine, skopeo, the fixture images), then
# runs the unit project on Node 22 and every vitest project on the
# toolchain's Node 24, and prints a line of counts after each.
#
#   bash scripts/test.sh [vitest args...]
#
# With BOT_BOTTLE_REQUIRE_ENGINES=1 (CI) a missing engine fails the engine
# tests instead of skipping them, and any skipped test fails the run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
source "$root/scripts/host-packages.sh"

bb_install_dependencies
bb_build
bb_need_command skopeo skopeo || true
bash scripts/engine.sh || [ "${BOT_BOTTLE_REQUIRE_ENGINES:-}" != 1 ] || exit 1
if docker version >/dev/null 2>&1; then
  bash test-fixtures/build.sh
fi

report="$(mktemp)"
status=0
# Node 22 is supported too: a full run also runs the unit project (which
# includes the CLI run through its built entries) on the oldest supported
# Node, before everything on the toolchain's.
if [ "$#" -eq 0 ]; then
  node22="$(bb_node_package_dir "$BB_NODE22_PACKAGE_VERSION")"
  echo "test: the unit project on Node $("$node22/bin/node" --version)"
  "$node22/bin/node" node_modules/vitest/vitest.mjs run --project unit --reporter=dot --reporter=json --outputFile.json="$report" || status=$?
  node scripts/test-summary.mjs "$report" "unit on Node 22" || status=$((status == 0 ? 1 : status))
fi
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node scripts/test-summary.mjs "$report" || status=$((status == 0 ? 1 : status))
rm -f "$report"
exit "$status"
