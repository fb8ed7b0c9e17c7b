#!/usr/bin/env bash
# Debian's MariaDB server, for the legacy EventLogging tests (scripts/mariadb.sh starts it as the current
# user, in a data directory of its own: no system service is started or enabled). Installs only where
# missing.
set -euo pipefail
if [ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null 2>&1; then exit 0; fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d: the package must not start its own service (there may be no init system at all)
POLICY=/usr/sbin/policy-rc.d
CREATED=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod +x "$POLICY" && CREATED=1
fi
trap '[ -n "$CREATED" ] && $SUDO rm -f "$POLICY"' EXIT
# other installers may hold the dpkg lock (make system-deps runs several scripts; so may other checkouts)
APT=(apt-get -o DPkg::Lock::Timeout=900)
$SUDO "${APT[@]}" update -qq
$SUDO "${APT[@]}" install -y -qq --no-install-recommends mariadb-server mariadb-client >/dev/null
command -v mariadb-install-db
