#!/usr/bin/env bash
# Make sure Debian's haproxy is installed: the edge in front of the gateways (deploy/edge/), which
# `make run EDGE=8080`, `make bench` and tests/e2e/test_overload.py start as a program of its own. Installs it where missing; quick when present. The package's own service is
# not needed.
set -euo pipefail
command -v haproxy >/dev/null && exit 0
exec "$(dirname "$0")/apt-install.sh" --no-recommends "the edge (HAProxy in front of the gateways)" haproxy
