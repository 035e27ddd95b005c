"""Bad run configuration, corrupt manifests and hostile names from scripts get clear
errors or safe names; nothing is written outside ZIPX_HOME."""

import dagster as dg
import pytest

from zipx_core.bible import extract_bibles
from zipx_core.script import load_drama
from zipx_core.storyboard import plan_episode
from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import register_drama
from zipx_dagster.partitions import drama_episode_key
from zipx_dagster.resources import RenderConfig
from tests.dagster.test_review import SCRIPT

pytestmark = pytest.mark.slow
SAFE = __import__("re").compile(r"^[a-z0-9_]+$")

HOSTILE = """Title: ../../../etc/passwd

# ../../Episode /etc

INT. /ETC/PASSWD/../.. - NIGHT

../../ROOT, 40, a tall man in a black coat, waits.

../../ROOT
Let me out.

C:\\WINDOWS\\SYSTEM32
(whispering)
And me.
"""


def test_an_invalid_dial_or_budget_is_refused_naming_the_field(tmp_path):
    defs = build_definitions(tmp_path, RenderConfig(width=160, height=90))
    job = defs.resolve_job_def("episode_job")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("drama", ["lab"])
        instance.add_dynamic_partitions("episode", ["ep01"])
        for config, field in (({"quality": "ultra"}, "quality"), ({"budget_episode_usd": "a lot"}, "budget_episode_usd")):
            with pytest.raises(dg.DagsterInvalidConfigError, match=f"resources:generation:config:{field}"):
                job.execute_in_process(run_config={"resources": {"generation": {"config": config}}}, instance=instance,
                                       partition_key=drama_episode_key("lab", "ep01"))


def test_a_corrupt_manifest_is_a_clear_error_naming_the_file(tmp_path):
    script = tmp_path / "lab.fountain"
    script.write_text(SCRIPT)
    defs = build_definitions(tmp_path, RenderConfig(width=160, height=90))
    with dg.instance_for_test() as instance:
        register_drama(instance, script, tmp_path / "inbox")
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success
        manifest = tmp_path / "manifests" / "character_bible" / "lab.json"
        manifest.write_text(manifest.read_text()[:200])  # cut short, as by a full disk
        result = defs.resolve_job_def("episode_job").execute_in_process(
            instance=instance, partition_key=drama_episode_key("lab", "ep01"), raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message = str(failure.event_specific_data.error)
        assert f"{manifest}: corrupt manifest" in message and "re-materialize character_bible" in message


def test_hostile_names_in_a_script_stay_inside_the_home(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    script_path = inbox / "..evil name; rm -rf.fountain"
    script_path.write_text(HOSTILE)
    script = load_drama(script_path)
    bibles = extract_bibles(script, "evil")
    assert all(SAFE.match(c.character_id) for c in bibles.characters)
    assert all(SAFE.match(loc.location_id) for loc in bibles.locations)
    assert all(SAFE.match(e.key) for e in script.episodes)
    for episode in script.episodes:
        assert all(SAFE.match(s.location_id) for s in plan_episode(script, episode.key, bibles, "evil").shots)
    home = tmp_path / "home"
    defs = build_definitions(home, RenderConfig(width=160, height=90))
    with dg.instance_for_test() as instance:
        drama, episodes = register_drama(instance, script_path, home / "inbox")
        assert SAFE.match(drama)
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key=drama).success
        assert defs.resolve_job_def("episode_job").execute_in_process(
            instance=instance, partition_key=drama_episode_key(drama, episodes[0])).success
    outside = [p for p in tmp_path.rglob("*") if not (p.is_relative_to(home) or p.is_relative_to(inbox))]
    assert outside == []
