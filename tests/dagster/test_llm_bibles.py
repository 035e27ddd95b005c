"""The LLM reader in the pipeline: with the reader set up (its key from the environment),
materializing the bibles reads the script through the local chat completions server,
charges the drama's ledger, marks what the model said, and a second materialization sends
and pays nothing. A reader that keeps failing fails the run saying why, without the key."""

import json

import dagster as dg
import pytest

from tests.core.test_llm_reader import reply
from zipx_core import lexicon
from tests.dagster.test_cast_sheet_asset import SCRIPT, manifest, materialize
from tests.providers_server import KEYS, FakeProviders
from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import register_drama
from zipx_dagster.resources import LLMReader, RenderConfig

pytestmark = pytest.mark.slow


def definitions(home, fake):
    llm = LLMReader(enabled=True, base_url=f"{fake.url}/v1", model="test-model", api_key=dg.EnvVar("ZIPX_LLM_API_KEY"),
                    input_usd_per_million=1.0, output_usd_per_million=4.0, prices_as_of="2026-12-03 (test)")
    return build_definitions(home, RenderConfig(width=160, height=90), llm=llm)


def spend(home) -> dict:
    return json.loads((home / "artifacts" / "records" / "spend" / "kitchen.json").read_text())["charges"]


def test_the_bibles_are_read_by_the_llm_once_and_charged_to_the_drama(tmp_path, monkeypatch):
    monkeypatch.setenv("ZIPX_LLM_API_KEY", KEYS["llm"])
    script = tmp_path / "kitchen.fountain"
    script.write_text(SCRIPT)
    with FakeProviders(llm_reply=reply) as fake, dg.instance_for_test() as instance:
        register_drama(instance, script, tmp_path / "inbox")
        result = materialize(definitions(tmp_path, fake), instance)
        assert result.success
        asked = len(fake.llm_requests)
        assert asked == 1  # one chunk; the second bible asset reads the cached answer
        charges = spend(tmp_path)
        assert len(charges) == 1 and all(c["usd"] > 0 for c in charges.values())
        mary = next(c for c in manifest(tmp_path, "character_bible")["characters"] if c["character_id"] == "mary")
        assert mary["voice_profile"]["style"] == "dry, quick, mid-pitched" and mary["provenance"]["voice_style"] == "llm"
        # the model invents auburn hair; the script says red, and what the script says stands
        assert mary["appearance"]["hair_color"] == lexicon.HAIR_COLOURS["red"] and mary["provenance"]["hair_color"] == "script"
        places = manifest(tmp_path, "scene_bible")["locations"]
        assert places[0]["provenance"]["lighting_palette"] == "llm" and places[0]["camera_style"]["movement"] == "handheld"
        metadata = result.asset_materializations_for_node("character_bible")[0].metadata
        assert metadata["read_by"].value == "rules + LLM test-model" and metadata["field_sources"].value["llm"] > 0

        assert materialize(definitions(tmp_path, fake), instance).success
        assert len(fake.llm_requests) == asked and spend(tmp_path) == charges  # nothing sent, nothing paid twice


def test_a_reader_that_keeps_failing_fails_the_run_without_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("ZIPX_LLM_API_KEY", "not-the-key")
    script = tmp_path / "kitchen.fountain"
    script.write_text(SCRIPT)
    with FakeProviders(llm_reply=reply) as fake, dg.instance_for_test() as instance:
        register_drama(instance, script, tmp_path / "inbox")
        result = materialize(definitions(tmp_path, fake), instance)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        text = str(failure.event_specific_data.error)
        assert "the LLM reader (test-model" in text and "not-the-key" not in text
        assert fake.llm_requests == []
