"""Takes into an episode file, in storyboard order, with the dialogue track (or the
dialogue with a music bed under it, when one was given)."""

from __future__ import annotations

from pathlib import Path

import ffmpeg

from zipx_core.media.ffmpeg import ENCODING, _run, concat_clips, ffmpeg_exe, probe
from zipx_core.models import EpisodeAudio, EpisodeManifest, MusicBed, ShotsManifest, Storyboard
from zipx_core.storage import LocalArtifactStore


class AssemblyError(ValueError):
    pass


def _mux(video: Path, audio: Path, out: Path, subtitles: Path | None) -> None:
    """Video from the joined takes, sound from our track only (dialogue, with the music
    bed when there is one): a model's own soundtrack (HappyHorse, Veo 3) is replaced.
    Copies both streams unless subtitles are burned in, which re-encodes the video."""
    picture = ffmpeg.input(str(video)).video
    sound = ffmpeg.input(str(audio)).audio
    options = {"acodec": "copy", "movflags": "+faststart", "loglevel": "error"}
    if subtitles:
        picture = picture.filter("subtitles", str(subtitles))
        options.update(vcodec=ENCODING.codec, preset=ENCODING.preset, crf=ENCODING.crf, pix_fmt=ENCODING.pix_fmt)
    else:
        options["vcodec"] = "copy"
    _run(ffmpeg.output(picture, sound, str(out), **options).overwrite_output().compile(cmd=ffmpeg_exe()))


def assemble_episode(
    storyboard: Storyboard,
    shots: ShotsManifest,
    store: LocalArtifactStore,
    audio: EpisodeAudio | None = None,
    burn_subtitles: bool = False,
    music: MusicBed | None = None,
) -> EpisodeManifest:
    """`music`: the episode's music bed (audio.music.score_episode); its mix becomes the
    sound, and both stems are listed. Without it the sound is the dialogue track."""
    by_shot = {take.shot_id: take for take in shots.takes}
    missing = [s.shot_id for s in storyboard.shots if s.shot_id not in by_shot]
    if missing:
        raise AssemblyError(f"{storyboard.drama}/{storyboard.episode}: no take for shots {missing[:5]}")
    clips = [store.path(by_shot[s.shot_id].clip_uri) for s in storyboard.shots]
    with store.scratch_dir() as scratch:
        joined = Path(scratch) / "video.mp4"
        method = concat_clips(clips, joined)
        out = joined
        if audio:
            out = Path(scratch) / "episode.mp4"
            subtitles = store.path(audio.subtitles_srt_uri) if burn_subtitles else None
            _mux(joined, store.path(music.mix_uri if music else audio.mix_uri), out, subtitles)
        info = probe(out)
        artifact = store.put_file(out, "episodes", ".mp4")
    return EpisodeManifest(
        drama=storyboard.drama,
        episode=storyboard.episode,
        video_uri=artifact.uri,
        video_sha256=artifact.sha256,
        duration_s=round(info.frames / float(info.fps), 4),
        shot_count=len(clips),
        width=info.width,
        height=info.height,
        codec=info.codec,
        join_method=method if not burn_subtitles else "reencode (burned subtitles)",
        audio_codec="aac" if audio else None,
        loudness_lufs=(music.loudness_lufs if music else audio.loudness_lufs) if audio else None,
        subtitles_srt_uri=audio.subtitles_srt_uri if audio else None,
        subtitles_vtt_uri=audio.subtitles_vtt_uri if audio else None,
        burned_subtitles=bool(audio and burn_subtitles),
        music=music if audio else None,
        stems=_stems(audio, music),
        total_cost_usd=round(sum(t.cost_usd for t in shots.takes), 4),
    )


def _stems(audio: EpisodeAudio | None, music: MusicBed | None) -> dict[str, str]:
    stems = {"dialogue": audio.mix_uri} if audio else {}
    return stems | ({"music": music.stem_uri} if audio and music else {})
