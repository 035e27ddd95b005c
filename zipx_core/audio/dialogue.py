"""An episode's dialogue: every line spoken in its character's voice, shot timing that
follows the speech, one loudness-normalised track, and subtitles timed to it.

Speech is made before video, so a shot is generated once, at the length its lines need.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import wave
from pathlib import Path

import numpy as np
import pysubs2
from pydantic import BaseModel, Field

from zipx_core.audio.speech import EspeakEngine, Speech
from zipx_core.media import ffmpeg_exe
from zipx_core.media.ffmpeg import _run
from zipx_core.models import Bibles, EpisodeAudio, SpokenLine, Storyboard, VoiceProfile
from zipx_core.storage import LocalArtifactStore

NARRATOR = VoiceProfile(voice_id="en+m2", pitch=45, rate_wpm=160)  # cues with no bible


class AudioSettings(BaseModel):
    """EBU R128 targets for online delivery (-16 LUFS integrated, -1.5 dBTP), and the
    breathing room around lines inside a shot."""

    target_lufs: float = -16.0
    true_peak_db: float = -1.5
    loudness_range: float = 11.0
    lead_in_s: float = Field(0.3, description="silence before a shot's first line")
    gap_s: float = Field(0.25, description="between lines in one shot")
    tail_s: float = Field(0.4, description="after a shot's last line")
    sample_rate: int = 48000
    aac_bitrate: str = "128k"


def _speech(text: str, voice: VoiceProfile, engine: EspeakEngine, store: LocalArtifactStore) -> tuple[str, float]:
    """A line's speech, made once per (engine, voice, text) and kept in the store."""
    key = hashlib.sha256(json.dumps([engine.name, voice.model_dump(), text], sort_keys=True).encode()).hexdigest()
    cached = store.get_record("speech", key)
    if cached and store.exists(cached["uri"]):
        return cached["uri"], cached["duration_s"]
    speech = engine.synthesize(text, voice)
    with store.scratch_dir() as scratch:
        path = Path(scratch) / "line.wav"
        _write_wav(path, speech)
        artifact = store.put_file(path, "speech", ".wav")
    store.put_record("speech", key, {"uri": artifact.uri, "duration_s": speech.duration_s})
    return artifact.uri, speech.duration_s


def _write_wav(path: Path, speech: Speech) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(speech.sample_rate)
        out.writeframes(speech.samples.astype("<i2").tobytes())


def read_wav(path: Path) -> Speech:
    with wave.open(str(path), "rb") as source:
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
        return Speech(samples=samples, sample_rate=source.getframerate())


def speakable(text: str) -> str:
    """Emphasis marks and bracketed placeholders are for the page, not the voice."""
    return re.sub(r"[*_]|\[[^\]]*\]", "", text).strip()


def voice_episode(
    storyboard: Storyboard,
    bibles: Bibles,
    store: LocalArtifactStore,
    fps: int = 24,
    settings: AudioSettings = AudioSettings(),
    engine: EspeakEngine | None = None,
) -> EpisodeAudio:
    engine = engine or EspeakEngine()
    voices = {c.character_id: c.voice_profile for c in bibles.characters}
    lines: list[SpokenLine] = []
    shot_frames: dict[str, int] = {}
    start_frame = 0
    for shot in storyboard.shots:
        cursor = start_frame / fps + settings.lead_in_s
        for dialogue in shot.dialogue:
            voice = voices.get(dialogue.character_id, NARRATOR)
            text = speakable(dialogue.text)
            if not text:
                continue
            uri, duration = _speech(text, voice, engine, store)
            lines.append(
                SpokenLine(
                    shot_id=shot.shot_id, character_id=dialogue.character_id, text=text, voice_id=voice.voice_id,
                    speech_uri=uri, start_s=round(cursor, 4), duration_s=round(duration, 4), source_line=dialogue.line,
                )
            )
            cursor += duration + settings.gap_s
        needed = cursor - settings.gap_s + settings.tail_s - start_frame / fps if shot.dialogue else 0.0
        frames = max(round(shot.duration_s * fps), math.ceil(needed * fps - 1e-6), 1)
        shot_frames[shot.shot_id] = frames
        start_frame += frames
    duration_s = start_frame / fps
    with store.scratch_dir() as scratch:
        folder = Path(scratch)
        mix = _mix(lines, store, duration_s)
        _write_wav(folder / "mix.wav", mix)
        loudness = _normalise(folder / "mix.wav", folder / "mix.m4a", settings)
        mix_artifact = store.put_file(folder / "mix.m4a", "audio", ".m4a")
        srt, vtt = _subtitles(lines, folder)
        srt_artifact = store.put_file(srt, "subtitles", ".srt")
        vtt_artifact = store.put_file(vtt, "subtitles", ".vtt")
    return EpisodeAudio(
        drama=storyboard.drama,
        episode=storyboard.episode,
        engine=engine.name,
        fps=fps,
        lines=lines,
        shot_durations={shot_id: frames / fps for shot_id, frames in shot_frames.items()},
        duration_s=duration_s,
        mix_uri=mix_artifact.uri,
        loudness_lufs=loudness,
        subtitles_srt_uri=srt_artifact.uri,
        subtitles_vtt_uri=vtt_artifact.uri,
    )


def _mix(lines: list[SpokenLine], store: LocalArtifactStore, duration_s: float) -> Speech:
    speeches = [(line, read_wav(store.path(line.speech_uri))) for line in lines]
    rate = speeches[0][1].sample_rate if speeches else 22050
    track = np.zeros(math.ceil(duration_s * rate), dtype=np.int32)
    for line, speech in speeches:
        start = round(line.start_s * rate)
        end = min(len(track), start + len(speech.samples))
        track[start:end] += speech.samples[: end - start]
    return Speech(samples=np.clip(track, -32768, 32767).astype(np.int16), sample_rate=rate)


def _normalise(source: Path, out: Path, settings: AudioSettings) -> float:
    """ffmpeg's loudnorm in two passes (measure, then apply linearly); returns the
    integrated loudness it measured on its output."""
    target = f"I={settings.target_lufs}:TP={settings.true_peak_db}:LRA={settings.loudness_range}"
    encode = ["-ar", str(settings.sample_rate), "-c:a", "aac", "-b:a", settings.aac_bitrate, str(out)]
    measured = _loudnorm_report(_run([ffmpeg_exe(), "-hide_banner", "-i", str(source), "-af", f"loudnorm={target}:print_format=json", "-f", "null", "-"]))
    if float(measured["input_i"]) == float("-inf"):
        # a silent episode (no dialogue): keep it silent rather than amplify noise
        _run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(source), *encode])
        return float("-inf")
    second = (
        f"loudnorm={target}:measured_I={measured['input_i']}:measured_TP={measured['input_tp']}:"
        f"measured_LRA={measured['input_lra']}:measured_thresh={measured['input_thresh']}:"
        f"offset={measured['target_offset']}:linear=true:print_format=json"
    )
    return float(_loudnorm_report(_run([ffmpeg_exe(), "-hide_banner", "-y", "-i", str(source), "-af", second, *encode]))["output_i"])


def _loudnorm_report(stderr: str) -> dict:
    """loudnorm prints its measurements as the last JSON object on stderr."""
    return json.loads(stderr[stderr.rindex("{") : stderr.rindex("}") + 1])


def _subtitles(lines: list[SpokenLine], folder: Path) -> tuple[Path, Path]:
    subs = pysubs2.SSAFile()
    for line in lines:
        start = round(line.start_s * 1000)
        subs.append(pysubs2.SSAEvent(start=start, end=start + round(line.duration_s * 1000), text=line.text))
    srt, vtt = folder / "episode.srt", folder / "episode.vtt"
    subs.save(str(srt), format_="srt")
    subs.save(str(vtt), format_="vtt")
    return srt, vtt


def apply_speech_timing(storyboard: Storyboard, audio: EpisodeAudio) -> Storyboard:
    """The storyboard with each shot as long as its speech needs (whole frames)."""
    shots = [s.model_copy(update={"duration_s": audio.shot_durations.get(s.shot_id, s.duration_s)}) for s in storyboard.shots]
    return storyboard.model_copy(update={"shots": shots})
