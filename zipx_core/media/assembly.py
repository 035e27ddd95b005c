"""Takes into an episode file, in storyboard order, with the dialogue track (or the
dialogue with a music bed under it, when one was given)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import pysubs2

from zipx_core.media.ffmpeg import ENCODING, _run, concat_clips, ffmpeg_exe, probe
from zipx_core.models import EpisodeAudio, EpisodeManifest, MusicBed, ShotsManifest, Storyboard
from zipx_core.routing import Aspect
from zipx_core.storage import LocalArtifactStore


class AssemblyError(ValueError):
    pass


@dataclass(frozen=True)
class CaptionStyle:
    """Burned-in subtitles, in shares of the frame so they read the same at every size."""

    font: float  # font size, share of the frame's short side
    margin_v: float  # bottom margin, share of the height
    margin_h: float  # left and right margins, share of the width
    chars_per_line: int


# 16:9: about libass's own default look (font 20 at 288 lines: 7 %; two lines of at most
# 42 characters, the broadcast subtitling norm). 9:16, for a phone: a larger font (7.5 %
# of the width), lines of at most 22 characters, and the text held 14 % of the height
# above the bottom, clear of the caption, buttons and progress bar the phone apps draw
# over the lowest 12-15 % of a vertical video.
CAPTION_STYLES = {
    Aspect.landscape: CaptionStyle(font=0.065, margin_v=0.05, margin_h=0.05, chars_per_line=42),
    Aspect.portrait: CaptionStyle(font=0.075, margin_v=0.14, margin_h=0.06, chars_per_line=22),
}


def styled_captions(srt: Path, width: int, height: int, out: Path) -> Path:
    """The subtitles as ASS for burning in, sized, placed and wrapped for the frame."""
    style = CAPTION_STYLES[Aspect.landscape if width >= height else Aspect.portrait]
    subs = pysubs2.load(str(srt))
    subs.info.update(PlayResX=str(width), PlayResY=str(height), ScaledBorderAndShadow="yes")
    font = max(8, round(style.font * min(width, height)))
    subs.styles["Default"] = pysubs2.SSAStyle(
        fontsize=font, outline=max(1, round(font / 12)), shadow=0, marginv=round(style.margin_v * height),
        marginl=round(style.margin_h * width), marginr=round(style.margin_h * width))
    for event in subs:
        event.text = r"\N".join(textwrap.wrap(event.plaintext, style.chars_per_line)) or event.text
    subs.save(str(out), format_="ass")
    return out


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
            subtitles = None
            if burn_subtitles:
                frame = probe(joined)
                subtitles = styled_captions(store.path(audio.subtitles_srt_uri), frame.width, frame.height,
                                            Path(scratch) / "captions.ass")
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
