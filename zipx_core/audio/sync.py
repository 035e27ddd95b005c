"""Measuring audio/video sync on a finished episode, from its decoded sound."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().mean(axis=0) for frame in container.decode(stream)]
        return np.concatenate(chunks), stream.rate


def line_offsets(episode: Path, lines: list[tuple[float, float, np.ndarray, int]], search_s: float = 0.2) -> list[float]:
    """For each (expected start, duration, the line's own speech, its rate): the lag at
    which the line's waveform best matches the episode's track, minus where it should be
    (seconds; 0 is perfect). Cross-correlation, so soft onsets do not fool it."""
    track, rate = decode_audio(episode)
    offsets = []
    for start, duration, speech, speech_rate in lines:
        template = np.interp(
            np.arange(0, len(speech) / speech_rate, 1 / rate), np.arange(len(speech)) / speech_rate, speech.astype(np.float64)
        )
        template = (template - template.mean()) / (template.std() or 1.0)
        begin = max(0, round((start - search_s) * rate))
        segment = track[begin : round((start + search_s) * rate) + len(template)]
        if len(segment) < len(template):
            offsets.append(float("inf"))
            continue
        score = np.correlate(segment - segment.mean(), template, mode="valid")
        offsets.append((begin + int(np.argmax(score))) / rate - start)
    return offsets
