"""The one Definitions object: assets by stage, jobs, resources with their defaults."""

import warnings
from pathlib import Path

import dagster as dg

from zipx_dagster.assets import decisions, drama, episode, quality
from zipx_dagster.jobs import drama_job, episode_job, executor_from_env
from zipx_dagster.schedules import nightly_backfill, nightly_drama_backfill
from zipx_dagster.sensors import failure_cluster, script_drop
from zipx_dagster.resources import (
    ArtifactStore,
    ClipModel,
    Generation,
    LLMReader,
    LocalFailures,
    RenderConfig,
    ScriptInbox,
    TextToSpeech,
    artifact_store_from_env,
    generation_from_env,
    llm_reader_from_env,
    manifest_io_manager,
    speech_from_env,
    zipx_home,
)


def _with_code_references(assets):
    with warnings.catch_warnings():  # beta in 1.13; the UI's "view source" links
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.with_source_code_references(assets)


def build_definitions(home: Path, render: RenderConfig | None = None, artifacts: ArtifactStore | None = None,
                      generation: Generation | None = None, llm: LLMReader | None = None,
                      speech: TextToSpeech | None = None) -> dg.Definitions:
    """Everything under one ZIPX_HOME: the inbox, the artifact store (or its S3 cache)
    and the manifests (on the artifact store: ZIPX_HOME/manifests locally, S3 otherwise).
    The executor is ZIPX_EXECUTOR's (zipx_dagster.jobs)."""
    return dg.Definitions(
        # the decisions are external: people and sensors write them, no run materializes them
        assets=[*_with_code_references(dg.load_assets_from_modules([drama, episode, quality])), *decisions.SPECS],
        jobs=[drama_job, episode_job],
        executor=executor_from_env(),
        sensors=[script_drop, failure_cluster],
        schedules=[nightly_drama_backfill, nightly_backfill],
        resources={
            "inbox": ScriptInbox(root=str(home / "inbox")),
            "artifacts": artifacts or artifact_store_from_env(home),
            "render": render or RenderConfig(),
            "generation": generation or generation_from_env(),
            "llm": llm or llm_reader_from_env(),
            "speech": speech or speech_from_env(),
            "failures": LocalFailures(),
            "clip": ClipModel(),
            "io_manager": manifest_io_manager,  # manifests on the `artifacts` store
        },
    )


defs = build_definitions(zipx_home())
