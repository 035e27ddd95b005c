"""Takes decoded for the gate: one pass over a clip, kept small.

One single-threaded scaler context per clip (PyAV's `to_ndarray(format=...)` builds a
new one for every frame, which cost more than decoding), and RGB kept only at the
frames the checks read: about 15 of a take's 100, whatever its length.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

from zipx_core.qa.checks import LUMA, Sampled, frames_read


def _mean_luma(frame: av.VideoFrame, reformatter: VideoReformatter) -> float:
    """Exactly the mean of `luma` over the frame's RGB pixels, from planar RGB: each
    plane's integer sum is one contiguous reduction."""
    planar = reformatter.reformat(frame, format="gbrp", threads=1)
    pixels = planar.width * planar.height
    g, b, r = (int(_plane(p, planar.width, planar.height).sum(dtype=_sum_type(pixels))) for p in planar.planes)
    return float(np.array([r, g, b]) @ LUMA) / pixels


def _packed_mean_luma(frame: av.VideoFrame, reformatter: VideoReformatter) -> float:
    """The same from packed RGB, a strided sum per channel: for clips whose planar RGB
    cannot be trusted (`mean_luma_reader`)."""
    rgb, pixels = _rgb(frame, reformatter), frame.width * frame.height
    r, g, b = (int(rgb[..., c].sum(dtype=_sum_type(pixels))) for c in range(3))
    return float(np.array([r, g, b]) @ LUMA) / pixels


MeanLuma = Callable[[av.VideoFrame, VideoReformatter], float]


def mean_luma_reader(frame: av.VideoFrame, reformatter: VideoReformatter) -> MeanLuma:
    """How to read a clip's mean lumas, decided on its first frame. Planar RGB is the faster,
    but this FFmpeg leaves the last columns of its planes unwritten (whatever memory held)
    at some widths, 1 to 8 past a multiple of 16 (180, 360, 854, 1080 among them): there
    the means would be wrong and differ from run to run. Where the first frame's planar
    and packed RGB differ, packed it is."""
    planar = reformatter.reformat(frame, format="gbrp", threads=1)
    g, b, r = (_plane(p, planar.width, planar.height) for p in planar.planes)
    return _mean_luma if np.array_equal(np.dstack([r, g, b]), _rgb(frame, reformatter)) else _packed_mean_luma


def _plane(plane, width: int, height: int) -> np.ndarray:
    values = np.frombuffer(plane, np.uint8).reshape(height, plane.line_size)
    return values[:, :width] if plane.line_size != width else values  # rows padded, or not


def _sum_type(pixels: int) -> type:
    """32-bit sums when they cannot overflow (frames under 16.8 megapixels): half the time
    of 64-bit ones, which were a third of reading a take (measured at 320x180: 6 of 19 ms)."""
    return np.uint32 if pixels * 255 < 2**32 else np.uint64


def sample_take(path: Path, black_luma: float) -> tuple[Sampled, tuple[int, int]]:
    """Every frame's mean luma and the frames the checks read; and the clip's (width, height).
    The frames to keep are guessed from the frame count in the clip's header (keyframes
    first, middle and last); when dark frames move the keyframes, or the header has no
    count, the clip is read again for the frames that were not kept."""
    reformatter = VideoReformatter()  # one scaler context, single-threaded: frames this small lose more to a pool
    means, kept, mean_luma = [], {}, None
    with av.open(str(path)) as container:
        count = container.streams.video[0].frames  # 0 when the header does not say
        guess = set(frames_read(np.full(count, 255.0), black_luma)) if count else set()
        for index, frame in enumerate(container.decode(video=0)):
            mean_luma = mean_luma or mean_luma_reader(frame, reformatter)
            means.append(mean_luma(frame, reformatter))
            if index in guess:
                kept[index] = _rgb(frame, reformatter)
            size = (frame.width, frame.height)
    means = np.array(means)
    needed = frames_read(means, black_luma)
    missing = {i for i in needed if i not in kept}
    if missing:
        with av.open(str(path)) as container:
            kept |= {i: _rgb(f, reformatter) for i, f in enumerate(container.decode(video=0)) if i in missing}
    return Sampled(means, {i: kept[i] for i in needed}), size


def _rgb(frame: av.VideoFrame, reformatter: VideoReformatter) -> np.ndarray:
    return reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray()


def all_frames(path: Path, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Every frame in RGB, upscaled (Lanczos) to `size` when given and different: for
    takes the gate re-encodes (graded or upscaled), not for judging."""
    reformatter = VideoReformatter()
    with av.open(str(path)) as container:
        frames = [_rgb(f, reformatter) for f in container.decode(video=0)]
    if size and (frames[0].shape[1], frames[0].shape[0]) != size:
        frames = [np.asarray(Image.fromarray(f).resize(size, Image.LANCZOS)) for f in frames]
    return frames
