"""Dialogue on screen in sync, through the episode job against the local protocol server:
a hosted run with native dialogue (the sound models speak the lines, the episode plays
their sound, a clip whose speech is too long for its line waits in review saying so), and
a hosted run with lip-sync on S3 whose failures land in review with their reasons; lip-sync
on a local store fails the `shots` step up front, before any video is paid for."""

import json

import dagster as dg
import pytest

from tests.dagster.test_review import SCRIPT
from tests.providers_server import KEYS, KLING_ACCESS, KLING_SECRET, FakeProviders, Fault
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server
from zipx_core.audio.sync import decode_audio
from zipx_core.media import integrated_loudness, probe
from zipx_core.prompting import ONE_SPEAKER
from zipx_core.storage import LocalArtifactStore
from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import register_drama
from zipx_dagster.partitions import drama_episode_key
from zipx_dagster.resources import ArtifactStore, Generation, RenderConfig, TextToSpeech

pytestmark = pytest.mark.slow

KEY = drama_episode_key("lab", "ep01")
TALKING = ("ep01-sc001-03", "ep01-sc001-04")  # Mia's two lines, one shot each (the others are silent)


def definitions(home, fake, render, env: dict, artifacts=None, **settings) -> dg.Definitions:
    """The models whose keys are in the environment, all answered by the local server;
    stills approved automatically, keyframe-first; speech from the OpenAI-compatible server."""
    keys = {"gemini_api_key": "GEMINI_API_KEY", "dashscope_api_key": "DASHSCOPE_API_KEY",
            "kling_access_key": "KLING_ACCESS_KEY", "kling_secret_key": "KLING_SECRET_KEY"}
    generation = Generation(
        **{field: dg.EnvVar(variable) for field, variable in keys.items() if variable in env},
        base_urls={"veo3": f"{fake.url}/v1beta", "kling": fake.url, "happyhorse": fake.url},
        download_hosts={name: ["127.0.0.1"] for name in ("veo3", "kling", "happyhorse", "kling_lipsync")},
        allow_private_hosts=True, auto_approve_stills=True, **settings,
    )
    speech = TextToSpeech(engine="openai", base_url=f"{fake.url}/v1", api_key=dg.EnvVar("OPENAI_API_KEY"))
    return build_definitions(home, render, artifacts, generation=generation, speech=speech)


def setenv(monkeypatch, env: dict) -> dict:
    for variable, value in {**env, "OPENAI_API_KEY": KEYS["openai_tts"]}.items():
        monkeypatch.setenv(variable, value)
    return env


def make(defs, instance, script, home, raise_on_error=True):
    register_drama(instance, script, home / "inbox")
    assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success
    return defs.resolve_job_def("episode_job").execute_in_process(instance=instance, partition_key=KEY,
                                                                  raise_on_error=raise_on_error)


def outcomes(report: dict) -> dict:
    return {o["shot_id"]: o for o in report["outcomes"]}


def test_a_hosted_run_with_native_dialogue_plays_the_models_own_speech(tmp_path, monkeypatch):
    # only the sound models have keys: Mia's shots (routed to Seedance) fall back to HappyHorse
    env = setenv(monkeypatch, {"GEMINI_API_KEY": KEYS["veo3"], "DASHSCOPE_API_KEY": KEYS["happyhorse"]})
    script = tmp_path / "lab.fountain"
    script.write_text(SCRIPT)
    store = LocalArtifactStore(tmp_path / "artifacts")
    with FakeProviders(width=160, height=90) as fake, dg.instance_for_test() as instance:
        # the first HappyHorse clip is a silent shot's; the second, Mia's first line, speaks a second too long
        fake.faults = [Fault("happyhorse", "outcome", "as_asked"), Fault("happyhorse", "outcome", "slow_speech")]
        defs = definitions(tmp_path, fake, RenderConfig(width=160, height=90), env, native_dialogue=True)
        assert make(defs, instance, script, tmp_path).success

        videos = {json.dumps(body): provider for provider, body in fake.submissions if provider in ("veo3", "happyhorse")}
        voiced = [body for body in videos if ONE_SPEAKER in body]
        assert len(voiced) == 2 and all(videos[body] == "happyhorse" for body in voiced)  # Mia's two lines, by the model
        assert not any("generateAudio" in body for body in videos)  # the Gemini API takes no such option

        sync = {r["shot_id"]: r for r in store.get_record("lipsync", "lab__ep01")["results"]}
        first, second = TALKING
        assert sync[second]["status"] == "voiced", [r["reason"] for r in sync.values()]
        assert sync[first]["status"] == "review" and "native dialogue: happyhorse speaks for" in sync[first]["reason"]
        shots = instance.fetch_materializations(dg.AssetKey("shots"), limit=1).records[0].asset_materialization.metadata
        assert shots["dialogue_sync"].value == {"skipped": 2, "voiced": 1, "review": 1}

        report = json.loads((tmp_path / "manifests" / "approved_frames" / "lab" / "ep01.json").read_text())["data"]
        gate = outcomes(report)
        assert gate[first]["status"] == "review" and gate[first]["reason"].startswith("native dialogue: happyhorse speaks")
        assert {gate[s]["status"] for s in gate if s != first} == {"approved"}

        episode = json.loads((tmp_path / "manifests" / "episode" / "lab" / "ep01.json").read_text())["data"]
        audio = json.loads((tmp_path / "manifests" / "episode_audio" / "lab" / "ep01.json").read_text())["data"]
        video = store.path(episode["video_uri"])
        assert probe(video).has_audio and abs(integrated_loudness(video) - (-16.0)) <= 1.0
        assert episode["stems"]["dialogue"] != audio["mix_uri"]  # the dialogue as heard: the model's speech in its shots
        sound, rate = decode_audio(video)
        assert len(sound) / rate == pytest.approx(episode["duration_s"], abs=0.1)


def test_lip_sync_failures_land_in_review_with_their_reasons(tmp_path, monkeypatch):
    env = setenv(monkeypatch, {"KLING_ACCESS_KEY": KLING_ACCESS, "KLING_SECRET_KEY": KLING_SECRET,
                               "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY})
    script = tmp_path / "lab.fountain"
    script.write_text(SCRIPT)
    frame = RenderConfig(width=1280, height=720)  # Kling's lip-sync takes 720p and 1080p clips
    with FakeProviders(width=1280, height=720) as fake, dg.instance_for_test() as instance:
        # a local store gives Kling no URL for the clips: the step fails first, saying so, nothing paid for
        local = definitions(tmp_path / "local", fake, frame, env, lip_sync=True)
        refused = make(local, instance, script, tmp_path / "local", raise_on_error=False)
        failure = next(e for e in refused.all_events if e.event_type_value == "STEP_FAILURE")
        assert failure.step_key == "shots" and "the artifact store is a local folder" in str(failure.event_specific_data.error)
        assert not any(provider == "kling" for provider, _ in fake.submissions)

        server = S3Server(tmp_path / "s3").start()
        try:
            artifacts = ArtifactStore(root=str(tmp_path / "s3-cache"), s3_bucket="zipx", s3_prefix="sync",
                                      s3_endpoint_url=server.endpoint, aws_access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
                                      aws_secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"))
            fake.faults = [Fault("kling_lipsync", "identify", "no_face")]
            defs = definitions(tmp_path, fake, frame, env, artifacts, lip_sync=True)
            assert make(defs, instance, script, tmp_path).success
            objects = server.objects("sync/")
        finally:
            server.stop()

        short, long = TALKING
        (asked,) = fake.lipsync_sessions.values()  # the short shot was never sent: Kling takes clips of 2 s and more
        assert asked.startswith(server.endpoint) and "Signature" in asked  # a presigned S3 URL of the take
        why = {"ep01-sc001-03": "lip-sync: clip is 1.50s; Kling needs at least 2s",
               "ep01-sc001-04": "lip-sync: kling_lipsync: no face found in the clip"}
        record = json.loads(objects["sync/records/lipsync/lab__ep01.json"])
        assert {r["shot_id"]: r["reason"] for r in record["results"] if r["status"] == "review"} == why
        gate = outcomes(json.loads(objects["sync/manifests/approved_frames/lab/ep01.json"])["data"])
        for shot in TALKING:  # in review with the reason, whatever the gate's verdict
            assert gate[shot]["status"] == "review" and gate[shot]["reason"].startswith(why[shot])
        assert not any("lip-sync" in gate[s]["reason"] for s in gate if s not in TALKING)  # silent shots: no sync needed
        assert not any(provider == "kling_lipsync" for provider, _ in fake.submissions)  # nothing synced, nothing paid
