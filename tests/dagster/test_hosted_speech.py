"""episode_audio with a hosted speech engine (ElevenLabs, against the local protocol
server): its key from the environment as a dg.EnvVar, every line spoken by it and none
by eSpeak, voices from its catalogue that fit the bible, the engine and cost in the
manifest and metadata, the lines on the drama's ledger, and a second materialization
that sends and pays nothing."""

import json

import dagster as dg
import pytest

from tests.dagster.test_cast_sheet_asset import SCRIPT
from tests.providers_server import ELEVEN_VOICES, KEYS, FakeProviders
from zipx_core.audio import EspeakEngine
from zipx_core.cli import main
from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import register_drama
from zipx_dagster.partitions import drama_episode_key
from zipx_dagster.resources import RenderConfig, TextToSpeech

pytestmark = pytest.mark.slow

BIBLES = dg.AssetSelection.assets("drama_script", "character_bible", "scene_bible")
AUDIO = dg.AssetSelection.assets("storyboard", "episode_audio")


def run(defs, instance, selection, partition_key):
    job = dg.define_asset_job("speech_test", selection=selection)
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("speech_test")
    return resolved.execute_in_process(instance=instance, partition_key=partition_key, raise_on_error=False)


def test_episode_audio_on_a_hosted_engine_never_falls_back_to_espeak_and_pays_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ELEVENLABS_API_KEY", KEYS["elevenlabs"])
    spoken_by_espeak = []
    monkeypatch.setattr(EspeakEngine, "synthesize", lambda self, text, *args: spoken_by_espeak.append(text))
    script = tmp_path / "kitchen.fountain"
    script.write_text(SCRIPT)
    key = drama_episode_key("kitchen", "ep01")
    with FakeProviders() as fake, dg.instance_for_test() as instance:
        speech = TextToSpeech(engine="elevenlabs", base_url=fake.url, api_key=dg.EnvVar("ELEVENLABS_API_KEY"))
        defs = build_definitions(tmp_path, RenderConfig(width=160, height=90), speech=speech)
        register_drama(instance, script, tmp_path / "inbox")
        assert run(defs, instance, BIBLES, "kitchen").success
        result = run(defs, instance, AUDIO, key)
        assert result.success and spoken_by_espeak == []

        audio = json.loads((tmp_path / "manifests" / "episode_audio" / "kitchen" / "ep01.json").read_text())["data"]
        sexes = {v["voice_id"]: v["labels"].get("gender") for v in ELEVEN_VOICES}
        assert audio["engine"] == "elevenlabs" and [line["text"] for line in audio["lines"]] == ["Tea?", "Please."]
        assert {line["character_id"]: sexes[line["voice_id"]] for line in audio["lines"]} == {"mary": "female", "john": "male"}
        metadata = result.asset_materializations_for_node("episode_audio")[0].metadata
        assert metadata["engine"].value == "elevenlabs" and metadata["speech_cost_usd"].value > 0
        charges = json.loads((tmp_path / "artifacts" / "records" / "spend" / "kitchen.json").read_text())["charges"]
        assert len(charges) == len(fake.tts_requests) == 2
        assert KEYS["elevenlabs"] not in json.dumps(audio) + str(metadata)

        sent = dict(fake.counts)
        assert run(defs, instance, AUDIO, key).success
        assert dict(fake.counts) == sent  # voices locked and lines cached: nothing sent, nothing paid twice

        assert main(["cast", "show", "kitchen", "--home", str(tmp_path)]) == 0  # the cast sheet shows the locked voices
        shown = capsys.readouterr().out.split("Hosted voices:")[1]
        for line in audio["lines"]:
            assert f"{line['character_id']}: elevenlabs voice {line['voice_id']}" in shown
