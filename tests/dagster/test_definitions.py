import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from zipx_dagster.definitions import build_definitions
from zipx_dagster.partitions import drama_episode_partitions, drama_partitions
from tests.conftest import REPO

PER_DRAMA = {"drama_script", "character_bible", "scene_bible", "reference_frames"}
PER_EPISODE = {"storyboard", "episode_audio", "shot_plan", "keyframes", "shots", "approved_frames", "episode"}
DECISIONS = {"replans", "review_decisions"}  # external: people and sensors write them, no run materializes them


def test_definitions_validate_with_the_dagster_cli(tmp_path):
    env = {**os.environ, "ZIPX_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def test_asset_graph_shape(tmp_path):
    """A snapshot of the graph: a change to it shows up in review."""
    defs = build_definitions(tmp_path)
    graph = defs.resolve_asset_graph()
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert set(specs) == PER_DRAMA | PER_EPISODE | DECISIONS
    for name, spec in specs.items():
        assert spec.description and spec.group_name and spec.owners == ["team:zipx"] and spec.kinds, name
        assert graph.get(spec.key).is_executable == (name not in DECISIONS), name
        if name in DECISIONS:
            continue
        references = spec.metadata["dagster/code_references"].code_references
        assert references and references[0].file_path.endswith(".py"), name
        expected = drama_partitions if name in PER_DRAMA else drama_episode_partitions
        assert spec.partitions_def == expected, name
    parents = {k: {p.to_user_string() for p in graph.get(dg.AssetKey(k)).parent_keys} for k in specs}
    assert parents == {
        "drama_script": set(),
        "character_bible": {"drama_script"},
        "scene_bible": {"drama_script"},
        "storyboard": {"drama_script", "character_bible", "scene_bible", "replans"},  # re-plans: an explicit input
        "reference_frames": {"drama_script", "character_bible", "scene_bible"},
        "episode_audio": {"storyboard", "character_bible"},
        # the timed shot plan is built once and read by keyframes, shots, the gate and the episode
        "shot_plan": {"storyboard", "episode_audio", "character_bible", "scene_bible", "reference_frames"},
        "keyframes": {"shot_plan", "character_bible", "scene_bible", "reference_frames"},
        "shots": {"shot_plan", "episode_audio", "keyframes"},
        "approved_frames": {"shot_plan", "shots", "keyframes", "character_bible", "scene_bible", "reference_frames",
                            "review_decisions"},  # a person's decisions: an explicit input
        "episode": {"shot_plan", "approved_frames", "episode_audio"},
        "replans": set(), "review_decisions": set(),
    }
    assert {job.name for job in defs.jobs} == {"drama_job", "episode_job"}


def test_clip_qa_is_pinned_to_an_a100(tmp_path):
    """The QA step runs in the `gpu` pool and carries the dagster-k8s/config tag that
    dagster-k8s turns into the step pod's GPU limit, node selector and toleration."""
    defs = build_definitions(tmp_path)
    qa = defs.resolve_assets_def("approved_frames")
    assert qa.op.pool == "gpu"
    k8s = qa.op.tags["dagster-k8s/config"]
    k8s = json.loads(k8s) if isinstance(k8s, str) else k8s
    assert k8s["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert k8s["pod_spec_config"]["node_selector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}
    assert k8s["pod_spec_config"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert {c.name for c in qa.check_specs} == {"continuity_pass_rate", "drift_left_in_pool", "shots_awaiting_review"}


@pytest.mark.parametrize("kind, name", [("", "multi_or_in_process_executor"), ("in_process", "in_process"),
                                        ("multiprocess", "multiprocess"), ("celery", "celery"), ("k8s", "k8s")])
def test_the_executor_is_chosen_by_zipx_executor(tmp_path, monkeypatch, kind, name):
    monkeypatch.setenv("ZIPX_EXECUTOR", kind)
    defs = build_definitions(tmp_path)
    assert {defs.resolve_job_def(job).executor_def.name for job in ("drama_job", "episode_job")} == {name}


def test_an_unknown_executor_is_refused_naming_the_choices(tmp_path, monkeypatch):
    monkeypatch.setenv("ZIPX_EXECUTOR", "ray")
    with pytest.raises(ValueError, match="ZIPX_EXECUTOR='ray': one of in_process, multiprocess, celery, k8s"):
        build_definitions(tmp_path)


def test_the_qa_step_alone_goes_to_the_gpu_queue(tmp_path):
    """dagster-celery routes a step by its `dagster-celery/queue` tag: the GPU workers' queue."""
    defs = build_definitions(tmp_path)
    steps = [defs.resolve_assets_def(spec.key) for spec in defs.resolve_all_asset_specs()]
    queues = {step.key.to_user_string(): step.op.tags.get("dagster-celery/queue") for step in steps if step.is_executable}
    assert {asset: queue for asset, queue in queues.items() if queue} == {"approved_frames": "gpu"}


# The graph as it stands: a change to it shows in review as a change to this file.
# After a deliberate change: ZIPX_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/dagster/test_definitions.py -k snapshot
# then review and commit the diff of tests/dagster/definitions_snapshot.json.
SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


def _partitions(definition) -> object:
    if definition is None:
        return None
    if isinstance(definition, dg.MultiPartitionsDefinition):
        return {"multi": {d.name: _partitions(d.partitions_def) for d in definition.partitions_defs}}
    if isinstance(definition, dg.DynamicPartitionsDefinition):
        return {"dynamic": definition.name}
    return type(definition).__name__


def _tags(tags) -> dict:
    return {key: json.loads(value) if isinstance(value, str) and value.startswith("{") else value
            for key, value in sorted(tags.items())}


def _assets(defs: dg.Definitions) -> dict:
    graph, found = defs.resolve_asset_graph(), {}
    for spec in defs.resolve_all_asset_specs():
        node, assets = graph.get(spec.key), defs.resolve_assets_def(spec.key)
        op = assets.op if assets.is_executable else None  # an external asset has no op
        found[spec.key.to_user_string()] = {
            "group": spec.group_name, "partitions": _partitions(spec.partitions_def), "description": spec.description,
            "deps": sorted(k.to_user_string() for k in node.parent_keys), "kinds": sorted(spec.kinds),
            "owners": spec.owners, "tags": _tags(spec.tags), "op_tags": _tags(op.tags) if op else {}, "pool": op.pool if op else None,
            "code_version": spec.code_version, "automation": str(spec.automation_condition) if spec.automation_condition else None,
            "checks": {c.name: {"blocking": c.blocking, "description": c.description}
                       for c in sorted(defs.resolve_assets_def(spec.key).check_specs, key=lambda c: c.name)},
        }
    return found


def _jobs(defs: dg.Definitions) -> dict:
    jobs = {}
    for job in defs.resolve_all_job_defs():
        if job.name.startswith("__"):
            continue
        keys = job.asset_layer.executable_asset_keys
        jobs[job.name] = {"assets": sorted(k.to_user_string() for k in keys), "description": job.description,
                          "tags": _tags(job.tags), "executor": job.executor_def.name}
    return jobs


def _automation(defs: dg.Definitions) -> dict:
    sensors = {s.name: {"jobs": sorted(t.job_name for t in s.targets), "minimum_interval_s": s.minimum_interval_seconds,
                        "default_status": s.default_status.value, "description": s.description} for s in defs.sensors}
    schedules = {s.name: {"job": s.job_name, "cron": s.cron_schedule, "timezone": s.execution_timezone,
                          "default_status": s.default_status.value, "description": s.description} for s in defs.schedules}
    return {"sensors": sensors, "schedules": schedules}


def definitions_snapshot(defs: dg.Definitions) -> dict:
    return {"assets": _assets(defs), "jobs": _jobs(defs), **_automation(defs),
            "resources": {key: type(value).__name__ for key, value in sorted(defs.resources.items())}}


def test_definitions_match_the_snapshot(tmp_path, monkeypatch):
    """Assets, groups, partitions, dependencies, checks, tags, jobs, sensors, schedules and
    resources against tests/dagster/definitions_snapshot.json."""
    for variable in ("ZIPX_EXECUTOR", "ZIPX_QA_GPUS", "ZIPX_QA_NODE_LABEL", "ZIPX_QA_NODE_VALUE"):
        monkeypatch.delenv(variable, raising=False)
    live = json.loads(json.dumps(definitions_snapshot(build_definitions(tmp_path)), sort_keys=True, default=str))
    if os.environ.get("ZIPX_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(live, indent=2, sort_keys=True) + "\n")
    recorded = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.is_file() else None
    assert live == recorded, ("the definitions changed: if that is meant, run ZIPX_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest "
                              "tests/dagster/test_definitions.py -k snapshot and review the diff of " + SNAPSHOT.name)
