"""CapCut / Jianying (剪映) drafts of an episode's timeline, written by pyJianYingDraft.

The draft mirrors the OTIO timeline: each video track becomes a video track (its clips at
their timeline positions, their own sound muted, as in the episode), each audio track an
audio track (the dialogue lines), then an optional music bed and the subtitles (the SRT,
through the library's own importer) as text segments.

A draft is a folder: `draft_content.json` (and the same as `draft_info.json`, the name
Jianying 6+ and newer CapCut read), `draft_meta_info.json`, and the media copied into
`assets/video` and `assets/audio`. Editors accept no relative media paths; the draft
writes them under the draft-folder placeholder, which Jianying and CapCut resolve to the
folder the draft sits in, and `relink_draft` writes absolute paths for an editor that
does not.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path

import opentimelineio as otio
import pyJianYingDraft as draft

DRAFT_FOLDER_PLACEHOLDER = "##_draftpath_placeholder_0E685133-18CE-45ED-8CB8-2904A212EC80_##"
SECOND_US = 1_000_000


def _microseconds(time: otio.opentime.RationalTime) -> int:
    return round(time.to_seconds() * SECOND_US)


def draft_name(title: str) -> str:
    """A folder name every file system takes (no `:` on Windows)."""
    return " ".join(re.sub(r'[<>:"/\\|?*\x00-\x1f]+', " ", title).split()).strip(". ") or "zipx"


class _Media:
    """Copies each media file into the draft once and gives its material."""

    def __init__(self, folder: Path):
        self.folder, self.materials = folder, {}

    def material(self, url: str, name: str, video: bool):
        source = Path(otio.url_utils.filepath_from_url(url))
        if source not in self.materials:
            target = self.folder / "assets" / ("video" if video else "audio") / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            kind = draft.VideoMaterial if video else draft.AudioMaterial
            self.materials[source] = kind(str(target), material_name=name)
        return self.materials[source]


def _add_track(script: draft.ScriptFile, track: otio.schema.Track, name: str, media: _Media) -> None:
    video = track.kind == otio.schema.TrackKind.Video
    script.append_track(draft.TrackSpec(draft.TrackType.video if video else draft.TrackType.audio, name))
    for clip in track.find_clips(shallow_search=True):
        span = clip.range_in_parent()
        start, end = _microseconds(span.start_time), _microseconds(span.end_time_exclusive())
        material = media.material(clip.media_reference.target_url, clip.name, video)
        place = draft.Timerange(start, min(end - start, material.duration))
        # a model's own soundtrack is replaced in the episode, so it is muted here too
        segment = draft.VideoSegment(material, place, volume=0.0) if video else draft.AudioSegment(material, place)
        script.add_segment(segment, name)


def _write_meta(folder: Path, name: str, draft_id: str, duration_us: int) -> None:
    path = folder / "draft_meta_info.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta.update(draft_id=draft_id, draft_name=name, tm_duration=duration_us)
    path.write_text(json.dumps(meta, ensure_ascii=False, indent=4), encoding="utf-8")


def write_capcut_draft(
    timeline: otio.schema.Timeline, folder: Path, subtitles: Path | None = None, music: Path | None = None
) -> Path:
    """Writes the draft folder into `folder` and returns it."""
    folder, name = Path(folder).resolve(), draft_name(timeline.name)
    folder.mkdir(parents=True, exist_ok=True)
    fps = round(timeline.global_start_time.rate) if timeline.global_start_time else 24
    script = draft.DraftFolder(str(folder)).create_draft(name, 1920, 1080, fps=fps, allow_replace=True)
    media = _Media(folder / name)
    for index, track in enumerate(timeline.tracks):
        _add_track(script, track, track.name or f"{track.kind.lower()} {index + 1}", media)
    if music:
        bed = media.material(Path(music).resolve().as_uri(), "music", video=False)
        script.append_track(draft.TrackSpec(draft.TrackType.audio, "music"))
        script.add_segment(draft.AudioSegment(bed, draft.Timerange(0, min(bed.duration, script.duration))), "music")
    if subtitles:
        script.import_srt(str(subtitles), "subtitles")
    if script.materials.videos:
        script.width, script.height = script.materials.videos[0].width, script.materials.videos[0].height
    for material in script.materials.videos + script.materials.audios:  # segments hold copies of the materials
        material.path = f"{DRAFT_FOLDER_PLACEHOLDER}/{Path(material.path).relative_to(folder / name).as_posix()}"
        material.local_material_id = material.material_id  # Jianying 5.9+ finds media by it (empty for videos)
    draft_id = str(uuid.uuid4()).upper()
    script.content.update(id=draft_id, name=name)
    script.save()
    shutil.copyfile(folder / name / "draft_content.json", folder / name / "draft_info.json")
    _write_meta(folder / name, name, draft_id, script.duration)
    return folder / name


def relink_draft(folder: Path) -> None:
    """Points the draft's media at absolute paths inside `folder`, where it lies now."""
    for file in ("draft_content.json", "draft_info.json"):
        path = Path(folder) / file
        if path.exists():
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace(DRAFT_FOLDER_PLACEHOLDER, Path(folder).resolve().as_posix()), encoding="utf-8")
