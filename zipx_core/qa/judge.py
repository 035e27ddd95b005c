"""Judging takes in batches: continuity -> lighting -> resolution and artifacts.

A batch (one round of the gate: every first take, or every retake of a round) is judged
in chunks of a few takes. An inspecting process decodes takes and runs their lighting and
artifact checks (on the few frames they read) while this process encodes: one encoder
batch per chunk, for the keyframes of its shots and the references of the set-ups it is
the first to meet. A set-up's references are drawn and encoded once per judge, a locked
still encoded once per judge.

A first round meets new set-ups, each drawn from the first take that meets it, so its
chunks are inspected in order: here until the inspecting process is up, then all the
rest there. A retake round's set-ups are all known, and its encoder has only keyframes to
do, less work than decoding: both processes inspect it, a take at a time, each claiming
the next from its end of the round.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import pickle
import select
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from zipx_core.generation import RenderSettings
from zipx_core.media import encode_frames, probe
from zipx_core.models import GenerationRequest, ReferenceSet, Take
from zipx_core.naming import stable_hash
from zipx_core.providers import LocalRenderer
from zipx_core.qa import checks
from zipx_core.qa.checks import ReferenceStats, Sampled, StageResult, Thresholds
from zipx_core.qa.decode import all_frames, sample_take
from zipx_core.qa.embeddings import Embedder
from zipx_core.qa.references import load_rgb

# Takes per encoder batch in a first round: 12 keyframes of 4 shots, plus the references
# of the set-ups they are first to meet (10 stills each): 36 MB at 640x360 when all four
# are new. The inspecting process may hold AHEAD_BYTES of answers unread (and one more)
# before it waits for the judge.
CHUNK = 4
AHEAD_BYTES = 48 * 1024 * 1024
# A retake round is shared out a take at a time, so that neither process is left with a
# long last chunk while the other waits (measured: a little faster than two at a time).
SHARED_CHUNK = 1
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


class Verdict(BaseModel):
    shot_id: str
    attempt: int
    clip_uri: str
    stages: list[StageResult]
    passed: bool
    fixed: list[str] = Field([], description="graded, upscaled")
    injected_failure: str | None = None

    @property
    def continuity(self) -> float:
        return next((s.value or 0.0 for s in self.stages if s.stage == "continuity"), 0.0)


def setup_key(request: GenerationRequest) -> tuple:
    """A shot's set-up: its place, framing and who is in frame."""
    return request.location_id, request.shot_type.value, tuple(f.character_id for f in request.figures)


def setup_stills(request: GenerationRequest, renderer: LocalRenderer) -> list[np.ndarray]:
    """The set-up reference: the shot's place, framing and people, rendered clean from
    the locked bibles (two takes on the set, each framed from the centre and the four
    corners a camera move can reach), never from the take's own request."""
    key = setup_key(request)
    figures = [f.model_copy(update={"speaking": False}) for f in request.figures]
    return [
        np.asarray(still)
        for k in range(2)
        for still in renderer.stills(request.model_copy(update={"seed": stable_hash(*key, k) % 2**31, "figures": figures}))
    ]


SetupUris = Callable[[GenerationRequest], list[str]]


def hosted_setup(references: ReferenceSet) -> SetupUris:
    """A hosted run's set-up reference for a take: its shot's approved keyframe, else the
    place's plate and the locked stills of who is in frame. Lighting is judged against
    the first of them."""

    def uris(request: GenerationRequest) -> list[str]:
        if request.keyframe_uri:
            return [request.keyframe_uri]
        people = [u for f in request.figures for u in references.characters.get(f.character_id, [])]
        stills = references.locations.get(request.location_id, [])[:1] + people
        if not stills:
            raise ValueError(f"{request.shot_id}: no locked stills of {request.location_id} or its people to judge against")
        return stills

    return uris


@dataclass
class Setup:
    stats: ReferenceStats  # of the first still: what lighting and artifacts compare with
    stills: list[np.ndarray] | None  # dropped once encoded
    embeddings: np.ndarray | None = None


@dataclass
class Inspected:
    """One take after the inspecting process's pass: everything but continuity."""

    stats: ReferenceStats
    stills: list[np.ndarray] | None  # its set-up's, drawn for it: the first take of a new set-up
    stages: list[StageResult]  # resolution, when the clip's size differs
    fixed: list[str]
    keys: np.ndarray | None = None  # None: discarded before continuity
    key_at: list[int] = field(default_factory=list)
    light: StageResult | None = None
    artifacts: list[StageResult] = field(default_factory=list)


def given_stills(paths: list[str], request: GenerationRequest) -> list[np.ndarray]:
    """A hosted run's set-up reference: its stills (the keyframe, or the plate and the
    locked stills) read from the store and sized to the take's frame, never drawn."""
    size = (request.width, request.height)
    return [np.asarray(Image.open(path).convert("RGB").resize(size, Image.Resampling.BILINEAR)) for path in paths]


Job = tuple[str, GenerationRequest, tuple, ReferenceStats | None, list[str] | None]  # path, request, set-up key, stats, stills


def inspect_chunk(jobs: list[Job], thresholds: Thresholds, drawn: dict | None = None) -> list[Inspected]:
    """Each take decoded once and checked for lighting and artifacts against its set-up,
    whose stills are read (hosted) or drawn (offline) here when not known yet; `drawn`
    (set-up key -> stats) remembers them past this chunk, for the chunks after it that
    were sent before this one's stills reached the judge."""
    clean, drawn, inspected = None, {} if drawn is None else drawn, []
    for path, request, key, stats, paths in jobs:
        stills = None
        if stats is None and key not in drawn:
            if paths is None:
                clean = clean or LocalRenderer()  # clean: never injects failures
            stills = given_stills(paths, request) if paths is not None else setup_stills(request, clean)
            drawn[key] = ReferenceStats.of(stills[0])
        inspected.append(inspect_take(Path(path), request, stats or drawn[key], stills, thresholds))
    return inspected


def inspect_take(path: Path, request: GenerationRequest, stats: ReferenceStats, stills, thresholds: Thresholds) -> Inspected:
    black = thresholds.black_luma
    sampled, (width, height) = sample_take(path, black)
    inspected = Inspected(stats, stills, stages=[], fixed=[])
    if (width, height) != (request.width, request.height):
        within = width * 2 >= request.width and height * 2 >= request.height
        inspected.stages.append(StageResult(stage="resolution", passed=within, value=width, limit=request.width,
                                            action="upscale" if within else "discard: under half the target size"))
        if not within:
            return inspected
        sampled = Sampled.of(all_frames(path, (request.width, request.height)), black)
        inspected.fixed.append("upscaled")
    inspected.key_at = checks.key_indices(sampled.means, black)
    inspected.keys = sampled.stack(inspected.key_at)
    inspected.light = checks.lighting(inspected.keys, stats)
    inspected.artifacts = checks.artifacts(sampled, stats, thresholds)
    return inspected


def claim(claims: str, index: int) -> bool:
    """Takes chunk `index` of a retake round for the process that calls it, unless the
    other took it first: making a folder is atomic between processes."""
    try:
        os.mkdir(os.path.join(claims, str(index)))
        return True
    except FileExistsError:
        return False


class Inspector:
    """A child process (`python -m zipx_core.qa.judge`) decoding and checking takes while
    this one encodes: a thread would not do, both sides hold the GIL most of the time
    (measured: two threads shared one core). A job list of chunks goes as a pickle over its
    stdin; an answer per chunk comes back over its stdout, in order, each a pickle after
    its length, read straight from the pipe so that `ready` can ask the pipe. With a
    `claims` folder, it inspects only the chunks it claims, answering None for the others.
    Its first answer, None, says it is up (its imports take 0.7 s). At EOF (this process
    gone, even killed) it exits."""

    def __init__(self):
        here = str(Path(__file__).resolve().parents[2])  # importable as this process imports it
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, "-m", "zipx_core.qa.judge"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)
        self.up = False

    def submit(self, chunks: list[list[Job]], thresholds: Thresholds, claims: str | None = None) -> None:
        pickle.dump((chunks, thresholds, claims), self.process.stdin)
        self.process.stdin.flush()

    def started(self) -> bool:
        self.ready()
        return self.up

    def ready(self) -> bool:
        """Whether an answer has begun to arrive: reading it then hardly waits."""
        if not self.up and self._readable():
            self._hello()
        return self.up and self._readable()

    def result(self) -> list[Inspected] | None:
        if not self.up:
            self._hello()
        return self._next_answer()

    def _hello(self) -> None:
        self._next_answer()
        self.up = True

    def _readable(self) -> bool:
        return bool(select.select([self.process.stdout], [], [], 0)[0])

    def _next_answer(self) -> list[Inspected] | None:
        ok, answer = pickle.loads(self._read(int.from_bytes(self._read(8), "little")))
        if not ok:
            raise RuntimeError(f"inspecting takes failed in the inspecting process:\n{answer}")
        return answer

    def _read(self, count: int) -> bytearray:
        """`count` bytes from the pipe, by the descriptor (a buffered reader would take
        more than asked, unseen by `ready`)."""
        data, got = bytearray(count), 0
        while got < count:
            read = os.readv(self.process.stdout.fileno(), [memoryview(data)[got:]])
            if not read:
                raise RuntimeError(f"the inspecting process ended (exit code {self.process.wait()})")
            got += read
        return data

    def close(self) -> None:
        """Both pipes closed first: a result nobody will read (this side failed) ends the
        child with a broken pipe instead of leaving it blocked, and this one waiting."""
        self.process.stdin.close()
        self.process.stdout.close()
        self.process.wait()


class Answers:
    """The inspecting process's answers, written by a thread, so that it goes on to the
    next chunk while the judge has not read the last (megabytes of keyframes and stills
    through a pipe of 64 KB); it waits once AHEAD_BYTES are unread, so as not to run far
    ahead of the judge holding them. Once the judge stops reading (it failed, or is gone),
    `broken`, and what it would have written is dropped."""

    def __init__(self, stream):
        self.stream, self.waiting, self.bytes = stream, [], 0
        self.changed, self.broken = threading.Condition(), threading.Event()
        threading.Thread(target=self._write, daemon=True).start()

    def put(self, answer: tuple) -> None:
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)  # 5: arrays without a copy
        with self.changed:
            self.changed.wait_for(lambda: self.bytes < AHEAD_BYTES or self.broken.is_set())
            self.waiting.append(data)
            self.bytes += len(data)
            self.changed.notify_all()

    def _write(self) -> None:
        while True:
            with self.changed:
                self.changed.wait_for(lambda: self.waiting)
                data = self.waiting[0]
            if not self.broken.is_set():
                self._send(data)
            with self.changed:
                self.waiting.pop(0)
                self.bytes -= len(data)
                self.changed.notify_all()

    def _send(self, data: bytes) -> None:
        try:
            self.stream.write(len(data).to_bytes(8, "little"))
            self.stream.write(data)
            self.stream.flush()
        except BrokenPipeError:
            self.broken.set()


def serve() -> None:
    """The inspecting process: an answer per chunk of each job list, until its input ends
    or its answers are no longer read. Answers go to the stdout it was given; anything
    else printed goes to stderr."""
    requests, answers = sys.stdin.buffer, Answers(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)
    put_frame_buffers_on_the_heap()
    drawn: dict = {}  # set-up key -> stats, of the set-ups drawn here
    answers.put((True, None))  # up
    while not answers.broken.is_set():
        try:
            chunks, thresholds, claims = pickle.load(requests)
        except EOFError:
            return
        for index, jobs in enumerate(chunks):
            if answers.broken.is_set():
                return
            answers.put(_answer(jobs, thresholds, claims, index, drawn))


def _answer(jobs: list[Job], thresholds: Thresholds, claims: str | None, index: int, drawn: dict) -> tuple:
    try:
        return True, inspect_chunk(jobs, thresholds, drawn) if claims is None or claim(claims, index) else None
    except Exception:  # reported to the judge, which raises it there
        return False, traceback.format_exc()


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """Looked up once: find_library runs ldconfig in a subprocess (1.5 ms), and the judge
    calls glibc four times for each chunk it inspects itself."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def _libc_call(name: str, *args) -> None:
    """A glibc allocator call; elsewhere, nothing to do."""
    call = getattr(_libc(), name, None)
    if call:
        call(*args)


def keep_frame_buffers_off_the_heap() -> None:
    """glibc raises its mmap threshold past every large block freed, so frame-sized buffers
    (0.2-0.7 MB: keyframes, stills) end up in arenas that never shrink, between episodes
    and the other stages' threads (measured, the demo's largest process over four
    episodes: 283 -> 356 MiB; 282 -> 309 with this). A fixed threshold keeps them mapped,
    returned to the system when freed, and the heap's free top is handed back past glibc's
    default 128 KB; after each batch, what the arenas hold free is handed back too
    (malloc_trim)."""
    _libc_call("mallopt", M_MMAP_THRESHOLD, 128 * 1024)
    _libc_call("mallopt", M_TRIM_THRESHOLD, 128 * 1024)


def put_frame_buffers_on_the_heap() -> None:
    """For inspecting takes: their frames and the checks' temporaries (some 40 MB a take,
    each block freed soon after) reused from the heap, neither mapped afresh nor trimmed
    off its top and then faulted in again page by page (measured, 48 takes at 320x180:
    250,000 page faults and 1.1 s mapped; 50,000 and 0.8 s from a heap trimmed as glibc
    does; none and 0.7 s untrimmed)."""
    _libc_call("mallopt", M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's largest
    _libc_call("mallopt", M_TRIM_THRESHOLD, 64 * 1024 * 1024)


@contextmanager
def frame_buffers_on_the_heap():
    """Inspecting in the judge's process: off the heap again after."""
    put_frame_buffers_on_the_heap()
    try:
        yield
    finally:
        keep_frame_buffers_off_the_heap()


class Judge:
    """Judges batches of (take, request); `close()` ends its inspecting process."""

    def __init__(self, references: ReferenceSet, store, embedder: Embedder, settings: RenderSettings, thresholds: Thresholds,
                 setup_uris: SetupUris | None = None):
        """`setup_uris`: where a hosted run's set-up stills are (hosted_setup); None: drawn offline."""
        self.setup_uris = setup_uris
        self._inspector: Inspector | None = None
        keep_frame_buffers_off_the_heap()
        self.references, self.store, self.embedder = references, store, embedder
        self.settings, self.thresholds = settings, thresholds
        self._setups: dict[tuple, Setup] = {}
        self._locked: dict[str, np.ndarray] = {}  # uri -> embedding

    def __call__(self, batch: list[tuple[Take, GenerationRequest]]) -> list[tuple[Verdict, Take]]:
        """A batch whose set-ups are all known (a retake round) is shared out between this
        process and the inspecting one, if that one is up; any other is judged in order."""
        if not batch:
            return []
        if len(batch) > CHUNK and not self._inspector:  # fewer: judged here sooner than it starts (0.7 s)
            self._inspector = Inspector()  # kept for the next round, until close()
        try:
            if self._inspector and self._inspector.started() and all(self._key(r) in self._setups for _, r in batch):
                judged = self._judge_shared([batch[i : i + SHARED_CHUNK] for i in range(0, len(batch), SHARED_CHUNK)])
            else:
                judged = self._judge_in_order([batch[i : i + CHUNK] for i in range(0, len(batch), CHUNK)])
        except BaseException:
            self.close()  # it may hold an answer nobody will read
            raise
        _libc_call("malloc_trim", 0)
        return judged

    def _judge_in_order(self, chunks: list[list[tuple[Take, GenerationRequest]]]) -> list[tuple[Verdict, Take]]:
        """A set-up is drawn from the first take that meets it, so chunks are inspected in
        order: here, until the inspecting process is up (measured: the judge waited
        0.2-0.6 s on its start); then all the rest there, sent at once (it remembers what
        it draws) before this one encodes its last, and encoded as they come back."""
        judged, sent = [], False
        for index, chunk in enumerate(chunks):
            inspected = self._inspector.result() if sent else self._inspect_here(self._jobs(chunk))
            new = self._register(chunk, inspected)
            if not sent and index + 1 < len(chunks) and self._inspector and self._inspector.started():
                self._inspector.submit([self._jobs(rest) for rest in chunks[index + 1 :]], self.thresholds)
                sent = True
            judged += self._decide(chunk, inspected, new)
            del inspected, new  # keyframes and stills: not kept while the next chunk is awaited
        return judged

    def _judge_shared(self, chunks: list[list[tuple[Take, GenerationRequest]]]) -> list[tuple[Verdict, Take]]:
        """Every set-up known, so no chunk waits on another: the inspecting process is sent
        them all and works from the front; this one encodes what comes back and, whenever
        nothing has, claims a chunk from the back and inspects it itself (measured: a
        retake round's decoding and checks take longer than encoding its keyframes)."""
        jobs, judged = [self._jobs(chunk) for chunk in chunks], {}
        answered, back = 0, len(chunks) - 1  # the inspecting process's next answer; this one's next claim
        with tempfile.TemporaryDirectory(prefix="zipx-claims-", ignore_cleanup_errors=True) as claims:
            self._inspector.submit(jobs, self.thresholds, claims)
            while answered < len(chunks):
                if back >= answered and not self._inspector.ready():
                    if claim(claims, back):
                        judged[back] = self._decide(chunks[back], self._inspect_here(jobs[back]), [])
                        back -= 1
                        continue
                    back = -1  # the inspecting process has reached it: the rest are its
                answered = self._decide_answers(chunks, answered, judged)
        return [pair for index in range(len(chunks)) for pair in judged[index]]

    def _decide_answers(self, chunks: list[list[tuple[Take, GenerationRequest]]], answered: int, judged: dict) -> int:
        """The inspecting process's next answer, with those already come after it, up to
        CHUNK takes, encoded as one batch (CLIP on a CPU: a fifth slower on three keyframes
        at a time than on twelve); returns the index of the answer after them."""
        indices, inspected = [], []
        while answered < len(chunks) and (not indices or (len(inspected) < CHUNK and self._inspector.ready())):
            answer = self._inspector.result()
            if answer is not None:  # None: claimed here
                indices.append(answered)
                inspected += answer
            answered += 1
        pairs = iter(self._decide([pair for index in indices for pair in chunks[index]], inspected, []) if indices else [])
        for index in indices:
            judged[index] = [next(pairs) for _ in chunks[index]]
        return answered

    def close(self) -> None:
        if self._inspector:
            self._inspector.close()
            self._inspector = None

    def __del__(self):
        self.close()  # a judge dropped unclosed: its process gets EOF and ends

    def _inspect_here(self, jobs: list[Job]) -> list[Inspected]:
        with frame_buffers_on_the_heap():
            return inspect_chunk(jobs, self.thresholds)

    def _key(self, request: GenerationRequest) -> tuple:
        return ("stills", *self.setup_uris(request)) if self.setup_uris else setup_key(request)

    def _jobs(self, chunk: list[tuple[Take, GenerationRequest]]) -> list[Job]:
        known = {key: setup.stats for key, setup in self._setups.items()}
        return [(str(self.store.path(take.clip_uri)), request, self._key(request), known.get(self._key(request)),
                 [str(self.store.path(u)) for u in self.setup_uris(request)] if self.setup_uris else None)
                for take, request in chunk]

    def _register(self, chunk: list[tuple[Take, GenerationRequest]], inspected: list[Inspected]) -> list[Setup]:
        """The set-ups the chunk met first, with their stills (to be encoded with it)."""
        new = []
        for (_, request), seen in zip(chunk, inspected):
            if seen.stills is not None:
                self._setups[self._key(request)] = Setup(seen.stats, seen.stills)
                new.append(self._setups[self._key(request)])
                seen.stills = None
        return new

    def _locked_uris(self, request: GenerationRequest) -> list[str]:
        """The locked stills of the people in frame, or of the place when nobody is."""
        locked = [u for f in request.figures for u in self.references.characters.get(f.character_id, [])]
        return locked or self.references.locations.get(request.location_id, [])

    # --- one encoder batch per chunk, then the verdicts ---------------------------

    def _decide(self, chunk: list[tuple[Take, GenerationRequest]], inspected: list[Inspected], new: list[Setup]) -> list[tuple[Verdict, Take]]:
        locked = {u: None for _, request in chunk for u in self._locked_uris(request) if u not in self._locked}
        images = [k for seen in inspected if seen.keys is not None for k in seen.keys]
        images += [s for setup in new for s in setup.stills]
        images += [load_rgb(self.store, uri) for uri in locked]
        rows = iter(self.embedder.encode(images) if images else [])
        key_rows = [np.stack([next(rows) for _ in seen.keys]) if seen.keys is not None else None for seen in inspected]
        for setup in new:
            setup.embeddings = np.stack([next(rows) for _ in setup.stills])
            setup.stills = None
        for uri in locked:
            self._locked[uri] = next(rows)
        return [self._verdict(take, request, seen, found) for (take, request), seen, found in zip(chunk, inspected, key_rows)]

    def _verdict(self, take: Take, request: GenerationRequest, seen: Inspected, key_rows: np.ndarray | None) -> tuple[Verdict, Take]:
        stats, stages, fixed = seen.stats, list(seen.stages), list(seen.fixed)

        def verdict(passed: bool) -> Verdict:
            return Verdict(shot_id=take.shot_id, attempt=take.attempt, clip_uri=take.clip_uri, stages=stages,
                           passed=passed, fixed=fixed, injected_failure=take.injected_failure)

        if key_rows is None:
            return verdict(False), take
        setup = self._setups[self._key(request)]
        references = np.concatenate([setup.embeddings, *(self._locked[u][None] for u in self._locked_uris(request))])
        stages.append(checks.continuity(key_rows, references, self.thresholds.continuity[request.shot_type.value]))
        if not stages[-1].passed:
            return verdict(False), take
        stages.append(seen.light)
        found, frames = seen.artifacts, None
        if not seen.light.passed:
            if seen.light.action != "grade":
                return verdict(False), take
            # the rare path: every frame graded, checked again, kept for the fixed clip
            size = (request.width, request.height)
            frames = [checks.transfer_colour(f, stats) for f in all_frames(self.store.path(take.clip_uri), size)]
            again = checks.lighting(np.stack([frames[i] for i in seen.key_at]), stats)
            stages.append(again.model_copy(update={"stage": "lighting_after_grade"}))
            if not again.passed:
                return verdict(False), take
            fixed.append("graded")
            found = checks.artifacts(Sampled.of(frames, self.thresholds.black_luma), stats, self.thresholds)
        stages += found
        if not all(s.passed for s in stages if s.stage not in ("lighting", "resolution")):
            return verdict(False), take
        if fixed:
            frames = frames or all_frames(self.store.path(take.clip_uri), (request.width, request.height))
            take = self._store_fixed(take, frames, fixed)
        return verdict(True), take

    def _store_fixed(self, take: Take, frames: list[np.ndarray], fixed: list[str]) -> Take:
        with self.store.scratch_dir() as scratch:
            path = Path(scratch) / "fixed.mp4"
            height, width = frames[0].shape[:2]
            encode_frames(frames, path, width, height, self.settings.fps, label=take.shot_id)
            info = probe(path)
            artifact = self.store.put_file(path, "clips", ".mp4")
        return take.model_copy(update={"clip_uri": artifact.uri, "clip_sha256": artifact.sha256, "frames": info.frames,
                                       "model": f"{take.model}+{'+'.join(fixed)}"})


if __name__ == "__main__":
    from zipx_core.qa import judge  # this module under its own name, so its results unpickle as such

    judge.serve()
