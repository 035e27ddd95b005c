"""One interface for every hosted image model: one image per call, from a prompt and
named reference images (a character's locked stills, a place's plate, a keyframe).

Image clients share the video clients' HTTP half (providers/base.py: retries honouring
Retry-After, typed errors, allow-listed and capped downloads). What differs: some APIs
answer at once with the image (Gemini, Seedream), others make a task to poll (Kling,
DashScope). Both meet in `generate`: an async API calls `on_task_id` with its task id
before the first poll, so the caller saves it and a crashed run resumes (`resume`)
instead of paying again."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError

from zipx_core.providers.base import DownloadRejected, HostedProvider

MAX_IMAGE_BYTES = 40 * 1024 * 1024
MAX_IMAGE_PIXELS = 64_000_000  # a decompression bomb is refused, not decoded

TaskSaver = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ImageReference:
    name: str  # what it shows, said to the model: "ANNA", "the KITCHEN", "the shot's keyframe"
    png: bytes
    url: str | None = None  # the same image where the store can serve URLs (S3 presigned)

    @property
    def base64(self) -> str:
        return base64.b64encode(self.png).decode()

    @property
    def data_uri(self) -> str:
        return f"data:image/png;base64,{self.base64}"


@dataclass
class ImageJob:
    prompt: str
    model: str
    width: int  # the frame the image is for (its aspect and, where the API takes one, its size)
    height: int
    seed: int
    key: str = ""  # the request's hash: an idempotency id where the API takes one
    references: list[ImageReference] = field(default_factory=list)
    negative_prompt: str = ""

    @property
    def aspect_ratio(self) -> str:
        if self.width == self.height:
            return "1:1"
        return "16:9" if self.width > self.height else "9:16"


def fitted_size(width: int, height: int, min_pixels: int, max_pixels: int, step: int = 16) -> tuple[int, int]:
    """The frame's aspect at an area the model takes (sides multiples of `step`): APIs that
    take a pixel size refuse one under their minimum area, and our draft frames are under it."""
    area = width * height
    scale = math.sqrt(min(max(area, min_pixels), max_pixels) / area)
    size = tuple(math.ceil(side * scale / step) * step for side in (width, height))
    if size[0] * size[1] > max_pixels:  # rounding up went over: round down instead
        size = tuple(max(step, math.floor(side * scale / step) * step) for side in (width, height))
    return size


def checked_image(provider: str, data: bytes) -> bytes:
    """`data` if it is a decodable PNG, JPEG or WebP image of sane size; DownloadRejected otherwise."""
    if len(data) > MAX_IMAGE_BYTES:
        raise DownloadRejected(provider, f"image: {len(data)} bytes is over the {MAX_IMAGE_BYTES} cap")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("PNG", "JPEG", "WEBP"):
                raise DownloadRejected(provider, f"image: {image.format} is not PNG, JPEG or WebP")
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise DownloadRejected(provider, f"image: {image.width}x{image.height} is too large")
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise DownloadRejected(provider, "image: not a decodable image") from None
    return data


class ImageProvider(HostedProvider):
    """A hosted image model. Subclasses build bodies and read answers; the caller (the
    still source) holds the budget, the ledger and the task records."""

    kind = "image"
    max_download_bytes = MAX_IMAGE_BYTES
    max_reference_images: int

    def estimate_cost(self, job: ImageJob) -> float:  # type: ignore[override]
        """Dollars for one image of `job.model` (prices per image, dated in images/__init__.py)."""
        return round(self.prices.get(job.model, 0.0), 4)

    async def generate(self, job: ImageJob, on_task_id: TaskSaver) -> bytes:
        """One image (checked decodable). An async API calls `on_task_id(task_id)` once
        submitted, before the first poll."""
        raise NotImplementedError

    async def resume(self, task_id: str) -> bytes:
        """The image of a task an earlier run submitted (async APIs only)."""
        raise NotImplementedError(f"{self.name} answers at once: there is no task to resume")

    async def fetch_image(self, url: str) -> bytes:
        """A result image by URL: allow-listed host, redirects within it, capped, checked."""
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "image"
            try:
                await self._fetch(url, path)
            except Exception as error:
                if isinstance(error, DownloadRejected):
                    raise
                raise DownloadRejected(self.name, f"image download broken off: {type(error).__name__}") from None
            return checked_image(self.name, path.read_bytes())


class AsyncImageProvider(ImageProvider):
    """An image API that makes a task to poll (Kling, DashScope): submit, save the task id,
    then poll and fetch; `resume` picks a saved task up again."""

    async def submit_image(self, job: ImageJob) -> str:
        raise NotImplementedError

    async def generate(self, job: ImageJob, on_task_id: TaskSaver) -> bytes:
        task_id = await self.submit_image(job)
        await on_task_id(task_id)  # saved before the first poll: a crash from here resumes, never pays twice
        return await self.resume(task_id)

    async def resume(self, task_id: str) -> bytes:
        state = await self.wait(task_id)  # poll() puts the image's URL in TaskState.video_url
        return await self.fetch_image(state.video_url)
