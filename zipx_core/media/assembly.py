"""Takes into an episode file, in storyboard order, with the dialogue track (or the
dialogue with a music bed under it, when one was given).

A natively voiced take (the model spoke the line; its clip kept that sound) plays its own
sound over its span instead of the dialogue track: the dialogue stem is muted there and
the take's sound laid in, brought to the dialogue's loudness target; the music stem, if
any, goes back under it and the sum is mastered to the target as score_episode does. The
pictures join as before (by copy: no clip's sound rides along). Without voiced takes the
track is the dialogue mix (or the music mix) as it was made."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import pysubs2

from zipx_core.audio.dialogue import AudioSettings
from zipx_core.audio.music import _master
from zipx_core.media.ffmpeg import ENCODING, _run, concat_clips, ffmpeg_exe, integrated_loudness, probe
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


@dataclass(frozen=True)
class VoicedSpan:
    """Where a natively voiced take plays its own sound in the episode."""

    start_s: float
    duration_s: float
    clip: Path


def voiced_spans(clips: list[Path], durations: list[float]) -> list[VoicedSpan]:
    """The clips that kept their sound (natively voiced takes; every other clip is silent), placed in the episode."""
    spans, at = [], 0.0
    for clip, seconds in zip(clips, durations):
        if probe(clip).has_audio:
            spans.append(VoicedSpan(at, seconds, clip))
        at += seconds
    return spans


STEREO = "aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo"


def _voiced_dialogue(dialogue: Path, spans: list[VoicedSpan], duration_s: float, out: Path, settings: AudioSettings) -> None:
    """The dialogue stem muted over each voiced span, with that take's own sound laid in at
    the dialogue's loudness target (one gain per take), as 48 kHz stereo."""
    muted = "+".join(f"between(t,{s.start_s:.4f},{s.start_s + s.duration_s:.4f})" for s in spans)
    graph = [f"[0:a]{STEREO},apad,atrim=0:{duration_s:.4f},volume=0:enable='{muted}'[d]"]
    inputs = ["-i", str(dialogue)]
    for i, span in enumerate(spans, 1):
        lufs = integrated_loudness(span.clip)
        gain = settings.target_lufs - lufs if lufs > -70 else 0.0
        inputs += ["-i", str(span.clip)]
        graph.append(f"[{i}:a]{STEREO},atrim=0:{span.duration_s:.4f},volume={gain:.2f}dB,"
                     f"adelay={round(span.start_s * 1000)}:all=1[v{i}]")
    laid = "".join(f"[v{i}]" for i in range(1, len(spans) + 1))
    graph.append(f"[d]{laid}amix=inputs={len(spans) + 1}:duration=first:normalize=0[out]")
    _run([ffmpeg_exe(), "-y", "-loglevel", "error", *inputs, "-filter_complex", ";".join(graph), "-map", "[out]",
          "-c:a", "pcm_f32le", str(out)])


def _with_music(dialogue: Path, music: Path, out: Path) -> None:
    """The dialogue and the music stem (ducked, as it sits in the mix) summed at unit gain."""
    graph = f"[0:a]{STEREO}[d];[1:a]{STEREO}[m];[d][m]amix=inputs=2:duration=first:normalize=0[out]"
    _run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(dialogue), "-i", str(music), "-filter_complex", graph,
          "-map", "[out]", "-c:a", "pcm_f32le", str(out)])


def voiced_sound(audio: EpisodeAudio, music: MusicBed | None, spans: list[VoicedSpan], store, folder: Path,
                 settings: AudioSettings = AudioSettings()) -> tuple[Path, str, float]:
    """The episode's sound with the voiced takes' own sound in their spans: (the mastered
    track, the dialogue stem as heard (stored), its integrated loudness)."""
    dialogue = folder / "dialogue.wav"
    _voiced_dialogue(store.path(audio.mix_uri), spans, audio.duration_s, dialogue, settings)
    mix = dialogue
    if music:
        mix = folder / "sum.wav"
        _with_music(dialogue, store.path(music.stem_uri), mix)
    lufs = integrated_loudness(mix)
    _master(mix, folder / "sound.m4a", settings.target_lufs - lufs if lufs > -70 else 0.0, settings)
    _run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(dialogue), "-c:a", "aac", "-b:a", settings.aac_bitrate,
          str(folder / "dialogue.m4a")])
    stem = store.put_file(folder / "dialogue.m4a", "audio", ".m4a")
    return folder / "sound.m4a", stem.uri, integrated_loudness(folder / "sound.m4a")


def _sound(audio: EpisodeAudio, music: MusicBed | None, spans: list[VoicedSpan], store,
           folder: Path) -> tuple[Path, str | None, float | None]:
    """The episode's sound (and, with voiced takes, its dialogue stem as heard and loudness):
    the dialogue or music mix as it was made, unless a take plays its own sound."""
    if spans:
        return voiced_sound(audio, music, spans, store, folder)
    return store.path(music.mix_uri if music else audio.mix_uri), None, None


def _mux(video: Path, audio: Path, out: Path, subtitles: Path | None) -> None:
    """Video from the joined takes, sound from our track only (dialogue, with the music
    bed when there is one, and the voiced takes' own sound in their spans).
    Copies both streams unless subtitles are burned in, which re-encodes the video."""
    picture = ffmpeg.input(str(video)).video
    sound = ffmpeg.input(str(audio)).audio
    options = {"acodec": "copy", "movflags": "+faststart", "loglevel": "error"}
    if subtitles:
        picture = picture.filter("subtitles", str(subtitles))
        options.update(vcodec=ENCODING.codec, preset=ENCODING.preset, crf=ENCODING.crf, pix_fmt=ENCODING.pix_fmt,
                       threads=ENCODING.threads)
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
    sound, and both stems are listed. Without it the sound is the dialogue track. Voiced
    takes play their own sound in their spans (see the module's note)."""
    by_shot = {take.shot_id: take for take in shots.takes}
    missing = [s.shot_id for s in storyboard.shots if s.shot_id not in by_shot]
    if missing:
        raise AssemblyError(f"{storyboard.drama}/{storyboard.episode}: no take for shots {missing[:5]}")
    takes = [by_shot[s.shot_id] for s in storyboard.shots]
    clips = [store.path(take.clip_uri) for take in takes]
    dialogue_uri = loudness = None
    with store.scratch_dir() as scratch:
        joined = Path(scratch) / "video.mp4"
        method = concat_clips(clips, joined)
        out = joined
        if audio:
            out = Path(scratch) / "episode.mp4"
            spans = voiced_spans(clips, [take.duration_s for take in takes])
            sound, dialogue_uri, loudness = _sound(audio, music, spans, store, Path(scratch))
            subtitles = None
            if burn_subtitles:
                frame = probe(joined)
                subtitles = styled_captions(store.path(audio.subtitles_srt_uri), frame.width, frame.height,
                                            Path(scratch) / "captions.ass")
            _mux(joined, sound, out, subtitles)
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
        loudness_lufs=loudness if loudness is not None else (
            (music.loudness_lufs if music else audio.loudness_lufs) if audio else None),
        subtitles_srt_uri=audio.subtitles_srt_uri if audio else None,
        subtitles_vtt_uri=audio.subtitles_vtt_uri if audio else None,
        burned_subtitles=bool(audio and burn_subtitles),
        music=music if audio else None,
        stems=_stems(audio, music, dialogue_uri),
        total_cost_usd=round(sum(t.cost_usd for t in shots.takes), 4),
    )


def _stems(audio: EpisodeAudio | None, music: MusicBed | None, voiced_dialogue: str | None = None) -> dict[str, str]:
    """The dialogue stem (as heard: with the voiced takes' own sound) and the music stem."""
    stems = {"dialogue": voiced_dialogue or audio.mix_uri} if audio else {}
    return stems | ({"music": music.stem_uri} if audio and music else {})
