"""An editable timeline per episode, so the cut opens in an editor.

OpenTimelineIO builds it: a video track of the shot clips with their source ranges, an
audio track of the dialogue lines at their places, and a marker on every shot awaiting
review. The .otio file is always written; FCP 7 XML and CMX 3600 EDL go through OTIO's
adapters (otio-fcp-adapter, otio-cmx3600-adapter), the CapCut / Jianying draft through
pyJianYingDraft (zipx_core.media.capcut, one zip of the draft folder with its media), and
a format that fails is reported, not fatal.

Media are named where they live: a file on a laptop's store, `s3://bucket/key` on S3
(never the path of one machine's cache). On S3 the cut also ships as an OTIOZ bundle
(OTIO's zip with the media inside), which opens on any machine.
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
    store,
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
                target_url=store.location(take.clip_uri),
                metadata={"zipx": {"uri": take.clip_uri}},
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
        timeline.metadata["zipx"] = {"subtitles_srt": store.location(audio.subtitles_srt_uri), "subtitles_uri": audio.subtitles_srt_uri}
        timeline.tracks.append(_dialogue_track(audio, store, fps))
    return timeline


def _export_capcut(timeline: otio.schema.Timeline, store, folder: Path, music: Path | None) -> str:
    srt = timeline.metadata.get("zipx", {}).get("subtitles_srt")
    subtitles = Path(otio.url_utils.filepath_from_url(srt)) if srt else None
    draft = write_capcut_draft(timeline, folder / "capcut", subtitles, music)
    archive = shutil.make_archive(str(folder / "capcut_draft"), "zip", root_dir=draft.parent, base_dir=draft.name)
    return store.put_file(Path(archive), "timelines", ".zip").uri


def _dialogue_track(audio: EpisodeAudio, store, fps: int) -> otio.schema.Track:
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
                media_reference=otio.schema.ExternalReference(target_url=store.location(line.speech_uri), available_range=span,
                                                              metadata={"zipx": {"uri": line.speech_uri}}),
                source_range=span,
            )
        )
        cursor = start + length
    return dialogue


def with_local_media(timeline: otio.schema.Timeline, store) -> otio.schema.Timeline:
    """A copy whose media are this machine's copies (fetched from S3 if need be): what the
    CapCut draft and the OTIOZ bundle copy in."""
    local = timeline.deepcopy()
    for clip in local.find_clips():
        uri = clip.media_reference.metadata.get("zipx", {}).get("uri")
        if uri:
            clip.media_reference.target_url = store.path(uri).as_uri()
    zipx = local.metadata.get("zipx", {})
    if "subtitles_uri" in zipx:
        zipx["subtitles_srt"] = store.path(zipx["subtitles_uri"]).as_uri()
    return local


def export_timeline(timeline: otio.schema.Timeline, store, music: Path | None = None) -> TimelineExport:
    """Writes every format; `music` (a music bed) goes into the CapCut draft on its own track."""
    exports, failures = {}, {}
    bundles = {"capcut": lambda folder, local: _export_capcut(local, store, folder, music)}
    if not isinstance(store, LocalArtifactStore):  # the media are elsewhere: one file that carries them
        bundles["otioz"] = lambda folder, local: _export_otioz(local, store, folder)
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
        for name, export in bundles.items():
            try:
                exports[name] = export(folder, with_local_media(timeline, store))
            except Exception as error:  # a clip missing or the library cannot read, a track it refuses
                failures[name] = f"{type(error).__name__}: {error}"[:300]
    return TimelineExport(otio_uri=otio_uri, exports=exports, failures=failures)


def _export_otioz(local: otio.schema.Timeline, store, folder: Path) -> str:
    path = folder / "episode.otioz"
    otio.adapters.write_to_file(local, str(path))
    return store.put_file(path, "timelines", ".otioz").uri
