"""Sensors. The script-drop sensor watches the inbox: a new or changed script registers
its drama and episode partitions and requests the drama's run; once that run has
succeeded, a later tick requests one run per episode (they need its bibles and
references). A script that fails to parse is reported once, with the ScriptError's
file, line and reason, and not retried until it changes. Run keys carry the script's
hash, so a repeated tick requests nothing twice. A drama already made from the same
script (by `make demo`, or before the cursor was lost) is not run again: only its
episodes that were never made are requested.

The failure-cluster sensor leaves alone a scene a person has decided on: a re-plan would
replace the shots the decision is about."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg

from zipx_core.manifests import ManifestError, ManifestReader
from zipx_core.models import Script
from zipx_core.naming import slug
from zipx_core.policy import QualityPolicy
from zipx_core.qa.gate import GateReport
from zipx_core.qa.review import load_decisions
from zipx_core.script import ScriptError, load_drama
from zipx_core.script.drama import SCRIPT_SUFFIXES
from zipx_core.script.published import bundle_files, publish_script
from zipx_core.studio import Studio
from zipx_dagster import resources
from zipx_dagster.jobs import drama_job, episode_job
from zipx_dagster.partitions import drama_episode_key, drama_episode_partitions, drama_partitions, episode_partitions
from zipx_dagster.resources import ArtifactStore, ScriptInbox

DRAMA_ASSETS = ("drama_script", "character_bible", "scene_bible", "reference_frames")  # what drama_job makes
DONE = {dg.DagsterRunStatus.SUCCESS}
GIVEN_UP = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _digest(path: Path) -> str:
    """The script's and its music's: a music file dropped later is published too."""
    digest = hashlib.sha256()
    for file in bundle_files(path):
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def _scripts(inbox: Path) -> list[Path]:
    if not inbox.is_dir():
        return []
    return sorted(p for p in inbox.iterdir() if p.is_dir() or p.suffix.lower() in SCRIPT_SUFFIXES)


def _materialized(instance: dg.DagsterInstance, asset: str, partition: str) -> bool:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1)
    return bool(records.records)


def _made_from(instance: dg.DagsterInstance, manifests: ManifestReader, drama: str, script: Script) -> bool:
    """Whether the drama's assets were all materialized, the script among them parsed
    exactly as this file parses now: the same script, so nothing to run again."""
    try:
        made = manifests.load("drama_script", drama)
    except ManifestError:  # unreadable: make it again
        return False
    return made == script and all(_materialized(instance, asset, drama) for asset in DRAMA_ASSETS)


def _episode_runs(drama: str, episodes: list[str], digest: str) -> list[dg.RunRequest]:
    return [dg.RunRequest(job_name="episode_job", partition_key=drama_episode_key(drama, episode),
                          run_key=f"episode:{drama}:{episode}:{digest}") for episode in episodes]


@dg.sensor(name="script_drop", jobs=[drama_job, episode_job], minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Registers scripts dropped into the inbox, publishes them to the artifact store (where runs read them) and requests their runs.")
def script_drop(context: dg.SensorEvaluationContext, inbox: ScriptInbox, artifacts: ArtifactStore) -> dg.SensorResult:
    state = json.loads(context.cursor) if context.cursor else {"seen": {}, "waiting": {}}
    studio = resources.studio(artifacts)
    runs, partitions, problems, manifests = [], [], [], studio.manifests
    for path in _scripts(Path(inbox.root)):
        digest = _digest(path)
        if state["seen"].get(path.name) == digest:
            continue
        state["seen"][path.name] = digest
        try:
            script = load_drama(path)
        except ScriptError as error:
            problems.append(str(error))
            context.log.error(f"script not registered: {error}")
            continue
        drama, episodes = slug(path.stem), [e.key for e in script.episodes]
        publish_script(studio.store, drama, path)  # where the runs' steps read it, on any machine
        partitions += [drama_partitions.build_add_request([drama]), episode_partitions.build_add_request(episodes)]
        if _made_from(context.instance, manifests, drama, script):
            missing = [e for e in episodes if not _materialized(context.instance, "episode", str(drama_episode_key(drama, e)))]
            context.log.info(f"{drama}: already made from this script; episodes never made: {', '.join(missing) or 'none'}")
            runs += _episode_runs(drama, missing, digest)
            continue
        runs.append(dg.RunRequest(job_name="drama_job", partition_key=drama, run_key=f"drama:{drama}:{digest}"))
        state["waiting"][drama] = {"digest": digest, "episodes": episodes}
    for drama, waiting in list(state["waiting"].items()):
        drama_runs = context.instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/run_key": f"drama:{drama}:{waiting['digest']}"}), limit=1
        )
        status = drama_runs[0].status if drama_runs else None
        if status in DONE:
            runs += _episode_runs(drama, waiting["episodes"], waiting["digest"])
            del state["waiting"][drama]
        elif status in GIVEN_UP:
            context.log.error(f"{drama}: the drama run {drama_runs[0].run_id} did not succeed; episodes not requested")
            del state["waiting"][drama]
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=partitions,
        cursor=json.dumps(state, sort_keys=True),
        skip_reason="; ".join(problems) if problems and not runs else None,
    )


@dg.sensor(name="failure_cluster", job=episode_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Re-plans scenes whose shots fail together, instead of regenerating shot after shot.")
def failure_cluster(context: dg.SensorEvaluationContext, artifacts: ArtifactStore) -> dg.SensorResult:
    """For each episode with a new `approved_frames` materialization, reads the gate's
    report (the manifest, typed); for scenes where failures cluster (the gate stopped the
    scene, or most of its first takes failed) it requests a run of the episode with those
    scenes re-planned in `storyboard` and everything downstream, held to the same policy.
    A scene is re-planned at most the policy's max_replans times, and not once a person
    has decided on one of its shots."""
    after = int(context.cursor or 0)
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("approved_frames"), after_storage_id=after), limit=100, ascending=True
    ).records
    studio, runs = resources.studio(artifacts), []
    latest = {record.partition_key: record for record in records}  # the manifest holds the latest report only
    for partition, record in latest.items():
        key = drama_episode_partitions.get_partition_key_from_str(partition)
        drama, episode = key.keys_by_dimension["drama"], key.keys_by_dimension["episode"]
        report = _gate_report(context, studio.manifests, drama, episode)
        if report is None:
            continue
        scenes = _scenes_to_replan(context, studio, report)
        if scenes:
            runs.append(dg.RunRequest(job_name="episode_job", partition_key=key, run_key=f"replan:{record.storage_id}",
                                      run_config=_replan_config(scenes, report.policy),
                                      tags={"zipx/replan": ",".join(map(str, scenes))}))
    after = max([after, *(r.storage_id for r in records)])
    return dg.SensorResult(run_requests=runs, cursor=str(after))


def _gate_report(context, manifests: ManifestReader, drama: str, episode: str) -> GateReport | None:
    try:
        return manifests.load("approved_frames", drama, episode)
    except ManifestError as error:  # unreadable or gone: nothing to re-plan from; said once, the cursor moves on
        context.log.warning(f"{drama} {episode}: no gate report to read ({error})")
        return None


def _scenes_to_replan(context, studio: Studio, report: GateReport) -> list[int]:
    """The report's failure clusters, less scenes re-planned max_replans times or with a person's decisions."""
    clustered = report.failure_clusters()
    done = studio.records.replans(report.drama, report.episode).get() or {}
    reviewed = _reviewed_scenes(studio.store, report) if clustered else set()
    scenes = [s for s in clustered if done.get(str(s), 0) < report.policy.max_replans and s not in reviewed]
    if left := sorted(set(clustered) - set(scenes)):
        context.log.info(f"{report.drama} {report.episode}: scenes {left} left to review: re-planned "
                         f"{report.policy.max_replans} times, or a reviewer has decided on their shots ({sorted(reviewed) or 'none'})")
    return scenes


def _replan_config(scenes: list[int], policy: QualityPolicy) -> dict:
    """The re-plan run's config: the scenes to plan again, and the policy the first run was held to."""
    return {"ops": {"storyboard": {"config": {"replan": scenes}},
                    "shot_plan": {"config": {"policy": policy.model_dump()}}}}


def _reviewed_scenes(store, report: GateReport) -> set[int]:
    """Scenes with a shot a person has decided on (approved or asked to regenerate)."""
    decided = load_decisions(store, report.drama, report.episode)
    return {o.scene_number for o in report.outcomes if o.shot_id in decided}
