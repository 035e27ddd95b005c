"""Measuring audio/video sync on a finished episode, from its decoded sound."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

WINDOW_S = 0.005


def _envelope(samples: np.ndarray, rate: int) -> np.ndarray:
    size = max(1, round(rate * WINDOW_S))
    usable = len(samples) // size * size
    frames = samples[:usable].astype(np.float64).reshape(-1, size)
    return np.sqrt((frames**2).mean(axis=1))


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().mean(axis=0) for frame in container.decode(stream)]
        return np.concatenate(chunks), stream.rate


def speech_onset(samples: np.ndarray, rate: int, relative: float = 0.1) -> float | None:
    """Seconds to the first 5 ms window louder than `relative` of the loudest one."""
    envelope = _envelope(samples, rate)
    if not len(envelope) or envelope.max() <= 0:
        return None
    return float(np.flatnonzero(envelope > envelope.max() * relative)[0] * WINDOW_S)


def line_offsets(episode: Path, lines: list[tuple[float, float, np.ndarray, int]]) -> list[float]:
    """For each (expected start, duration, the line's own speech, its rate): how far the
    line's onset in the episode's track is from where it should be (seconds; 0 is perfect)."""
    track, rate = decode_audio(episode)
    offsets = []
    for start, duration, speech, speech_rate in lines:
        own = speech_onset(speech, speech_rate) or 0.0
        begin = max(0, round((start - 0.2) * rate))  # lines are at least 0.25 s apart
        found = speech_onset(track[begin : round((start + duration) * rate)], rate)
        offsets.append(float("inf") if found is None else (begin / rate + found) - (start + own))
    return offsets
