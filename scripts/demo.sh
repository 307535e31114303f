#!/usr/bin/env bash
# bot-bottle in two minutes: start an agent in a bottle, commit it while it
# works, throw the bottle away, resume it from the snapshot and find the work
# still there. Runs on a fresh machine: it sets up Node, dependencies, the
# build, a Docker engine and the fixture image first.
#
#   bash scripts/demo.sh          (or: npm run demo)
#   BOT_BOTTLE_SKIP_BUILD=1 bash scripts/demo.sh   (reuse the current build)
#
# Everything the demo creates (bottle, network, snapshot, state) is removed at
# the end; the fixture images are kept for next time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1fs", ms / 1000 }'; }

# --- set-up (not part of the two minutes) ----------------------------------
setup_started=$(now_ms)
bold "setting up"
# shellcheck source=toolchain.sh
source "$root/scripts/toolchain.sh"
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "  installing dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ "${BOT_BOTTLE_SKIP_BUILD:-}" != 1 ]; then
  echo "  building (turbo)"
  npx --no-install turbo run build --output-logs=errors-only >/dev/null
fi
echo "  checking the Docker engine"
bash "$root/scripts/engine.sh"
echo "  building the fixture image"
bash "$root/test-fixtures/build.sh" 2>&1 | sed 's/^/  /'
echo "  set-up took $(secs $(($(now_ms) - setup_started)))"
echo

# --- the narrative -----------------------------------------------------------
BOT_BOTTLE_HOME="$(mktemp -d "${TMPDIR:-/tmp}/bot-bottle-demo-home.XXXXXX")"
export BOT_BOTTLE_HOME
bb() { "$root/bin/bot-bottle" "$@"; }
slug=""
cleanup() {
  if [ -n "$slug" ]; then
    bb cleanup "$slug" >/dev/null 2>&1 || true
    docker rm -f "bot-bottle-$slug" >/dev/null 2>&1 || true
    docker network rm "bot-bottle-$slug" >/dev/null 2>&1 || true
    docker image rm "bot-bottle-committed-$slug:latest" >/dev/null 2>&1 || true
  fi
  rm -rf "$BOT_BOTTLE_HOME"
}
trap cleanup EXIT

cd "$root/test-fixtures/demo"
demo_started=$(now_ms)
n=0
step() {
  n=$((n + 1))
  step_title="$1"
  step_started=$(now_ms)
  bold "[$n] $step_title"
}
step_done() { echo "    ($(secs $(($(now_ms) - step_started))))"; echo; }

step "start the demo agent in a bottle, in the background"
echo "    \$ bot-bottle start demo --detach --json"
json="$(bb start demo --detach --json 2>/dev/null)"
slug="$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).slug)' <<<"$json")"
echo "    bottle $slug is running (container bot-bottle-$slug)"
step_done

step "let the agent work for a few seconds"
sleep 3
echo "    \$ bot-bottle exec $slug -- sh -c 'ls ~/work'"
bb exec "$slug" -- sh -c 'ls ~/work' | sed 's/^/    /'
echo "    \$ bot-bottle exec $slug -- sh -c 'echo \"notes written before the snapshot\" > ~/work/NOTES.md'"
bb exec "$slug" -- sh -c 'echo "notes written before the snapshot" > ~/work/NOTES.md'
step_done

step "commit the bottle while the agent keeps running"
echo "    \$ bot-bottle commit $slug"
bb commit "$slug" 2>&1 | sed 's/^/    /'
echo "    still running: $(docker inspect -f '{{.State.Status}}' "bot-bottle-$slug"); the agent has written $(bb exec "$slug" -- sh -c 'ls ~/work | wc -l' | tr -d ' ') files so far"
step_done

step "throw the bottle away"
echo "    \$ bot-bottle cleanup $slug"
bb cleanup "$slug" 2>&1 | sed 's/^/    /'
echo "    \$ bot-bottle list active"
bb list active 2>&1 | grep -v '^skipped backend' | sed 's/^/    /'
step_done

step "resume it from the snapshot"
echo "    \$ bot-bottle resume $slug --detach"
bb resume "$slug" --detach 2>&1 | sed 's/^/    /'
step_done

step "the work is still there"
echo "    \$ bot-bottle exec $slug -- sh -c 'cat ~/work/NOTES.md; ls ~/work'"
bb exec "$slug" -- sh -c 'cat ~/work/NOTES.md; ls ~/work' | sed 's/^/    /'
step_done

step "clean up"
bb cleanup "$slug" >/dev/null 2>&1
docker image rm "bot-bottle-committed-$slug:latest" >/dev/null
slug=""
step_done

bold "demo finished in $(secs $(($(now_ms) - demo_started))) (after set-up)"
