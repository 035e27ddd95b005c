#!/usr/bin/env bash
# System packages the test suite needs beyond PyPI, from Debian, installed only if missing:
# a PostgreSQL server (the production-instance test starts a real one), Redis (the broker
# of the distributed test's Celery workers, started by scripts/broker.sh) and Chromium
# (the UI test drives it headless through Playwright; Playwright's own browser download
# cannot work without a network).
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]}; this user cannot install them: run 'sudo apt-get install -y ${missing[*]}'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
