#!/usr/bin/env bash
# System packages the test suite needs beyond PyPI: a PostgreSQL server (the production
# instance test starts a real one). Debian's package; installed only if missing.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL is missing and this user cannot install it: run 'sudo apt-get install -y postgresql'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
