"""Text to speech: the engine protocol, eSpeak NG (the embedded default), and speaking a
batch of lines through any engine with the store's cache and the drama's ledger.

eSpeak NG: the library and its voice data come from the espeakng-loader wheel (no system
package). It runs in a worker process of its own (espeak_worker.py) that speaks each
line in a fresh fork of its initialised, seeded state, so a line always gives the same
samples, whatever was spoken before it and in whichever process: a re-run or a resumed
run makes the same audio. One worker per process, started on first use; calls are
serialised with a lock.

Hosted engines (zipx_core.providers.speech: ElevenLabs, OpenAI-compatible, Gemini) speak
the same protocol. Every line is made once per (engine, model, voice, settings, text):
the store keeps it under that content hash, so a re-run pays nothing; a paid line is
charged to the drama's ledger at its estimate before it is sent (over budget, nothing is
sent) and settled at what it cost.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from zipx_core.models import CatalogueVoice, VoiceProfile, WordTiming
from zipx_core.providers.base import ProviderError
from zipx_core.providers.speech.base import BadAudio, Delivery, Speech, Spoken
from zipx_core.records import Records

WORKER = Path(__file__).with_name("espeak_worker.py")

__all__ = ["BadAudio", "Delivery", "EspeakEngine", "Line", "Said", "Speech", "SpeechEngine", "SpeechError", "Spoken",
           "say_all", "speech_key"]


class SpeechError(RuntimeError):
    pass


class SpeechEngine(Protocol):
    """What voice_episode needs of an engine, offline or hosted."""

    name: str  # espeak-ng | elevenlabs | openai | gemini
    model: str
    hosted: bool  # paid: charged to the ledger, and never replaced by eSpeak
    concurrency: int  # lines in flight at once

    async def catalogue(self) -> list[CatalogueVoice]: ...

    def request(self, text: str, voice: VoiceProfile, delivery: Delivery) -> dict:
        """Everything that shapes the audio (hashed into the cache key)."""
        ...

    def estimate_cost(self, text: str, voice: VoiceProfile, delivery: Delivery) -> float: ...

    async def speak(self, text: str, voice: VoiceProfile, delivery: Delivery) -> Spoken: ...

    async def aclose(self) -> None: ...


class EspeakEngine:
    name = "espeak-ng"
    model = "espeak-ng"
    hosted = False
    concurrency = 1  # one worker, one line at a time
    _lock = threading.Lock()
    _worker: subprocess.Popen | None = None
    _rate = 0

    def _start(self) -> subprocess.Popen:
        if EspeakEngine._worker is None or EspeakEngine._worker.poll() is not None:
            import espeakng_loader

            worker = subprocess.Popen(
                [sys.executable, str(WORKER), espeakng_loader.get_library_path(), espeakng_loader.get_data_path()],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            )
            ready = self._header(worker)
            EspeakEngine._worker, EspeakEngine._rate = worker, ready["rate"]
        return EspeakEngine._worker

    @staticmethod
    def _header(worker: subprocess.Popen) -> dict:
        line = worker.stdout.readline()
        if not line:
            raise SpeechError(f"the eSpeak NG worker stopped (exit code {worker.wait()})")
        header = json.loads(line)
        if not header["ok"]:
            raise SpeechError(header["error"])
        return header

    def synthesize(self, text: str, voice: VoiceProfile, delivery: Delivery | None = None) -> Speech:
        with EspeakEngine._lock:
            worker = self._start()
            request = {"voice": voice.voice_id, "rate": voice.rate_wpm, "pitch": voice.pitch, "text": text}
            worker.stdin.write(json.dumps(request).encode() + b"\n")
            worker.stdin.flush()
            size = self._header(worker)["bytes"]
            samples = np.frombuffer(worker.stdout.read(size), dtype="<i2").astype(np.int16)
            return Speech(samples=samples, sample_rate=EspeakEngine._rate)

    # --- the engine protocol (eSpeak has no delivery settings: a line is its voice and text)

    async def catalogue(self) -> list[CatalogueVoice]:
        from zipx_core.bible.voices import espeak_catalogue  # the voice lists live with the dealing rules

        return espeak_catalogue()

    def request(self, text: str, voice: VoiceProfile, delivery: Delivery) -> dict:
        return {"voice": voice.voice_id, "pitch": voice.pitch, "rate": voice.rate_wpm}

    def estimate_cost(self, text: str, voice: VoiceProfile, delivery: Delivery) -> float:
        return 0.0

    async def speak(self, text: str, voice: VoiceProfile, delivery: Delivery) -> Spoken:
        return Spoken(await asyncio.to_thread(self.synthesize, text, voice))

    async def aclose(self) -> None:
        pass


@dataclass(frozen=True)
class Line:
    """One line to say, and the ledger's label for it (shot and script line)."""

    text: str
    voice: VoiceProfile
    delivery: Delivery
    label: str


@dataclass(frozen=True)
class Said:
    uri: str
    duration_s: float
    words: tuple[WordTiming, ...] = ()
    cost_usd: float = 0.0


def speech_key(engine: SpeechEngine, line: Line) -> str:
    request = engine.request(line.text, line.voice, line.delivery)
    payload = json.dumps([engine.name, engine.model, line.voice.voice_id, request, line.text], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


async def say_all(lines: list[Line], engine: SpeechEngine, store, budget=None) -> list[Said]:
    """Every line's speech, from the store when made before. Identical lines are made
    once; at most engine.concurrency are in flight. `budget` (zipx_core.generation.Budget)
    is required for a hosted engine."""
    if engine.hosted and budget is None:
        raise ValueError(f"{engine.name}: a hosted engine speaks only with a budget to charge")
    keys = [speech_key(engine, line) for line in lines]
    slots, first = asyncio.Semaphore(engine.concurrency), dict(zip(keys, lines))

    async def one(key: str, line: Line) -> Said:
        async with slots:
            return await _say(key, line, engine, store, budget)

    # a task group: the first failure (over budget, refused) cancels the lines not yet sent
    try:
        async with asyncio.TaskGroup() as group:
            tasks = {key: group.create_task(one(key, line)) for key, line in first.items()}
    except ExceptionGroup as failures:
        raise failures.exceptions[0] from None  # the first is the run's reason
    return [tasks[key].result() for key in keys]


async def _say(key: str, line: Line, engine: SpeechEngine, store, budget) -> Said:
    cached = await asyncio.to_thread(_cached, store, key)
    if cached:
        return cached
    if not engine.hosted:
        spoken = await engine.speak(line.text, line.voice, line.delivery)
    else:
        spoken = await _paid(key, line, engine, store, budget)
    return await asyncio.to_thread(_keep, store, key, engine, line, spoken)


async def _paid(key: str, line: Line, engine: SpeechEngine, store, budget) -> Spoken:
    """Charged before it is sent (BudgetExceeded stops it unsent), settled after."""
    estimate = engine.estimate_cost(line.text, line.voice, line.delivery)
    await budget.charge(key, estimate, line.label, stage="speech")
    try:
        spoken = await engine.speak(line.text, line.voice, line.delivery)
    except BadAudio:
        raise  # answered, so probably billed: the charge stays
    except ProviderError:
        await budget.refund(key)  # refused or never answered: nothing made, nothing to pay
        raise
    if spoken.cost_usd != estimate:
        await asyncio.to_thread(_settle, store, budget.drama, key, spoken.cost_usd)
    return spoken


def _cached(store, key: str) -> Said | None:
    record = Records(store).speech(key).get()
    if not (record and store.exists(record["uri"])):
        return None
    words = tuple(WordTiming.model_validate(w) for w in record.get("words", []))
    return Said(record["uri"], record["duration_s"], words, record.get("cost_usd", 0.0))


def _keep(store, key: str, engine: SpeechEngine, line: Line, spoken: Spoken) -> Said:
    with store.scratch_dir() as scratch:
        path = Path(scratch) / "line.wav"
        write_wav(path, spoken.speech)
        artifact = store.put_file(path, "speech", ".wav")
    said = Said(artifact.uri, spoken.speech.duration_s, spoken.speech.words, spoken.cost_usd)
    Records(store).speech(key).put({"uri": said.uri, "duration_s": said.duration_s, "engine": engine.name,
                                    "model": engine.model, "voice_id": line.voice.voice_id, "cost_usd": said.cost_usd,
                                    "words": [w.model_dump() for w in said.words]})
    return said


def _settle(store, drama: str, key: str, usd: float) -> None:
    """The ledger's charge for a sent line, from its estimate to what it cost."""
    def change(ledger: dict | None) -> dict | None:
        if not ledger or key not in ledger["charges"]:
            return None
        ledger["charges"][key]["usd"] = usd
        return ledger

    Records(store).spend(drama).update(change)


def write_wav(path: Path, speech: Speech) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(speech.sample_rate)
        out.writeframes(speech.samples.astype("<i2").tobytes())
