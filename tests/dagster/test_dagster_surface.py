"""What Dagster shows of a run: sortable tables, the episode's files and cost rollup,
checks per partition, and the launchpad's defaults naming budgets and key variables."""

from pathlib import Path

import dagster as dg
import pytest

from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import register_drama
from zipx_dagster.partitions import drama_episode_key, drama_episode_partitions
from zipx_dagster.resources import PROVIDER_KEYS, Generation, RenderConfig

SCRIPT = "INT. LAB - NIGHT\n\nMIA, 29, in a white coat, checks a monitor.\n\nMIA\nIt worked.\n"


def test_the_gate_checks_are_per_partition(tmp_path):
    checks = build_definitions(tmp_path).resolve_assets_def("approved_frames").check_specs
    assert {c.name: c.partitions_def for c in checks} == dict.fromkeys(
        ("continuity_pass_rate", "drift_left_in_pool", "shots_awaiting_review"), drama_episode_partitions)


def test_the_launchpad_defaults_name_the_budgets_and_the_key_variables(tmp_path, monkeypatch):
    for fields in PROVIDER_KEYS.values():
        for variable in fields.values():
            monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("ARK_API_KEY", "not-a-real-key")
    job = build_definitions(tmp_path).resolve_job_def("episode_job")
    generation = job.run_config_schema.config_type.fields["resources"].config_type.fields["generation"]
    defaults = generation.default_value["config"]
    assert {"budget_episode_usd", "budget_drama_usd"} <= set(defaults)
    assert defaults["ark_api_key"] == {"env": "ARK_API_KEY"}  # a set key: its variable's name, never its value
    fields = generation.config_type.fields["config"].config_type.fields
    for key_fields in PROVIDER_KEYS.values():
        for field, variable in key_fields.items():
            assert f"env {variable}" in fields[field].description, field  # set or not, the variable is named
    assert "no limit" in fields["budget_drama_usd"].description


def test_the_cost_rollup_splits_the_ledger_by_episode_and_stage(tmp_path):
    from zipx_core.storage import LocalArtifactStore
    from zipx_dagster.metadata import cost_rollup

    store = LocalArtifactStore(tmp_path)
    charges = {"a": {"episode": "ep01", "usd": 1.5, "stage": "video"}, "b": {"episode": "ep01", "usd": 0.25, "stage": "keyframe"},
               "c": {"episode": "ep02", "usd": 2.0, "stage": "video"}, "d": {"episode": None, "usd": 0.5, "stage": "sheet"}}
    store.put_record("spend", "lab", {"charges": charges})
    rollup = cost_rollup(store, "lab", "ep01", 5.0, None)
    assert (rollup["cost_usd"].value, rollup["drama_cost_usd"].value) == (1.75, 4.25)
    stages = {r.data["stage"]: r.data["usd"] for r in rollup["cost_by_stage"].records}
    assert stages == {"keyframe": 0.25, "sheet": 0.5, "video": 1.5}  # the drama's stills shown with every episode
    budgets = [r.data for r in rollup["budgets"].records]
    assert budgets == [{"scope": "episode ep01", "budget_usd": 5.0, "spent_usd": 1.75, "left_usd": 3.25},
                       {"scope": "drama lab", "budget_usd": None, "spent_usd": 4.25, "left_usd": None}]
    assert cost_rollup(LocalArtifactStore(tmp_path / "empty"), "lab", "ep01", None, 1.0)["drama_cost_usd"].value == 0.0


@pytest.mark.slow
def test_the_episode_shows_its_files_and_what_it_cost(tmp_path):
    budgets = Generation(budget_episode_usd=5.0, budget_drama_usd=20.0)
    defs = build_definitions(tmp_path, RenderConfig(width=160, height=90), generation=budgets)
    script = tmp_path / "lab.fountain"
    script.write_text(SCRIPT)
    with dg.instance_for_test() as instance:
        register_drama(instance, script, tmp_path / "inbox")
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success
        result = defs.resolve_job_def("episode_job").execute_in_process(
            instance=instance, partition_key=drama_episode_key("lab", "ep01"))
        assert result.success
        metadata = result.asset_materializations_for_node("episode")[0].metadata
        manifest = result.output_for_node("episode")

    files = {r.data["file"]: r.data for r in metadata["files"].records}
    assert {"video", "subtitles srt", "subtitles vtt", "timeline otio", "stem dialogue"} <= set(files)
    assert {f"timeline {name}" for name in manifest.timeline.exports} <= set(files)
    assert all(Path(row["path"]).is_file() and row["uri"].startswith("zipx://") for row in files.values())

    assert [c.name for c in metadata["cost_by_stage"].schema.columns] == ["stage", "usd"]
    budgets = {r.data["scope"]: r.data for r in metadata["budgets"].records}
    episode, drama = budgets["episode ep01"], budgets["drama lab"]
    assert (episode["budget_usd"], drama["budget_usd"]) == (5.0, 20.0)
    assert episode["left_usd"] == pytest.approx(5.0 - episode["spent_usd"])
    assert drama["left_usd"] == pytest.approx(20.0 - drama["spent_usd"])
    assert metadata["cost_usd"].value == episode["spent_usd"] and metadata["drama_cost_usd"].value == drama["spent_usd"]
