# shellcheck shell=bash
# Install Debian packages the tests and the demo need, once per machine.
# Only used on root Debian-like hosts (this project's dev and CI machines);
# elsewhere the scripts say which tool is missing instead.

bb_apt_updated=""
bb_apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: $* (install it with your package manager and retry)" >&2
    return 1
  fi
  if [ -z "$bb_apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    bb_apt_updated=1
  fi
  echo "host: installing $* from Debian's packages" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# bb_need_command COMMAND PACKAGE: install PACKAGE when COMMAND is missing.
bb_need_command() {
  command -v "$1" >/dev/null 2>&1 || bb_apt_install "$2"
}
