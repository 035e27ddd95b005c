"""Text to speech with eSpeak NG, the embedded default.

The library and its voice data come from the espeakng-loader wheel and are called
through ctypes (no system package). The library keeps global state, so calls are
serialised with a lock; it is initialised once per process.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

from zipx_core.models import VoiceProfile

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1
ESPEAK_RATE, ESPEAK_VOLUME, ESPEAK_PITCH = 1, 2, 3
SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


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
    _lib = None
    _rate = 0
    _chunks: list[np.ndarray] = []

    def _load(self):
        if EspeakEngine._lib is None:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            lib.espeak_Initialize.restype = ctypes.c_int
            rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
            if rate <= 0:
                raise SpeechError("eSpeak NG failed to initialise (voice data missing?)")

            @SYNTH_CALLBACK
            def collect(wav, count, _events):
                if count > 0:
                    EspeakEngine._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
                return 0

            EspeakEngine._callback = collect  # keep a reference: C holds the pointer
            lib.espeak_SetSynthCallback(collect)
            EspeakEngine._lib, EspeakEngine._rate = lib, rate
        return EspeakEngine._lib

    def synthesize(self, text: str, voice: VoiceProfile) -> Speech:
        with EspeakEngine._lock:
            lib = self._load()
            if lib.espeak_SetVoiceByName(voice.voice_id.encode()) != 0:
                raise SpeechError(f"eSpeak NG has no voice {voice.voice_id!r}")
            lib.espeak_SetParameter(ESPEAK_RATE, voice.rate_wpm, 0)
            lib.espeak_SetParameter(ESPEAK_PITCH, voice.pitch, 0)
            lib.espeak_SetParameter(ESPEAK_VOLUME, 100, 0)
            EspeakEngine._chunks = []
            data = text.encode("utf-8") + b"\0"
            status = lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            if status != 0:
                raise SpeechError(f"eSpeak NG failed ({status}) on {text[:40]!r}")
            samples = np.concatenate(EspeakEngine._chunks) if EspeakEngine._chunks else np.zeros(0, np.int16)
            return Speech(samples=samples.astype(np.int16), sample_rate=EspeakEngine._rate)
