#!/usr/bin/env bash
# Make sure Debian's prometheus (the server and promtool) is installed: tests/deploy checks the rules
# and the scrape config with promtool, and tests/e2e/test_prometheus.py scrapes the running
# platform with a real Prometheus. Installs it where missing; quick when present. The package's own
# service is not needed (the test starts the binary on a free port of its own).
set -euo pipefail
command -v prometheus >/dev/null && command -v promtool >/dev/null && exit 0
if ! command -v apt-get >/dev/null; then
  echo "wushe: the Prometheus tests need prometheus and promtool: install them with your system's packages" >&2
  exit 1
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
echo "wushe: installing prometheus (Debian's package) for the Prometheus tests" >&2
$sudo apt-get update -q >/dev/null
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null
