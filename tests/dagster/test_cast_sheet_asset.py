"""The cast sheet from the launchpad: run config on character_bible imports a person's
edits and approvals, later materializations keep them, a bad sheet fails the run naming
the field, and `zipx cast` reads the bibles the run wrote."""

import json

import dagster as dg
import pytest
import yaml

from zipx_core.cli import main
from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import register_drama
from zipx_dagster.resources import RenderConfig

pytestmark = pytest.mark.slow
SCRIPT = """INT. KITCHEN - DAY

MARY, 30, a white woman with red hair, in a blue coat, makes tea.

JOHN, 40, a brown man with grey hair, in a green sweater, reads the paper.

MARY
Tea?

JOHN
Please.
"""
BIBLES_ONLY = dg.AssetSelection.assets("drama_script", "character_bible", "scene_bible")


def manifest(home, asset):
    return json.loads((home / "manifests" / asset / "kitchen.json").read_text())["data"]


def materialize(defs, instance, config=None):
    job = dg.define_asset_job("bibles", selection=BIBLES_ONLY)
    run_config = {"ops": {"character_bible": {"config": config}}} if config else {}
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("bibles")
    return resolved.execute_in_process(instance=instance, partition_key="kitchen", run_config=run_config, raise_on_error=False)


def test_cast_sheet_yaml_in_run_config_applies_and_survives(tmp_path, capsys):
    home = tmp_path
    script = tmp_path / "kitchen.fountain"
    script.write_text(SCRIPT)
    defs = build_definitions(home, RenderConfig(width=160, height=90))
    sheet = yaml.safe_dump({"characters": {"mary": {"appearance": {"hair_color": "#2050ff"}, "voice": {"rate_wpm": 120}}},
                            "places": {"kitchen": {"camera_style": {"movement": "pan"}}}})
    with dg.instance_for_test() as instance:
        register_drama(instance, script, home / "inbox")
        result = materialize(defs, instance, {"cast_sheet_yaml": sheet, "approve": ["john"]})
        assert result.success
        mary, john = (next(c for c in manifest(home, "character_bible")["characters"] if c["character_id"] == cid) for cid in ("mary", "john"))
        assert mary["appearance"]["hair_color"] == "#2050ff" and mary["voice_profile"]["rate_wpm"] == 120
        assert mary["provenance"]["hair_color"] == "cast sheet" and john["approved"]
        metadata = result.asset_materializations_for_node("character_bible")[0].metadata
        assert "| mary | Mary |" in metadata["cast"].value and "hair_color, voice" in metadata["cast"].value
        assert metadata["approved"].value == ["john"]

        assert materialize(defs, instance).success  # no config: the sheet still applies
        assert next(c for c in manifest(home, "character_bible")["characters"] if c["character_id"] == "mary")["appearance"]["hair_color"] == "#2050ff"
        assert manifest(home, "scene_bible")["locations"][0]["camera_style"]["movement"] == "pan"

        bad = materialize(defs, instance, {"cast_sheet_yaml": "characters:\n  mary:\n    appearance:\n      gender: woman\n"})
        assert not bad.success
        failure = next(e for e in bad.all_events if e.event_type_value == "STEP_FAILURE")
        assert "run config cast_sheet_yaml line 4: characters.mary.appearance.gender: must be one of" in str(failure.event_specific_data.error)

    assert main(["cast", "show", "kitchen", "--home", str(home)]) == 0
    shown = capsys.readouterr().out
    assert "John (john)  [approved: looks and voice locked]" in shown and "#2050ff" in shown
    assert "not materialized yet" not in shown  # the manifests already hold the sheet
