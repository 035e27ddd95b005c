"""Human review end to end: shots the gate could not approve are listed, approved or
regenerated with a note, and the next materialization uses the decisions and pays for
nothing already made."""

import json

import dagster as dg
import pytest

from zipx_core.cli import main
from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import register_drama
from zipx_dagster.partitions import drama_episode_key
from zipx_dagster.resources import RenderConfig

pytestmark = pytest.mark.slow
SCRIPT = "INT. LAB - NIGHT\n\nMIA, 29, a tall woman with black hair, in a white coat, checks a monitor.\n\nMIA\nIt worked.\n\nMIA\n(crying)\nIt actually worked!\n"
BROKEN_TAKES = {"resources": {"failures": {"config": {"black_frames": 1.0}}}}


def outcomes(home):
    report = json.loads((home / "manifests" / "approved_frames" / "lab" / "ep01.json").read_text())["data"]
    return {o["shot_id"]: o for o in report["outcomes"]}


def test_review_list_approve_and_regenerate(tmp_path, capsys):
    home = tmp_path
    script = tmp_path / "lab.fountain"
    script.write_text(SCRIPT)
    defs = build_definitions(home, RenderConfig(width=160, height=90))
    key = drama_episode_key("lab", "ep01")
    with dg.instance_for_test() as instance:
        register_drama(instance, script, home / "inbox")
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success
        job = defs.resolve_job_def("episode_job")
        assert job.execute_in_process(instance=instance, partition_key=key, run_config=BROKEN_TAKES).success
        waiting = sorted(s for s, o in outcomes(home).items() if o["status"] == "review")
        assert len(waiting) >= 2

        assert main(["review", "list", "--home", str(home)]) == 0
        listed = capsys.readouterr().out
        assert all(f"lab ep01 {shot}" in listed for shot in waiting)

        approved_take = outcomes(home)[waiting[0]]["take"]
        assert main(["review", "approve", "lab", "ep01", waiting[0], "--home", str(home)]) == 0
        clips_before = sorted((home / "artifacts" / "clips").rglob("*.mp4"))
        only_the_gate = [dg.AssetKey("approved_frames")]
        result = job.execute_in_process(
            instance=instance, partition_key=key, asset_selection=only_the_gate,
            run_config={"ops": {"approved_frames": {"config": {"regenerate": {waiting[1]: "no dropped frames"}}}}},
        )
        assert result.success
        after = outcomes(home)
        assert after[waiting[0]]["status"] == "approved" and after[waiting[0]]["take"] == approved_take
        assert "approved in review" in after[waiting[0]]["reason"]
        assert after[waiting[1]]["status"] == "approved" and after[waiting[1]]["attempts"] == 4  # the reviewer's attempt
        clips_after = sorted((home / "artifacts" / "clips").rglob("*.mp4"))
        assert len(clips_after) == len(clips_before) + 1  # one new take: the regeneration, nothing else

        # once more: every decision is remembered, nothing is generated again
        assert job.execute_in_process(instance=instance, partition_key=key, asset_selection=only_the_gate).success
        assert sorted((home / "artifacts" / "clips").rglob("*.mp4")) == clips_after


def test_failure_cluster_sensor_replans_a_failing_scene_at_most_twice(tmp_path):
    from zipx_dagster.sensors import failure_cluster

    script = tmp_path / "lab.fountain"
    script.write_text(SCRIPT)
    defs = build_definitions(tmp_path, RenderConfig(width=160, height=90))
    key = drama_episode_key("lab", "ep01")

    def tick(instance, cursor):
        context = dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(), cursor=cursor, repository_def=defs.get_repository_def(),
                                          resources={"artifacts": defs.resources["artifacts"]})
        return failure_cluster.evaluate_tick(context)  # as the daemon does: requests resolved against the job

    with dg.instance_for_test() as instance:
        register_drama(instance, script, tmp_path / "inbox")
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success
        job = defs.resolve_job_def("episode_job")
        assert job.execute_in_process(instance=instance, partition_key=key, run_config=BROKEN_TAKES).success
        cursor = None
        for round_number in (1, 2):
            result = tick(instance, cursor)
            cursor = result.cursor
            assert len(result.run_requests) == 1, round_number
            request = result.run_requests[0]
            assert request.run_config == {"ops": {"storyboard": {"config": {"replan": [1]}}}}
            assert tick(instance, cursor).run_requests == []  # the same results are not read twice
            config = {**request.run_config, **BROKEN_TAKES}  # the scene keeps failing
            assert job.execute_in_process(instance=instance, partition_key=key, run_config=config).success
            board = json.loads((tmp_path / "manifests" / "storyboard" / "lab" / "ep01.json").read_text())["data"]
            assert all(f"-r{round_number}-" in s["shot_id"] for s in board["shots"])  # new shots, new requests
            assert all(len(s["characters"]) <= 1 for s in board["shots"])  # simpler blocking
        # re-planned twice: left to human review, no third request
        final = tick(instance, cursor)
        assert final.run_requests == []
        assert all(o["status"] == "review" for o in outcomes(tmp_path).values())
