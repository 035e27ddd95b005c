"""Contract tests: each hosted client against a local server speaking its documented
protocol (tests/providers_server.py), on the happy path and every scripted failure."""

import asyncio
import logging
import time

import pytest

from zipx_core.media import probe
from zipx_core.models import GenerationRequest, LightingPalette, ShotType
from zipx_core.providers import (
    ContentPolicyRejected,
    DownloadRejected,
    HappyHorseProvider,
    Job,
    KlingProvider,
    ProviderError,
    RequestRejected,
    RetryPolicy,
    SeedanceProvider,
    TaskFailed,
    VeoProvider,
)
from tests.providers_server import KEYS, KLING_ACCESS, KLING_SECRET, FakeProviders, Fault

PROVIDERS = ["veo3", "kling", "seedance", "happyhorse"]
FAST = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=2, timeout_s=10, poll_interval_s=0.02, max_wait_s=20)
MODELS = {"veo3": "veo-3.1-generate-preview", "kling": "kling-v2-6:std", "seedance": "seedance-1-0-pro-250528",
          "happyhorse": "happyhorse-1.1"}
DURATION = {"veo3": 4, "kling": 5, "seedance": 3, "happyhorse": 3}


def client(name: str, fake: FakeProviders, api_key: str | None = None):
    common = dict(retry=FAST, download_hosts=("127.0.0.1",), allow_private=True, prices={"veo-3.1-generate-preview": 0.2})
    if name == "veo3":
        return VeoProvider(api_key or KEYS["veo3"], base_url=f"{fake.url}/v1beta", **common)
    if name == "kling":
        return KlingProvider(KLING_ACCESS, api_key or KLING_SECRET, base_url=fake.url, **common)
    cls = {"seedance": SeedanceProvider, "happyhorse": HappyHorseProvider}[name]
    return cls(api_key or KEYS[name], base_url=fake.url, **common)


def job(name: str, prompt: str = "INT. LAB - NIGHT. Mara, 30s, red coat, looks up.") -> Job:
    request = GenerationRequest(
        shot_id="ep01-sc001-01", location_id="lab", prompt=prompt, negative_prompt="blurry", shot_type=ShotType.MS,
        duration_s=DURATION[name] - 0.5, width=640, height=360, seed=42, camera_movement="static",
        palette=LightingPalette(colour_temperature_k=5600, key_color="#ffffff", fill_color="#888888",
                                ambient_color="#222222", mood="neutral"),
    )
    return Job(request=request, model=MODELS[name], duration_s=DURATION[name],
               resolution={"happyhorse": "720P"}.get(name, "720p"))


async def make(name: str, fake: FakeProviders, tmp_path, the_job: Job | None = None):
    provider = client(name, fake)
    the_job = the_job or job(name)
    try:
        task_id = await provider.submit(the_job)
        state = await provider.wait(task_id)
        dest = tmp_path / f"{name}.mp4"
        await provider.download(state.video_url, dest, the_job)
        return dest
    finally:
        await provider.aclose()


@pytest.fixture
def fake():
    with FakeProviders() as server:
        yield server


@pytest.mark.parametrize("name", PROVIDERS)
def test_submit_poll_download_in_the_documented_shapes(name, fake, tmp_path):
    fake.job_seconds = 0.1  # a few polls
    clip = asyncio.run(make(name, fake, tmp_path))
    assert abs(probe(clip).duration_s - DURATION[name]) < 0.1
    (provider, body), = fake.submissions
    assert provider == name
    if name == "veo3":
        assert body["instances"][0]["prompt"].startswith("INT. LAB")
        assert body["parameters"] == {"aspectRatio": "16:9", "durationSeconds": 4, "resolution": "720p",
                                      "negativePrompt": "blurry"}  # no generateAudio: the Gemini API refuses it
    elif name == "kling":
        assert body["model_name"] == "kling-v2-6" and body["mode"] == "std" and body["duration"] == "5"
        assert body["external_task_id"] == "ep01-sc001-01" and 0 <= body["cfg_scale"] <= 1  # the job's key when it has one
    elif name == "seedance":
        assert body["model"] == MODELS["seedance"] and body["content"][0] == {"type": "text", "text": job(name).request.prompt}
        assert body["duration"] == 3 and body["seed"] == 42 and body["ratio"] == "16:9"
    else:
        assert body["model"] == "happyhorse-1.1-t2v" and body["parameters"]["resolution"] == "720P"
        assert body["parameters"]["watermark"] is False and body["parameters"]["seed"] == 42
    assert fake.counts[f"{name}:poll"] >= 2  # it was running at first


@pytest.mark.parametrize("name", PROVIDERS)
def test_429_with_retry_after_then_500s_are_retried(name, fake, tmp_path):
    fake.faults = [Fault(name, "submit", "429", retry_after=0.3), Fault(name, "submit", "500"),
                   Fault(name, "poll", "500"), Fault(name, "poll", "429", retry_after=0)]
    started = time.monotonic()
    asyncio.run(make(name, fake, tmp_path))
    assert time.monotonic() - started >= 0.3  # Retry-After honoured
    assert fake.counts[f"{name}:submit"] == 3 and len(fake.submissions) == 1  # one job made


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_provider_that_stays_down_is_a_provider_error_after_the_retries(name, fake, tmp_path):
    fake.faults = [Fault(name, "submit", "500") for _ in range(FAST.attempts)]
    with pytest.raises(ProviderError, match="HTTP 500 after 4 tries") as error:
        asyncio.run(make(name, fake, tmp_path))
    assert type(error.value) is ProviderError and fake.submissions == []


@pytest.mark.parametrize("name", PROVIDERS)
def test_malformed_json_is_a_clear_error(name, fake, tmp_path):
    fake.faults = [Fault(name, "submit", "malformed")]
    with pytest.raises(ProviderError, match="not JSON"):
        asyncio.run(make(name, fake, tmp_path))


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_wrong_key_is_a_typed_4xx_without_retries_and_the_key_is_never_shown(name, fake, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    provider = client(name, fake, api_key="wrong-secret-123")

    async def submit():
        try:
            await provider.submit(job(name))
        finally:
            await provider.aclose()

    with pytest.raises(RequestRejected, match="HTTP 401") as error:
        asyncio.run(submit())
    assert fake.counts[f"{name}:submit"] == 1
    assert "wrong-secret-123" not in str(error.value) + repr(provider) + caplog.text


@pytest.mark.parametrize("name", PROVIDERS)
def test_content_refused_by_the_finished_job_is_its_own_error(name, fake, tmp_path):
    fake.faults = [Fault(name, "outcome", "policy")]
    with pytest.raises(ContentPolicyRejected, match="content refused"):
        asyncio.run(make(name, fake, tmp_path))


@pytest.mark.parametrize("name", ["kling", "seedance", "happyhorse"])
def test_content_refused_at_submission_is_its_own_error(name, fake, tmp_path):
    fake.faults = [Fault(name, "submit", "policy")]
    with pytest.raises(ContentPolicyRejected):
        asyncio.run(make(name, fake, tmp_path))


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_failed_job_is_task_failed(name, fake, tmp_path):
    fake.faults = [Fault(name, "outcome", "failed")]
    with pytest.raises(TaskFailed):
        asyncio.run(make(name, fake, tmp_path))


@pytest.mark.parametrize("name", ["seedance", "happyhorse"])
def test_an_expired_job_is_task_failed(name, fake, tmp_path):
    fake.faults = [Fault(name, "outcome", "expired")]
    with pytest.raises(TaskFailed, match="expired"):
        asyncio.run(make(name, fake, tmp_path))


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize("kind, message", [("truncated", "broken off|truncated"), ("foreign", "not allowed"),
                                           ("wrong_length", "asked for"), ("corrupt", "not a decodable video"),
                                           ("gone", "HTTP 403")])
def test_bad_downloads_are_refused(name, kind, message, fake, tmp_path):
    fake.faults = [Fault(name, "outcome", kind)]
    with pytest.raises(DownloadRejected, match=message):
        asyncio.run(make(name, fake, tmp_path))


def test_a_slow_job_is_given_up_after_the_wait_limit_keeping_its_id(fake, tmp_path):
    fake.job_seconds = 60
    provider = client("seedance", fake)
    provider.retry = FAST.model_copy(update={"max_wait_s": 0.1})

    async def run():
        try:
            task_id = await provider.submit(job("seedance"))
            await provider.wait(task_id)
        finally:
            await provider.aclose()

    with pytest.raises(TaskFailed, match="still running"):
        asyncio.run(run())


def test_happyhorse_cuts_long_prompts_itself_and_warns(fake, tmp_path, caplog):
    long = "A long and careful description. " * 300
    asyncio.run(make("happyhorse", fake, tmp_path, job("happyhorse", prompt=long)))
    (_, body), = fake.submissions
    assert len(body["input"]["prompt"]) == 5000
    assert "cut to the service's 5000" in caplog.text


def test_veo_takes_reference_images_at_eight_seconds_only(fake, tmp_path):
    provider = client("veo3", fake)
    prepared = provider.prepare(Job(**{**job("veo3").__dict__, "reference_images": [b"\x89PNG fake"]}))
    assert prepared.duration_s == 8
    assert provider.body(prepared)["instances"][0]["referenceImages"][0]["referenceType"] == "asset"
    asyncio.run(provider.aclose())


def test_a_result_host_that_resolves_to_a_private_address_is_refused_by_default(fake, tmp_path):
    provider = SeedanceProvider(KEYS["seedance"], base_url=fake.url, retry=FAST, download_hosts=("127.0.0.1", "localhost"))

    async def run():
        try:
            task_id = await provider.submit(job("seedance"))
            state = await provider.wait(task_id)
            await provider.download(state.video_url.replace("127.0.0.1", "localhost"), tmp_path / "x.mp4", job("seedance"))
        finally:
            await provider.aclose()

    with pytest.raises(DownloadRejected, match="non-public address"):
        asyncio.run(run())
    assert fake.counts["seedance:download"] == 0


def test_the_download_size_cap_holds(fake, tmp_path, monkeypatch):
    monkeypatch.setattr("zipx_core.providers.base.HostedProvider.max_download_bytes", 1000)
    with pytest.raises(DownloadRejected, match="cap"):
        asyncio.run(make("kling", fake, tmp_path))


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_poll_that_hangs_past_the_timeout_is_retried(name, fake, tmp_path):
    fake.faults = [Fault(name, "poll", "hang", retry_after=1.0)]
    provider_retry = FAST.model_copy(update={"timeout_s": 0.3})
    provider = client(name, fake)
    provider.retry = provider_retry
    provider.client.timeout = provider_retry.timeout_s

    async def run():
        try:
            state = await provider.wait(await provider.submit(job(name)))
            await provider.download(state.video_url, tmp_path / "x.mp4", job(name))
        finally:
            await provider.aclose()

    asyncio.run(run())
    assert len(fake.submissions) == 1


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_submission_whose_answer_is_lost_is_not_sent_again(name, fake, tmp_path):
    from zipx_core.providers import SubmissionUnknown

    fake.faults = [Fault(name, "submit", "hang", retry_after=1.0)]
    provider = client(name, fake)
    provider.client.timeout = 0.3

    async def run():
        try:
            await provider.submit(job(name))
        finally:
            await provider.aclose()

    with pytest.raises(SubmissionUnknown, match="not retried"):
        asyncio.run(run())
    time.sleep(1.2)  # the server carries on and makes the job: one job, never two
    assert fake.counts[f"{name}:submit"] == 1


# --- first frames: a clip starts from the shot's approved keyframe ------------------------------

def keyframe_png(width: int = 64, height: int = 36) -> bytes:
    """A still that no grey ramp resembles: red on the left, blue on the right."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = (200, 40, 40)
    pixels[:, width // 2:] = (40, 70, 200)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def first_frame_distance(clip, png: bytes) -> float:
    """Mean absolute difference (0-255) between a clip's first frame and a still."""
    import io

    import av
    import numpy as np
    from PIL import Image

    with av.open(str(clip)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    still = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").resize((frame.shape[1], frame.shape[0])), dtype=float)
    return float(np.abs(frame - still).mean())


def with_first_frame(name: str, references: bool = False, url: str | None = None) -> Job:
    still = keyframe_png()
    return Job(**{**job(name).__dict__, "first_frame": still, "first_frame_url": url,
                  "reference_images": [keyframe_png(32, 32)] if references else [],
                  "reference_urls": ["https://store.example/anna.png"] if references else []})


def sent_first_frame(name: str, body: dict) -> str | None:
    """Where each protocol carries the first frame, as sent."""
    if name == "veo3":
        return (body["instances"][0].get("image") or {}).get("bytesBase64Encoded")
    if name == "kling":
        return body.get("image")
    if name == "seedance":
        return next((c["image_url"]["url"] for c in body["content"] if c.get("role") == "first_frame"), None)
    return next((m["url"] for m in body["input"].get("media", []) if m["type"] == "first_frame"), None)


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_clip_starts_from_its_first_frame(name, fake, tmp_path):
    the_job = with_first_frame(name)
    clip = asyncio.run(make(name, fake, tmp_path, the_job))
    (_, body), = fake.submissions
    assert the_job.first_frame_base64 in sent_first_frame(name, body)  # bare base64 or a data URI
    assert first_frame_distance(clip, the_job.first_frame) < 25
    assert abs(probe(clip).duration_s - DURATION[name]) < 0.1


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_clip_that_drifts_from_its_first_frame_is_told_apart(name, fake, tmp_path):
    fake.faults = [Fault(name, "outcome", "drift")]
    the_job = with_first_frame(name)
    clip = asyncio.run(make(name, fake, tmp_path, the_job))
    assert first_frame_distance(clip, the_job.first_frame) > 80  # the fake inverts it: clearly not the keyframe


@pytest.mark.parametrize("name", PROVIDERS)
def test_without_a_first_frame_the_clip_is_as_before(name, fake, tmp_path):
    clip = asyncio.run(make(name, fake, tmp_path))
    (_, body), = fake.submissions
    assert sent_first_frame(name, body) is None
    assert first_frame_distance(clip, keyframe_png()) > 80  # the grey ramp


def test_veo_sends_the_first_frame_instead_of_references_and_keeps_the_length(fake):
    provider = client("veo3", fake)
    prepared = provider.prepare(with_first_frame("veo3", references=True))
    instance = provider.body(prepared)["instances"][0]
    assert prepared.duration_s == 4  # references alone would force 8 s; they are not sent
    assert "referenceImages" not in instance and instance["image"]["mimeType"] == "image/png"
    asyncio.run(provider.aclose())


def test_seedance_sends_only_the_first_frame_preferring_its_url(fake):
    provider = client("seedance", fake)
    body = provider.body(with_first_frame("seedance", references=True, url="https://store.example/key.png"))
    assert body["content"][1:] == [{"type": "image_url", "image_url": {"url": "https://store.example/key.png"},
                                    "role": "first_frame"}]
    inline = provider.body(with_first_frame("seedance"))["content"][1]["image_url"]["url"]
    assert inline.startswith("data:image/png;base64,")
    asyncio.run(provider.aclose())


def test_kling_uses_image2video_with_the_first_frame_not_a_reference(fake):
    provider = client("kling", fake)
    the_job = with_first_frame("kling", references=True)
    assert provider.route(the_job) == "image2video"
    assert provider.body(the_job)["image"] == the_job.first_frame_base64
    asyncio.run(provider.aclose())


def test_happyhorse_uses_its_image_to_video_model_with_one_first_frame(fake):
    provider = client("happyhorse", fake)
    body = provider.body(with_first_frame("happyhorse", references=True, url="https://store.example/key.png"))
    assert body["model"] == "happyhorse-1.1-i2v" and "ratio" not in body["parameters"]
    assert body["input"]["media"] == [{"type": "first_frame", "url": "https://store.example/key.png"}]
    asyncio.run(provider.aclose())


# --- sound: native dialogue -------------------------------------------------------------------

VOICED = ('INT. LAB - NIGHT. Mara, 30s, red coat.\nMara speaks, lips in sync with the words: "We sail at dawn."\n'
          "One speaker: only Mara talks; Jon keeps their mouths closed.")


@pytest.mark.parametrize("name, model, sent, sound", [
    ("veo3", None, {}, True),  # the Gemini API takes no generateAudio and always makes sound
    ("happyhorse", None, {}, True),  # no sound option: always sound
    ("seedance", "seedance-1-5-pro-251215", {"generate_audio": True}, True),
    ("seedance", None, {}, False),  # 1.0 pro makes no sound: the option is not sent
    ("kling", None, {}, False),
])
def test_a_natively_voiced_request_asks_the_sound_models_for_sound(name, model, sent, sound, fake, tmp_path):
    from dataclasses import replace

    voiced = job(name, VOICED)
    voiced = replace(voiced, model=model or voiced.model)
    clip = asyncio.run(make(name, fake, tmp_path, voiced))
    (_, body), = fake.submissions
    options = {**body.get("parameters", {}), **body}
    assert {k: options[k] for k in ("generateAudio", "generate_audio") if k in options} == sent
    assert probe(clip).has_audio is sound


def test_seedance_sound_models_are_told_no_sound_for_other_requests(fake, tmp_path):
    from dataclasses import replace

    asyncio.run(make("seedance", fake, tmp_path, replace(job("seedance"), model="seedance-1-5-pro-251215")))
    (_, body), = fake.submissions
    assert body["generate_audio"] is False  # 1.5 pro makes (and bills) sound by default


def test_veo_on_vertex_sends_generate_audio_for_voiced_requests_only():
    veo = VeoProvider("k", base_url="https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/"
                      "publishers/google")
    assert veo.body(job("veo3", VOICED))["parameters"]["generateAudio"] is True
    assert veo.body(job("veo3"))["parameters"]["generateAudio"] is False
    asyncio.run(veo.aclose())
