#!/usr/bin/env bash
# Make sure Debian's chromium (tests/e2e/test_docs_page.py drives it headless) and a CJK font (the
# OpenAPI document's Chinese, in the page's screenshot) are installed; install them where missing.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
fc-list :lang=zh family 2>/dev/null | grep -q . || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "wushe: the docs page test needs ${missing[*]}: install them with your system's packages" >&2
  exit 1
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
echo "wushe: installing ${missing[*]} (Debian's packages) for the docs page test" >&2
$sudo apt-get update -q >/dev/null
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
