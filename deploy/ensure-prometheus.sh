#!/usr/bin/env bash
# Make sure Debian's prometheus (the server and promtool) is installed: tests/deploy checks the rules
# and the scrape config with promtool, and tests/e2e/test_prometheus.py scrapes the running
# platform with a real Prometheus. Installs it where missing; quick when present. The package's own
# service is not needed (the test starts the binary on a free port of its own).
set -euo pipefail
command -v prometheus >/dev/null && command -v promtool >/dev/null && exit 0
exec "$(dirname "$0")/apt-install.sh" --no-recommends "the Prometheus tests" prometheus
