"""Vertical (9:16) episodes and the size the quality dial pays for: the frame per dial and
aspect, each hosted client asking for portrait, the local renderer framing a tall frame,
subtitles placed for a phone, and (against the local protocol server) hosted runs that
deliver the dial's resolution, in 16:9 and in 9:16."""

import asyncio
import shutil
import subprocess

import dagster as dg
import numpy as np
import pysubs2
import pytest

from zipx_core.generation import RenderSettings
from zipx_core.media import encode_frames, probe
from zipx_core.media.assembly import CAPTION_STYLES, _mux, styled_captions
from zipx_core.models import ShotType
from zipx_core.providers import LocalRenderer
from zipx_core.routing import MODELS, Aspect, Quality, frame_size
from tests.core.test_providers import FAST, PROVIDERS, client, job
from tests.providers_server import FakeProviders

# where each client puts the aspect in its request (../shared/PROVIDERS.md)
ASPECT_FIELD = {"veo3": ("parameters", "aspectRatio"), "kling": ("aspect_ratio",), "seedance": ("ratio",),
                "happyhorse": ("parameters", "ratio")}
HAS_FONTS = bool(shutil.which("fc-list")) and bool(subprocess.run(["fc-list"], capture_output=True, text=True).stdout.strip())


def field(body: dict, path: tuple[str, ...]):
    for step in path:
        body = body[step]
    return body


@pytest.mark.parametrize("quality", list(Quality))
def test_the_dial_picks_the_frame_for_each_aspect(quality):
    hosted, local = frame_size(quality, Aspect.landscape, hosted=True), frame_size(quality, Aspect.landscape)
    assert frame_size(quality, Aspect.portrait, hosted=True) == hosted[::-1]
    assert frame_size(quality, Aspect.portrait) == local[::-1] == (360, 640)  # the offline renderer keeps its small default
    assert abs(hosted[0] / hosted[1] - 16 / 9) < 0.01 and hosted[0] % 2 == hosted[1] % 2 == 0  # H.264 wants even sides
    # the hosted frame is the resolution Seedance and HappyHorse are paid for at this dial
    assert hosted[1] == int(MODELS["seedance"][quality][1][:-1]) == int(MODELS["happyhorse"][quality][1][:-1])


def test_render_settings_for_the_dial():
    premium = RenderSettings.for_dial(Quality.premium, Aspect.portrait, hosted=True, fps=25)
    assert (premium.width, premium.height, premium.fps, premium.aspect) == (1080, 1920, 25, Aspect.portrait)
    assert RenderSettings.for_dial(Quality.premium).aspect is Aspect.landscape


@pytest.mark.parametrize("name", PROVIDERS)
def test_each_client_asks_for_portrait_at_the_dials_resolution(name, tmp_path):
    model, resolution = MODELS[name][Quality.premium]
    base = job(name)
    portrait = base.request.model_copy(update={"width": 1080, "height": 1920})
    the_job = type(base)(request=portrait, model=model, duration_s=8 if name == "veo3" else base.duration_s, resolution=resolution)

    async def go():
        provider = client(name, fake)
        try:
            state = await provider.wait(await provider.submit(provider.prepare(the_job)))
            await provider.download(state.video_url, tmp_path / "clip.mp4", provider.prepare(the_job))
        finally:
            await provider.aclose()

    with FakeProviders(width=108, height=192) as fake:
        asyncio.run(go())
    (_, body), = fake.submissions
    assert field(body, ASPECT_FIELD[name]) == "9:16"
    if name == "kling":
        assert body["mode"] == "pro"  # Kling's 1080p is its pro mode; it takes no resolution field
    else:
        assert field(body, {"veo3": ("parameters", "resolution"), "happyhorse": ("parameters", "resolution")}.get(name, ("resolution",))) == resolution
    assert probe(tmp_path / "clip.mp4").height > probe(tmp_path / "clip.mp4").width


@pytest.fixture
def sample_request():
    from zipx_core.models import FigureSpec

    figure = FigureSpec(character_id="mara", skin_tone="#c68642", hair_color="#2b1b12", hair_style="short",
                        top_color="#b03030", bottom_color="#303040", build="average", age_range="30s")
    return job("seedance").request.model_copy(update={"figures": [figure]})


def _figure_columns(image, request) -> tuple[int, int]:
    """The leftmost and rightmost columns showing the figure's coat (its top colour)."""
    coat = tuple(int(request.figures[0].top_color[i:i + 2], 16) for i in (1, 3, 5))
    pixels = np.asarray(image).astype(int)
    columns = np.where((np.abs(pixels - coat).sum(axis=2) < 12).any(axis=0))[0]
    return int(columns.min()), int(columns.max())


@pytest.mark.parametrize("shot_type", [ShotType.MS, ShotType.CU])
def test_the_local_renderer_frames_figures_for_a_tall_frame(shot_type, sample_request):
    request = sample_request.model_copy(update={"shot_type": shot_type, "width": 360, "height": 640})
    image = LocalRenderer().still(request)
    assert image.size == (360, 640)
    left, right = _figure_columns(image, request)
    # the figure stands in the frame: not cut by both sides, and not a sliver either
    assert not (left == 0 and right == 359) and right - left > 0.25 * 360


def test_captions_for_a_phone_are_larger_wrapped_and_above_the_bottom_ui(tmp_path):
    srt = tmp_path / "episode.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nThe tide is turning and the harbour lights are going out one by one.\n")
    wide = pysubs2.load(str(styled_captions(srt, 640, 360, tmp_path / "wide.ass")))
    tall = pysubs2.load(str(styled_captions(srt, 360, 640, tmp_path / "tall.ass")))
    assert tall.styles["Default"].fontsize / 360 > wide.styles["Default"].fontsize / 360  # larger against the width
    assert 0.12 * 640 <= tall.styles["Default"].marginv <= 0.15 * 640
    assert max(map(len, tall[0].plaintext.splitlines())) <= CAPTION_STYLES[Aspect.portrait].chars_per_line
    assert len(tall[0].plaintext.splitlines()) > len(wide[0].plaintext.splitlines())


@pytest.mark.skipif(not HAS_FONTS, reason="no fonts on this machine: libass cannot draw burned-in subtitles")
def test_burned_captions_on_a_portrait_frame_sit_clear_of_the_bottom_ui(tmp_path):
    width, height = 180, 320
    video, sound, srt = tmp_path / "video.mp4", tmp_path / "sound.wav", tmp_path / "episode.srt"
    encode_frames((np.full((height, width, 3), 40, dtype=np.uint8) for _ in range(24)), video, width, height, 24)
    subprocess.run([_ffmpeg(), "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono", "-t", "1",
                    "-c:a", "aac", str(sound.with_suffix(".m4a"))], check=True)
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nIt worked. It actually worked, after all this time!\n")
    out = tmp_path / "out.mp4"
    _mux(video, sound.with_suffix(".m4a"), out, styled_captions(srt, width, height, tmp_path / "c.ass"))
    import av

    with av.open(str(out)) as container:
        frame = next(iter(container.decode(video=0))).to_ndarray(format="rgb24").astype(int)
    rows = np.where((np.abs(frame - 40).max(axis=2) > 60).any(axis=1))[0]
    assert len(rows), "no subtitle drawn"
    assert rows.max() < 0.88 * height  # above the phone apps' bottom bar
    assert rows.min() > 0.5 * height  # still in the lower part of the picture


def _ffmpeg() -> str:
    from zipx_core.media.ffmpeg import ffmpeg_exe

    return ffmpeg_exe()


def test_render_config_takes_the_dials_size_hosted_and_keeps_the_small_default_offline():
    from zipx_dagster.resources import Generation, RenderConfig

    premium_hosted = Generation(quality=Quality.premium, ark_api_key="key")
    assert RenderConfig().frame(premium_hosted) == (1920, 1080)
    assert RenderConfig(aspect=Aspect.portrait).frame(premium_hosted) == (1080, 1920)
    assert RenderConfig(aspect=Aspect.portrait).frame(Generation(quality=Quality.premium)) == (360, 640)  # no keys: local
    assert RenderConfig(width=160, height=90).frame(premium_hosted) == (160, 90)  # a forced size wins


def _hosted_episode(tmp_path, monkeypatch, quality: Quality, aspect: Aspect, fake: FakeProviders):
    """The lab scene through drama_job and episode_job on all four hosted models (the local server)."""
    from tests.dagster.test_hosted import ENV
    from tests.dagster.test_review import SCRIPT
    from zipx_dagster.definitions import build_definitions
    from zipx_dagster.demo import register_drama
    from zipx_dagster.partitions import drama_episode_key
    from zipx_dagster.resources import Generation, RenderConfig

    for variable, value in ENV.items():
        monkeypatch.setenv(variable, value)
    generation = Generation(
        quality=quality, gemini_api_key=dg.EnvVar("GEMINI_API_KEY"), kling_access_key=dg.EnvVar("KLING_ACCESS_KEY"),
        kling_secret_key=dg.EnvVar("KLING_SECRET_KEY"), ark_api_key=dg.EnvVar("ARK_API_KEY"),
        dashscope_api_key=dg.EnvVar("DASHSCOPE_API_KEY"),
        base_urls={"veo3": f"{fake.url}/v1beta", "kling": fake.url, "seedance": fake.url, "happyhorse": fake.url},
        download_hosts={name: ["127.0.0.1"] for name in ASPECT_FIELD}, allow_private_hosts=True, auto_approve_stills=True,
    )
    defs = build_definitions(tmp_path, RenderConfig(aspect=aspect), generation=generation)
    script = tmp_path / "lab.fountain"
    script.write_text(SCRIPT)
    with dg.instance_for_test() as instance:
        register_drama(instance, script, tmp_path / "inbox")
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success
        result = defs.resolve_job_def("episode_job").execute_in_process(instance=instance, partition_key=drama_episode_key("lab", "ep01"))
        assert result.success
        return result.output_for_node("episode")


@pytest.mark.slow
def test_a_premium_hosted_run_delivers_the_resolution_paid_for(tmp_path, monkeypatch):
    # the models answer at 1080p; before, the episode came out at the offline 640x360
    with FakeProviders(width=1920, height=1080) as fake:
        episode = _hosted_episode(tmp_path, monkeypatch, Quality.premium, Aspect.landscape, fake)
    assert (episode.width, episode.height) == (1920, 1080)
    paid = {name: body.get("mode") or body.get("resolution") or body["parameters"]["resolution"]
            for name, body in fake.submissions if name in ASPECT_FIELD}
    assert paid and set(paid.values()) <= {"1080p", "1080P", "pro"}  # every model asked for 1080p (Kling: pro mode)


@pytest.mark.slow
def test_a_vertical_run_asks_every_model_for_portrait_and_delivers_a_portrait_episode(tmp_path, monkeypatch):
    with FakeProviders(width=480, height=854) as fake:
        episode = _hosted_episode(tmp_path, monkeypatch, Quality.draft, Aspect.portrait, fake)
    assert (episode.width, episode.height) == (480, 854)
    videos = [(name, body) for name, body in fake.submissions if name in ASPECT_FIELD]
    assert videos and {field(body, ASPECT_FIELD[name]) for name, body in videos} == {"9:16"}
