"""An episode's dialogue: every line spoken in its character's voice, shot timing that
follows the speech, one loudness-normalised track, and subtitles timed to it.

Speech is made before video, so a shot is generated once, at the length its lines need.
The engine is eSpeak NG unless a hosted one is given; with a hosted engine every line,
the narrator's included, is spoken by it (never by eSpeak), in voices chosen once per
drama from its catalogue (zipx_core.bible.voices), and paid lines go on the drama's ledger.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import wave
from collections import defaultdict
from pathlib import Path

import numpy as np
import pysubs2
from pydantic import BaseModel, Field

from zipx_core.audio.speech import Delivery, EspeakEngine, Line, Said, Speech, SpeechEngine, say_all, write_wav
from zipx_core.bible.voices import (
    NARRATOR_ID,
    Casting,
    EngineVoice,
    cast_engine_voices,
    engine_profile,
    load_engine_voice_lock,
    needs_choice,
    save_engine_voice_lock,
)
from zipx_core.generation import Budget, GenerationSettings
from zipx_core.media import ffmpeg_exe
from zipx_core.media.ffmpeg import _run
from zipx_core.models import Bibles, DialogueLine, EpisodeAudio, SpokenLine, Storyboard, VoiceProfile
from zipx_core.storage import LocalArtifactStore

NARRATOR = VoiceProfile(voice_id="en+m2", pitch=45, rate_wpm=160)  # cues with no bible


class AudioSettings(BaseModel):
    """EBU R128 targets for online delivery (-16 LUFS integrated, -1.5 dBTP), and the
    breathing room around lines inside a shot."""

    target_lufs: float = -16.0
    true_peak_db: float = -1.5
    codec_headroom_db: float = Field(0.7, description="kept below the ceiling when limiting: AAC's decoded peaks "
                                     "overshoot the limited ones (bench/delivery.py: by up to 0.5 dB)")
    loudness_range: float = 11.0
    lead_in_s: float = Field(0.3, description="silence before a shot's first line")
    gap_s: float = Field(0.25, description="between lines in one shot")
    tail_s: float = Field(0.4, description="after a shot's last line")
    sample_rate: int = 48000
    aac_bitrate: str = "128k"


def read_wav(path: Path) -> Speech:
    with wave.open(str(path), "rb") as source:
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
        return Speech(samples=samples, sample_rate=source.getframerate())


def speakable(text: str) -> str:
    """Emphasis marks and bracketed placeholders are for the page, not the voice."""
    return re.sub(r"[*_]|\[[^\]]*\]", "", text).strip()


async def cast_voices(bibles: Bibles, engine: SpeechEngine, store, narrator: bool) -> dict[str, VoiceProfile]:
    """Each character's voice for `engine`: the bible's where it is this engine's (eSpeak's
    as dealt, or a voice the cast sheet set); else the drama's lock for the engine, the
    catalogue read only when someone still needs a voice. NARRATOR_ID: cues with no bible."""
    voices = {c.character_id: c.voice_profile for c in bibles.characters if c.voice_profile.engine == engine.name}
    if not engine.hosted:
        voices[NARRATOR_ID] = NARRATOR
    castings = [Casting.of(c) for c in bibles.characters if c.character_id not in voices]
    castings += [Casting.narrator()] if narrator and NARRATOR_ID not in voices else []
    sheet = {cid: EngineVoice(voice_id=v.voice_id, name=v.voice_id, sex=_sex(bibles, cid), dealt_for=_sex(bibles, cid),
                              source="cast sheet") for cid, v in voices.items() if engine.hosted}
    if not castings and not sheet:
        return voices
    lock = await asyncio.to_thread(load_engine_voice_lock, store, bibles.drama, engine.name)
    catalogue = await engine.catalogue() if needs_choice(castings, lock) else []
    entries = cast_engine_voices(castings, catalogue, lock, sheet)
    await asyncio.to_thread(save_engine_voice_lock, store, bibles.drama, engine.name, entries)
    styles = {c.character_id: c.voice_profile.style for c in bibles.characters}
    for casting in castings:
        voices[casting.character_id] = engine_profile(entries[casting.character_id], casting, engine.name,
                                                      styles.get(casting.character_id, "neutral"))
    return voices


def _sex(bibles: Bibles, character_id: str) -> str:
    return next(c.appearance.gender for c in bibles.characters if c.character_id == character_id)


def _to_say(storyboard: Storyboard, voices: dict[str, VoiceProfile]) -> list[tuple[str, DialogueLine, Line]]:
    """(shot id, the script's line, what to say) for every line with words to speak."""
    out = []
    for shot in storyboard.shots:
        for dialogue in shot.dialogue:
            text = speakable(dialogue.text)
            if text:
                voice = voices.get(dialogue.character_id) or voices[NARRATOR_ID]
                delivery = Delivery(dialogue.parenthetical, shot.emotional_intensity, voice.style)
                out.append((shot.shot_id, dialogue, Line(text, voice, delivery, f"speech {shot.shot_id} line {dialogue.line}")))
    return out


async def _speak(storyboard: Storyboard, bibles: Bibles, store, engine: SpeechEngine,
                 generation: GenerationSettings) -> tuple[list[tuple[str, DialogueLine, Line]], list[Said]]:
    known = {c.character_id for c in bibles.characters}
    narrator = any(d.character_id not in known for shot in storyboard.shots for d in shot.dialogue)
    try:
        voices = await cast_voices(bibles, engine, store, narrator)
        to_say = _to_say(storyboard, voices)
        budget = Budget(store, storyboard.drama, storyboard.episode, generation) if engine.hosted else None
        return to_say, await say_all([line for *_, line in to_say], engine, store, budget)
    finally:
        await engine.aclose()


def voice_episode(
    storyboard: Storyboard,
    bibles: Bibles,
    store: LocalArtifactStore,
    fps: int = 24,
    settings: AudioSettings = AudioSettings(),
    engine: SpeechEngine | None = None,
    generation: GenerationSettings | None = None,
) -> EpisodeAudio:
    """`generation` carries the budgets a hosted engine's lines are charged against."""
    engine = engine or EspeakEngine()
    to_say, said = asyncio.run(_speak(storyboard, bibles, store, engine, generation or GenerationSettings()))
    by_shot = defaultdict(list)
    for (shot_id, dialogue, line), made in zip(to_say, said):
        by_shot[shot_id].append((dialogue, line, made))
    lines: list[SpokenLine] = []
    shot_frames: dict[str, int] = {}
    start_frame = 0
    for shot in storyboard.shots:
        cursor = start_frame / fps + settings.lead_in_s
        for dialogue, line, made in by_shot[shot.shot_id]:
            lines.append(
                SpokenLine(
                    shot_id=shot.shot_id, character_id=dialogue.character_id, text=line.text, voice_id=line.voice.voice_id,
                    speech_uri=made.uri, start_s=round(cursor, 4), duration_s=round(made.duration_s, 4),
                    source_line=dialogue.line, engine=engine.name, words=list(made.words), cost_usd=made.cost_usd,
                )
            )
            cursor += made.duration_s + settings.gap_s
        needed = cursor - settings.gap_s + settings.tail_s - start_frame / fps if shot.dialogue else 0.0
        frames = max(round(shot.duration_s * fps), math.ceil(needed * fps - 1e-6), 1)
        shot_frames[shot.shot_id] = frames
        start_frame += frames
    return _finish(storyboard, engine.name, fps, lines, shot_frames, start_frame / fps, store, settings)


def _finish(storyboard: Storyboard, engine: str, fps: int, lines: list[SpokenLine], shot_frames: dict[str, int],
            duration_s: float, store, settings: AudioSettings) -> EpisodeAudio:
    """The mixed, normalised track and the subtitles, stored."""
    with store.scratch_dir() as scratch:
        folder = Path(scratch)
        mix = _mix(lines, store, duration_s)
        write_wav(folder / "mix.wav", mix)
        loudness = _normalise(folder / "mix.wav", folder / "mix.m4a", settings)
        mix_artifact = store.put_file(folder / "mix.m4a", "audio", ".m4a")
        srt, vtt = _subtitles(lines, folder)
        srt_artifact = store.put_file(srt, "subtitles", ".srt")
        vtt_artifact = store.put_file(vtt, "subtitles", ".vtt")
    return EpisodeAudio(
        drama=storyboard.drama,
        episode=storyboard.episode,
        engine=engine,
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
        samples = _at_rate(speech, rate)
        start = round(line.start_s * rate)
        end = min(len(track), start + len(samples))
        track[start:end] += samples[: end - start]
    return Speech(samples=np.clip(track, -32768, 32767).astype(np.int16), sample_rate=rate)


def _at_rate(speech: Speech, rate: int) -> np.ndarray:
    """The samples at `rate` (linear interpolation): engines need not agree on a rate."""
    if speech.sample_rate == rate or not len(speech.samples):
        return speech.samples
    count = round(len(speech.samples) * rate / speech.sample_rate)
    positions = np.arange(count) * speech.sample_rate / rate
    return np.interp(positions, np.arange(len(speech.samples)), speech.samples).astype(np.int16)


def _normalise(source: Path, out: Path, settings: AudioSettings) -> float:
    """ffmpeg's loudnorm in two passes (measure, then apply linearly); returns the
    integrated loudness it measured on its output."""
    ceiling = settings.true_peak_db - settings.codec_headroom_db
    target = f"I={settings.target_lufs}:TP={ceiling}:LRA={settings.loudness_range}"
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
