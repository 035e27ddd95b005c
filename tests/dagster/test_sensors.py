"""The script-drop sensor and the backfill schedules on a real instance, ticked as the daemon ticks them."""

import dagster as dg
import pytest

from zipx_dagster.definitions import build_definitions
from zipx_dagster.resources import RenderConfig
from zipx_dagster.sensors import script_drop
from tests.conftest import SAMPLE

pytestmark = pytest.mark.slow


def tick(defs, instance, cursor):
    """One tick the way the daemon makes it: evaluate_tick resolves each request against
    the sensor's targets (a request for a job the sensor does not target fails here)."""
    context = dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(), cursor=cursor, repository_def=defs.get_repository_def(),
                                      resources={"inbox": defs.resources["inbox"], "artifacts": defs.resources["artifacts"]})
    return script_drop.evaluate_tick(context)


def test_drop_registers_then_requests_episodes_after_the_drama_run(tmp_path):
    defs = build_definitions(tmp_path, RenderConfig(width=160, height=90))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "harbour_lights.fountain").write_bytes(SAMPLE.read_bytes())
    with dg.instance_for_test() as instance:
        first = tick(defs, instance, None)
        assert [(r.job_name, r.partition_key) for r in first.run_requests] == [("drama_job", "harbour_lights")]
        added = {(r.partitions_def_name, tuple(r.partition_keys)) for r in first.dynamic_partitions_requests}
        assert added == {("drama", ("harbour_lights",)), ("episode", ("ep01", "ep02"))}
        # the same tick again requests nothing: the cursor remembers the script's hash
        again = tick(defs, instance, first.cursor)
        assert again.run_requests == []
        # the daemon would launch the drama run; here it runs in process, with its run key
        instance.add_dynamic_partitions("drama", ["harbour_lights"])
        instance.add_dynamic_partitions("episode", ["ep01", "ep02"])
        request = first.run_requests[0]
        result = defs.resolve_job_def("drama_job").execute_in_process(
            instance=instance, partition_key="harbour_lights", tags={"dagster/run_key": request.run_key}
        )
        assert result.success
        after = tick(defs, instance, first.cursor)
        keys = sorted(str(r.partition_key) for r in after.run_requests)
        assert keys == ["harbour_lights|ep01", "harbour_lights|ep02"]
        assert {r.job_name for r in after.run_requests} == {"episode_job"}
        assert tick(defs, instance, after.cursor).run_requests == []


LAB = "INT. LAB - NIGHT\n\nMIA, 29, in a white coat, checks a monitor.\n\nMIA\nIt worked.\n"


def test_a_drama_already_made_from_the_same_script_is_not_run_again(tmp_path):
    """`make demo` then `make dev`: the sensor starts with an empty cursor, and the drama
    it finds in the inbox was made (outside the sensor) from this very script."""
    from zipx_dagster.demo import register_drama
    from zipx_dagster.partitions import drama_episode_key

    defs = build_definitions(tmp_path, RenderConfig(width=160, height=90))
    script = tmp_path / "lab.fountain"
    script.write_text(LAB)
    with dg.instance_for_test() as instance:
        register_drama(instance, script, tmp_path / "inbox")
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success
        # the drama is made, its one episode is not: only the episode is requested
        first = tick(defs, instance, None)
        assert [(r.job_name, str(r.partition_key)) for r in first.run_requests] == [("episode_job", "lab|ep01")]
        key = drama_episode_key("lab", "ep01")
        assert defs.resolve_job_def("episode_job").execute_in_process(instance=instance, partition_key=key).success
        # everything made: a fresh cursor requests nothing
        assert tick(defs, instance, None).run_requests == []
        # the script changes: the drama is made again, as before
        (tmp_path / "inbox" / "lab.fountain").write_text(LAB.replace("It worked.", "It finally worked."))
        changed = tick(defs, instance, None)
        assert [(r.job_name, r.partition_key) for r in changed.run_requests] == [("drama_job", "lab")]


def test_a_bad_script_is_reported_once_until_it_changes(tmp_path):
    defs = build_definitions(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "broken.fountain").write_bytes(b"\x00\x01 not a script")
    with dg.instance_for_test() as instance:
        first = tick(defs, instance, None)
        assert first.run_requests == [] and "broken.fountain:1: file is binary" in first.skip_message
        second = tick(defs, instance, first.cursor)
        assert "broken.fountain" not in second.skip_message and second.run_requests == []  # reported once
        (inbox / "broken.fountain").write_text("INT. ROOM - DAY\n\nANA\nFixed now.\n")
        third = tick(defs, instance, second.cursor)
        assert [r.partition_key for r in third.run_requests] == ["broken"]


def test_nightly_backfill_requests_missing_and_stale_pairs_only(tmp_path):
    from zipx_dagster.partitions import drama_episode_key
    from zipx_dagster.schedules import nightly_backfill, nightly_drama_backfill

    defs = build_definitions(tmp_path, RenderConfig(width=160, height=90))
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "harbour_lights.fountain").write_bytes(SAMPLE.read_bytes())
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("drama", ["harbour_lights", "not_yet_run"])
        instance.add_dynamic_partitions("episode", ["ep01", "ep02", "ep03"])  # ep03: another drama's

        def evaluate(when):
            """Both schedules' ticks as the daemon makes them (requests resolved against each one's job)."""
            requested = {}
            for schedule in (nightly_drama_backfill, nightly_backfill):
                context = dg.build_schedule_context(instance=instance, instance_ref=instance.get_ref(), scheduled_execution_time=when,
                                                    repository_def=defs.get_repository_def(),
                                                    resources={"artifacts": defs.resources["artifacts"]})
                for request in schedule.evaluate_tick(context).run_requests or []:
                    requested[(request.job_name or schedule.job_name, str(request.partition_key))] = request
            return requested

        import datetime

        day1, day2 = datetime.datetime(2026, 11, 24, 3), datetime.datetime(2026, 11, 25, 3)
        assert set(evaluate(day1)) == {("drama_job", "harbour_lights"), ("drama_job", "not_yet_run")}
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="harbour_lights").success
        requested = evaluate(day1)
        assert {k for k in requested if k[0] == "episode_job"} == {("episode_job", "harbour_lights|ep01"), ("episode_job", "harbour_lights|ep02")}
        assert requested[("episode_job", "harbour_lights|ep01")].tags["zipx/backfill"] == "missing"
        job = defs.resolve_job_def("episode_job")
        assert job.execute_in_process(instance=instance, partition_key=drama_episode_key("harbour_lights", "ep01")).success
        assert ("episode_job", "harbour_lights|ep01") not in evaluate(day1)  # made and up to date
        # the script's drama is re-run (a change upstream): ep01 is now stale
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="harbour_lights").success
        stale = evaluate(day2)[("episode_job", "harbour_lights|ep01")]
        assert stale.tags["zipx/backfill"] == "stale"
        assert stale.run_key != requested[("episode_job", "harbour_lights|ep01")].run_key  # no collision across days
