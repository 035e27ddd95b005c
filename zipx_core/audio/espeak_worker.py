"""eSpeak NG in a process of its own, each line spoken by a fresh fork of it.

eSpeak NG seeds its noise from the clock and carries state from one utterance to the
next, so one line spoken twice in one process comes out different. Here the library
is initialised once with a fixed seed and every line is spoken in a fork of that
state: the same line, voice and settings give the same samples in any order, in any
process, before and after a crash. The worker is single-threaded, so forking is safe.

Run by file path (it imports nothing of zipx). Protocol: the worker first writes a
JSON line {"ok", "rate"|"error"}; then, per request (one JSON line on stdin with
voice, rate, pitch and text), a JSON line {"ok", "bytes"|"error"} followed by
that many bytes of little-endian int16 mono samples.
"""

import ctypes
import json
import os
import sys

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1
ESPEAK_RATE, ESPEAK_VOLUME, ESPEAK_PITCH = 1, 2, 3
SEED = 20260101
SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def answer(header: dict, payload: bytes = b"") -> None:
    data = json.dumps(header).encode() + b"\n" + payload
    while data:
        data = data[os.write(1, data) :]


def speak(lib, request: dict) -> None:
    """Runs in the fork: speak one line, answer, exit."""
    chunks: list[bytes] = []

    @SYNTH_CALLBACK
    def collect(wav, count, _events):
        if count > 0:
            chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    lib.espeak_SetSynthCallback(collect)
    lib.espeak_ng_SetRandSeed(SEED)
    if lib.espeak_SetVoiceByName(request["voice"].encode()) != 0:
        return answer({"ok": False, "error": f"eSpeak NG has no voice {request['voice']!r}"})
    lib.espeak_SetParameter(ESPEAK_RATE, request["rate"], 0)
    lib.espeak_SetParameter(ESPEAK_PITCH, request["pitch"], 0)
    lib.espeak_SetParameter(ESPEAK_VOLUME, 100, 0)
    text = request["text"].encode("utf-8") + b"\0"
    status = lib.espeak_Synth(text, len(text), 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    if status != 0:
        return answer({"ok": False, "error": f"eSpeak NG failed ({status}) on {request['text'][:40]!r}"})
    samples = b"".join(chunks)
    answer({"ok": True, "bytes": len(samples)}, samples)


def main(library: str, data: str) -> None:
    lib = ctypes.CDLL(library)
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), 0)
    if rate <= 0:
        return answer({"ok": False, "error": "eSpeak NG failed to initialise (voice data missing?)"})
    answer({"ok": True, "rate": rate})
    for line in sys.stdin.buffer:
        request = json.loads(line)
        child = os.fork()
        if child == 0:
            code = 1
            try:
                speak(lib, request)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        if status != 0:  # the fork died before it could answer
            answer({"ok": False, "error": f"eSpeak NG crashed (wait status {status}) on {request['text'][:40]!r}"})


if __name__ == "__main__":
    main(*sys.argv[1:3])
