"""Text to speech with eSpeak NG, the embedded default.

The library and its voice data come from the espeakng-loader wheel (no system
package). It runs in a worker process of its own (espeak_worker.py) that speaks each
line in a fresh fork of its initialised, seeded state, so a line always gives the same
samples, whatever was spoken before it and in whichever process: a re-run or a resumed
run makes the same audio. One worker per process, started on first use; calls are
serialised with a lock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zipx_core.models import VoiceProfile

WORKER = Path(__file__).with_name("espeak_worker.py")


class SpeechError(RuntimeError):
    pass


@dataclass(frozen=True)
class Speech:
    samples: np.ndarray  # int16, mono
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


class EspeakEngine:
    name = "espeak-ng"
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

    def synthesize(self, text: str, voice: VoiceProfile) -> Speech:
        with EspeakEngine._lock:
            worker = self._start()
            request = {"voice": voice.voice_id, "rate": voice.rate_wpm, "pitch": voice.pitch, "text": text}
            worker.stdin.write(json.dumps(request).encode() + b"\n")
            worker.stdin.flush()
            size = self._header(worker)["bytes"]
            samples = np.frombuffer(worker.stdout.read(size), dtype="<i2").astype(np.int16)
            return Speech(samples=samples, sample_rate=EspeakEngine._rate)
