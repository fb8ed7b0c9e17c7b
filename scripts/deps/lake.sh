#!/usr/bin/env bash
# The Spark engine of the lake (pyspark, the `spark` extra) needs a Java 17+ runtime. Installed from Debian
# only where missing; without it (no apt-get) the Spark tests skip and say why.
set -euo pipefail
if command -v java >/dev/null 2>&1; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
else
  echo "scripts/deps/lake.sh: no java and no apt-get as root: the Spark engine tests will be skipped" >&2
fi
