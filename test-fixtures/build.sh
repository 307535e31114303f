#!/usr/bin/env bash
# Build the fixture images every test, the demo and the benchmarks use.
# Idempotent: a second run finds everything in place in a second or two.
#
#   bot-bottle-fixture-base:bookworm   Debian minbase, made with debootstrap
#   bot-bottle-fixture-agent:latest    + user node (uid 1000) + fixture-agent
#
# No image registry is reachable from this project's machines, so nothing is
# pulled: the base is debootstrapped from Debian's package mirror, and its
# rootfs tarball is cached in test-fixtures/.cache between runs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=../scripts/host-packages.sh
source "$root/scripts/host-packages.sh"

bash "$root/scripts/engine.sh"

base_image="bot-bottle-fixture-base:bookworm"
agent_image="bot-bottle-fixture-agent:latest"
cache="$here/.cache"
rootfs_tar="$cache/debian-bookworm-minbase.tar"
mirror="${BOT_BOTTLE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

if ! image_present "$base_image"; then
  if [ ! -s "$rootfs_tar" ]; then
    bb_need_command debootstrap debootstrap
    mkdir -p "$cache"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    echo "fixtures: debootstrapping Debian bookworm (minbase) from $mirror; takes about a minute" >&2
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
      || { tail -n 30 "$cache/debootstrap.log" >&2; exit 1; }
    # Trim what a container never uses so the image stays small.
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    tar --numeric-owner -C "$work/rootfs" -cf "$rootfs_tar.partial" .
    mv "$rootfs_tar.partial" "$rootfs_tar"
    rm -rf "$work"
    trap - EXIT
  fi
  echo "fixtures: importing $base_image" >&2
  docker import --change 'CMD ["/bin/bash"]' "$rootfs_tar" "$base_image" >/dev/null
fi

echo "fixtures: building $agent_image" >&2
docker build --quiet -t "$agent_image" "$here/agent-image" >/dev/null
echo "fixtures: ready: $base_image, $agent_image" >&2
