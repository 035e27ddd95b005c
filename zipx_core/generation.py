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
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from zipx_core.media import probe, thumbnail_png
from zipx_core.media.ffmpeg import Conform, conform_clips
from zipx_core.models import Bibles, GenerationRequest, KeyframeSet, ReferenceSet, ShotsManifest, Storyboard, Take
from zipx_core.policy import reseeded
from zipx_core.prompting import shot_requests, speaks_natively
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
from zipx_core.records import Records
from zipx_core.routing import DEFAULT_PRICES, Aspect, Quality, Route, all_on, frame_size, plan_route
from zipx_core.storage import LocalArtifactStore

Progress = Callable[[int, int, str, float], None]
MAX_ATTEMPTS = 3  # a refused or failed job is tried again (new seed) at most this often
# store calls wait on disk or S3 round trips more than on the CPU: several at once
RECORD_THREADS = 16  # the calls a submission waits for (task records, the budget ledger)
FILE_THREADS = 8  # finished clips: scratch folders, probes, thumbnails, uploads
# clips per ffmpeg run at most; measured on 2 cores: 4 short clips in one run take a
# quarter less CPU than 4 runs; 8 in one run are no better than 4
CONFORM_BATCH = 4


class RenderSettings(BaseModel):
    """Output format of generated clips. 640x360 keeps the offline demo near 10x real
    time on 2 cores; every take, hosted ones included, is conformed to it so the episode
    joins by copy. `for_dial`: the size the quality dial picks (what hosted takes paid for)."""

    width: int = Field(640, ge=64, le=3840)
    height: int = Field(360, ge=64, le=3840)  # 9:16 frames are taller than wide
    fps: int = Field(24, ge=1, le=60)
    workers: int = Field(2, ge=1, le=32, description="shots the local renderer draws at once")

    @classmethod
    def for_dial(cls, quality: Quality, aspect: Aspect = Aspect.landscape, hosted: bool = False, **rest) -> RenderSettings:
        """The frame of routing.FRAME_SIZES: the paid resolution on hosted models, the small default offline."""
        width, height = frame_size(quality, aspect, hosted)
        return cls(width=width, height=height, **rest)

    @property
    def aspect(self) -> Aspect:
        return Aspect.landscape if self.width >= self.height else Aspect.portrait


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


def request_hash(provider: str, model: str, request: GenerationRequest, attempt: int = 1, **settings) -> str:
    shaped = request.model_dump(mode="json", exclude={"keyframe_uri"} if request.keyframe_uri is None else None)
    payload = json.dumps(
        {"provider": provider, "model": model, "attempt": attempt, "request": shaped, **settings},
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
    Records(store).takes(digest).put(take.model_dump(mode="json"))
    return take


def _cached(store, digest: str) -> Take | None:
    record = Records(store).takes(digest).get()
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
    processes on one machine, or several machines on one bucket.

    Charges and refunds that arrive while the ledger is being written wait and go in
    the next write, together, in the order they came: a burst of submissions (a wave of
    100 at a high limit) costs a few ledger writes, not 100 one after another."""

    def __init__(self, store, drama: str, episode: str | None, settings: GenerationSettings, run_io=None):
        self.store, self.drama, self.episode, self.settings = store, drama, episode, settings
        self.run_io = run_io or asyncio.to_thread  # runs a blocking store call off the event loop
        self.pending: list[tuple[str, float | None, str, str, asyncio.Future]] = []  # usd None: a refund
        self.writer: asyncio.Task | None = None

    async def charge(self, digest: str, usd: float, shot_id: str, stage: str = "video") -> None:
        """Returns once the charge is in the ledger; BudgetExceeded if it does not fit.
        `stage`: video, sheet, plate or keyframe (the ledger's cost per stage)."""
        await self._queue(digest, usd, shot_id, stage)

    async def refund(self, digest: str) -> None:
        await self._queue(digest, None, "", "")

    async def _queue(self, digest: str, usd: float | None, shot_id: str, stage: str) -> None:
        done = asyncio.get_running_loop().create_future()
        self.pending.append((digest, usd, shot_id, stage, done))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.ensure_future(self._write_all())
        await done

    async def _write_all(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            refused: dict[int, BudgetExceeded] = {}
            try:
                ledger = Records(self.store).spend(self.drama)
                await self.run_io(ledger.update, lambda charges: self._apply(batch, charges, refused))
            except Exception as error:  # the store failed: every caller of this write hears it
                refused = dict.fromkeys(range(len(batch)), error)
            for index, (*_, done) in enumerate(batch):
                if not done.done():  # its caller may have been cancelled
                    done.set_exception(refused[index]) if index in refused else done.set_result(None)

    def _apply(self, batch, ledger: dict | None, refused: dict) -> dict | None:
        """The batch applied in order (the store may call this again on a write conflict)."""
        refused.clear()
        charges, changed = (ledger or {"charges": {}})["charges"], False
        episode_spent = sum(c["usd"] for c in charges.values() if c["episode"] == self.episode)
        drama_spent = sum(c["usd"] for c in charges.values())
        for index, (digest, usd, shot_id, stage, _) in enumerate(batch):
            if usd is None:  # a refund
                gone = charges.pop(digest, None)
                if gone:
                    drama_spent -= gone["usd"]
                    episode_spent -= gone["usd"] if gone["episode"] == self.episode else 0.0
                    changed = True
            elif digest not in charges:
                try:
                    self._check(episode_spent, drama_spent, usd, shot_id)
                except BudgetExceeded as error:
                    refused[index] = error
                    continue
                charges[digest] = {"episode": self.episode, "shot_id": shot_id, "usd": usd, "stage": stage}
                episode_spent, drama_spent, changed = episode_spent + usd, drama_spent + usd, True
        return {"charges": charges} if changed else None

    def _check(self, episode_spent: float, drama_spent: float, usd: float, shot_id: str) -> None:
        for scope, spent, limit in (("episode " + str(self.episode), episode_spent, self.settings.budget_episode_usd),
                                    ("drama " + self.drama, drama_spent, self.settings.budget_drama_usd)):
            if scope.startswith("episode None"):  # the drama's own stills (sheets, plates): no episode's budget
                continue
            if limit is not None and spent + usd > limit + 1e-9:
                raise BudgetExceeded(f"budget for {scope} is ${limit:.2f}: ${spent:.2f} spent, "
                                     f"{shot_id} would add ${usd:.2f}; no new submissions")


@dataclass
class GenerationStats:
    submitted: Counter = field(default_factory=Counter)
    resumed: Counter = field(default_factory=Counter)
    cached: int = 0
    retried: Counter = field(default_factory=Counter)  # refused or failed jobs tried again, by provider
    rerouted: list[str] = field(default_factory=list)


class Workers:
    """Blocking work off the event loop, in three bounded pools, so that the calls that
    let the next job start never queue behind the work on finished clips: records (task
    records, the budget ledger: small store calls), files (scratch folders, storing a
    take: probe, thumbnail, upload) and media (ffmpeg: CPU-bound, so one per core)."""

    def __init__(self):
        self.media_size = os.cpu_count() or 2
        self.pools = [ThreadPoolExecutor(RECORD_THREADS, thread_name_prefix="zipx-records"),
                      ThreadPoolExecutor(FILE_THREADS, thread_name_prefix="zipx-files"),
                      ThreadPoolExecutor(self.media_size, thread_name_prefix="zipx-media")]

    async def _in(self, pool: ThreadPoolExecutor, function, *args):
        return await asyncio.get_running_loop().run_in_executor(pool, function, *args)

    async def records(self, function, *args):
        return await self._in(self.pools[0], function, *args)

    async def files(self, function, *args):
        return await self._in(self.pools[1], function, *args)

    async def media(self, function, *args):
        return await self._in(self.pools[2], function, *args)

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown(wait=False)


class Conformer:
    """Downloaded clips waiting to be conformed to the episode's format: each media worker
    takes up to CONFORM_BATCH of them, oldest first, into one ffmpeg run."""

    def __init__(self, workers: Workers, settings: RenderSettings):
        self.workers, self.settings = workers, settings
        self.waiting: list[tuple[Conform, asyncio.Future]] = []
        self.runners: set[asyncio.Task] = set()  # held here: the loop keeps only weak references

    async def conform(self, source: Path, out: Path, seconds: float, keep_audio: bool = False) -> None:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((Conform(source, out, seconds, keep_audio), done))
        if len(self.runners) < self.workers.media_size:
            self.runners.add(asyncio.ensure_future(self._run()))
        await done

    async def _run(self) -> None:
        size = (self.settings.width, self.settings.height, self.settings.fps)
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[:CONFORM_BATCH], self.waiting[CONFORM_BATCH:]
                try:
                    errors = await self.workers.media(conform_clips, [clip for clip, _ in batch], *size)
                except Exception as error:  # ffmpeg missing, the pool shut: every clip of the batch hears it
                    errors = [error] * len(batch)
                for (_, done), error in zip(batch, errors):
                    if not done.done():  # its shot may have been cancelled
                        done.set_exception(error) if error else done.set_result(None)
        finally:
            self.runners.discard(asyncio.current_task())  # at once: a clip queued next starts a runner


class Turnstile:
    """Lets shots on to the providers' queues in their order in the episode (their rank),
    although the store reads each makes first finish in any order: submissions, and what
    a budget admits, follow the storyboard. A shot passes once, or leaves (read back,
    failed, sharing another's job); rank None (a retry, a retake) does not queue here."""

    def __init__(self):
        self.next = 0
        self.left: set[int] = set()
        self.waiting: dict[int, asyncio.Future] = {}

    async def wait(self, rank: int | None) -> None:
        if rank is not None and rank > self.next:
            self.waiting[rank] = asyncio.get_running_loop().create_future()
            await self.waiting[rank]

    def leave(self, rank: int | None) -> None:
        if rank is None or rank < self.next or rank in self.left:
            return
        self.left.add(rank)
        while self.next in self.left:
            self.left.discard(self.next)
            self.next += 1
        waiter = self.waiting.pop(self.next, None)
        if waiter and not waiter.done():
            waiter.set_result(None)


def video_models(renderer: LocalRenderer | None = None, providers: dict[str, HostedProvider] | None = None) -> dict:
    """Every video model by the name routes use, `local` among them (a clean renderer when none
    is given): what zipx_core.studio.Studio.video_models returns, made from its two parts."""
    return {"local": renderer or LocalRenderer(), **(providers or {})}


class Generator:
    """Takes for one run, on `models` (name -> video model, as Studio.video_models gives them):
    a model that is `hosted` is submitted to, polled and fetched from under its limits and the
    budget; one that is not (`local`) renders here, a few shots at a time."""

    def __init__(self, store, models: dict, settings: RenderSettings, generation: GenerationSettings, budget: Budget,
                 sleep=asyncio.sleep, reference_url=None, workers: Workers | None = None):
        self.store, self.records, self.models = store, Records(store), models
        self.workers = workers or Workers()
        self.conformer = Conformer(self.workers, settings)
        self.turnstile = Turnstile()
        self.settings, self.generation, self.budget, self.sleep = settings, generation, budget, sleep
        self.reference_url = reference_url  # uri -> URL a provider can fetch (S3 presigned), or None
        self.hosted = {name for name, model in models.items() if model.hosted}
        self.available = set(self.hosted)  # less the ones found down during the run
        self.local_slots = asyncio.Semaphore(settings.workers)
        self.slots = {name: asyncio.Semaphore(generation.concurrency.get(name, 4)) for name in self.hosted}
        self.rates = {name: RateLimiter(generation.submissions_per_minute.get(name)) for name in self.hosted}
        self.inflight: dict[str, asyncio.Task] = {}
        self.stopped: str | None = None
        self.stats = GenerationStats()

    def route(self, request: GenerationRequest, shot) -> Route:
        route = plan_route(shot, self.generation.quality, CAPABILITIES, self.available, self.generation.prices,
                           references=len(request.reference_frames))
        if route.provider not in self.hosted and self.hosted:
            # hosted models are set up but none can take the shot now: fail it, never a stand-in render
            raise NoModelAvailable(f"no model can take {request.shot_id} now: {route.reason}")
        return route

    async def shot_take(self, shot, request: GenerationRequest, rank: int | None = None) -> Take:
        """The shot's take: up to MAX_ATTEMPTS jobs; a provider that is down is replaced
        by the next fallback without using up an attempt. `rank`: the shot's place in
        the episode, the order its first job queues for a provider in."""
        try:
            return await self._shot_take(shot, request, rank)
        finally:
            self.turnstile.leave(rank)

    async def _shot_take(self, shot, request: GenerationRequest, rank: int | None) -> Take:
        attempt, last_error = 1, None
        # the shot's take from an earlier run, whichever model and attempt made it: never paid for again
        made_key = request_hash("shot", self.generation.quality.value, request)
        earlier = await self.workers.records(self._made_before, made_key)
        if earlier:
            self.stats.cached += 1
            return earlier
        while attempt <= MAX_ATTEMPTS:
            route = self.route(request, shot)
            if route.provider not in self.hosted:  # rendered here: one attempt, never paid for
                take = await self.take(request, route, 1, rank)
                # the route is this run's (the dial may have changed since the take was made)
                return take.model_copy(update={"intended_provider": route.intended, "estimated_cost_usd": route.estimated_cost_usd})
            try:
                take = await self.take(reseeded(request, attempt), route, attempt, rank)
                await self.workers.records(self.records.shot_takes(made_key).put, {"request_hash": take.request_hash})
                return take
            except (ContentPolicyRejected, TaskFailed, DownloadRejected) as error:
                rank, last_error = None, error  # a retry queues behind the shots waiting
                self.stats.retried[route.provider] += 1
                attempt += 1
            except (BudgetExceeded, RequestRejected, SubmissionUnknown):
                raise
            except ProviderError as error:  # down after retries: route around it
                rank = None
                self.available.discard(route.provider)
                self.stats.rerouted.append(f"{request.shot_id}: {error}")
        raise last_error

    def _made_before(self, made_key: str) -> Take | None:
        made = self.records.shot_takes(made_key).get()
        return made and _cached(self.store, made["request_hash"])

    async def take(self, request: GenerationRequest, route: Route, attempt: int = 1, rank: int | None = None) -> Take:
        """One take of the request on the route's model, made once: rendered here, or submitted and fetched."""
        model = self.models[route.provider]
        if model.hosted:
            return await self.hosted_take(request, route, attempt, rank)
        self.turnstile.leave(rank)  # a render waits for no provider's queue
        async with self.local_slots:
            return await asyncio.to_thread(render_take, request, model, self.store, attempt)

    async def hosted_take(self, request: GenerationRequest, route: Route, attempt: int, rank: int | None = None) -> Take:
        provider = self.models[route.provider]
        digest = request_hash(provider.name, route.model, request, attempt, duration_s=route.duration_s, resolution=route.resolution)
        cached = await self.workers.records(_cached, self.store, digest)
        if cached:
            self.stats.cached += 1
            return cached
        if digest in self.inflight:  # identical requests in one run share one job
            self.turnstile.leave(rank)  # (its maker may be waiting for this shot's turn)
        else:
            self.inflight[digest] = asyncio.ensure_future(self._make(provider, request, route, attempt, digest, rank))
        return await self.inflight[digest]

    def _job(self, request: GenerationRequest, route: Route, digest: str) -> Job:
        stills = [uri for uri in request.reference_frames if self.store.exists(uri)]
        first = request.keyframe_uri if request.keyframe_uri and self.store.exists(request.keyframe_uri) else None
        return Job(request=request, model=route.model, duration_s=int(route.duration_s), resolution=route.resolution, key=digest,
                   reference_images=[self.store.path(uri).read_bytes() for uri in stills],
                   reference_urls=[self.reference_url(uri) for uri in stills] if self.reference_url else [],
                   first_frame=self.store.path(first).read_bytes() if first else None,
                   first_frame_url=self.reference_url(first) if first and self.reference_url else None)

    async def _make(self, provider: HostedProvider, request: GenerationRequest, route: Route, attempt: int, digest: str,
                    rank: int | None) -> Take:
        try:
            job = provider.prepare(await self.workers.records(self._job, request, route, digest))
            # read before the slot: one store round trip less between a slot freed and the next
            # submission (no other coroutine of this run makes this request: they share this one)
            task = await self.workers.records(self.records.tasks(digest).get)
            await self.turnstile.wait(rank)
        finally:
            self.turnstile.leave(rank)  # nothing awaited from here to the slot's queue: the order holds
        estimate = provider.estimate_cost(job)
        async with self.slots[provider.name]:
            task_id = await self._submit_or_resume(provider, job, route, estimate, digest, task)
            state = await provider.wait(task_id, self.sleep)
        # the job is done at the provider: its slot is free while we fetch and conform the clip
        scratch = await self.workers.files(self.store.scratch_dir)
        try:
            raw, clip = Path(scratch.name) / "download.mp4", Path(scratch.name) / "clip.mp4"
            await provider.download(state.video_url, raw, job)
            # a natively voiced clip keeps its own sound: the episode plays it instead of the dialogue track
            await self.conformer.conform(raw, clip, request.duration_s, keep_audio=speaks_natively(request))
            fields = dict(shot_id=request.shot_id, attempt=attempt, provider=provider.name, model=route.model,
                          seed=request.seed, cost_usd=estimate, task_id=task_id,
                          intended_provider=route.intended, estimated_cost_usd=route.estimated_cost_usd)
            return await self.workers.files(_store_take, self.store, clip, Path(scratch.name), fields, digest)
        finally:
            await self.workers.files(scratch.cleanup)

    async def _submit_or_resume(self, provider: HostedProvider, job: Job, route: Route, estimate: float, digest: str,
                                task: dict | None) -> str:
        """The task id of the job: an earlier run's (`task`, its record), or a new submission's (charged first)."""
        shot_id, put_record = job.request.shot_id, self.records.tasks(digest).put
        if task and task.get("task_id"):
            self.stats.resumed[provider.name] += 1
            return task["task_id"]
        if task and task.get("state") == "submitting":
            raise SubmissionUnknown(provider.name, f"an earlier submission of {shot_id} was sent and its answer lost; "
                                    f"not sent again: check the provider's console, then `zipx tasks release {digest}`")
        if self.stopped:
            raise BudgetExceeded(self.stopped)
        try:
            await self.budget.charge(digest, estimate, shot_id)
        except BudgetExceeded as error:
            self.stopped = str(error)
            raise
        await self.rates[provider.name].wait()
        record = {"provider": provider.name, "model": route.model, "shot_id": shot_id, "state": "submitting"}
        await self.workers.records(put_record, record)  # a crash from here on is never answered by sending again
        try:
            task_id = await provider.submit(job)
        except SubmissionUnknown:
            raise
        except ProviderError:  # refused or never delivered: nothing made, nothing to pay
            await self.workers.records(put_record, {**record, "state": "not_sent"})
            await self.budget.refund(digest)
            raise
        # saved before the first poll: from here on a crash costs nothing
        await self.workers.records(put_record, {**record, "state": "submitted", "task_id": task_id, "submitted_at": time.time()})
        self.stats.submitted[provider.name] += 1
        return task_id


async def generate_episode(storyboard: Storyboard, bibles: Bibles | None, store, settings: RenderSettings = RenderSettings(),
                           generation: GenerationSettings = GenerationSettings(), renderer: LocalRenderer | None = None,
                           providers: dict[str, HostedProvider] | None = None, on_progress: Progress | None = None,
                           sleep=asyncio.sleep, reference_url=None, keyframes: KeyframeSet | None = None,
                           references: ReferenceSet | None = None, native_dialogue: bool = False,
                           requests: list[GenerationRequest] | None = None,
                           models: dict | None = None) -> tuple[ShotsManifest, GenerationStats]:
    """`models`: the video models by name (Studio.video_models); None: made of `renderer` and
    `providers`. `requests`: one per shot, as the shot plan holds them with their keyframes; None:
    built here from the bibles, `keyframes`, `references` and `native_dialogue` (prompting.shot_requests)."""
    workers = Workers()
    budget = Budget(store, storyboard.drama, storyboard.episode, generation, workers.records)
    generator = Generator(store, models or video_models(renderer, providers), settings, generation, budget, sleep,
                          reference_url, workers)
    if requests is None:
        requests = shot_requests(storyboard, bibles, settings.width, settings.height, settings.fps, keyframes, references,
                                 native_dialogue)
    started, done = time.monotonic(), 0

    async def one(rank, shot, request):
        nonlocal done
        try:
            return await generator.shot_take(shot, request, rank)
        finally:
            done += 1
            if on_progress:
                on_progress(done, len(requests), shot.shot_id, time.monotonic() - started)

    try:
        results = await asyncio.gather(*(one(rank, s, r) for rank, (s, r) in enumerate(zip(storyboard.shots, requests))),
                                       return_exceptions=True)
    finally:
        workers.close()
    takes, failed = [], {}
    for shot, result in zip(storyboard.shots, results):
        if isinstance(result, Take):
            takes.append(result)
        elif isinstance(result, Exception):
            failed[shot.shot_id] = str(result)
        else:
            raise result  # KeyboardInterrupt, cancellation: not the shot's fault
    return ShotsManifest(drama=storyboard.drama, episode=storyboard.episode, takes=takes, failed=failed), generator.stats


def generate_shots(storyboard: Storyboard, bibles: Bibles | None, store, settings: RenderSettings = RenderSettings(),
                   renderer: LocalRenderer | None = None, on_progress: Progress | None = None,
                   generation: GenerationSettings = GenerationSettings(),
                   providers: dict[str, HostedProvider] | None = None, reference_url=None,
                   keyframes: KeyframeSet | None = None, references: ReferenceSet | None = None,
                   native_dialogue: bool = False, requests: list[GenerationRequest] | None = None,
                   models: dict | None = None) -> ShotsManifest:
    """The synchronous entry point (Dagster assets, the CLI); `models` and `requests` as generate_episode's.
    The models' clients are closed at the end (an HTTP client belongs to the event loop it ran in)."""
    models = models or video_models(renderer, providers)

    async def run():
        try:
            return (await generate_episode(storyboard, bibles, store, settings, generation, on_progress=on_progress,
                                           reference_url=reference_url, keyframes=keyframes, references=references,
                                           native_dialogue=native_dialogue, requests=requests, models=models))[0]
        finally:
            for model in models.values():
                await model.aclose()

    return asyncio.run(run())


def retake_function(storyboard: Storyboard, store, settings: RenderSettings, generation: GenerationSettings,
                    make_models: Callable[[], dict], reference_url=None):
    """For the quality gate: a round of retakes, all in flight at once, each routed like its
    shot's first take (hosted or local), recorded, resumable and charged like every other.
    One event loop and one generator per round, so provider limits and the budget's stop
    hold across the round; `make_models` (Studio.video_models) makes the models per round (an
    httpx client belongs to its loop).
    Returns, for each (request, attempt), its Take or the RetakeFailed that replaced it."""
    shots = {shot.shot_id: shot for shot in storyboard.shots}

    async def one(generator: Generator, request: GenerationRequest, attempt: int) -> Take | RetakeFailed:
        try:
            return await generator.take(request, generator.route(request, shots[request.shot_id]), attempt)
        except (ProviderError, BudgetExceeded, NoModelAvailable) as error:  # a failed attempt for the gate, not a crash
            return RetakeFailed(str(error), stops_submissions=isinstance(error, BudgetExceeded))

    async def round_of(jobs: list[tuple[GenerationRequest, int]]) -> list[Take | RetakeFailed]:
        models, workers = make_models(), Workers()
        try:
            budget = Budget(store, storyboard.drama, storyboard.episode, generation, workers.records)
            generator = Generator(store, models, settings, generation, budget, reference_url=reference_url, workers=workers)
            return list(await asyncio.gather(*(one(generator, request, attempt) for request, attempt in jobs)))
        finally:
            workers.close()
            for model in models.values():
                await model.aclose()

    def retake(jobs: list[tuple[GenerationRequest, int]]) -> list[Take | RetakeFailed]:
        return asyncio.run(round_of(jobs)) if jobs else []

    return retake


def ledger_by_stage(store, drama: str, episode: str) -> dict[str, float]:
    """What the drama's ledger holds for this episode by stage (keyframe, video), and the
    drama's own stills (sheet, plate) that every episode shares."""
    by_stage: Counter = Counter()
    for charge in ((Records(store).spend(drama).get() or {}).get("charges") or {}).values():
        if charge.get("episode") in (episode, None):
            by_stage[charge.get("stage", "video")] += charge["usd"]
    return {stage: round(usd, 4) for stage, usd in sorted(by_stage.items())}


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
