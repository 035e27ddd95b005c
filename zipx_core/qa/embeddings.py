"""Image embeddings for the continuity check, behind one small interface.

`ClipEmbedder` is open_clip's image encoder: the production choice, on a GPU. Its
weights cannot be downloaded here, and a randomly initialised CLIP cannot tell
characters apart (measured: cosine 0.60 same vs 0.57 different), so without weights it
refuses to start and says how to provide them; random weights only on explicit request,
logged as uncalibrated.

Whether weights exist is decided from the files, without importing torch (1.2 GB of a
process's memory): `choose_embedder` imports torch only when CLIP is chosen or may be.

`ColourEmbedder` is the offline default for the `local` renderer's frames: a
grey-world-normalised chroma histogram plus a coarse lightness histogram. Colour is
normalised first because the gate runs continuity before lighting: without it a colour
cast reads as another character (measured: AUC 0.1) and would be regenerated instead of
graded.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import BaseModel, Field

log = logging.getLogger("zipx.qa")


class EmbedderError(RuntimeError):
    pass


class Embedder(Protocol):
    name: str
    calibrated: bool

    def encode(self, frames: list[np.ndarray]) -> np.ndarray:
        """N RGB uint8 frames -> N x D, each row of unit length."""


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


class ColourEmbedder:
    """Whole-frame histogram plus one per quadrant (weighted half): the quadrants catch a
    wrong colour on one of several people. Measured on the sample's takes at 320x180
    (bench/continuity.py): at 0.85, 79% of visible drifts caught, no clean take rejected;
    the whole-frame histogram alone caught 69% with 2% false rejections."""

    name = "colour-v2"
    calibrated = True
    BINS = 16
    GRID = 2

    def _one(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        cells = [frame[i * h // self.GRID : (i + 1) * h // self.GRID, j * w // self.GRID : (j + 1) * w // self.GRID]
                 for i in range(self.GRID) for j in range(self.GRID)]
        return np.concatenate([self._histogram(frame)] + [0.5 * self._histogram(cell) for cell in cells])

    def _histogram(self, frame: np.ndarray) -> np.ndarray:
        rgb = frame[::2, ::2].reshape(-1, 3).astype(np.float64) + 1.0
        rgb *= rgb.mean() / rgb.mean(axis=0)  # grey world: a cast divides out
        total = rgb.sum(axis=1)
        chroma = rgb[:, :2] / total[:, None]  # r, g chromaticity: brightness-free
        weight = np.clip(rgb.max(axis=1) - rgb.min(axis=1), 0, None) + 8.0  # saturated pixels count more
        hist, _, _ = np.histogram2d(chroma[:, 0], chroma[:, 1], bins=self.BINS, range=[[0, 1], [0, 1]], weights=weight)
        light, _ = np.histogram(total / 3, bins=8, range=(0, 256))
        return np.concatenate([np.sqrt(hist.ravel() / hist.sum()), 0.5 * np.sqrt(light / light.sum())])

    def encode(self, frames: list[np.ndarray]) -> np.ndarray:
        return _unit(np.stack([self._one(f) for f in frames]))


class ClipConfig(BaseModel):
    model: str = "ViT-B-32"
    pretrained: str | None = Field("laion2b_s34b_b79k", description="open_clip tag, looked up in the open_clip cache")
    checkpoint_path: str | None = Field(None, description="a local checkpoint file; wins over `pretrained`")
    device: str = Field("auto", description="auto: CUDA when present")
    precision: str = Field("auto", description="auto: fp16 on a GPU, fp32 on the CPU")
    batch_size: int = 64
    allow_random_init: bool = Field(False, description="tests of the code path only: the embeddings mean nothing")


class ClipEmbedder:
    """Loaded lazily, once per process; frames encoded in batches."""

    calibrated = True

    def __init__(self, config: ClipConfig = ClipConfig()):
        self.config = config
        self.name = f"clip-{config.model}-{'random' if config.allow_random_init and not self._weights() else config.pretrained or 'checkpoint'}"
        self._model = None

    def _weights(self) -> str | None:
        if self.config.checkpoint_path:
            return self.config.checkpoint_path if Path(self.config.checkpoint_path).is_file() else None
        return self.config.pretrained

    def may_load(self) -> bool:
        """False only when CLIP surely cannot load: no checkpoint file, and offline with no
        open_clip weights in the caches open_clip reads (HF hub, its URL cache). Decided
        without importing torch; a True is settled by loading."""
        if self.config.allow_random_init:
            return True
        if self.config.checkpoint_path or not self.config.pretrained:
            return self._weights() is not None
        offline = os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() in ("1", "true", "yes", "on")
        return not offline or any(_cached_open_clip_weights())

    def _load(self):
        if self._model is not None:
            return self._model
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # fail in seconds, not after a minute of retries
        import open_clip
        import torch

        device = self.config.device if self.config.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        weights = self._weights()
        try:
            if not weights:
                raise FileNotFoundError(self.config.checkpoint_path or "no pretrained tag")
            if not self.config.checkpoint_path:  # find the weights before building a 600 MB model
                cfg = open_clip.get_pretrained_cfg(self.config.model, weights)
                if not cfg or not open_clip.download_pretrained(cfg):
                    raise FileNotFoundError(f"{self.config.model}/{weights} not in the open_clip cache")
            model, _, preprocess = open_clip.create_model_and_transforms(self.config.model, pretrained=weights, device=device)
        except Exception as error:
            if not self.config.allow_random_init:
                raise EmbedderError(
                    f"CLIP weights for {self.config.model} ({self.config.checkpoint_path or self.config.pretrained}) are not "
                    f"available offline ({type(error).__name__}). Put them in the open_clip cache (HF_HOME, as "
                    f"open_clip.create_model_and_transforms('{self.config.model}', pretrained='{self.config.pretrained}') "
                    "leaves them on a machine with network), or set checkpoint_path to a local .bin/.pt file."
                ) from None
            log.warning("CLIP %s with RANDOM weights: uncalibrated, for testing the code path only", self.config.model)
            model, _, preprocess = open_clip.create_model_and_transforms(self.config.model, pretrained=None, device=device)
            self.calibrated = False
        half = self.config.precision == "fp16" or (self.config.precision == "auto" and device.startswith("cuda"))
        model = model.half() if half else model
        model.eval()
        self._model = (model, preprocess, device, torch.float16 if half else torch.float32)
        return self._model

    def encode(self, frames: list[np.ndarray]) -> np.ndarray:
        from PIL import Image
        import torch

        model, preprocess, device, dtype = self._load()
        rows = []
        with torch.no_grad():
            for start in range(0, len(frames), self.config.batch_size):
                batch = torch.stack([preprocess(Image.fromarray(f)) for f in frames[start : start + self.config.batch_size]])
                rows.append(model.encode_image(batch.to(device=device, dtype=dtype)).float().cpu().numpy())
        return _unit(np.concatenate(rows))


def _cached_open_clip_weights():
    """Weight files open_clip may load offline: in the Hugging Face hub cache (resolved as
    huggingface_hub does) and the .pt files of its URL cache (~/.cache/clip)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    home = Path(os.environ.get("HF_HOME", cache / "huggingface"))
    hub = Path(os.environ.get("HF_HUB_CACHE", home / "hub"))
    for name in ("open_clip_pytorch_model.bin", "open_clip_model.safetensors", "pytorch_model.bin"):  # the names its table uses
        yield from hub.glob(f"models--*/snapshots/*/{name}")
    yield from (Path.home() / ".cache" / "clip").glob("*.pt")


def choose_embedder(kind: str = "auto", clip: ClipConfig = ClipConfig()) -> tuple[Embedder, str]:
    """The embedder to use and why. auto: CLIP when its weights load, else colour; torch is
    imported only when CLIP is asked for or its weights may be there."""
    if kind == "colour":
        return ColourEmbedder(), "colour embedder chosen in configuration"
    embedder = ClipEmbedder(clip)
    if kind == "auto" and not embedder.may_load():
        reason = ("no CLIP weights (none in the open_clip caches, offline): using the colour embedder, "
                  "calibrated for the local renderer only")
        log.warning(reason)
        return ColourEmbedder(), reason
    try:
        embedder._load()
        return embedder, f"CLIP {embedder.name}"
    except (EmbedderError, ImportError) as error:
        if kind == "clip":
            raise
        reason = f"no CLIP weights ({str(error).split('(')[0].strip()}): using the colour embedder, calibrated for the local renderer only"
        log.warning(reason)
        return ColourEmbedder(), reason

