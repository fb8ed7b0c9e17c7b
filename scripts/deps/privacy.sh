#!/usr/bin/env bash
# promtool (Debian's prometheus package), for the test that checks docs/prometheus/alerts.yml with
# `promtool check rules` and `promtool test rules`. Installs only where missing; without it the test skips
# and says why.
set -euo pipefail
command -v promtool >/dev/null 2>&1 && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }; then
  echo "scripts/deps/privacy.sh: could not install Debian's prometheus (promtool): the alert rules test will skip" >&2
  exit 0
fi
# the tests only need the promtool binary, not the server the package may enable
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
command -v promtool
