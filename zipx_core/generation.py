"""Rendering every shot of a storyboard into takes.

A request is identified by the hash of everything that shapes its output (provider,
model, the request itself); a finished request is recorded in the store, so the same
request is never made (or paid for) twice, and a re-run picks up where the last stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel, Field

from zipx_core.media import probe, thumbnail_png
from zipx_core.models import Bibles, GenerationRequest, ShotsManifest, Storyboard, Take
from zipx_core.prompting import build_request
from zipx_core.providers import LocalRenderer
from zipx_core.storage import LocalArtifactStore

Progress = Callable[[int, int, str, float], None]


class RenderSettings(BaseModel):
    """Output format of generated clips. 640x360 keeps the offline demo near 10x real
    time on 2 cores; hosted models choose their own resolution from the quality dial."""

    width: int = Field(640, ge=64, le=3840)
    height: int = Field(360, ge=64, le=2160)
    fps: int = Field(24, ge=1, le=60)
    workers: int = Field(2, ge=1, le=32, description="shots rendered at once")


def request_hash(provider: str, model: str, request: GenerationRequest, attempt: int = 1) -> str:
    payload = json.dumps(
        {"provider": provider, "model": model, "attempt": attempt, "request": request.model_dump(mode="json")}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def render_take(request: GenerationRequest, renderer: LocalRenderer, store: LocalArtifactStore, attempt: int = 1) -> Take:
    """One take of a request, made once: a finished request is read back, not redone."""
    digest = request_hash(renderer.name, renderer.model, request, attempt)
    cached = store.get_record("takes", digest)
    if cached:
        take = Take.model_validate(cached)
        if store.exists(take.clip_uri):
            return take
    with store.scratch_dir() as scratch:
        clip = Path(scratch) / "clip.mp4"
        result = renderer.render(request, clip, attempt)
        info = probe(clip)
        thumb = Path(scratch) / "thumb.png"
        thumb.write_bytes(thumbnail_png(clip))
        clip_artifact = store.put_file(clip, "clips", ".mp4")
        thumb_artifact = store.put_file(thumb, "thumbnails", ".png")
    take = Take(
        shot_id=request.shot_id,
        attempt=attempt,
        provider=renderer.name,
        model=renderer.model,
        request_hash=digest,
        seed=request.seed,
        cost_usd=renderer.estimate_cost(request),
        clip_uri=clip_artifact.uri,
        clip_sha256=clip_artifact.sha256,
        frames=result.frames,
        duration_s=round(info.frames / float(info.fps), 4),
        thumbnail_uri=thumb_artifact.uri,
        injected_failure=result.injected,
    )
    store.put_record("takes", digest, take.model_dump(mode="json"))
    return take


def generate_shots(
    storyboard: Storyboard,
    bibles: Bibles,
    store: LocalArtifactStore,
    settings: RenderSettings = RenderSettings(),
    renderer: LocalRenderer | None = None,
    on_progress: Progress | None = None,
) -> ShotsManifest:
    renderer = renderer or LocalRenderer()
    requests = [build_request(shot, bibles, settings.width, settings.height, settings.fps) for shot in storyboard.shots]
    started = time.monotonic()
    takes: list[Take] = []
    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        # map keeps storyboard order; progress is reported as takes finish in order
        for take in pool.map(lambda r: render_take(r, renderer, store), requests):
            takes.append(take)
            if on_progress:
                on_progress(len(takes), len(requests), take.shot_id, time.monotonic() - started)
    return ShotsManifest(drama=storyboard.drama, episode=storyboard.episode, takes=takes)
