#!/usr/bin/env bash
# Install Debian packages a part of the suite needs (the callers have found them missing):
#   apt-install.sh [--no-recommends] "<what needs them>" PACKAGE…
# as root, or through sudo; elsewhere than Debian, say what to install and fail.
set -euo pipefail
flags=(); [ "${1:-}" = "--no-recommends" ] && { flags+=(--no-install-recommends); shift; }
purpose="$1"; shift
if ! command -v apt-get >/dev/null; then
  echo "wushe: $purpose needs $*: install them with your system's packages" >&2
  exit 1
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
echo "wushe: installing $* (Debian's packages) for $purpose" >&2
$sudo apt-get update -q >/dev/null
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${flags[@]}" "$@" >/dev/null
