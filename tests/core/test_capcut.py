"""The CapCut / Jianying draft, read back: its own JSON and pyJianYingDraft's loader."""

import json
import shutil
import subprocess
import zipfile

import opentimelineio as otio
import pyJianYingDraft as draft
import pysubs2
import pytest

from zipx_core.audio import apply_speech_timing, voice_episode
from zipx_core.generation import RenderSettings, generate_shots
from zipx_core.media import ffmpeg_exe
from zipx_core.media.capcut import DRAFT_FOLDER_PLACEHOLDER, relink_draft
from zipx_core.media.timeline import build_timeline, export_timeline
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode

FRAME_US = 1_000_000 / 24


@pytest.fixture(scope="module")
def exported(tmp_path_factory, sample_script, sample_bibles):
    """The first scene of the sample's episode 1, voiced and rendered, exported with a music bed."""
    folder = tmp_path_factory.mktemp("capcut")
    store = LocalArtifactStore(folder / "store")
    board = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    board = board.model_copy(update={"shots": [s for s in board.shots if s.scene_number <= 1]})
    audio = voice_episode(board, sample_bibles, store)
    timed = apply_speech_timing(board, audio)
    takes = generate_shots(timed, sample_bibles, store, RenderSettings(width=192, height=108, workers=2))
    music = folder / "bed.wav"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=60",
                    "-ar", "48000", str(music)], check=True)
    export = export_timeline(build_timeline(timed, takes, store, audio), store, music=music)
    assert "capcut" in export.exports, export.failures
    with zipfile.ZipFile(store.path(export.exports["capcut"])) as archive:
        archive.extractall(folder / "drafts")
    (root,) = (folder / "drafts").iterdir()
    return export, root, takes, audio, store


def _tracks(content, kind):
    return [t for t in content["tracks"] if t["type"] == kind]


def test_draft_is_a_self_contained_folder(exported):
    export, root, takes, audio, store = exported
    assert export.failures == {} and {"capcut", "fcp_xml", "edl"} <= set(export.exports)
    assert root.name.startswith("harbour_lights ep01") and ":" not in root.name  # a name Windows takes
    for name in ("draft_content.json", "draft_info.json", "draft_meta_info.json"):
        assert (root / name).is_file()
    content = json.loads((root / "draft_content.json").read_text(encoding="utf-8"))
    assert (root / "draft_info.json").read_text(encoding="utf-8") == (root / "draft_content.json").read_text(encoding="utf-8")
    meta = json.loads((root / "draft_meta_info.json").read_text(encoding="utf-8"))
    assert meta["draft_id"] == content["id"] and meta["draft_name"] == root.name and meta["tm_duration"] == content["duration"]
    media = content["materials"]["videos"] + content["materials"]["audios"]
    assert len(content["materials"]["videos"]) == len({t.clip_uri for t in takes.takes})
    for material in media:
        assert material["path"].startswith(DRAFT_FOLDER_PLACEHOLDER + "/assets/")
        assert (root / material["path"].removeprefix(DRAFT_FOLDER_PLACEHOLDER + "/")).is_file()
    assert (content["canvas_config"]["width"], content["canvas_config"]["height"], content["fps"]) == (192, 108, 24)


def test_clips_dialogue_music_and_subtitles_are_on_their_tracks(exported):
    export, root, takes, audio, store = exported
    content = json.loads((root / "draft_content.json").read_text(encoding="utf-8"))
    (video,) = _tracks(content, "video")
    starts, position = [], 0
    for take in takes.takes:
        starts.append((position, take.frames))
        position += take.frames
    placed = [(s["target_timerange"]["start"], s["target_timerange"]["duration"]) for s in video["segments"]]
    assert len(placed) == len(takes.takes)
    for (start, duration), (frame, frames) in zip(placed, starts):
        assert abs(start - frame * FRAME_US) < 1 and abs(duration - frames * FRAME_US) < FRAME_US
    assert {s["volume"] for s in video["segments"]} == {0.0}  # the model's own soundtrack stays muted
    dialogue, music = sorted(_tracks(content, "audio"), key=lambda t: t["name"])
    assert (dialogue["name"], music["name"]) == ("dialogue", "music")
    lines = [(s["target_timerange"]["start"], s["target_timerange"]["duration"]) for s in dialogue["segments"]]
    assert len(lines) == len(audio.lines) > 0
    for (start, duration), line in zip(lines, audio.lines):
        assert abs(start - line.start_s * 1e6) < FRAME_US and abs(duration - line.duration_s * 1e6) < FRAME_US
    (bed,) = music["segments"]
    assert bed["target_timerange"] == {"start": 0, "duration": content["duration"]}
    (text,) = _tracks(content, "text")
    subs = pysubs2.load(str(store.path(audio.subtitles_srt_uri)))
    texts = {m["id"]: json.loads(m["content"])["text"] for m in content["materials"]["texts"]}
    assert [texts[s["material_id"]] for s in text["segments"]] == [e.plaintext for e in subs]
    assert [round(s["target_timerange"]["start"] / 1000) for s in text["segments"]] == [e.start for e in subs]


def test_the_library_loads_the_draft_back(exported):
    export, root, takes, audio, store = exported
    script = draft.DraftFolder(str(root.parent)).load_template(root.name)
    assert (script.width, script.height, script.fps) == (192, 108, 24)
    video = script.get_imported_track(draft.TrackType.video, name="shots")
    assert len(video.segments) == len(takes.takes)
    assert len(script.get_imported_track(draft.TrackType.audio, name="dialogue").segments) == len(audio.lines)
    assert len(script.get_imported_track(draft.TrackType.audio, name="music").segments) == 1
    assert len(script.get_imported_track(draft.TrackType.text, name="subtitles").segments) == len(audio.lines)


def test_relink_points_the_media_at_the_folder(exported, tmp_path):
    export, root, takes, audio, store = exported
    moved = tmp_path / root.name
    shutil.copytree(root, moved)
    relink_draft(moved)
    for name in ("draft_content.json", "draft_info.json"):
        content = json.loads((moved / name).read_text(encoding="utf-8"))
        paths = [m["path"] for m in content["materials"]["videos"] + content["materials"]["audios"]]
        assert paths and all(p.startswith(moved.resolve().as_posix() + "/assets/") for p in paths)
        assert all((moved / p.split(moved.name + "/", 1)[1]).is_file() for p in paths)


def test_a_draft_that_cannot_be_written_is_a_failure_not_an_error(exported, tmp_path):
    export, root, takes, audio, store = exported
    timeline = otio.adapters.read_from_file(str(store.path(export.otio_uri)))
    missing = tmp_path / "nowhere.mp4"
    reference = next(iter(timeline.find_clips())).media_reference
    reference.target_url = missing.as_uri()
    reference.metadata["zipx"]["uri"] = "zipx://clips/00/" + "0" * 64 + ".mp4"  # an artifact the store has not
    result = export_timeline(timeline, store)
    assert "capcut" in result.failures and "capcut" not in result.exports
    assert {"fcp_xml", "edl"} <= set(result.exports)
