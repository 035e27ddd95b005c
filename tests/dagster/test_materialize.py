"""Real partitions of the sample drama through the Dagster jobs, in process."""

import json

import dagster as dg
import pytest

from zipx_core.media import probe
from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import run_drama
from zipx_dagster.partitions import drama_episode_key
from zipx_dagster.resources import RenderConfig
from tests.conftest import SAMPLE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def drama_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("zipx")
    defs = build_definitions(home, RenderConfig(width=192, height=108))
    with dg.instance_for_test() as instance:
        episodes = run_drama(instance, SAMPLE, defs, home)
        yield instance, defs, home, episodes


def _manifest(home, asset, *keys):
    return json.loads(home.joinpath("manifests", asset, *keys).with_suffix(".json").read_text())["data"]


def test_every_episode_is_a_playable_mp4(drama_run):
    instance, defs, home, episodes = drama_run
    assert [p.name for p in episodes] == ["ep01.mp4", "ep02.mp4"]
    for path in episodes:
        episode_key = path.stem
        board = _manifest(home, "storyboard", "harbour_lights", episode_key)
        takes = _manifest(home, "shots", "harbour_lights", episode_key)["takes"]
        info = probe(path)
        assert (info.codec, info.width, info.height, info.pix_fmt, info.has_audio) == ("h264", 192, 108, "yuv420p", True)
        for suffix in (".srt", ".otio"):
            assert path.with_suffix(suffix).is_file()
        assert abs(info.frames / 24 - sum(t["duration_s"] for t in takes)) < 1 / 24
        timing = _manifest(home, "episode_audio", "harbour_lights", episode_key)["shot_durations"]
        gate = _manifest(home, "approved_frames", "harbour_lights", episode_key)
        assert [o["shot_id"] for o in gate["outcomes"]] == [s["shot_id"] for s in board["shots"]]
        assert all(o["status"] == "approved" for o in gate["outcomes"])  # no failures injected: all pass
        for shot, take in zip(board["shots"], takes):
            assert take["shot_id"] == shot["shot_id"]
            assert take["duration_s"] >= shot["duration_s"] - 0.5 / 24  # never shorter than planned
            assert abs(take["duration_s"] - timing[shot["shot_id"]]) < 1e-3  # as long as its speech needs


def test_runs_and_metadata_are_in_the_instance(drama_run):
    instance, defs, home, episodes = drama_run
    key = drama_episode_key("harbour_lights", "ep01")
    event = instance.get_latest_materialization_event(dg.AssetKey("episode"))
    assert event is not None
    storyboard = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("storyboard"), asset_partitions=[str(key)]), limit=1
    ).records[0].asset_materialization
    assert storyboard.metadata["shot_count"].value > 10
    assert [c.name for c in storyboard.metadata["shots"].schema.columns][:3] == ["shot", "scene", "type"]
    shots = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("shots"), asset_partitions=[str(key)]), limit=1
    ).records[0].asset_materialization
    assert shots.metadata["thumbnails"].value.startswith("![first shots](data:image/png;base64,")


def test_a_pair_the_script_lacks_yields_nothing(drama_run):
    instance, defs, home, _ = drama_run
    instance.add_dynamic_partitions("episode", ["ep03"])
    result = defs.resolve_job_def("episode_job").execute_in_process(
        instance=instance, partition_key=drama_episode_key("harbour_lights", "ep03")
    )
    assert result.success
    assert not result.asset_materializations_for_node("storyboard")
    assert not result.asset_materializations_for_node("episode")
    assert not home.joinpath("manifests", "episode", "harbour_lights", "ep03.json").exists()


def test_rematerializing_renders_nothing_again(drama_run):
    instance, defs, home, _ = drama_run
    clips = sorted((home / "artifacts" / "clips").rglob("*.mp4"))
    before = _manifest(home, "episode", "harbour_lights", "ep02")
    result = defs.resolve_job_def("episode_job").execute_in_process(
        instance=instance, partition_key=drama_episode_key("harbour_lights", "ep02")
    )
    assert result.success
    assert sorted((home / "artifacts" / "clips").rglob("*.mp4")) == clips
    assert _manifest(home, "episode", "harbour_lights", "ep02")["video_sha256"] == before["video_sha256"]


def test_bad_script_fails_the_run_with_the_script_error(tmp_path):
    home = tmp_path / "zipx"
    defs = build_definitions(home)
    (home / "inbox").mkdir(parents=True)
    (home / "inbox" / "broken.fountain").write_bytes(b"\x00binary")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("drama", ["broken"])
        result = defs.resolve_job_def("drama_job").execute_in_process(
            instance=instance, partition_key="broken", raise_on_error=False
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "broken.fountain:1: file is binary" in str(failure.step_failure_data.error)


def test_gate_checks_are_recorded(drama_run):
    instance, defs, home, _ = drama_run
    for check in ("continuity_pass_rate", "drift_left_in_pool", "shots_awaiting_review"):
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("approved_frames"), check), limit=10
        )
        executed = [r for r in records if r.status.value != "PLANNED"]  # ep03's run planned them, then skipped
        assert len(executed) >= 2, check  # one per episode
        assert all(r.status.value == "SUCCEEDED" for r in executed), (check, [r.status for r in executed])
        assert all(r.event.dagster_event.event_specific_data.passed for r in executed), check


def test_references_stay_locked_unless_relocked(drama_run):
    instance, defs, home, _ = drama_run
    before = _manifest(home, "reference_frames", "harbour_lights")
    job = defs.resolve_job_def("drama_job")
    assert job.execute_in_process(instance=instance, partition_key="harbour_lights").success
    assert _manifest(home, "reference_frames", "harbour_lights")["characters"] == before["characters"]
