#!/usr/bin/env bash
# The browser client's build and unit tests (clients/js): node and npm from Debian where missing, then
# esbuild at the exact version of clients/js/package-lock.json (npm ci), only when it is not there yet.
set -euo pipefail
cd "$(dirname "$0")/../../clients/js"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
want="$(node -p "require('./package-lock.json').packages['node_modules/esbuild'].version")"
have="$(node -p "try { require('./node_modules/esbuild/package.json').version } catch (e) { '' }")"
[ "$want" = "$have" ] || npm ci --no-audit --no-fund --loglevel=error
