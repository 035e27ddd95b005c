"""A hosted episode, keyframe-first, against the local protocol server: reference sheets
and plates from the image model (a person approves them), a keyframe per shot judged for
continuity and sent as each clip's first frame, cost per stage in the ledger and the
`shots` metadata, and the offline renderer never called; offline, the same assets draw
their sheets and keyframes with the local renderer."""

import json

import dagster as dg
import pytest

from tests.dagster.test_review import SCRIPT
from tests.providers_server import KEYS, KLING_ACCESS, KLING_SECRET, FakeProviders, Fault
from zipx_core.models import ReferenceSet
from zipx_core.providers import LocalRenderer
from zipx_core.qa.references import approve_still
from zipx_core.storage import LocalArtifactStore
from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import register_drama
from zipx_dagster.partitions import drama_episode_key
from zipx_dagster.resources import Generation, RenderConfig

pytestmark = pytest.mark.slow

ENV = {"GEMINI_API_KEY": KEYS["veo3"], "KLING_ACCESS_KEY": KLING_ACCESS, "KLING_SECRET_KEY": KLING_SECRET,
       "ARK_API_KEY": KEYS["seedance"], "DASHSCOPE_API_KEY": KEYS["happyhorse"]}
VIDEO = ("veo3", "kling", "seedance", "happyhorse")
IMAGE = ("gemini_image", "seedream", "kling_image", "wan_image")


def hosted(home, fake, **settings) -> dg.Definitions:
    generation = Generation(
        gemini_api_key=dg.EnvVar("GEMINI_API_KEY"), kling_access_key=dg.EnvVar("KLING_ACCESS_KEY"),
        kling_secret_key=dg.EnvVar("KLING_SECRET_KEY"), ark_api_key=dg.EnvVar("ARK_API_KEY"),
        dashscope_api_key=dg.EnvVar("DASHSCOPE_API_KEY"),
        base_urls={"veo3": f"{fake.url}/v1beta", "kling": fake.url, "seedance": fake.url, "happyhorse": fake.url},
        download_hosts={name: ["127.0.0.1"] for name in VIDEO}, allow_private_hosts=True, **settings,
    )
    return build_definitions(home, RenderConfig(width=160, height=90), generation=generation)


@pytest.fixture
def offline_renderer_forbidden(monkeypatch):
    """The offline renderer instrumented: any drawing is recorded and fails the step."""
    calls = []

    def forbidden(name):
        def call(self, *args, **kwargs):
            calls.append(name)
            raise AssertionError(f"LocalRenderer.{name} called in a hosted run")
        return call

    for name in ("still", "stills", "render"):
        monkeypatch.setattr(LocalRenderer, name, forbidden(name))
    return calls


def materialized(instance, asset: str) -> dict:
    return instance.fetch_materializations(dg.AssetKey(asset), limit=1).records[0].asset_materialization.metadata


def test_a_hosted_episode_is_made_keyframe_first_and_never_drawn_offline(tmp_path, monkeypatch, offline_renderer_forbidden):
    for variable, value in ENV.items():
        monkeypatch.setenv(variable, value)
    script = tmp_path / "lab.fountain"
    script.write_text(SCRIPT)
    store = LocalArtifactStore(tmp_path / "artifacts")
    with FakeProviders(width=160, height=90) as fake, dg.instance_for_test() as instance:
        register_drama(instance, script, tmp_path / "inbox")
        defs = hosted(tmp_path, fake)
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success
        references = ReferenceSet.model_validate(store.get_record("references", "lab"))
        assert references.source.split(":")[0] in IMAGE and references.awaiting_approval  # a person approves hosted stills
        assert materialized(instance, "reference_frames")["awaiting_approval"].value == len(references.slots)

        # the episode cannot start from stills nobody approved: it says how to approve them
        key = drama_episode_key("lab", "ep01")
        episode_job = defs.resolve_job_def("episode_job")
        refused = episode_job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False)
        failure = next(e for e in refused.all_events if e.event_type_value == "STEP_FAILURE")
        assert "zipx stills approve lab" in str(failure.event_specific_data.error)

        sheets = len(fake.submissions)
        for slot in references.slots:  # a reviewer picks the second candidate of each slot
            approve_still(store, "lab", slot.slot, slot.candidates[-1], "ana")
        again = defs.resolve_job_def("drama_job").execute_in_process(
            instance=instance, partition_key="lab", asset_selection=[dg.AssetKey("reference_frames")])
        assert again.success and len(fake.submissions) == sheets  # approving pays for nothing more
        locked = ReferenceSet.model_validate(store.get_record("references", "lab"))
        assert not locked.awaiting_approval and {s.approved_by for s in locked.slots} == {"ana"}

        fake.faults = [Fault("*", "outcome", "drift")]  # the first keyframe drifts: caught before any video is paid for
        assert episode_job.execute_in_process(instance=instance, partition_key=key).success

        keyframes = materialized(instance, "keyframes")
        shots = materialized(instance, "shots")
        assert keyframes["approved"].value == shots["takes"].value and keyframes["video_first"].value == []
        assert keyframes["attempts"].value == shots["takes"].value + 1  # the drifted one, asked again
        stages = shots["cost_by_stage_usd"].value
        assert all(stages.get(stage, 0) > 0 for stage in ("sheet", "plate", "keyframe", "video")), stages
        videos = [body for provider, body in fake.submissions if provider in VIDEO]
        assert len(videos) == shots["takes"].value and all(first_frame_sent(body) for body in videos)
        gate = materialized(instance, "approved_frames")
        assert gate["approved"].value == shots["takes"].value  # clips that start from approved keyframes pass
    assert offline_renderer_forbidden == []


def first_frame_sent(body: dict) -> bool:
    """Whether a video submission carries a first frame, in any of the four protocols."""
    text = json.dumps(body)
    return '"first_frame"' in text or '"image"' in text


def test_a_drama_can_opt_out_to_video_first(tmp_path, monkeypatch):
    for variable, value in ENV.items():
        monkeypatch.setenv(variable, value)
    script = tmp_path / "lab.fountain"
    script.write_text(SCRIPT)
    with FakeProviders(width=160, height=90) as fake, dg.instance_for_test() as instance:
        register_drama(instance, script, tmp_path / "inbox")
        defs = hosted(tmp_path, fake, auto_approve_stills=True)
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success
        opt_out = {"ops": {"keyframes": {"config": {"video_first": True}}}}
        result = defs.resolve_job_def("episode_job").execute_in_process(
            instance=instance, partition_key=drama_episode_key("lab", "ep01"), run_config=opt_out)
        assert result.success
        assert materialized(instance, "keyframes")["enabled"].value is False
        assert "keyframe" not in materialized(instance, "shots")["cost_by_stage_usd"].value
