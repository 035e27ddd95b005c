"""An editable timeline per episode, so the cut opens in an editor.

OpenTimelineIO builds it: a video track of the shot clips with their source ranges, an
audio track of the dialogue lines at their places, and a marker on every shot awaiting
review. The .otio file is always written; FCP 7 XML and CMX 3600 EDL go through OTIO's
adapters (otio-fcp-adapter, otio-cmx3600-adapter), the CapCut / Jianying draft through
pyJianYingDraft (zipx_core.media.capcut, one zip of the draft folder with its media), and
a format that fails is reported, not fatal.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import opentimelineio as otio

from zipx_core.media.capcut import write_capcut_draft
from zipx_core.models import EpisodeAudio, ShotsManifest, Storyboard, TimelineExport
from zipx_core.storage import LocalArtifactStore

ADAPTERS = {"fcp_xml": ("fcp_xml", ".xml"), "edl": ("cmx_3600", ".edl")}


def build_timeline(
    storyboard: Storyboard,
    shots: ShotsManifest,
    store: LocalArtifactStore,
    audio: EpisodeAudio | None = None,
    awaiting_review: set[str] = frozenset(),
    fps: int = 24,
) -> otio.schema.Timeline:
    timeline = otio.schema.Timeline(name=f"{storyboard.drama} {storyboard.episode}: {storyboard.title}")
    timeline.global_start_time = otio.opentime.RationalTime(0, fps)
    video = otio.schema.Track(name="shots", kind=otio.schema.TrackKind.Video)
    takes = {t.shot_id: t for t in shots.takes}
    for shot in storyboard.shots:
        take = takes[shot.shot_id]
        clip = otio.schema.Clip(
            name=shot.shot_id,
            media_reference=otio.schema.ExternalReference(
                target_url=store.path(take.clip_uri).as_uri(),
                available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps), otio.opentime.RationalTime(take.frames, fps)),
            ),
            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps), otio.opentime.RationalTime(take.frames, fps)),
            metadata={"zipx": {"shot_type": shot.shot_type.value, "route": shot.route, "provider": take.provider}},
        )
        if shot.shot_id in awaiting_review:
            clip.markers.append(
                otio.schema.Marker(
                    name="awaiting review",
                    marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps), otio.opentime.RationalTime(1, fps)),
                    color=otio.schema.MarkerColor.RED,
                )
            )
        video.append(clip)
    timeline.tracks.append(video)
    if audio:  # OTIO has no subtitle track: the SRT rides along for the editors that take one
        timeline.metadata["zipx"] = {"subtitles_srt": store.path(audio.subtitles_srt_uri).as_uri()}
        dialogue = otio.schema.Track(name="dialogue", kind=otio.schema.TrackKind.Audio)
        cursor = 0
        rate = fps  # editors count in frames (FCP XML takes no 48 kHz timecode); values keep fractions
        for line in audio.lines:
            start, length = line.start_s * rate, line.duration_s * rate
            span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(length, rate))
            if start > cursor:
                dialogue.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(start - cursor, rate))))
            dialogue.append(
                otio.schema.Clip(
                    name=f"{line.character_id}: {line.text[:40]}",
                    media_reference=otio.schema.ExternalReference(target_url=store.path(line.speech_uri).as_uri(), available_range=span),
                    source_range=span,
                )
            )
            cursor = start + length
        timeline.tracks.append(dialogue)
    return timeline


def _export_capcut(timeline: otio.schema.Timeline, store: LocalArtifactStore, folder: Path, music: Path | None) -> str:
    srt = timeline.metadata.get("zipx", {}).get("subtitles_srt")
    subtitles = Path(otio.url_utils.filepath_from_url(srt)) if srt else None
    draft = write_capcut_draft(timeline, folder / "capcut", subtitles, music)
    archive = shutil.make_archive(str(folder / "capcut_draft"), "zip", root_dir=draft.parent, base_dir=draft.name)
    return store.put_file(Path(archive), "timelines", ".zip").uri


def export_timeline(timeline: otio.schema.Timeline, store: LocalArtifactStore, music: Path | None = None) -> TimelineExport:
    """Writes every format; `music` (a music bed) goes into the CapCut draft on its own track."""
    exports, failures = {}, {}
    with store.scratch_dir() as scratch:
        folder = Path(scratch)
        otio.adapters.write_to_file(timeline, str(folder / "episode.otio"))
        otio_uri = store.put_file(folder / "episode.otio", "timelines", ".otio").uri
        for name, (adapter, suffix) in ADAPTERS.items():
            path = folder / f"episode{suffix}"
            try:
                otio.adapters.write_to_file(timeline, str(path), adapter_name=adapter)
                exports[name] = store.put_file(path, "timelines", suffix).uri
            except Exception as error:  # an adapter's own limits (e.g. EDL: one video track)
                failures[name] = f"{type(error).__name__}: {error}"[:300]
        try:
            exports["capcut"] = _export_capcut(timeline, store, folder, music)
        except Exception as error:  # a clip the library cannot read, a track it refuses
            failures["capcut"] = f"{type(error).__name__}: {error}"[:300]
    return TimelineExport(otio_uri=otio_uri, exports=exports, failures=failures)
