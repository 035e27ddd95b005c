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
                                      "negativePrompt": "blurry", "generateAudio": False}
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
    monkeypatch.setattr("zipx_core.providers.base.MAX_VIDEO_BYTES", 1000)
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
