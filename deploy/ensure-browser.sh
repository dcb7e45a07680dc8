#!/usr/bin/env bash
# Make sure Debian's chromium (tests/e2e/test_docs_page.py drives it headless) and a CJK font (the
# OpenAPI document's Chinese, in the page's screenshot) are installed; install them where missing.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
fc-list :lang=zh family 2>/dev/null | grep -q . || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && exit 0
exec "$(dirname "$0")/apt-install.sh" "the docs page test" "${missing[@]}"
