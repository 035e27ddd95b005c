"""A music bed under an episode's dialogue: the user's music file looped or trimmed to the
episode, faded in and out, ducked under the lines (a sidechain compressor keyed by the
dialogue), mixed with it and brought to the dialogue's loudness target. The music stem (as
it sits in the mix) and the dialogue stem stay in the store beside the episode.

None by default: an episode without a music file keeps its dialogue-only track.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from zipx_core.audio.dialogue import AudioSettings
from zipx_core.audio.sync import decode_audio
from zipx_core.media.ffmpeg import MediaError, _run, ffmpeg_exe, integrated_loudness
from zipx_core.models import EpisodeAudio, MusicBed
from zipx_core.naming import slug
from zipx_core.storage import URI_PREFIX, LocalArtifactStore, StorageError

MUSIC_SUFFIXES = (".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".opus")


class MusicError(ValueError):
    pass


class MusicSettings(BaseModel):
    """How the bed sits under speech. Broadcast practice: music 10-20 dB under dialogue
    while someone speaks, back up between lines; the compressor's times keep the pumping
    slow enough not to be heard on words."""

    level_lu: float = Field(-10.0, description="bed loudness before ducking, relative to the dialogue target (-26 LUFS at -16)")
    duck_threshold: float = Field(
        0.03, description="sidechain threshold (linear, about -30 dBFS): speech at -16 LUFS is well over it, gaps under"
    )
    duck_ratio: float = Field(8.0, description="about 12 dB of ducking for speech 14 dB over the threshold")
    attack_ms: float = 20.0
    release_ms: float = Field(400.0, description="slow enough to bridge the pauses between words")
    fade_in_s: float = 1.0
    fade_out_s: float = 2.0


def find_music(inbox: Path, drama: str, episode: str) -> Path | None:
    """The inbox convention: a music file beside the script, named like it, scores the whole
    drama (`Harbour Lights.mp3`); one with the episode key after a dot overrides it for that
    episode (`Harbour Lights.ep02.mp3`). None when there is neither."""
    files = sorted(p for p in inbox.iterdir() if p.is_file() and p.suffix.lower() in MUSIC_SUFFIXES) if inbox.is_dir() else []
    for path in files:
        name, _, key = path.stem.rpartition(".")
        if name and key.lower() == episode and slug(name) == drama:
            return path
    return next((path for path in files if slug(path.stem) == drama), None)


def _stored_music(source: str, field: str, store: LocalArtifactStore, scratch: Path) -> str:
    """The music as an artifact URI: a zipx:// URI must be in the store; a path is copied in
    (put_file moves its source: the user's file stays), so the manifest never points at one
    machine's disk."""
    if source.startswith(URI_PREFIX):
        try:
            if store.exists(source):
                return source
        except StorageError:
            pass
        raise MusicError(f"{field}: no music in the artifact store at {source!r}")
    path = Path(source).expanduser()
    if not path.is_file():
        raise MusicError(f"{field}: no music file at {str(path)!r}")
    if path.suffix.lower() not in MUSIC_SUFFIXES:
        raise MusicError(f"{field}: {str(path)!r} is not a music file ({', '.join(MUSIC_SUFFIXES)})")
    copy = shutil.copyfile(path, scratch / f"music{path.suffix.lower()}")
    return store.put_file(copy, "music", path.suffix.lower()).uri


def _bed(music: Path, out: Path, duration_s: float, music_settings: MusicSettings, given: str) -> None:
    """The music looped (or trimmed) to the episode, stereo at 48 kHz, faded in and out.
    Timestamps are re-counted from the samples: each loop of a compressed file drops its
    encoder delay, which left 21 ms holes per loop and a bed 0.3 s short of a minute."""
    fade_out = min(music_settings.fade_out_s, duration_s / 2)
    shape = (
        f"asetpts=N/SR/TB,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,atrim=0:{duration_s:.4f},"
        f"afade=t=in:d={music_settings.fade_in_s},afade=t=out:st={duration_s - fade_out:.4f}:d={fade_out:.4f}"
    )
    try:
        _run([ffmpeg_exe(), "-y", "-loglevel", "error", "-stream_loop", "-1", "-i", str(music), "-vn", "-t", f"{duration_s:.4f}",
              "-af", shape, "-c:a", "pcm_f32le", str(out)])
    except MediaError as error:
        reason = str(error).strip().splitlines()[-1]
        raise MusicError(f"{given} is not audio ffmpeg can read ({reason})") from error


def _duck_and_mix(dialogue: Path, bed: Path, gain_db: float, duration_s: float, music_settings: MusicSettings,
                  music_out: Path, mix_out: Path) -> None:
    """The bed at its level, compressed whenever the dialogue speaks, and dialogue plus
    ducked bed summed at unit gain (amix's normalising would halve the dialogue)."""
    s = music_settings
    graph = (
        f"[0:a]aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,apad,atrim=0:{duration_s:.4f},"
        f"asplit=2[key][voice];"
        f"[1:a]volume={gain_db:.3f}dB[bed];"
        f"[bed][key]sidechaincompress=threshold={s.duck_threshold}:ratio={s.duck_ratio}:attack={s.attack_ms}:"
        f"release={s.release_ms},asplit=2[music][under];"
        f"[voice][under]amix=inputs=2:duration=first:normalize=0[mix]"
    )
    _run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(dialogue), "-i", str(bed), "-filter_complex", graph,
          "-map", "[music]", "-c:a", "pcm_f32le", str(music_out), "-map", "[mix]", "-c:a", "pcm_f32le", str(mix_out)])


def _master(mix: Path, out: Path, gain_db: float, settings: AudioSettings) -> float:
    """One gain to the loudness target and a peak limiter at the true-peak ceiling (its
    lookahead compensated, for sync); returns the gain. Not loudnorm's second pass: with
    music filling the gaps the mix sits 3-4 LU under its dialogue, and loudnorm then falls
    back to its dynamic mode, an AGC that missed the target by 0.5 LU here and partly
    undoes the ducking. One gain keeps the mix the stems' sum times that gain, peaks aside."""
    ceiling = 10 ** ((settings.true_peak_db - settings.codec_headroom_db) / 20)  # sample peaks; room for inter-sample ones
    limited = out.with_name("limited.wav")
    for _ in range(3):  # the limiter takes a little loudness off the top: correct for it
        _run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(mix), "-af",
              f"volume={gain_db:.3f}dB,alimiter=limit={ceiling:.4f}:level=false:latency=true", "-c:a", "pcm_f32le", str(limited)])
        shortfall = settings.target_lufs - integrated_loudness(limited)
        if abs(shortfall) < 0.15 or gain_db == 0.0:
            break
        gain_db += shortfall
    _run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(limited), "-ar", str(settings.sample_rate), "-c:a", "aac",
          "-b:a", settings.aac_bitrate, str(out)])
    return gain_db


def score_episode(
    audio: EpisodeAudio,
    store: LocalArtifactStore,
    source: str,
    field: str = "music",
    settings: AudioSettings = AudioSettings(),
    music_settings: MusicSettings = MusicSettings(),
) -> MusicBed:
    """The episode's dialogue with a music bed under it. `source` is a path or a zipx://
    URI; `field` names where the user gave it, for errors."""
    with store.scratch_dir() as scratch:
        folder = Path(scratch)
        music_uri = _stored_music(source, field, store, folder)
        _bed(store.path(music_uri), folder / "bed.wav", audio.duration_s, music_settings, f"{field}: {source!r}")
        bed_lufs = integrated_loudness(folder / "bed.wav")
        bed_gain = settings.target_lufs + music_settings.level_lu - bed_lufs if bed_lufs > -70 else 0.0
        _duck_and_mix(store.path(audio.mix_uri), folder / "bed.wav", bed_gain, audio.duration_s, music_settings,
                      folder / "music.wav", folder / "mix.wav")
        sum_lufs = integrated_loudness(folder / "mix.wav")
        gain = settings.target_lufs - sum_lufs if sum_lufs > -70 else 0.0  # a silent mix stays silent
        gain = _master(folder / "mix.wav", folder / "mix.m4a", gain, settings)
        _run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(folder / "music.wav"), "-c:a", "aac",
              "-b:a", settings.aac_bitrate, str(folder / "music.m4a")])
        speech_db, gap_db = ducking_in_mix(folder / "mix.m4a", store.path(audio.mix_uri), audio, music_settings)
        loudness, music_lufs = integrated_loudness(folder / "mix.m4a"), integrated_loudness(folder / "music.m4a")
        stem = store.put_file(folder / "music.m4a", "audio", ".m4a")
        mix = store.put_file(folder / "mix.m4a", "audio", ".m4a")
    return MusicBed(
        source=source, music_uri=music_uri, stem_uri=stem.uri, mix_uri=mix.uri, loudness_lufs=loudness,
        mix_gain_db=round(gain, 2), music_lufs=music_lufs, ducking_db=round(gap_db - speech_db, 2) if audio.lines else None,
    )


def _windows(audio: EpisodeAudio, music_settings: MusicSettings) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Speech windows (each line, past the compressor's attack) and gap windows (between
    lines, past its release; the fades left out), in seconds."""
    settle = music_settings.release_ms / 1000 + 0.2
    speech = [(l.start_s + 0.1, l.start_s + l.duration_s) for l in sorted(audio.lines, key=lambda l: l.start_s)]
    edges = [0.0] + [t for start, end in speech for t in (start - 0.1, end)] + [audio.duration_s]
    gaps = [(max(a + settle, music_settings.fade_in_s), min(b - 0.05, audio.duration_s - music_settings.fade_out_s))
            for a, b in zip(edges[::2], edges[1::2])]
    return speech, [(a, b) for a, b in gaps if b - a >= 0.2]


def speech_and_gap_db(samples: np.ndarray, rate: int, audio: EpisodeAudio,
                      music_settings: MusicSettings = MusicSettings()) -> tuple[float, float]:
    """RMS level (dBFS) of a decoded track under the episode's lines and in the gaps between
    them: on the music stem, their difference is how far the bed ducks under speech."""

    def level(windows: list[tuple[float, float]]) -> float:
        parts = [samples[round(a * rate) : round(b * rate)] for a, b in windows if b > a]
        joined = np.concatenate(parts) if parts else np.zeros(1)
        return float(20 * np.log10(max(np.sqrt(np.mean(joined.astype(np.float64) ** 2)), 1e-9)))

    speech, gaps = _windows(audio, music_settings)
    return level(speech), level(gaps)


def music_in_mix(mix: np.ndarray, dialogue: np.ndarray, window: int = 480) -> np.ndarray:
    """A decoded mix with the dialogue stem taken out, fitted window by window (10 ms at
    48 kHz) so the limiter's gain changes go with it: what is left is the music as heard,
    plus codec noise. Music and speech are uncorrelated, so the fit leaves the music be."""
    n = min(len(mix), len(dialogue)) // window * window
    m, d = mix[:n].reshape(-1, window), dialogue[:n].reshape(-1, window)
    scale = (m * d).sum(axis=1) / np.maximum((d * d).sum(axis=1), 1e-12)
    return (m - scale[:, None] * d).ravel()


def ducking_in_mix(mix: Path, dialogue: Path, audio: EpisodeAudio,
                   music_settings: MusicSettings = MusicSettings()) -> tuple[float, float]:
    """The music's RMS level (dBFS) under the lines and between them, in the final mix."""
    (mixed, rate), (spoken, spoken_rate) = decode_audio(mix), decode_audio(dialogue)
    if rate != spoken_rate:
        raise ValueError(f"mix at {rate} Hz, dialogue stem at {spoken_rate} Hz: resample before comparing")
    return speech_and_gap_db(music_in_mix(mixed, spoken), rate, audio, music_settings)


def chord_loop(out: Path, seconds: float = 8.0) -> Path:
    """A music-like test bed (four plucked triads, 2 s each, over a bass note) from ffmpeg's
    aevalsrc, for tests, benchmarks and demos: no music ships with ZipX."""
    chords = [(261.63, 329.63, 392.0), (220.0, 261.63, 329.63), (174.61, 220.0, 261.63), (196.0, 246.94, 293.66)]
    terms = []
    for i, notes in enumerate(chords):
        tones = "+".join(f"sin(2*PI*{f}*t)" for f in notes) + f"+1.5*sin(2*PI*{notes[0] / 2}*t)"
        terms.append(f"gte(mod(t,8),{2 * i})*lt(mod(t,8),{2 * i + 2})*({tones})")
    expr = f"0.12*(0.4+0.6*exp(-1.5*mod(t,2)))*({'+'.join(terms)})"
    _run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"aevalsrc='{expr}|{expr}':s=48000:d={seconds}",
          "-c:a", "aac", "-b:a", "128k", str(out)])
    return out
