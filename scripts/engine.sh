#!/usr/bin/env bash
# Make sure a Docker engine answers.
#
# Uses the engine the user already has (DOCKER_HOST, the current docker
# context, the default socket). When none answers and we can (root on a
# Debian-like host), installs docker.io and starts dockerd in the background.
# Otherwise says what to do and exits non-zero.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=host-packages.sh
source "$here/host-packages.sh"

engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<MSG
engine: no Docker engine answers${DOCKER_HOST:+ at DOCKER_HOST=$DOCKER_HOST}.
engine: start Docker (Docker Desktop, colima, or 'sudo systemctl start docker') and retry,
engine: or point DOCKER_HOST at a running engine.
MSG
  exit 1
fi

command -v dockerd >/dev/null 2>&1 || bb_apt_install docker.io
command -v docker >/dev/null 2>&1 || bb_apt_install docker.io

log=/var/log/bot-bottle-dockerd.log
echo "engine: starting dockerd in the background (log: $log)" >&2
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
  if engine_answers; then
    echo "engine: Docker $(docker version --format '{{.Server.Version}}') is up" >&2
    exit 0
  fi
  sleep 1
done
echo "engine: dockerd did not answer within 60s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
