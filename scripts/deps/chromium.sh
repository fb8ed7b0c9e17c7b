#!/usr/bin/env bash
# Debian's Chromium, for the tests of web pages and of the browser client (driven by Playwright with the
# system browser: `playwright install` cannot download browsers here). Installs only where missing.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium
