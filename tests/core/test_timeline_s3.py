"""An episode's timeline on an S3 store: the exports name the media where they live
(s3://bucket/key), never this machine's cache, and an OTIOZ bundle carries the media so
the cut opens on another machine."""

import opentimelineio as otio
import pytest

from zipx_core.audio import apply_speech_timing, voice_episode
from zipx_core.generation import RenderSettings, generate_shots
from zipx_core.media.timeline import build_timeline, export_timeline
from zipx_core.storage import S3ArtifactStore, file_sha256
from zipx_core.storyboard import plan_episode
from tests.s3server import S3Server


@pytest.fixture(scope="module")
def exported(tmp_path_factory, sample_script, sample_bibles):
    folder = tmp_path_factory.mktemp("timeline_s3")
    server = S3Server(folder / "s3").start()
    try:
        store = S3ArtifactStore(server.client(), "zipx", prefix="studio", cache_root=folder / "worker-cache")
        board = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
        board = board.model_copy(update={"shots": [s for s in board.shots if s.scene_number <= 1]})
        audio = voice_episode(board, sample_bibles, store)
        timed = apply_speech_timing(board, audio)
        takes = generate_shots(timed, sample_bibles, store, RenderSettings(width=192, height=108, workers=2))
        export = export_timeline(build_timeline(timed, takes, store, audio), store)
        # another machine: a store with an empty cache reads what the worker wrote
        yield S3ArtifactStore(server.client(), "zipx", prefix="studio", cache_root=folder / "laptop-cache"), export, takes, folder
    finally:
        server.stop()


def test_exports_name_the_media_on_s3_not_a_machines_cache(exported):
    store, export, takes, folder = exported
    assert {"fcp_xml", "edl", "capcut", "otioz"} <= set(export.exports), export.failures
    timeline = otio.adapters.read_from_file(str(store.path(export.otio_uri)))
    urls = [clip.media_reference.target_url for clip in timeline.find_clips()]
    assert urls and all(url.startswith("s3://zipx/studio/") for url in urls)
    assert [u for u in urls if "clips/" in u] == [store.location(t.clip_uri) for t in takes.takes]
    assert timeline.metadata["zipx"]["subtitles_srt"].startswith("s3://zipx/studio/")
    for name in ("fcp_xml", "edl"):
        text = store.path(export.exports[name]).read_text(errors="replace")
        assert "worker-cache" not in text and "file://" not in text, name


def test_the_otioz_bundle_opens_elsewhere_with_its_media(exported):
    store, export, takes, folder = exported
    unpacked = folder / "unpacked"
    unpacked.mkdir()
    timeline = otio.adapters.read_from_file(str(store.path(export.exports["otioz"])), extract_to_directory=str(unpacked))
    clips = [c for c in timeline.find_clips() if "clips" in c.media_reference.metadata["zipx"]["uri"]]
    assert len(clips) == len(takes.takes)
    for clip, take in zip(clips, takes.takes):
        media = unpacked / clip.media_reference.target_url
        assert media.is_file() and file_sha256(media) == take.clip_sha256  # the very clip, inside the bundle
