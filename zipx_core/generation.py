"""Rendering every shot of a storyboard into takes.

Every shot of an episode is in flight at once (asyncio), held back only by each
provider's concurrency limit (a semaphore: jobs running at the provider) and rate
limit (submissions per minute). A request is identified by the hash of everything
that shapes its output (provider, model, length, resolution, the request itself):

- a finished request is recorded in the store ("takes"), so it is never made twice;
- a submitted one is recorded the moment its task id is known ("tasks"), so a crashed
  or re-launched run resumes polling instead of paying again;
- identical requests in one run share one job;
- every submission is charged to the episode's and the drama's budget first ("spend");
  over budget, no new job starts, everything made so far is kept, and the shots left
  are reported with the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from zipx_core.media import conform_clip, probe, thumbnail_png
from zipx_core.models import Bibles, GenerationRequest, ShotsManifest, Storyboard, Take
from zipx_core.prompting import build_request
from zipx_core.providers import (
    CAPABILITIES,
    ContentPolicyRejected,
    DownloadRejected,
    HostedProvider,
    Job,
    LocalRenderer,
    ProviderError,
    RequestRejected,
    SubmissionUnknown,
    TaskFailed,
)
from zipx_core.routing import DEFAULT_PRICES, Quality, Route, all_on, plan_route
from zipx_core.storage import LocalArtifactStore

Progress = Callable[[int, int, str, float], None]
MAX_ATTEMPTS = 3  # a refused or failed job is tried again (new seed) at most this often


class RenderSettings(BaseModel):
    """Output format of generated clips. 640x360 keeps the offline demo near 10x real
    time on 2 cores; hosted clips are conformed to it so the episode joins by copy."""

    width: int = Field(640, ge=64, le=3840)
    height: int = Field(360, ge=64, le=2160)
    fps: int = Field(24, ge=1, le=60)
    workers: int = Field(2, ge=1, le=32, description="shots the local renderer draws at once")


class GenerationSettings(BaseModel):
    """The routing and spending side of generation: the quality dial, budgets, and
    per-provider limits and prices."""

    quality: Quality = Quality.balanced
    budget_episode_usd: float | None = Field(None, ge=0)
    budget_drama_usd: float | None = Field(None, ge=0)
    concurrency: dict[str, int] = {"veo3": 10, "kling": 5, "seedance": 10, "happyhorse": 5}
    submissions_per_minute: dict[str, float] = {"veo3": 10, "kling": 30, "seedance": 60, "happyhorse": 30}
    prices: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_PRICES))


class BudgetExceeded(RuntimeError):
    pass


class NoModelAvailable(RuntimeError):
    pass


class RetakeFailed(RuntimeError):
    """A regeneration the gate asked for produced no take (refused, failed, over budget…).
    `stops_submissions`: no regeneration can be submitted now (the budget is spent)."""

    def __init__(self, message: str, stops_submissions: bool = False):
        super().__init__(message)
        self.stops_submissions = stops_submissions


def reseeded(request: GenerationRequest, attempt: int) -> GenerationRequest:
    """The request for a shot's attempt `attempt` (1 = the first take, seed unchanged): a
    retry must not ask a seeded model for the very image it just refused or failed."""
    return request.model_copy(update={"seed": (request.seed + 7919 * (attempt - 1)) % 2**31})


def request_hash(provider: str, model: str, request: GenerationRequest, attempt: int = 1, **settings) -> str:
    payload = json.dumps(
        {"provider": provider, "model": model, "attempt": attempt, "request": request.model_dump(mode="json"), **settings},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _store_take(store, clip: Path, scratch: Path, take_fields: dict, digest: str) -> Take:
    info = probe(clip)
    thumb = scratch / "thumb.png"
    thumb.write_bytes(thumbnail_png(clip))
    clip_artifact = store.put_file(clip, "clips", ".mp4")
    thumb_artifact = store.put_file(thumb, "thumbnails", ".png")
    take = Take(**take_fields, request_hash=digest, clip_uri=clip_artifact.uri, clip_sha256=clip_artifact.sha256,
                frames=info.frames, duration_s=round(info.frames / float(info.fps), 4), thumbnail_uri=thumb_artifact.uri)
    store.put_record("takes", digest, take.model_dump(mode="json"))
    return take


def _cached(store, digest: str) -> Take | None:
    record = store.get_record("takes", digest)
    if record:
        take = Take.model_validate(record)
        if store.exists(take.clip_uri):
            return take
    return None


def render_take(request: GenerationRequest, renderer: LocalRenderer, store: LocalArtifactStore, attempt: int = 1) -> Take:
    """One take of a request on the local renderer, made once: a finished request is read back, not redone."""
    digest = request_hash(renderer.name, renderer.model, request, attempt)
    cached = _cached(store, digest)
    if cached:
        return cached
    with store.scratch_dir() as scratch:
        clip = Path(scratch) / "clip.mp4"
        result = renderer.render(request, clip, attempt)
        fields = dict(shot_id=request.shot_id, attempt=attempt, provider=renderer.name, model=renderer.model,
                      seed=request.seed, cost_usd=renderer.estimate_cost(request), injected_failure=result.injected)
        return _store_take(store, clip, Path(scratch), fields, digest)


class RateLimiter:
    """Spaces submissions evenly: at most `per_minute` a minute (no burst)."""

    def __init__(self, per_minute: float | None):
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.next_slot = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_slot)
            self.next_slot = slot + self.interval
        await asyncio.sleep(slot - now)


class Budget:
    """Charges are kept per drama in the store, one per request hash, so a request that
    is resumed or read back is never charged twice. The ledger is changed with the
    store's `update_record`, atomic for every run that shares the store: several
    processes on one machine, or several machines on one bucket."""

    def __init__(self, store, drama: str, episode: str, settings: GenerationSettings):
        self.store, self.drama, self.episode, self.settings = store, drama, episode, settings
        self.lock = asyncio.Lock()  # orders this run's own shots

    async def charge(self, digest: str, usd: float, shot_id: str) -> None:
        def add(ledger: dict | None) -> dict | None:
            charges = (ledger or {"charges": {}})["charges"]
            if digest in charges:
                return None
            episode_spent = sum(c["usd"] for c in charges.values() if c["episode"] == self.episode)
            drama_spent = sum(c["usd"] for c in charges.values())
            for scope, spent, limit in (("episode " + self.episode, episode_spent, self.settings.budget_episode_usd),
                                        ("drama " + self.drama, drama_spent, self.settings.budget_drama_usd)):
                if limit is not None and spent + usd > limit + 1e-9:
                    raise BudgetExceeded(f"budget for {scope} is ${limit:.2f}: ${spent:.2f} spent, "
                                         f"{shot_id} would add ${usd:.2f}; no new submissions")
            charges[digest] = {"episode": self.episode, "shot_id": shot_id, "usd": usd}
            return {"charges": charges}

        async with self.lock:
            await asyncio.to_thread(self.store.update_record, "spend", self.drama, add)

    async def refund(self, digest: str) -> None:
        def remove(ledger: dict | None) -> dict | None:
            if not ledger or digest not in ledger["charges"]:
                return None
            del ledger["charges"][digest]
            return ledger

        async with self.lock:
            await asyncio.to_thread(self.store.update_record, "spend", self.drama, remove)


@dataclass
class GenerationStats:
    submitted: Counter = field(default_factory=Counter)
    resumed: Counter = field(default_factory=Counter)
    cached: int = 0
    retried: Counter = field(default_factory=Counter)  # refused or failed jobs tried again, by provider
    rerouted: list[str] = field(default_factory=list)


class Generator:
    def __init__(self, store, renderer: LocalRenderer, providers: dict[str, HostedProvider], settings: RenderSettings,
                 generation: GenerationSettings, budget: Budget, sleep=asyncio.sleep, reference_url=None):
        self.store, self.renderer, self.providers = store, renderer, providers
        self.settings, self.generation, self.budget, self.sleep = settings, generation, budget, sleep
        self.reference_url = reference_url  # uri -> URL a provider can fetch (S3 presigned), or None
        self.available = set(providers)
        self.local_slots = asyncio.Semaphore(settings.workers)
        self.slots = {name: asyncio.Semaphore(generation.concurrency.get(name, 4)) for name in providers}
        self.rates = {name: RateLimiter(generation.submissions_per_minute.get(name)) for name in providers}
        self.inflight: dict[str, asyncio.Task] = {}
        self.stopped: str | None = None
        self.stats = GenerationStats()

    def route(self, request: GenerationRequest, shot) -> Route:
        route = plan_route(shot, self.generation.quality, CAPABILITIES, self.available, self.generation.prices,
                           references=len(request.reference_frames))
        if route.provider == "local" and self.providers:
            # hosted models are set up but none can take the shot now: fail it, never a stand-in render
            raise NoModelAvailable(f"no model can take {request.shot_id} now: {route.reason}")
        return route

    async def shot_take(self, shot, request: GenerationRequest) -> Take:
        """The shot's take: up to MAX_ATTEMPTS jobs; a provider that is down is replaced
        by the next fallback without using up an attempt."""
        attempt, last_error = 1, None
        # the shot's take from an earlier run, whichever model and attempt made it: never paid for again
        made_key = request_hash("shot", self.generation.quality.value, request)
        made = self.store.get_record("shot_takes", made_key)
        earlier = made and _cached(self.store, made["request_hash"])
        if earlier:
            self.stats.cached += 1
            return earlier
        while attempt <= MAX_ATTEMPTS:
            route = self.route(request, shot)
            if route.provider == "local":
                async with self.local_slots:
                    take = await asyncio.to_thread(render_take, request, self.renderer, self.store)
                # the route is this run's (the dial may have changed since the take was made)
                return take.model_copy(update={"intended_provider": route.intended, "estimated_cost_usd": route.estimated_cost_usd})
            try:
                take = await self.hosted_take(reseeded(request, attempt), route, attempt)
                self.store.put_record("shot_takes", made_key, {"request_hash": take.request_hash})
                return take
            except (ContentPolicyRejected, TaskFailed, DownloadRejected) as error:
                last_error = error
                self.stats.retried[route.provider] += 1
                attempt += 1
            except (BudgetExceeded, RequestRejected, SubmissionUnknown):
                raise
            except ProviderError as error:  # down after retries: route around it
                self.available.discard(route.provider)
                self.stats.rerouted.append(f"{request.shot_id}: {error}")
        raise last_error

    async def hosted_take(self, request: GenerationRequest, route: Route, attempt: int) -> Take:
        provider = self.providers[route.provider]
        digest = request_hash(provider.name, route.model, request, attempt, duration_s=route.duration_s, resolution=route.resolution)
        cached = _cached(self.store, digest)
        if cached:
            self.stats.cached += 1
            return cached
        if digest not in self.inflight:  # identical requests in one run share one job
            self.inflight[digest] = asyncio.ensure_future(self._make(provider, request, route, attempt, digest))
        return await self.inflight[digest]

    def _job(self, request: GenerationRequest, route: Route, digest: str) -> Job:
        stills = [uri for uri in request.reference_frames if self.store.exists(uri)]
        return Job(request=request, model=route.model, duration_s=int(route.duration_s), resolution=route.resolution, key=digest,
                   reference_images=[self.store.path(uri).read_bytes() for uri in stills],
                   reference_urls=[self.reference_url(uri) for uri in stills] if self.reference_url else [])

    async def _make(self, provider: HostedProvider, request: GenerationRequest, route: Route, attempt: int, digest: str) -> Take:
        job = provider.prepare(self._job(request, route, digest))
        estimate = provider.estimate_cost(job)
        async with self.slots[provider.name]:
            task = self.store.get_record("tasks", digest)
            if task and task.get("task_id"):
                task_id = task["task_id"]
                self.stats.resumed[provider.name] += 1
            elif task and task.get("state") == "submitting":
                raise SubmissionUnknown(provider.name, f"an earlier submission of {request.shot_id} was sent and its answer lost; "
                                        f"not sent again: check the provider's console, then `zipx tasks release {digest}`")
            else:
                if self.stopped:
                    raise BudgetExceeded(self.stopped)
                try:
                    await self.budget.charge(digest, estimate, request.shot_id)
                except BudgetExceeded as error:
                    self.stopped = str(error)
                    raise
                await self.rates[provider.name].wait()
                record = {"provider": provider.name, "model": route.model, "shot_id": request.shot_id, "state": "submitting"}
                self.store.put_record("tasks", digest, record)  # a crash from here on is never answered by sending again
                try:
                    task_id = await provider.submit(job)
                except SubmissionUnknown:
                    raise
                except ProviderError:  # refused or never delivered: nothing made, nothing to pay
                    self.store.put_record("tasks", digest, {**record, "state": "not_sent"})
                    await self.budget.refund(digest)
                    raise
                # saved before the first poll: from here on a crash costs nothing
                self.store.put_record("tasks", digest, {**record, "state": "submitted", "task_id": task_id, "submitted_at": time.time()})
                self.stats.submitted[provider.name] += 1
            state = await provider.wait(task_id, self.sleep)
        # the job is done at the provider: its slot is free while we fetch and conform the clip
        with self.store.scratch_dir() as scratch:
            raw, clip = Path(scratch) / "download.mp4", Path(scratch) / "clip.mp4"
            await provider.download(state.video_url, raw, job)
            await asyncio.to_thread(conform_clip, raw, clip, request.duration_s, self.settings.width, self.settings.height,
                                    self.settings.fps)
            fields = dict(shot_id=request.shot_id, attempt=attempt, provider=provider.name, model=route.model,
                          seed=request.seed, cost_usd=estimate, task_id=task_id,
                          intended_provider=route.intended, estimated_cost_usd=route.estimated_cost_usd)
            return await asyncio.to_thread(_store_take, self.store, clip, Path(scratch), fields, digest)


async def generate_episode(storyboard: Storyboard, bibles: Bibles, store, settings: RenderSettings = RenderSettings(),
                           generation: GenerationSettings = GenerationSettings(), renderer: LocalRenderer | None = None,
                           providers: dict[str, HostedProvider] | None = None, on_progress: Progress | None = None,
                           sleep=asyncio.sleep, reference_url=None) -> tuple[ShotsManifest, GenerationStats]:
    budget = Budget(store, storyboard.drama, storyboard.episode, generation)
    generator = Generator(store, renderer or LocalRenderer(), providers or {}, settings, generation, budget, sleep, reference_url)
    requests = [build_request(shot, bibles, settings.width, settings.height, settings.fps) for shot in storyboard.shots]
    started, done = time.monotonic(), 0

    async def one(shot, request):
        nonlocal done
        try:
            return await generator.shot_take(shot, request)
        finally:
            done += 1
            if on_progress:
                on_progress(done, len(requests), shot.shot_id, time.monotonic() - started)

    results = await asyncio.gather(*(one(s, r) for s, r in zip(storyboard.shots, requests)), return_exceptions=True)
    takes, failed = [], {}
    for shot, result in zip(storyboard.shots, results):
        if isinstance(result, Take):
            takes.append(result)
        elif isinstance(result, Exception):
            failed[shot.shot_id] = str(result)
        else:
            raise result  # KeyboardInterrupt, cancellation: not the shot's fault
    return ShotsManifest(drama=storyboard.drama, episode=storyboard.episode, takes=takes, failed=failed), generator.stats


def generate_shots(storyboard: Storyboard, bibles: Bibles, store, settings: RenderSettings = RenderSettings(),
                   renderer: LocalRenderer | None = None, on_progress: Progress | None = None,
                   generation: GenerationSettings = GenerationSettings(),
                   providers: dict[str, HostedProvider] | None = None, reference_url=None) -> ShotsManifest:
    """The synchronous entry point (Dagster assets, the CLI)."""

    async def run():
        try:
            return (await generate_episode(storyboard, bibles, store, settings, generation, renderer, providers,
                                           on_progress, reference_url=reference_url))[0]
        finally:
            for provider in (providers or {}).values():
                await provider.aclose()

    return asyncio.run(run())


def retake_function(storyboard: Storyboard, store, settings: RenderSettings, generation: GenerationSettings,
                    renderer: LocalRenderer, make_providers: Callable[[], dict[str, HostedProvider]], reference_url=None):
    """For the quality gate: one more take of a shot, routed like its first (hosted or
    local), recorded, resumable and charged like every other. Clients are made per call:
    an httpx client belongs to the event loop it was made in."""
    shots = {shot.shot_id: shot for shot in storyboard.shots}

    def retake(request: GenerationRequest, attempt: int) -> Take:
        async def one() -> Take:
            providers = make_providers()
            try:
                budget = Budget(store, storyboard.drama, storyboard.episode, generation)
                generator = Generator(store, renderer, providers, settings, generation, budget, reference_url=reference_url)
                route = generator.route(request, shots[request.shot_id])
                if route.provider == "local":
                    return render_take(request, renderer, store, attempt)
                return await generator.hosted_take(request, route, attempt)
            except (ProviderError, BudgetExceeded, NoModelAvailable) as error:  # a failed attempt for the gate, not a crash
                raise RetakeFailed(str(error), stops_submissions=isinstance(error, BudgetExceeded)) from None
            finally:
                for provider in providers.values():
                    await provider.aclose()

        return asyncio.run(one())

    return retake


def cost_summary(storyboard: Storyboard, manifest: ShotsManifest, generation: GenerationSettings) -> dict:
    """Shots per provider, estimated and actual cost, and the same episode all on Veo 3."""
    takes = manifest.takes
    all_veo = sum(all_on("veo3", shot, generation.quality, CAPABILITIES, generation.prices) for shot in storyboard.shots)
    estimated = sum(t.estimated_cost_usd for t in takes)
    return {
        "shots_by_provider": dict(Counter(t.provider for t in takes)),
        "shots_by_route": dict(Counter(t.intended_provider or t.provider for t in takes)),
        "estimated_cost_usd": round(estimated, 4),
        "actual_cost_usd": round(sum(t.cost_usd for t in takes), 4),
        "all_veo3_cost_usd": round(all_veo, 4),
        "saving_vs_all_veo3": round(1 - estimated / all_veo, 4) if all_veo else 0.0,
    }
