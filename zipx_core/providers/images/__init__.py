"""The hosted image clients, the model each quality dial asks of them, what an image
costs, and which provider the dial prefers.

Each image client uses the keys of the video provider of the same vendor account
(IMAGE_KEYS): a drama that can render on Veo can draw stills on Gemini, and so on."""

from __future__ import annotations

from zipx_core.providers.images.base import ImageJob, ImageProvider, ImageReference, checked_image
from zipx_core.providers.images.gemini import GeminiImageProvider
from zipx_core.providers.images.kling import KlingImageProvider
from zipx_core.providers.images.seedream import SeedreamProvider
from zipx_core.providers.images.wan import WanImageProvider
from zipx_core.routing import Quality

IMAGE_HOSTED = {cls.name: cls for cls in (GeminiImageProvider, SeedreamProvider, KlingImageProvider, WanImageProvider)}

IMAGE_KEYS = {"gemini_image": "veo3", "seedream": "seedance", "kling_image": "kling", "wan_image": "happyhorse"}

IMAGE_MODELS: dict[str, dict[Quality, str]] = {
    "gemini_image": {Quality.draft: "gemini-2.5-flash-image", Quality.balanced: "gemini-2.5-flash-image",
                     Quality.premium: "gemini-3-pro-image-preview"},
    "seedream": {Quality.draft: "seedream-4-0-250828", Quality.balanced: "seedream-4-0-250828",
                 Quality.premium: "seedream-4-5-251128"},
    "kling_image": {Quality.draft: "kling-v2-1", Quality.balanced: "kling-v2-1", Quality.premium: "kling-v2-1"},
    # with references the Wan client asks wan2.5-i2i-preview instead (its editing model)
    "wan_image": {Quality.draft: "wan2.5-t2i-preview", Quality.balanced: "wan2.5-t2i-preview",
                  Quality.premium: "wan2.5-t2i-preview"},
}

# US dollars per image. Prices move: callers override them through `prices`.
DEFAULT_IMAGE_PRICES: dict[str, float] = {
    # Gemini API pricing (ai.google.dev/gemini-api/docs/pricing, as transcribed 2026-09-20,
    # read 2026-12-03): 2.5 Flash Image $30 per 1M output tokens x 1,290 tokens an image;
    # 3 Pro Image $0.134 per 1K/2K image.
    "gemini-2.5-flash-image": 0.039,
    "gemini-3-pro-image-preview": 0.134,
    # BytePlus billing page (docs.byteplus.com, read 2026-12-03): 0.03 and 0.04 USD / image.
    "seedream-4-0-250828": 0.03,
    "seedream-4-5-251128": 0.04,
    # Kling's own per-image price was not found; inference.sh's resale list (2026-08-07,
    # read 2026-12-03): kling-v2-1 $0.014 from text, $0.056 from several images.
    "kling-v2-1": 0.014,
    "kling-v2-1@references": 0.056,
    # Alibaba's image price page was not found; resellers (WaveSpeed, read 2026-12-03)
    # sell Wan 2.5 image edits at $0.03 an image; the text-to-image price is assumed equal.
    "wan2.5-t2i-preview": 0.03,
    "wan2.5-i2i-preview": 0.03,
}

# The dial's order of preference: the cheap consistent model first for drafts, the
# strongest at keeping a cast's faces (Gemini) for balanced and premium.
IMAGE_PREFERENCE: dict[Quality, tuple[str, ...]] = {
    Quality.draft: ("seedream", "gemini_image", "wan_image", "kling_image"),
    Quality.balanced: ("gemini_image", "seedream", "kling_image", "wan_image"),
    Quality.premium: ("gemini_image", "seedream", "kling_image", "wan_image"),
}


def choose_image_model(quality: Quality, available: set[str]) -> tuple[str, str] | None:
    """(provider, model) of the first provider the dial prefers that is available, or None."""
    quality = Quality(quality)
    name = next((name for name in IMAGE_PREFERENCE[quality] if name in available), None)
    return (name, IMAGE_MODELS[name][quality]) if name else None


__all__ = [
    "DEFAULT_IMAGE_PRICES", "IMAGE_HOSTED", "IMAGE_KEYS", "IMAGE_MODELS", "IMAGE_PREFERENCE", "GeminiImageProvider",
    "ImageJob", "ImageProvider", "ImageReference", "KlingImageProvider", "SeedreamProvider", "WanImageProvider",
    "checked_image", "choose_image_model",
]
