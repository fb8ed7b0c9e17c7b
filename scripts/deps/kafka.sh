#!/usr/bin/env bash
# The Kafka broker's jars from Maven Central, fetched before the tests run so that a first fetch (minutes on a
# fresh machine) does not count against a test's timeout. Without Java and Maven the Kafka tests skip and say why.
set -euo pipefail
if ! command -v mvn >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
  echo "scripts/deps/kafka.sh: java or mvn missing: the Kafka tests will be skipped" >&2
  exit 0
fi
exec "$(dirname "${BASH_SOURCE[0]}")/../kafka.sh" fetch
