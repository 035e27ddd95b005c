"""Contract tests: each hosted image client against the local server speaking its
documented protocol (tests/providers_server.py), on the happy path and every scripted
failure, plus the dial's tables in providers/images/__init__.py."""

import asyncio
import io
import logging
import time

import numpy as np
import pytest
from PIL import Image

from zipx_core.providers import HOSTED, ContentPolicyRejected, DownloadRejected, ProviderError, RequestRejected, RetryPolicy
from zipx_core.providers import SubmissionUnknown, TaskFailed
from zipx_core.providers.images import (
    DEFAULT_IMAGE_PRICES,
    IMAGE_HOSTED,
    IMAGE_KEYS,
    IMAGE_MODELS,
    IMAGE_PREFERENCE,
    GeminiImageProvider,
    ImageJob,
    ImageReference,
    KlingImageProvider,
    SeedreamProvider,
    WanImageProvider,
    choose_image_model,
)
from zipx_core.providers.images.base import ImageProvider
from zipx_core.providers.kling import jwt_token
from zipx_core.routing import Quality
from tests.providers_server import KEYS, KLING_ACCESS, KLING_SECRET, FakeProviders, Fault

IMAGES = ["gemini_image", "seedream", "kling_image", "wan_image"]
ASYNC = ["kling_image", "wan_image"]
URL_RESULTS = ["seedream", "kling_image", "wan_image"]  # results fetched by URL (Seedream: its default format)
FAST = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=2, timeout_s=10, poll_interval_s=0.02, max_wait_s=20)
PROMPT = "INT. LAB - NIGHT. Mara, 30s, red coat, looks up."


def client(name: str, fake: FakeProviders, api_key: str | None = None) -> ImageProvider:
    common = dict(retry=FAST, download_hosts=("127.0.0.1",), allow_private=True, prices=DEFAULT_IMAGE_PRICES)
    if name == "gemini_image":
        return GeminiImageProvider(api_key or KEYS[IMAGE_KEYS[name]], base_url=f"{fake.url}/v1beta", **common)
    if name == "kling_image":
        return KlingImageProvider(KLING_ACCESS, api_key or KLING_SECRET, base_url=fake.url, **common)
    return IMAGE_HOSTED[name](api_key or KEYS[IMAGE_KEYS[name]], base_url=fake.url, **common)


def still(colour_left, colour_right, size: int = 48) -> bytes:
    pixels = np.zeros((size, size, 3), dtype=np.uint8)
    pixels[:, : size // 2], pixels[:, size // 2:] = colour_left, colour_right
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


ANNA = still((30, 200, 60), (220, 40, 200))
KITCHEN = still((240, 230, 40), (20, 20, 90))


def image_job(name: str, prompt: str = PROMPT, references: tuple = (), **changes) -> ImageJob:
    fields = dict(model=IMAGE_MODELS[name][Quality.balanced], width=640, height=360, seed=7, key="k" * 70,
                  negative_prompt="blurry")
    refs = [ImageReference(label, png) for label, png in references]
    return ImageJob(prompt=prompt, references=refs, **{**fields, **changes})


async def generate(name: str, fake: FakeProviders, the_job: ImageJob | None = None, provider: ImageProvider | None = None):
    """The image, and each saved task id with how many polls had been made when it was saved."""
    provider = provider or client(name, fake)
    saved = []

    async def save(task_id: str) -> None:
        saved.append((task_id, fake.counts[f"{name}:poll"]))

    try:
        return await provider.generate(the_job or image_job(name), save), saved
    finally:
        await provider.aclose()


def make(name: str, fake: FakeProviders, the_job: ImageJob | None = None) -> bytes:
    return asyncio.run(generate(name, fake, the_job))[0]


def distance(png: bytes, other: bytes) -> float:
    """Mean absolute difference (0-255) of two pictures, the second resized to the first."""
    first = Image.open(io.BytesIO(png)).convert("RGB")
    second = Image.open(io.BytesIO(other)).convert("RGB").resize(first.size)
    return float(np.abs(np.asarray(first, dtype=float) - np.asarray(second, dtype=float)).mean())


@pytest.fixture
def fake():
    with FakeProviders() as server:
        yield server


@pytest.mark.parametrize("name", IMAGES)
def test_an_image_in_the_documented_shapes(name, fake):
    fake.job_seconds = 0.1  # the async ones are running at first
    png, saved = asyncio.run(generate(name, fake))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (fake.width, fake.height)
    (provider, body), = fake.submissions
    assert provider == name and fake.image_requests == [(name, body)]
    if name in ASYNC:
        (task_id, polls_before), = saved  # saved once, before the first poll
        assert polls_before == 0 and fake.counts[f"{name}:poll"] >= 2
    else:
        assert saved == []  # answered at once: there is no task to resume


def test_gemini_asks_for_an_image_only_at_the_frame_aspect(fake):
    make("gemini_image", fake)
    (_, body), = fake.submissions
    config = body["generationConfig"]
    assert config["responseModalities"] == ["IMAGE"] and config["imageConfig"] == {"aspectRatio": "16:9"}
    assert config["seed"] == 7 and body["contents"][0]["parts"] == [{"text": f"{PROMPT}\nAvoid: blurry"}]


def test_gemini_names_each_reference_before_it_and_puts_the_prompt_last(fake):
    make("gemini_image", fake, image_job("gemini_image", references=(("ANNA", ANNA), ("the KITCHEN", KITCHEN))))
    (_, body), = fake.submissions
    parts = body["contents"][0]["parts"]
    assert [p.get("text") for p in parts[::2]] == ["Reference image of ANNA:", "Reference image of the KITCHEN:",
                                                    f"{PROMPT}\nAvoid: blurry"]
    assert [p["inlineData"]["mimeType"] for p in parts[1::2]] == ["image/png", "image/png"]


def test_gemini_3_pro_skips_its_thought_images_and_asks_for_2k(fake):
    the_job = image_job("gemini_image", references=(("ANNA", ANNA),), model="gemini-3-pro-image-preview")
    png = make("gemini_image", fake, the_job)
    (_, body), = fake.submissions
    assert body["generationConfig"]["imageConfig"]["imageSize"] == "2K"
    assert distance(png, ANNA) < 20  # the final image, not the inverted thought image before it


@pytest.mark.parametrize("model, least", [("seedream-4-0-250828", 1280 * 720), ("seedream-4-5-251128", 2560 * 1440)])
def test_seedream_asks_for_the_frame_aspect_at_the_models_minimum_area(model, least, fake):
    make("seedream", fake, image_job("seedream", model=model, width=854, height=480))
    (_, body), = fake.submissions
    width, height = map(int, body["size"].split("x"))
    assert width * height >= least and abs(width / height / (854 / 480) - 1) < 0.02
    assert body["watermark"] is False and body["sequential_image_generation"] == "disabled" and "seed" not in body


def test_seedream_sends_one_reference_as_a_string_and_several_as_a_list(fake):
    make("seedream", fake, image_job("seedream", references=(("ANNA", ANNA),)))
    make("seedream", fake, image_job("seedream", references=(("ANNA", ANNA), ("the KITCHEN", KITCHEN))))
    (_, one), (_, two) = fake.submissions
    assert one["image"].startswith("data:image/png;base64,") and len(two["image"]) == 2


def test_seedream_takes_its_image_inline_too(fake):
    provider = client("seedream", fake)
    provider.response_format = "b64_json"
    png, _ = asyncio.run(generate("seedream", fake, provider=provider))
    assert Image.open(io.BytesIO(png)).size == (fake.width, fake.height)
    assert fake.counts["seedream:download"] == 0


def test_kling_sends_several_references_to_multi_image2image_and_polls_there(fake):
    the_job = image_job("kling_image", references=(("ANNA", ANNA), ("the KITCHEN", KITCHEN)))
    png, saved = asyncio.run(generate("kling_image", fake, the_job))
    (_, body), = fake.submissions
    assert saved[0][0].startswith("multi-image2image/") and body["model_name"] == "kling-v2-1"
    assert [s["subject_image"] for s in body["subject_image_list"]] == [ANNA_B64, KITCHEN_B64]  # bare base64
    assert body["external_task_id"] == "k" * 64 and distance(png, ANNA) < 20


def test_kling_v1_5_takes_one_reference_as_a_subject_on_generations(fake):
    the_job = image_job("kling_image", references=(("ANNA", ANNA),), model="kling-v1-5")
    make("kling_image", fake, the_job)
    (_, body), = fake.submissions
    assert body["image"] == ANNA_B64 and body["image_reference"] == "subject" and "negative_prompt" not in body


def test_kling_images_use_the_video_clients_jwt(fake):
    provider = client("kling_image", fake)
    assert provider.headers()["Authorization"] == f"Bearer {jwt_token(KLING_ACCESS, KLING_SECRET)}"
    asyncio.run(provider.aclose())


def test_wan_uses_its_editing_model_and_route_with_references(fake):
    provider = client("wan_image", fake)
    the_job = image_job("wan_image", references=(("ANNA", ANNA),))
    assert provider.estimate_cost(the_job) == DEFAULT_IMAGE_PRICES["wan2.5-i2i-preview"]
    png, _ = asyncio.run(generate("wan_image", fake, the_job, provider))
    (_, body), = fake.submissions
    assert body["model"] == "wan2.5-i2i-preview" and body["input"]["images"][0].startswith("data:image/png;base64,")
    assert body["parameters"]["prompt_extend"] is False and body["parameters"]["seed"] == 7
    assert distance(png, ANNA) < 20


def test_wan_and_happyhorse_tasks_on_one_server_are_told_apart(fake, tmp_path):
    from tests.core.test_providers import make as make_clip

    make("wan_image", fake)
    asyncio.run(make_clip("happyhorse", fake, tmp_path))
    assert [p for p, _ in fake.submissions] == ["wan_image", "happyhorse"]
    assert fake.counts["wan_image:poll"] >= 1 and fake.counts["happyhorse:poll"] >= 1


@pytest.mark.parametrize("name", IMAGES)
def test_a_keyframe_from_a_characters_stills_resembles_them(name, fake):
    with_refs = make(name, fake, image_job(name, references=(("ANNA", ANNA), ("the KITCHEN", KITCHEN))))
    without = make(name, fake)
    assert distance(with_refs, ANNA) < 20 < distance(without, ANNA)


@pytest.mark.parametrize("name", IMAGES)
def test_different_prompts_make_clearly_different_pictures(name, fake):
    a, b = make(name, fake, image_job(name, "A harbour at dawn.")), make(name, fake, image_job(name, "A desert at noon."))
    assert distance(a, b) > 20 and distance(a, make(name, fake, image_job(name, "A harbour at dawn."))) < 1


@pytest.mark.parametrize("name", IMAGES)
def test_a_drifted_image_is_clearly_not_what_was_asked(name, fake):
    fake.faults = [Fault(name, "outcome", "drift")]
    assert distance(make(name, fake, image_job(name, references=(("ANNA", ANNA),))), ANNA) > 80


@pytest.mark.parametrize("name", IMAGES)
def test_429_with_retry_after_then_500s_are_retried(name, fake):
    fake.faults = [Fault(name, "submit", "429", retry_after=0.3), Fault(name, "submit", "500")]
    fake.faults += [Fault(name, "poll", "500"), Fault(name, "poll", "429", retry_after=0)] if name in ASYNC else []
    started = time.monotonic()
    make(name, fake)
    assert time.monotonic() - started >= 0.3  # Retry-After honoured
    assert fake.counts[f"{name}:submit"] == 3 and len(fake.submissions) == 1  # one image made


@pytest.mark.parametrize("name", IMAGES)
def test_a_provider_that_stays_down_is_a_provider_error_after_the_retries(name, fake):
    fake.faults = [Fault(name, "submit", "500") for _ in range(FAST.attempts)]
    with pytest.raises(ProviderError, match="HTTP 500 after 4 tries") as error:
        make(name, fake)
    assert type(error.value) is ProviderError and fake.submissions == []


@pytest.mark.parametrize("name", IMAGES)
def test_malformed_json_is_a_clear_error(name, fake):
    fake.faults = [Fault(name, "submit", "malformed")]
    with pytest.raises(ProviderError, match="not JSON"):
        make(name, fake)


@pytest.mark.parametrize("name", IMAGES)
def test_a_wrong_key_is_a_typed_4xx_without_retries_and_the_key_is_never_shown(name, fake, caplog):
    caplog.set_level(logging.DEBUG)
    provider = client(name, fake, api_key="wrong-secret-123")
    with pytest.raises(RequestRejected, match="HTTP 401") as error:
        asyncio.run(generate(name, fake, provider=provider))
    assert fake.counts[f"{name}:submit"] == 1
    assert "wrong-secret-123" not in str(error.value) + repr(provider) + caplog.text


@pytest.mark.parametrize("name", IMAGES)
@pytest.mark.parametrize("phase", ["submit", "outcome"])
def test_refused_content_is_its_own_error(name, phase, fake):
    fake.faults = [Fault(name, phase, "policy")]
    with pytest.raises(ContentPolicyRejected, match="content refused"):
        make(name, fake)


@pytest.mark.parametrize("name", IMAGES)
def test_a_failed_image_is_task_failed(name, fake):
    fake.faults = [Fault(name, "outcome", "failed")]
    with pytest.raises(TaskFailed):
        make(name, fake)


def test_an_expired_dashscope_task_is_task_failed(fake):
    fake.faults = [Fault("wan_image", "outcome", "expired")]
    with pytest.raises(TaskFailed, match="expired"):
        make("wan_image", fake)


@pytest.mark.parametrize("name", URL_RESULTS)
@pytest.mark.parametrize("kind, message", [("truncated", "broken off|truncated"), ("foreign", "not allowed"),
                                           ("corrupt", "not a decodable image"), ("gone", "HTTP 403")])
def test_bad_downloads_are_refused(name, kind, message, fake):
    fake.faults = [Fault(name, "outcome", kind)]
    with pytest.raises(DownloadRejected, match=message):
        make(name, fake)
    assert fake.counts[f"{name}:download"] == 1


@pytest.mark.parametrize("name", ["gemini_image", "seedream"])
def test_inline_bytes_that_are_not_an_image_are_refused(name, fake):
    fake.faults = [Fault(name, "outcome", "corrupt")]
    provider = client(name, fake)
    provider.response_format = "b64_json"  # Seedream inline; Gemini always is
    with pytest.raises(DownloadRejected, match="not a decodable image"):
        asyncio.run(generate(name, fake, provider=provider))


def test_the_image_size_cap_holds(fake, monkeypatch):
    monkeypatch.setattr(ImageProvider, "max_download_bytes", 100)
    with pytest.raises(DownloadRejected, match="cap"):
        make("wan_image", fake)


@pytest.mark.parametrize("name", IMAGES)
def test_a_submission_whose_answer_is_lost_is_not_sent_again(name, fake):
    fake.faults = [Fault(name, "submit", "hang", retry_after=1.0)]
    provider = client(name, fake)
    provider.client.timeout = 0.3
    with pytest.raises(SubmissionUnknown, match="not retried"):
        asyncio.run(generate(name, fake, provider=provider))
    time.sleep(1.2)  # the server carries on and makes the image: one, never two
    assert fake.counts[f"{name}:submit"] == 1


@pytest.mark.parametrize("name", ASYNC)
def test_a_poll_that_hangs_past_the_timeout_is_retried(name, fake):
    fake.faults = [Fault(name, "poll", "hang", retry_after=1.0)]
    provider = client(name, fake)
    provider.client.timeout = 0.3
    asyncio.run(generate(name, fake, provider=provider))
    assert len(fake.submissions) == 1


@pytest.mark.parametrize("name", ASYNC)
def test_a_saved_task_resumes_without_a_new_submission(name, fake):
    fake.job_seconds = 0.2

    async def submit_then_resume():  # a run dies after saving the id; the next picks it up
        first, second = client(name, fake), client(name, fake)
        try:
            task_id = await first.submit_image(image_job(name))
            return await second.resume(task_id)
        finally:
            await first.aclose()
            await second.aclose()

    png = asyncio.run(submit_then_resume())
    assert Image.open(io.BytesIO(png)).size == (fake.width, fake.height) and len(fake.submissions) == 1


@pytest.mark.parametrize("name", ["gemini_image", "seedream"])
def test_an_answer_at_once_has_no_task_to_resume(name, fake):
    provider = client(name, fake)
    with pytest.raises(NotImplementedError, match="answers at once"):
        asyncio.run(provider.resume("anything"))
    asyncio.run(provider.aclose())


def test_prices_are_per_image_and_kling_charges_more_from_references(fake):
    kling = client("kling_image", fake)
    assert kling.estimate_cost(image_job("kling_image")) == DEFAULT_IMAGE_PRICES["kling-v2-1"]
    with_refs = image_job("kling_image", references=(("ANNA", ANNA),))
    assert kling.estimate_cost(with_refs) == DEFAULT_IMAGE_PRICES["kling-v2-1@references"]
    assert client("gemini_image", fake).estimate_cost(image_job("gemini_image")) == 0.039
    asyncio.run(kling.aclose())


def test_every_dial_names_a_priced_model_of_every_provider():
    assert set(IMAGE_MODELS) == set(IMAGE_HOSTED) == set(IMAGE_KEYS)
    assert all(IMAGE_KEYS[name] in HOSTED for name in IMAGE_KEYS)  # the video account whose keys it uses
    for name, models in IMAGE_MODELS.items():
        assert set(models) == set(Quality) and all(model in DEFAULT_IMAGE_PRICES for model in models.values()), name
        assert IMAGE_HOSTED[name].name == name and IMAGE_HOSTED[name].max_reference_images >= 3
    assert all(set(order) == set(IMAGE_HOSTED) for order in IMAGE_PREFERENCE.values())


def test_the_dial_chooses_the_first_preferred_provider_that_is_available():
    assert choose_image_model(Quality.premium, set(IMAGE_HOSTED)) == ("gemini_image", "gemini-3-pro-image-preview")
    assert choose_image_model("draft", set(IMAGE_HOSTED)) == ("seedream", "seedream-4-0-250828")
    assert choose_image_model(Quality.balanced, {"wan_image", "kling_image"}) == ("kling_image", "kling-v2-1")
    assert choose_image_model(Quality.balanced, {"veo3"}) is None


ANNA_B64 = ImageReference("ANNA", ANNA).base64
KITCHEN_B64 = ImageReference("the KITCHEN", KITCHEN).base64
