#!/usr/bin/env sh
# Run once against the production instance (DAGSTER_HOME holding deploy/dagster.yaml):
# the `gpu` pool gets one slot per GPU on the QA node pool.
set -eu
dagster instance migrate
dagster instance concurrency set gpu "${ZIPX_GPU_SLOTS:-1}"
