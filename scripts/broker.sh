#!/usr/bin/env bash
# The Celery broker (and result backend) for running ZipX's steps on several workers:
# Debian's redis-server (scripts/system-packages.sh installs it), in the foreground.
#   scripts/broker.sh [PORT] [DIR]    then ZIPX_CELERY_BROKER=redis://HOST:PORT/0
# It listens on loopback unless ZIPX_BROKER_BIND names other addresses; with
# ZIPX_BROKER_PASSWORD set it asks for that password (put it in the URL:
# redis://:PASSWORD@HOST:PORT/0). A broker only holds queued steps: every result a run
# keeps is in the artifact store and the Dagster instance, so nothing is saved to disk.
set -euo pipefail
port="${1:-6379}"
dir="${2:-$(mktemp -d -t zipx-broker-XXXXXX)}"
server="$(command -v redis-server || true)"
if [ -z "$server" ]; then
  echo "redis-server is not installed: run scripts/system-packages.sh (or apt-get install redis-server)" >&2
  exit 1
fi
mkdir -p "$dir"
args=(--port "$port" --bind "${ZIPX_BROKER_BIND:-127.0.0.1}" --dir "$dir" --save "" --appendonly no --daemonize no)
if [ -n "${ZIPX_BROKER_PASSWORD:-}" ]; then
  args+=(--requirepass "$ZIPX_BROKER_PASSWORD")
fi
exec "$server" "${args[@]}"
