#!/usr/bin/env bash
# Make this machine able to run the podman contract suite: podman from the
# distribution's packages, and the fixture image copied from Docker into
# podman's storage (no registry involved). Idempotent.
set -euo pipefail
IMAGE="${BB_PODMAN_FIXTURE_IMAGE:-bot-bottle-fixture-agent:latest}"

if ! command -v podman >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: podman is missing; install it (apt-get install podman) and retry" >&2
    exit 1
  fi
  echo "setup.sh: installing podman from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y podman >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y podman >/dev/null; }
fi

if ! podman image exists "$IMAGE"; then
  if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "setup.sh: $IMAGE is in neither podman nor docker; build it first (npm run fixtures)" >&2
    exit 1
  fi
  echo "setup.sh: copying $IMAGE from docker into podman" >&2
  docker save "$IMAGE" | podman load >/dev/null
fi
# The image's ID must match docker's: a stale copy from an older fixture build is replaced.
want="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null | sed 's/^sha256://' || true)"
have="$(podman image inspect --format '{{.Id}}' "$IMAGE" | sed 's/^sha256://')"
if [ -n "$want" ] && [ "$want" != "$have" ]; then
  echo "setup.sh: refreshing $IMAGE in podman (docker has a newer build)" >&2
  docker save "$IMAGE" | podman load >/dev/null
fi
podman --version
