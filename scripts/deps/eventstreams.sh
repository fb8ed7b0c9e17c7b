#!/usr/bin/env bash
# The npm `eventsource` package (v4, Node >= 20) that tests/eventstreams reads live streams with, installed
# from tests/eventstreams/node/package-lock.json (npm ci: exactly the locked versions), only when missing.
set -euo pipefail
cd "$(dirname "$0")/../../tests/eventstreams/node"
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
[ -f node_modules/eventsource/package.json ] && [ node_modules/eventsource/package.json -nt package-lock.json ] && exit 0
npm ci --no-audit --no-fund --silent
