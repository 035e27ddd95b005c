"""Judging takes in batches: continuity -> lighting -> resolution and artifacts.

A batch (one round of the gate: every first take, or every retake of a round) is judged
in chunks of a few takes. An inspecting process decodes the next chunk's takes and runs
their lighting and artifact checks (on the few frames they read) while this process
encodes the chunk before: one encoder batch for the keyframes of all its shots and the
references of the set-ups it is the first to meet. A set-up's references are drawn and
encoded once per judge, a locked still encoded once per judge.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pickle
import subprocess
import sys
import traceback
from collections.abc import Callable
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

# Takes per encoder batch: 12 keyframes of 4 shots, plus the references of the set-ups
# they are first to meet (10 stills each). Two chunks are in memory at once: at most
# 65 MB at 640x360, when every set-up is new.
CHUNK = 4
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


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


def inspect_chunk(jobs: list[Job], thresholds: Thresholds) -> list[Inspected]:
    """In the inspecting process: each take decoded once and checked for lighting and
    artifacts against its set-up, whose stills are read (hosted) or drawn (offline) here
    when not known yet."""
    clean, drawn, inspected = None, {}, []
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


class Inspector:
    """A child process (`python -m zipx_core.qa.judge`) decoding and checking takes while
    this one encodes: a thread would not do, both sides hold the GIL most of the time
    (measured: two threads shared one core). Jobs and results go as pickles over its
    stdin and stdout; at EOF (this process gone, even killed) it exits."""

    def __init__(self):
        here = str(Path(__file__).resolve().parents[2])  # importable as this process imports it
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, "-m", "zipx_core.qa.judge"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)

    def submit(self, jobs: list, thresholds: Thresholds) -> None:
        pickle.dump((jobs, thresholds), self.process.stdin)
        self.process.stdin.flush()

    def result(self) -> list[Inspected]:
        try:
            ok, answer = pickle.load(self.process.stdout)
        except EOFError:
            raise RuntimeError(f"the inspecting process ended (exit code {self.process.wait()})") from None
        if not ok:
            raise RuntimeError(f"inspecting takes failed in the inspecting process:\n{answer}")
        return answer

    def close(self) -> None:
        """Both pipes closed first: a result nobody will read (this side failed) ends the
        child with a broken pipe instead of leaving it blocked, and this one waiting."""
        self.process.stdin.close()
        self.process.stdout.close()
        self.process.wait()


def serve() -> None:
    """The inspecting process: one answer per job list, until its input ends. Answers go
    to the stdout it was given; anything else printed goes to stderr."""
    requests, answers = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    while True:
        try:
            jobs, thresholds = pickle.load(requests)
        except EOFError:
            return
        try:
            answer = (True, inspect_chunk(jobs, thresholds))
        except Exception:  # reported to the judge, which raises it there
            answer = (False, traceback.format_exc())
        try:
            pickle.dump(answer, answers)
            answers.flush()
        except BrokenPipeError:  # the judge stopped reading: it failed, or is gone
            return


def _libc_call(name: str, *args) -> None:
    """A glibc allocator call; elsewhere, nothing to do."""
    try:
        getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)(*args)
    except (OSError, AttributeError):
        pass


def keep_frame_buffers_off_the_heap() -> None:
    """glibc raises its mmap threshold past every large block freed, so frame-sized buffers
    (0.2-0.7 MB: keyframes, stills) end up in arenas that never shrink, between episodes
    and the other stages' threads (measured, the demo's largest process over four
    episodes: 283 -> 356 MiB; 282 -> 309 with this). A fixed threshold keeps them mapped,
    returned to the system when freed; after each batch, what the arenas hold free is
    handed back too (malloc_trim)."""
    _libc_call("mallopt", M_MMAP_THRESHOLD, 128 * 1024)


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
        """The inspecting process works on the next chunk while this one is encoded; a chunk
        is sent once the one before it is back, so its known set-ups go with it. The first
        chunk is inspected here, while the process starts (0.3 s) or waits for work."""
        chunks = [batch[i : i + CHUNK] for i in range(0, len(batch), CHUNK)]
        judged: list[tuple[Verdict, Take]] = []
        if not chunks:
            return judged
        if len(chunks) > 1 and not self._inspector:
            self._inspector = Inspector()  # kept for the next round, until close()
        try:
            for index, chunk in enumerate(chunks):
                inspected = self._inspector.result() if index else inspect_chunk(self._jobs(chunk), self.thresholds)
                new = self._register(chunk, inspected)
                if index + 1 < len(chunks):
                    self._inspector.submit(self._jobs(chunks[index + 1]), self.thresholds)
                judged += self._decide(chunk, inspected, new)
                del inspected, new  # keyframes and stills: not kept while the next chunk is awaited
        except BaseException:
            self.close()  # it may hold an answer nobody will read
            raise
        _libc_call("malloc_trim", 0)
        return judged

    def close(self) -> None:
        if self._inspector:
            self._inspector.close()
            self._inspector = None

    def __del__(self):
        self.close()  # a judge dropped unclosed: its process gets EOF and ends

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
