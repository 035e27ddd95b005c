"""The local renderer, the store and assembly, on real H.264 files."""

import numpy as np
import av
import pytest

from zipx_core.generation import RenderSettings, generate_shots, request_hash
from zipx_core.media import MediaError, concat_clips, probe
from zipx_core.media.assembly import assemble_episode
from zipx_core.models import ShotType
from zipx_core.prompting import build_request
from zipx_core.providers import LocalRenderer
from zipx_core.storage import LocalArtifactStore, StorageError
from zipx_core.storyboard import plan_episode

SMALL = RenderSettings(width=192, height=108, fps=24, workers=2)


def _frames(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _share_of(colour_hex, frame, tolerance=18):
    colour = np.array([int(colour_hex[i : i + 2], 16) for i in (1, 3, 5)])
    return float((np.abs(frame.astype(int) - colour).max(axis=2) < tolerance).mean())


@pytest.fixture(scope="module")
def board(sample_script, sample_bibles):
    return plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")


def test_render_is_deterministic_and_timed(tmp_path, board, sample_bibles):
    request = build_request(board.shots[4], sample_bibles, SMALL.width, SMALL.height)
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    frames = LocalRenderer().render(request, a).frames
    LocalRenderer().render(request, b)
    assert frames == round(request.duration_s * 24)
    info = probe(a)
    assert (info.codec, info.width, info.height, info.pix_fmt, info.frames) == ("h264", 192, 108, "yuv420p", frames)
    assert a.read_bytes() == b.read_bytes()


def test_framing_follows_shot_type(tmp_path, board, sample_bibles):
    """A close-up fills the frame with the face; an establishing shot shows small figures."""
    wide = next(s for s in board.shots if s.shot_type == ShotType.ELS and s.characters)
    close = next(s for s in board.shots if s.shot_type == ShotType.CU and s.characters == [wide.characters[0]])
    skin = sample_bibles.character(close.characters[0]).appearance.skin_tone
    shares = {}
    for shot in (wide, close):
        path = tmp_path / f"{shot.shot_id}.mp4"
        LocalRenderer().render(build_request(shot, sample_bibles, 320, 180), path)
        shares[shot.shot_type] = _share_of(skin, _frames(path)[0])
    assert shares[ShotType.CU] > 0.05
    assert shares[ShotType.CU] > 4 * shares[ShotType.ELS]


def test_wardrobe_colour_is_drawn(tmp_path, board, sample_bibles):
    shot = next(s for s in board.shots if s.shot_type == ShotType.MS and s.characters == ["ava"])
    path = tmp_path / "ava.mp4"
    LocalRenderer().render(build_request(shot, sample_bibles, 320, 180), path)
    assert _share_of("#e0bd3a", _frames(path)[0]) > 0.05  # the yellow slicker


def test_store_is_content_addressed_and_safe(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    first, second = tmp_path / "x.bin", tmp_path / "y.bin"
    first.write_bytes(b"same bytes")
    second.write_bytes(b"same bytes")
    a, b = store.put_file(first, "clips", ".mp4"), store.put_file(second, "clips", ".mp4")
    assert a == b and store.path(a.uri).read_bytes() == b"same bytes"
    for bad in ("zipx://../../etc/passwd", "file:///etc/passwd", "zipx://clips/aa/" + "0" * 63 + "/.."):
        with pytest.raises(StorageError):
            store.path(bad)
    with pytest.raises(StorageError):
        store.put_record("takes", "../escape", {})


def test_generation_reuses_finished_requests(tmp_path, board, sample_bibles):
    store = LocalArtifactStore(tmp_path / "store")
    short = board.model_copy(update={"shots": board.shots[:4]})
    calls = []

    class CountingRenderer(LocalRenderer):
        def render(self, request, out, attempt=1):
            calls.append(request.shot_id)
            return super().render(request, out, attempt)

    first = generate_shots(short, sample_bibles, store, SMALL, renderer=CountingRenderer())
    again = generate_shots(short, sample_bibles, store, SMALL, renderer=CountingRenderer())
    assert len(calls) == 4 and first == again
    request = build_request(short.shots[0], sample_bibles, SMALL.width, SMALL.height)
    assert first.takes[0].request_hash == request_hash("local", "zipx-local-1", request)


def test_episode_is_the_shots_in_order_without_reencoding(tmp_path, board, sample_bibles):
    store = LocalArtifactStore(tmp_path / "store")
    short = board.model_copy(update={"shots": board.shots[:6]})
    takes = generate_shots(short, sample_bibles, store, SMALL)
    episode = assemble_episode(short, takes, store)
    path = store.path(episode.video_uri)
    info = probe(path)
    assert episode.join_method == "copy"
    assert info.frames == sum(t.frames for t in takes.takes)
    assert abs(episode.duration_s - sum(s.duration_s for s in short.shots)) <= 1 / 24 * len(short.shots)
    with open(path, "rb") as handle:  # faststart: the index (moov) comes before the media (mdat)
        head = handle.read(4096)
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))


def test_mismatched_clips_are_reencoded(tmp_path, board, sample_bibles):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    LocalRenderer().render(build_request(board.shots[0], sample_bibles, 192, 108), a)
    LocalRenderer().render(build_request(board.shots[1], sample_bibles, 320, 180), b)
    out = tmp_path / "joined.mp4"
    assert concat_clips([a, b], out) == "reencode"
    info = probe(out)
    assert (info.width, info.height) == (192, 108)
    assert info.frames == probe(a).frames + probe(b).frames


def test_probe_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 10)
    with pytest.raises(MediaError, match="not a readable video"):
        probe(broken)
