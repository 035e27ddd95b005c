"""Where stills come from: reference sheets, location plates and keyframes.

One protocol, two sources. `LocalStills` draws with the offline renderer: free, the
demo's and the tests' ground truth. `HostedStills` asks a hosted image model, with the
video clients' discipline: each still is identified by the hash of what shapes it, made
once (the "stills" record), its task id saved before polling (the "image_tasks" record)
so a crashed run resumes instead of paying again, and charged to the drama's ledger
first (the same budgets as video). With hosted models set up, every still comes from
here; the offline drawer is never called (tests/dagster/test_keyframes.py checks it).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from zipx_core.models import GenerationRequest
from zipx_core.naming import stable_hash
from zipx_core.providers.base import ProviderError, SubmissionUnknown
from zipx_core.providers.images.base import ImageJob, ImageProvider, ImageReference
from zipx_core.records import Records

STILL_CONCURRENCY = 8  # image jobs in flight at once per source


@dataclass
class StillAsk:
    """One still to make: what an image model is told, and what the offline drawer draws."""

    label: str  # for the ledger and errors: "sheet anna/front-close-up", "keyframe ep01-sc001-02"
    prompt: str
    request: GenerationRequest  # the frame, place, people and light (the offline drawer reads these)
    seed: int
    references: list[tuple[str, str]] = field(default_factory=list)  # (name said to the model, artifact uri)
    stage: str = "sheet"  # sheet | plate | keyframe: the ledger's stage
    episode: str | None = None  # the episode it is charged to; None: the drama's (sheets, plates)

    def digest(self, source: str) -> str:
        """Unique per source, prompt, references, frame and seed: what shapes the image."""
        return str(stable_hash(source, self.prompt, *[uri for _, uri in self.references], self.request.width,
                               self.request.height, self.seed, self.stage))


@dataclass
class Made:
    uri: str
    cost_usd: float = 0.0
    cached: bool = False


class StillFailed(Exception):
    """No still for this ask (refused, failed, over budget): the caller decides what that means."""

    def __init__(self, message: str, stops: bool = False):
        super().__init__(message)
        self.stops = stops  # the budget is spent: no later round can be submitted either


class StillSource(Protocol):
    name: str  # "local", or "provider:model"
    hosted: bool

    def make(self, asks: list[StillAsk]) -> list[Made | StillFailed]:
        """All the asks at once, each a stored still (an artifact uri) or why not."""


def _store_png(store, png: bytes) -> str:
    with store.scratch_dir() as scratch:
        path = Path(scratch) / "still.png"
        path.write_bytes(png)
        return store.put_file(path, "stills", ".png").uri


class LocalStills:
    """The offline drawer: a still of the request's set (its place, people, framing, light)."""

    name, hosted = "local", False

    def __init__(self, store, renderer=None):
        from zipx_core.providers import LocalRenderer

        self.store, self.renderer = store, renderer or LocalRenderer()

    def make(self, asks: list[StillAsk]) -> list[Made | StillFailed]:
        made = []
        for ask in asks:
            buffer = io.BytesIO()
            self.renderer.still(ask.request.model_copy(update={"seed": ask.seed})).save(buffer, format="PNG")
            made.append(Made(_store_png(self.store, buffer.getvalue())))
        return made


class HostedStills:
    """A hosted image model, made once per ask, resumable, charged before submission."""

    hosted = True

    def __init__(self, make_provider: Callable[[], ImageProvider], provider: str, model: str, store, drama: str, generation,
                 reference_url=None):
        self.make_provider, self.model, self.store, self.drama = make_provider, model, store, drama
        self.provider: ImageProvider | None = None  # made per call: an HTTP client belongs to its event loop
        self.generation = generation  # zipx_core.generation.GenerationSettings: budgets
        self.reference_url = reference_url  # uri -> URL a provider can fetch (S3 presigned), or None
        self.name = f"{provider}:{model}"

    def make(self, asks: list[StillAsk]) -> list[Made | StillFailed]:
        return asyncio.run(self._make_all(asks)) if asks else []

    async def _make_all(self, asks: list[StillAsk]) -> list[Made | StillFailed]:
        from zipx_core.generation import Budget

        self.provider = self.make_provider()
        slots = asyncio.Semaphore(STILL_CONCURRENCY)
        budgets: dict[str | None, Budget] = {}

        async def one(ask: StillAsk) -> Made | StillFailed:
            budget = budgets.setdefault(ask.episode, Budget(self.store, self.drama, ask.episode, self.generation))
            async with slots:
                try:
                    return await self._make(ask, budget)
                except StillFailed as error:
                    return error
                except ProviderError as error:
                    return StillFailed(f"{ask.label}: {error}")

        try:
            return list(await asyncio.gather(*(one(ask) for ask in asks)))
        finally:
            await self.provider.aclose()

    async def _make(self, ask: StillAsk, budget) -> Made:
        from zipx_core.generation import BudgetExceeded

        digest, records = ask.digest(self.name), Records(self.store)
        made = await asyncio.to_thread(records.stills(digest).get)
        if made and await asyncio.to_thread(self.store.exists, made["uri"]):
            return Made(made["uri"], made.get("cost_usd", 0.0), cached=True)
        job = await asyncio.to_thread(self._job, ask, digest)
        estimate = self.provider.estimate_cost(job)
        task = await asyncio.to_thread(records.image_tasks(digest).get)
        if task and task.get("task_id"):
            png = await self.provider.resume(task["task_id"])
        elif task and task.get("state") == "submitting":
            raise StillFailed(f"{ask.label}: an earlier submission was sent and its answer lost; not sent again: "
                              f"check the provider's console, then `zipx tasks release {digest}`")
        else:
            try:
                await budget.charge(digest, estimate, ask.label, stage=ask.stage)
            except BudgetExceeded as error:
                raise StillFailed(str(error), stops=True) from None
            png = await self._submit(job, ask, digest, estimate, budget)
        uri = await asyncio.to_thread(_store_png, self.store, png)
        await asyncio.to_thread(records.stills(digest).put, {"uri": uri, "cost_usd": estimate, "source": self.name,
                                                             "label": ask.label})
        return Made(uri, estimate)

    async def _submit(self, job: ImageJob, ask: StillAsk, digest: str, estimate: float, budget) -> bytes:
        record = {"provider": self.provider.name, "model": self.model, "label": ask.label, "state": "submitting"}
        task = Records(self.store).image_tasks(digest)
        await asyncio.to_thread(task.put, record)  # a crash from here is never re-sent

        async def save(task_id: str) -> None:  # before the first poll
            await asyncio.to_thread(task.put, {**record, "state": "submitted", "task_id": task_id, "submitted_at": time.time()})

        try:
            return await self.provider.generate(job, save)
        except SubmissionUnknown:
            raise
        except ProviderError:
            answered = await asyncio.to_thread(task.get)
            if not (answered or {}).get("task_id"):  # refused before any job existed: nothing to pay
                await asyncio.to_thread(task.put, {**record, "state": "not_sent"})
                await budget.refund(digest)
            raise

    def _job(self, ask: StillAsk, digest: str) -> ImageJob:
        references = [ImageReference(name, self.store.path(uri).read_bytes(), self.reference_url(uri) if self.reference_url else None)
                      for name, uri in ask.references[: self.provider.max_reference_images]]
        return ImageJob(prompt=ask.prompt, model=self.model, width=ask.request.width, height=ask.request.height,
                        seed=ask.seed, key=digest, references=references, negative_prompt=ask.request.negative_prompt)
