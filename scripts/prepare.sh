# shellcheck shell=bash
# Source this to get a working tree ready to run: Node, dependencies, build.
# Shared by the test, demo and bench entry points so each is one command on a
# fresh machine.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=toolchain.sh
source "$here/toolchain.sh"
cd "$root"

bb_install_dependencies() {
  # Reinstall when node_modules is missing or older than the lock file.
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "prepare: npm ci" >&2
    npm ci --no-audit --no-fund >&2
  fi
}

bb_build() {
  echo "prepare: building packages" >&2
  npx turbo run build --output-logs=errors-only >&2
}
