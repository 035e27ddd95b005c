"""The nightly backfills: every (drama, episode) that the script has and that is missing
or stale (its drama's script, bibles or references changed after the episode was made)
gets a run; a drama never processed gets its drama run first, half an hour earlier (a
schedule launches one job, so dramas and episodes are two schedules over one list of
requests). Only pairs that exist in a script are requested (Dagster's cross product has
others). Written by hand: `build_schedule_from_partitioned_job` does not take two
dynamic dimensions."""

from __future__ import annotations

import dagster as dg

from zipx_core.manifests import ManifestError, ManifestReader
from zipx_dagster.jobs import drama_job, episode_job
from zipx_dagster.partitions import drama_episode_key
from zipx_dagster.resources import ArtifactStore

PER_DRAMA = ("drama_script", "character_bible", "scene_bible", "reference_frames")


def _latest(instance: dg.DagsterInstance, asset: str, partition: str):
    """The latest materialization record of an asset's partition, or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return records[0] if records else None


def _episode_keys(manifests: ManifestReader, drama: str) -> list[str] | None:
    """The episodes of the drama's parsed script (its manifest); None when it cannot be read."""
    try:
        return [e.key for e in manifests.load("drama_script", drama).episodes]
    except ManifestError:
        return None


def backfill_requests(instance: dg.DagsterInstance, manifests: ManifestReader, day: str) -> list[dg.RunRequest]:
    requests = []
    for drama in instance.get_dynamic_partitions("drama"):
        upstream_records = {asset: _latest(instance, asset, drama) for asset in PER_DRAMA}
        episodes = _episode_keys(manifests, drama) if upstream_records["drama_script"] else None
        if episodes is None:  # never parsed, or its manifest lost: the drama run first
            requests.append(dg.RunRequest(job_name="drama_job", partition_key=drama, run_key=f"backfill:{day}:{drama}"))
            continue
        upstream = max(r.timestamp for r in upstream_records.values() if r)
        for episode in episodes:
            key = drama_episode_key(drama, episode)
            latest = _latest(instance, "episode", str(key))
            made = latest.timestamp if latest else None
            if made is None or made < upstream:
                requests.append(dg.RunRequest(job_name="episode_job", partition_key=key, run_key=f"backfill:{day}:{drama}:{episode}",
                                              tags={"zipx/backfill": "missing" if made is None else "stale"}))
    return requests


def _nightly(name: str, job: dg.UnresolvedAssetJobDefinition, cron: str, description: str) -> dg.ScheduleDefinition:
    @dg.schedule(name=name, cron_schedule=cron, job=job, description=description)
    def _evaluate(context: dg.ScheduleEvaluationContext, artifacts: ArtifactStore):
        day = context.scheduled_execution_time.strftime("%Y-%m-%d")
        manifests = ManifestReader(artifacts.store())
        requests = [r for r in backfill_requests(context.instance, manifests, day) if r.job_name == job.name]
        return requests or dg.SkipReason(f"nothing missing or stale for {job.name}")

    return _evaluate


nightly_drama_backfill = _nightly("nightly_drama_backfill", drama_job, "30 2 * * *",
                                  "Runs every registered drama that was never parsed.")
nightly_backfill = _nightly("nightly_backfill", episode_job, "0 3 * * *",
                            "Runs every (drama, episode) the scripts have that is missing or stale.")
