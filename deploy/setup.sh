#!/usr/bin/env bash
# Set up wirewatch on a fresh Debian/Ubuntu machine: a virtualenv in .venv with wirewatch and its model.
#   bash deploy/setup.sh          # to run wirewatch
#   bash deploy/setup.sh --test   # also the test tools: pytest & co, Debian's promtool and docker-compose
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install --quiet -e ".[test]"
  missing=()
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  .venv/bin/python -m pip install --quiet -e .
fi
