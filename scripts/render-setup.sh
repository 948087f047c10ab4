#!/usr/bin/env bash
# Idempotent set-up of what ONLY the report's rendering test needs (tests/lab/test_report_render.py,
# marker `slow`; `make test-slow` runs it through `make render-setup`): Debian's headless
# Chromium, poppler-utils (pdftotext, pdfinfo, pdffonts) and a CJK font (fonts-wqy-microhei) so a
# report with Chinese text renders. `make demo` and `make test` never call it: a fresh machine
# does not pull Chromium for them.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/apt-need.sh
apt_need render-setup chromium=chromium pdftotext=poppler-utils
# the font has no command: install it when fc-list does not know it
if ! fc-list 2>/dev/null | grep -qi "wenquanyi micro hei"; then
  apt_need render-setup fc-list=fontconfig
  if [ "$(id -u)" -ne 0 ]; then
    echo "render-setup: need the Debian package fonts-wqy-microhei (run as root, or install it)" >&2
    exit 1
  fi
  echo "render-setup: installing Debian packages: fonts-wqy-microhei"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends fonts-wqy-microhei >/dev/null
fi
