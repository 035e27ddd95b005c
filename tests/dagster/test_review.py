"""Human review end to end: shots the gate could not approve are listed, approved or
regenerated with a note, and the next materialization uses the decisions and pays for
nothing already made."""

import json

import dagster as dg
import pytest

from zipx_core.cli import main
from zipx_core.policy import QualityPolicy
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


def materialized(result, asset: str) -> dg.AssetMaterialization:
    """The run's materialization of `asset` (a step also reports the decisions it wrote)."""
    return next(m for m in result.asset_materializations_for_node(asset_node(asset)) if m.asset_key == dg.AssetKey(asset))


def asset_node(asset: str) -> str:
    return {"replans": "storyboard", "review_decisions": "approved_frames"}.get(asset, asset)


def latest_check(instance, name):
    return instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("approved_frames"), name), limit=1)[0]


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
        broken = job.execute_in_process(instance=instance, partition_key=key, run_config=BROKEN_TAKES)
        assert broken.success
        waiting = sorted(s for s, o in outcomes(home).items() if o["status"] == "review")
        assert len(waiting) >= 2
        # the run says so (a tag to filter on), and the warning check names its partition
        assert instance.get_run_by_id(broken.run_id).tags["zipx/awaiting_review"] == str(len(waiting))
        check = latest_check(instance, "shots_awaiting_review")
        assert check.partition == "lab|ep01" and check.run_id == broken.run_id
        evaluation = check.event.dagster_event.event_specific_data
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert evaluation.description == f"lab ep01: {len(waiting)} shots await a reviewer"

        assert main(["review", "list", "--home", str(home)]) == 0
        listed = capsys.readouterr().out
        assert all(f"lab ep01 {shot}" in listed for shot in waiting)

        approved_take = outcomes(home)[waiting[0]]["take"]
        assert main(["review", "approve", "lab", "ep01", waiting[0], "--home", str(home)]) == 0
        clips_before = sorted((home / "artifacts" / "clips").rglob("*.mp4"))
        only_the_gate = [dg.AssetKey("approved_frames")]
        result = job.execute_in_process(
            instance=instance, partition_key=key, asset_selection=only_the_gate,
            run_config={"ops": {"approved_frames": {"config": {"regenerate": {waiting[1]: "no dropped frames"},
                                                               "reviewer": "Ana"}}}},
        )
        assert result.success
        after = outcomes(home)
        assert after[waiting[0]]["status"] == "approved" and after[waiting[0]]["take"] == approved_take
        assert "approved in review" in after[waiting[0]]["reason"]
        assert after[waiting[0]]["review_decision"] == "approve" and after[waiting[0]]["reviewed_at"]
        assert after[waiting[1]]["status"] == "approved" and after[waiting[1]]["attempts"] == 4  # the reviewer's attempt
        assert (after[waiting[1]]["review_decision"], after[waiting[1]]["reviewer"], after[waiting[1]]["review_note"]) == (
            "regenerate", "Ana", "no dropped frames")
        # and in the asset's metadata: a table with the reviewer's call per shot
        verdicts = materialized(result, "approved_frames").metadata["verdicts"]
        # the decisions the gate applied are an input the step reports: the gate's lineage shows them
        decided = materialized(result, "review_decisions")
        assert decided.partition == str(key) and decided.metadata["decisions"].value[waiting[1]] == {
            "decision": "regenerate", "by": "Ana", "note": "no dropped frames"}
        assert isinstance(verdicts, dg.TableMetadataValue)
        rows = {r.data["shot"]: r.data for r in verdicts.records}
        assert (rows[waiting[1]]["decision"], rows[waiting[1]]["reviewer"], rows[waiting[1]]["note"]) == (
            "regenerate", "Ana", "no dropped frames")
        assert rows[waiting[0]]["decision"] == "approve" and rows[waiting[0]]["status"] == "approved"
        left = len(waiting) - 2
        assert instance.get_run_by_id(result.run_id).tags.get("zipx/awaiting_review") == (str(left) if left else None)
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
        # a policy set on the first run (a pass-rate warning of its own): the re-plans are held to it too
        policy = {**QualityPolicy().model_dump(), "pass_rate_warning": 0.4}
        first = {"ops": {"shot_plan": {"config": {"policy": {"pass_rate_warning": 0.4}}}}, **BROKEN_TAKES}
        assert job.execute_in_process(instance=instance, partition_key=key, run_config=first).success
        cursor = None
        for round_number in (1, 2):
            result = tick(instance, cursor)
            cursor = result.cursor
            assert len(result.run_requests) == 1, round_number
            request = result.run_requests[0]
            assert request.run_config == {"ops": {"storyboard": {"config": {"replan": [1]}},
                                                  "shot_plan": {"config": {"policy": policy}}}}
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


def test_a_replan_keeps_the_decisions_and_a_decided_scene_is_not_replanned(tmp_path):
    """A decision given while a re-plan was on its way follows the shot's new ids (a
    regeneration) or is set aside and shown (an approval of a take the new plan lacks);
    then the sensor leaves the scene to the person."""
    from zipx_core.qa.review import ReviewDecision, load_decisions, save_decision
    from zipx_core.storyboard.replans import load_renames
    from zipx_dagster.sensors import failure_cluster

    script = tmp_path / "lab.fountain"
    script.write_text(SCRIPT)
    defs = build_definitions(tmp_path, RenderConfig(width=160, height=90))
    key = drama_episode_key("lab", "ep01")
    store = defs.resources["artifacts"].store()

    def tick(instance, cursor):
        context = dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(), cursor=cursor,
                                          repository_def=defs.get_repository_def(), resources={"artifacts": defs.resources["artifacts"]})
        return failure_cluster.evaluate_tick(context)

    with dg.instance_for_test() as instance:
        register_drama(instance, script, tmp_path / "inbox")
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success
        job = defs.resolve_job_def("episode_job")
        assert job.execute_in_process(instance=instance, partition_key=key, run_config=BROKEN_TAKES).success
        first_ids = list(outcomes(tmp_path))
        requested = tick(instance, None)
        assert len(requested.run_requests) == 1
        # the reviewer decides on the shots as they were, before the re-plan runs
        save_decision(store, "lab", "ep01", ReviewDecision(shot_id=first_ids[0], decision="approve", reviewer="Ana",
                                                           take=outcomes(tmp_path)[first_ids[0]]["take"]))
        save_decision(store, "lab", "ep01", ReviewDecision(shot_id=first_ids[1], decision="regenerate", reviewer="Ben",
                                                           note="keep her coat white"))
        config = {**requested.run_requests[0].run_config, **BROKEN_TAKES}
        replanned = job.execute_in_process(instance=instance, partition_key=key, run_config=config)
        assert replanned.success

        renamed = load_renames(store, "lab", "ep01")
        assert set(first_ids) <= set(renamed)
        table = materialized(replanned, "storyboard").metadata["renamed_shots"]
        assert materialized(replanned, "replans").metadata["replanned"].value == [1]  # the re-plan: an input, reported
        assert {r.data["earlier id"] for r in table.records} == set(renamed)
        now = outcomes(tmp_path)
        for new_id in renamed[first_ids[1]]:  # the regeneration followed, with its note
            assert (now[new_id]["review_decision"], now[new_id]["reviewer"], now[new_id]["review_note"]) == (
                "regenerate", "Ben", "keep her coat white")
            assert f"given on {first_ids[1]}" in now[new_id]["reason"]
        assert not any(now[i]["review_decision"] for i in renamed[first_ids[0]])  # nothing approved unseen
        gate = materialized(replanned, "approved_frames").metadata
        assert gate["superseded_decisions"].value == [f"approve {first_ids[0]} by Ana"]
        assert set(load_decisions(store, "lab", "ep01")) == set(renamed[first_ids[1]])

        # the scene now has a person's decisions: the sensor does not re-plan it under them
        assert tick(instance, requested.cursor).run_requests == []
        # a decision typed on an old id in the launchpad is refused, naming the shot's ids now
        late = job.execute_in_process(instance=instance, partition_key=key, asset_selection=[dg.AssetKey("approved_frames")],
                                      run_config={"ops": {"approved_frames": {"config": {"approve": [first_ids[0]]}}}},
                                      raise_on_error=False)
        assert not late.success
        failure = next(e for e in late.all_events if e.is_step_failure).step_failure_data.user_failure_data.description
        assert f"{first_ids[0]} was re-planned as {', '.join(renamed[first_ids[0]])}" in failure
