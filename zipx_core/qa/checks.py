"""The gate's three checks, each against a set-up reference: a still rendered from the
locked bibles for the shot's set-up (place, framing, who is in frame).

Thresholds, and why:
- continuity: cosine similarity of every keyframe (first, middle, last) to the best
  reference, at least `threshold` (default 0.85 for every shot type, where the colour
  embedder rejected no clean take of the sample; the seed's 0.82 let more drift through;
  `zipx calibrate` sets them from approved frames at the equal error rate). The minimum over keyframes,
  so drift in any part of the take counts.
- lighting: per-channel gain of the take's mean colour against the reference. Up to
  8% (about a quarter stop of tint) is within grading tolerance of a real set; up to
  45% is corrected by matching each channel's mean and spread to the reference
  (Reinhard-style transfer) and re-checked; beyond, the take is regenerated.
- resolution: below the target, upscaled (lanczos) when within 2x, else discarded.
- blur: mean squared luma gradient under 35% of the reference's (measured on local
  takes: clean 0.6-1.6x the reference, a 3 px Gaussian blur under 0.15x).
- black frames: any frame whose mean luma is under 12 of 255 while the reference's is
  over 40 (a fade the script did not ask for, or a dropped frame).
- frozen: the largest mean difference between five frames spread over the take under
  2/255 (measured: clean local takes 4-26, frozen ones 0.7-1.2: coding noise only).
- flicker: frame-to-frame mean-luma swings with a standard deviation over 6% of the
  mean (lighting does not pulse inside one shot).
- blockiness: gradient energy on the 8-pixel grid over 3x that between it (visible
  macroblocks; clean local takes measure 0.9-1.4, still frames up to 2.7; not judged
  under 320 px wide, where clean takes reached 3.6). No failure mode injects it yet, so
  this limit is set from clean takes only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from zipx_core.qa.frames import luma

LIGHT_OK, LIGHT_FIXABLE = 0.08, 0.45
LUMA = np.array([0.299, 0.587, 0.114])


class Thresholds(BaseModel):
    continuity: dict[str, float] = Field(
        default_factory=lambda: {t: 0.85 for t in ("ECU", "CU", "MCU", "MS", "LS", "ELS")},
        description="per shot type, for the embedder they were calibrated on",
    )
    embedder: str = "colour-v2"
    blur_ratio: float = 0.35
    black_luma: float = 12.0
    frozen_spread: float = 2.0
    flicker: float = 0.06
    blockiness: float = 3.0


class StageResult(BaseModel):
    stage: str
    passed: bool
    value: float | None = None
    limit: float | None = None
    action: str | None = Field(None, description="graded, upscaled, or why it was discarded")


def channel_means(frames: np.ndarray) -> np.ndarray:
    """(n, h, w, 3) uint8 -> (n, 3). Integer sums, one channel at a time: exact, and
    several times faster than a float mean over interleaved channels."""
    flat = frames.reshape(len(frames), -1, 3)
    sums = np.stack([flat[:, :, c].sum(axis=1, dtype=np.uint64) for c in range(3)], axis=1)
    return sums / flat.shape[1]


@dataclass(frozen=True)
class ReferenceStats:
    """What lighting and artifacts read of a set-up's reference still: computed once per set-up."""

    mean: np.ndarray  # per channel
    std: np.ndarray
    sharpness: float
    luma: float

    @classmethod
    def of(cls, still: np.ndarray) -> ReferenceStats:
        pixels = still.reshape(-1, 3).astype(np.float64)
        mean = pixels.mean(axis=0)
        return cls(mean, pixels.std(axis=0), sharpness(luma(still)), float(mean @ LUMA))


@dataclass
class Sampled:
    """A take as the checks read it: every frame's mean luma, and RGB frames only at the
    indices they look at (`frames_read`), so a take is never held whole."""

    means: np.ndarray
    frames: dict[int, np.ndarray]

    @classmethod
    def of(cls, frames: list[np.ndarray], black_luma: float) -> Sampled:
        means = channel_means(np.stack(frames)) @ LUMA
        return cls(means, {i: frames[i] for i in frames_read(means, black_luma)})

    @property
    def width(self) -> int:
        return next(iter(self.frames.values())).shape[1]

    def stack(self, indices) -> np.ndarray:
        return np.stack([self.frames[i] for i in indices])


def key_indices(means: np.ndarray, black_luma: float) -> list[int]:
    """First, middle and last of the lit frames (black ones are the artifact check's)."""
    lit = [i for i, m in enumerate(means) if m >= black_luma] or list(range(len(means)))
    return [lit[0], lit[len(lit) // 2], lit[-1]]


def sample_indices(count: int) -> range:
    return range(0, count, max(1, count // 6))


def spread_indices(count: int) -> list[int]:
    return [int(i) for i in np.linspace(0, count - 1, 5).astype(int)]


def frames_read(means: np.ndarray, black_luma: float) -> list[int]:
    return sorted({*key_indices(means, black_luma), *sample_indices(len(means)), *spread_indices(len(means))})


def continuity(frame_embeddings: np.ndarray, reference_embeddings: np.ndarray, threshold: float) -> StageResult:
    similarity = float((frame_embeddings @ reference_embeddings.T).max(axis=1).min())
    return StageResult(stage="continuity", passed=similarity >= threshold, value=round(similarity, 4), limit=threshold)


def channel_gains(frames: np.ndarray, reference: ReferenceStats) -> np.ndarray:
    take = channel_means(frames).mean(axis=0) + 1.0
    gains = take / (reference.mean + 1.0)
    return gains / gains.mean()  # brightness aside: the tint


def lighting(frames: np.ndarray, reference: ReferenceStats) -> StageResult:
    deviation = float(np.abs(np.log(channel_gains(frames, reference))).max())
    if deviation <= LIGHT_OK:
        return StageResult(stage="lighting", passed=True, value=round(deviation, 4), limit=LIGHT_OK)
    action = "grade" if deviation <= LIGHT_FIXABLE else "discard: colour far from the set's palette"
    return StageResult(stage="lighting", passed=False, value=round(deviation, 4), limit=LIGHT_OK, action=action)


def transfer_colour(frame: np.ndarray, reference: ReferenceStats) -> np.ndarray:
    """Each channel's mean and spread matched to the reference's (Reinhard et al. 2001,
    in RGB: the frames here are graded for tint, not for a new look)."""
    f = frame.reshape(-1, 3).astype(np.float64)
    out = (f - f.mean(axis=0)) / (f.std(axis=0) + 1e-6) * reference.std + reference.mean
    return np.clip(out, 0, 255).astype(np.uint8).reshape(frame.shape)


def sharpness(grey: np.ndarray) -> float:
    """Mean squared gradient of a luma frame."""
    return float((np.diff(grey, axis=0) ** 2).mean() + (np.diff(grey, axis=1) ** 2).mean())


def blockiness(grey: np.ndarray) -> float:
    """Mean gradient across the 8-pixel grid of a luma frame over that between it."""
    columns = np.abs(np.diff(grey, axis=1)).mean(axis=0)
    return float(columns[7::8].mean() / (np.delete(columns, np.s_[7::8]).mean() + 1e-6))


def _frozen_spread(frames: list[np.ndarray]) -> float:
    pairs = [(a, b) for i, a in enumerate(frames) for b in frames[i + 1 :]]
    return max((_mean_difference(a, b) for a, b in pairs), default=0.0)


def _mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 frames, from an exact integer sum in uint8
    arithmetic (max - min): the same float as the mean over int16 differences, in half
    the time."""
    total = (np.maximum(a, b) - np.minimum(a, b)).sum(dtype=np.uint32 if a.size * 255 < 2**32 else np.uint64)
    return int(total) / a.size


def artifacts(take: Sampled, reference: ReferenceStats, thresholds: Thresholds) -> list[StageResult]:
    """All frames of the take (at the reference's size); every failed check is listed."""
    means, count = take.means, len(take.means)
    # one frame's luma at a time: a stack of them in float64 is 13 MB at 640x360
    greys = (luma(take.frames[i]) for i in sample_indices(count))
    blur_and_blocks = np.array([(sharpness(grey), blockiness(grey)) for grey in greys])
    blur = float(blur_and_blocks[:, 0].mean()) / (reference.sharpness + 1e-6)
    results = [StageResult(stage="blur", passed=blur >= thresholds.blur_ratio, value=round(blur, 3), limit=thresholds.blur_ratio)]
    dark = int((means < thresholds.black_luma).sum()) if reference.luma > 40 else 0
    results.append(StageResult(stage="black_frames", passed=dark == 0, value=dark, limit=0))
    spread = _frozen_spread([take.frames[i] for i in spread_indices(count) if means[i] >= thresholds.black_luma])
    results.append(StageResult(stage="frozen", passed=count < 12 or spread >= thresholds.frozen_spread, value=round(spread, 3), limit=thresholds.frozen_spread))
    lit = means[means >= thresholds.black_luma]
    swing = float(np.std(np.diff(lit)) / (lit.mean() + 1e-6)) if len(lit) > 2 else 0.0
    results.append(StageResult(stage="flicker", passed=swing <= thresholds.flicker, value=round(swing, 4), limit=thresholds.flicker))
    blocks = float(blur_and_blocks[:, 1].mean())
    # under 320 px a figure's edges fall on the 8-px grid as often as macroblocks do
    measurable = take.width >= 320
    results.append(StageResult(stage="blockiness", passed=blocks <= thresholds.blockiness or not measurable,
                               value=round(blocks, 3), limit=thresholds.blockiness))
    return results


def equal_error_threshold(same: list[float], other: list[float]) -> tuple[float, float]:
    """The threshold where the share of same-character pairs below it equals the share
    of other-character pairs at or above it; returns (threshold, that error rate). When
    the two sets do not overlap, the midpoint of the gap: as far from both as it can be."""
    if max(other) < min(same):
        return (max(other) + min(same)) / 2, 0.0
    candidates = sorted(set(same) | set(other))
    best = min(
        candidates,
        key=lambda t: abs(np.mean(np.array(same) < t) - np.mean(np.array(other) >= t)),
    )
    return float(best), float((np.mean(np.array(same) < best) + np.mean(np.array(other) >= best)) / 2)
