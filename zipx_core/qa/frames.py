"""Frames out of takes, as RGB arrays."""

from pathlib import Path

import av
import numpy as np


def keyframes(path: Path, count: int = 3) -> list[np.ndarray]:
    """First, middle(s) and last frame of a clip (count >= 2)."""
    frames = all_frames(path)
    picks = sorted({round(i * (len(frames) - 1) / (count - 1)) for i in range(count)})
    return [frames[i] for i in picks]


def all_frames(path: Path, step: int = 1) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i % step == 0]


def luma(frame: np.ndarray) -> np.ndarray:
    return frame[..., 0] * 0.299 + frame[..., 1] * 0.587 + frame[..., 2] * 0.114
