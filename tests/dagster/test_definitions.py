import json
import os
import subprocess
import sys

import dagster as dg

from zipx_dagster.definitions import build_definitions
from zipx_dagster.partitions import drama_episode_partitions, drama_partitions
from tests.conftest import REPO

PER_DRAMA = {"drama_script", "character_bible", "scene_bible", "reference_frames"}
PER_EPISODE = {"storyboard", "episode_audio", "shots", "approved_frames", "episode"}


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
    assert set(specs) == PER_DRAMA | PER_EPISODE
    for name, spec in specs.items():
        assert spec.description and spec.group_name and spec.owners == ["team:zipx"] and spec.kinds, name
        references = spec.metadata["dagster/code_references"].code_references
        assert references and references[0].file_path.endswith(".py"), name
        expected = drama_partitions if name in PER_DRAMA else drama_episode_partitions
        assert spec.partitions_def == expected, name
    parents = {k: {p.to_user_string() for p in graph.get(dg.AssetKey(k)).parent_keys} for k in specs}
    assert parents == {
        "drama_script": set(),
        "character_bible": {"drama_script"},
        "scene_bible": {"drama_script"},
        "storyboard": {"drama_script", "character_bible", "scene_bible"},
        "reference_frames": {"drama_script", "character_bible", "scene_bible"},
        "episode_audio": {"storyboard", "character_bible"},
        "shots": {"storyboard", "episode_audio", "character_bible", "scene_bible"},
        "approved_frames": {"storyboard", "episode_audio", "shots", "character_bible", "scene_bible", "reference_frames"},
        "episode": {"storyboard", "approved_frames", "episode_audio"},
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
