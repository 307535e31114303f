#!/usr/bin/env bash
# The test command: prepares everything a fresh machine lacks (Node, npm
# dependencies, the build, a Docker engine, skopeo, the fixture images), then
# runs every vitest project and prints one closing line of counts.
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
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node scripts/test-summary.mjs "$report" || status=$((status == 0 ? 1 : status))
rm -f "$report"
exit "$status"
