#!/usr/bin/env bash
# Set up wirewatch on a fresh Debian/Ubuntu machine: a virtualenv in .venv with wirewatch and its model, and the
# Apache Kafka broker that `wirewatch run` and the tests start (pinned in deploy/kafka/pom.xml, jars in .venv/kafka).
#   bash deploy/setup.sh          # to run wirewatch
#   bash deploy/setup.sh --test   # also the test tools: pytest & co, Debian's Prometheus (promtool and the server
#                                 # tests/deploy starts), docker-compose, openssl, chromium
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: a Java runtime and Maven for the broker, and the test tools with --test.
missing=()
if ! command -v java >/dev/null; then
  missing+=(openjdk-17-jre-headless)
fi
command -v mvn >/dev/null || missing+=(maven)
if [ "${1:-}" = "--test" ]; then
  { command -v promtool && command -v prometheus; } >/dev/null || missing+=(prometheus)  # both in one package
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v openssl >/dev/null || missing+=(openssl)  # the e-mail sink's TLS test makes its certificate
  command -v chromium >/dev/null || missing+=(chromium)  # the wire page's browser tests (Playwright drives it)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
java_major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
if [ "${java_major%%.*}" -lt 17 ]; then
  echo "setup: the Kafka broker needs Java 17 or later; \`java\` is $java_major (set JAVA_HOME or PATH to a newer one)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install --quiet -e ".[test]"
else
  .venv/bin/python -m pip install --quiet -e .
fi

# The broker's jars, fetched again only when the pinned versions change.
kafka=.venv/kafka
pinned=$(sha256sum deploy/kafka/pom.xml | cut -c1-16)
if [ "$(cat "$kafka/pinned" 2>/dev/null)" != "$pinned" ]; then
  rm -rf "$kafka/libs"
  mvn --batch-mode --quiet -f deploy/kafka/pom.xml dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$PWD/$kafka/libs"
  echo "$pinned" > "$kafka/pinned"
fi
