#!/usr/bin/env bash
# A worker that runs ZipX's steps from the Celery broker (ZIPX_EXECUTOR=celery):
#   scripts/worker.sh cpu [NAME]   every step but the QA step (the `dagster` queue)
#   scripts/worker.sh gpu [NAME]   the QA step only (the `gpu` queue)
# A worker runs one step at a time, in its own process (Celery's solo pool: a step starts
# processes of its own, which the prefork pool's daemonic children may not); start one
# worker per step you want running at once on a machine (one per GPU for `gpu`).
# Start as many as you like, on any machines that reach the broker, the Dagster instance
# (Postgres) and the artifact store (S3). Each needs, as the code location has:
# ZIPX_CELERY_BROKER, ZIPX_EXECUTOR=celery, DAGSTER_HOME (its dagster.yaml: deploy/dagster.yaml
# and the DAGSTER_PG_* variables), ZIPX_S3_BUCKET (+ ZIPX_S3_ENDPOINT_URL, AWS_* keys) and
# the video models' keys; its own ZIPX_HOME is only a read cache.
set -euo pipefail
kind="${1:?usage: scripts/worker.sh cpu|gpu [NAME]}"
case "$kind" in
  cpu) queue=dagster ;;
  gpu) queue=gpu ;;
  *) echo "scripts/worker.sh: cpu or gpu, not '$kind'" >&2; exit 2 ;;
esac
: "${ZIPX_CELERY_BROKER:?set ZIPX_CELERY_BROKER (e.g. redis://127.0.0.1:6379/0; scripts/broker.sh starts one)}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -d "$here/.venv/bin" ] && export PATH="$here/.venv/bin:$PATH"  # `make setup`'s environment, else the image's
exec dagster-celery worker start -A dagster_celery.app -y "$here/deploy/celery.yaml" -q "$queue" \
  -n "${2:-$kind}" -- --pool solo --without-gossip --without-mingle
