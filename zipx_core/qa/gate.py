"""The quality gate: continuity -> lighting -> resolution and artifacts -> approved pool.

A shot gets at most three attempts: its first take, then two regenerations that restate
the bible entries and pass the locked reference stills as image inputs. A shot that
fails all three goes to human review with its best take kept and marked. When most of
the first shots of a scene fail (a bad scene set-up fails most of what follows), the
gate stops spending on that scene and records a scene failure for the re-plan sensor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import groupby
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from zipx_core.generation import RenderSettings, RetakeFailed, render_take
from zipx_core.media import encode_frames, probe
from zipx_core.models import Bibles, GenerationRequest, ReferenceSet, ShotsManifest, Storyboard, Take
from zipx_core.naming import stable_hash
from zipx_core.prompting import build_request
from zipx_core.providers import LocalRenderer
from zipx_core.qa import checks
from zipx_core.qa.checks import StageResult, Thresholds
from zipx_core.qa.embeddings import Embedder, ReferenceCache
from zipx_core.qa.frames import all_frames
from zipx_core.qa.references import load_rgb


class GateConfig(BaseModel):
    max_attempts: int = Field(3, ge=1, le=5)
    early_abort_first: int = Field(4, description="how many of a scene's first shots decide an early abort")
    early_abort_share: float = Field(0.75, description="share of those failing that aborts the scene")
    thresholds: Thresholds = Field(default_factory=Thresholds)


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


class ShotOutcome(BaseModel):
    shot_id: str
    scene_number: int
    status: str = Field(description="approved | review")
    take: Take = Field(description="the take that goes into the episode")
    attempts: int
    reason: str = ""


class SceneFailure(BaseModel):
    scene_number: int
    checked: int
    failed: int
    reason: str


class GateReport(BaseModel):
    drama: str
    episode: str
    embedder: str
    embedder_note: str
    verdicts: list[Verdict]
    outcomes: list[ShotOutcome]
    scene_failures: list[SceneFailure] = []

    def pool(self) -> ShotsManifest:
        """Every shot's take for the episode, approved or (marked) awaiting review."""
        return ShotsManifest(drama=self.drama, episode=self.episode, takes=[o.take for o in self.outcomes])

    @property
    def awaiting_review(self) -> set[str]:
        return {o.shot_id for o in self.outcomes if o.status == "review"}

    @property
    def first_attempt_pass_rate(self) -> float:
        first = [v for v in self.verdicts if v.attempt == 1]
        return sum(v.passed for v in first) / max(1, len(first))

    def failure_clusters(self, share: float = 0.6) -> list[int]:
        """Scenes whose failures cluster: stopped early, or at least `share` of their
        shots failed their first take."""
        first = {v.shot_id: v for v in self.verdicts if v.attempt == 1}
        clusters = {f.scene_number for f in self.scene_failures}
        for scene in {o.scene_number for o in self.outcomes}:
            shots = [o.shot_id for o in self.outcomes if o.scene_number == scene]
            failed = sum(1 for s in shots if s in first and not first[s].passed)
            if shots and failed / len(shots) >= share:
                clusters.add(scene)
        return sorted(clusters)

    def drift_in_pool(self) -> list[str]:
        """Approved shots whose approving verdict is below its continuity threshold
        (a reviewer's approval is a person's call, not the gate's, and is not counted)."""
        drifted = []
        for outcome in (o for o in self.outcomes if o.status == "approved"):
            verdict = next((v for v in reversed(self.verdicts) if v.shot_id == outcome.shot_id and v.passed), None)
            if verdict is None:
                continue
            stage = next(s for s in verdict.stages if s.stage == "continuity")
            if stage.value < stage.limit:
                drifted.append(outcome.shot_id)
        return drifted


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


def correction_request(request: GenerationRequest, verdict: Verdict, bibles: Bibles, references: ReferenceSet, attempt: int) -> GenerationRequest:
    failed = ", ".join(s.stage for s in verdict.stages if not s.passed)
    lines = [request.prompt, f"CORRECTION (attempt {attempt}): the last take failed {failed}. Match the bible exactly:"]
    for figure in request.figures:
        c = bibles.character(figure.character_id)
        lines.append(
            f"{c.display_name}: skin {figure.skin_tone}, {c.appearance.hair} hair {figure.hair_color}, "
            f"top {figure.top_color}, bottom {figure.bottom_color}, {c.appearance.build} build."
        )
    place = bibles.location(request.location_id)
    lines.append(f"Light: {place.lighting_palette.mood}, {place.lighting_palette.colour_temperature_k}K; no colour cast, sharp focus.")
    images = [u for f in request.figures for u in references.characters.get(f.character_id, [])[:2]]
    images = images or references.locations.get(request.location_id, [])
    return request.model_copy(
        update={"prompt": "\n".join(lines), "reference_frames": images[:3], "seed": (request.seed + 7919 * attempt) % 2**31}
    )


class Gate:
    def __init__(self, bibles: Bibles, references: ReferenceSet, store, embedder: Embedder, embedder_note: str,
                 settings: RenderSettings, renderer: LocalRenderer | None = None, config: GateConfig = GateConfig(),
                 retake=None):
        self.bibles, self.references, self.store = bibles, references, store
        self.embedder, self.embedder_note, self.settings = embedder, embedder_note, settings
        self.renderer = renderer or LocalRenderer()
        # (request, attempt) -> Take: the local renderer by default; the engine's router when hosted models are set up
        self.retake = retake or (lambda request, attempt: render_take(request, self.renderer, self.store, attempt))
        self.clean = LocalRenderer()  # draws set-up references: never injects failures
        self.config = config
        self.cache = ReferenceCache()
        self._setups: dict[tuple, tuple[list[np.ndarray], np.ndarray]] = {}

    def references_for(self, request: GenerationRequest) -> tuple[list[np.ndarray], np.ndarray]:
        """Set-up stills and the embeddings of every reference: set-up stills, plus the
        locked stills of the people in frame (or of the place, when nobody is). Each set
        is drawn and encoded once per gate."""
        key = setup_key(request)
        if key not in self._setups:
            stills = setup_stills(request, self.clean)
            self._setups[key] = (stills, self.embedder.encode(stills))
        stills, setup_embeddings = self._setups[key]
        locked = [u for f in request.figures for u in self.references.characters.get(f.character_id, [])]
        locked = locked or self.references.locations.get(request.location_id, [])
        if not locked:
            return stills, setup_embeddings
        return stills, np.concatenate([setup_embeddings, self.cache.get(self.embedder, locked, lambda uri: load_rgb(self.store, uri))])

    def evaluate(self, take: Take, request: GenerationRequest) -> tuple[Verdict, Take]:
        stills, reference_embeddings = self.references_for(request)
        reference = stills[0]
        path = self.store.path(take.clip_uri)
        frames = all_frames(path)
        stages: list[StageResult] = []
        fixed: list[str] = []
        height, width = frames[0].shape[:2]

        def verdict(passed: bool) -> Verdict:
            return Verdict(shot_id=take.shot_id, attempt=take.attempt, clip_uri=take.clip_uri, stages=stages,
                           passed=passed, fixed=fixed, injected_failure=take.injected_failure)

        if (width, height) != (request.width, request.height):
            within = width * 2 >= request.width and height * 2 >= request.height
            stages.append(StageResult(stage="resolution", passed=within, value=width, limit=request.width,
                                      action="upscale" if within else "discard: under half the target size"))
            if not within:
                return verdict(False), take
            frames = [np.asarray(Image.fromarray(f).resize((request.width, request.height), Image.LANCZOS)) for f in frames]
            fixed.append("upscaled")
        # keyframes: first, middle, last of the lit frames (black ones are the artifact check's)
        lit = [i for i, f in enumerate(frames) if f.mean() >= self.config.thresholds.black_luma] or list(range(len(frames)))
        key_at = [lit[0], lit[len(lit) // 2], lit[-1]]
        keys = [frames[i] for i in key_at]
        threshold = self.config.thresholds.continuity[request.shot_type.value]
        stages.append(checks.continuity(self.embedder.encode(keys), reference_embeddings, threshold))
        if not stages[-1].passed:
            return verdict(False), take
        light = checks.lighting(keys, reference)
        stages.append(light)
        if not light.passed:
            if light.action != "grade":
                return verdict(False), take
            frames = [checks.transfer_colour(f, reference) for f in frames]
            again = checks.lighting([frames[i] for i in key_at], reference)
            stages.append(again.model_copy(update={"stage": "lighting_after_grade"}))
            if not again.passed:
                return verdict(False), take
            fixed.append("graded")
        stages += checks.artifacts(frames, reference, self.config.thresholds)
        if not all(s.passed for s in stages if s.stage not in ("lighting", "resolution")):
            return verdict(False), take
        if fixed:
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

    def _settle(self, shot_id: str, scene_number: int, verdict: Verdict, take: Take, request: GenerationRequest,
                decision, aborted: bool, verdicts: list[Verdict]) -> ShotOutcome:
        """One shot's outcome from its first verdict: a reviewer's decision, or up to
        max_attempts takes (none more once its scene is stopped), then approval or review.
        New verdicts are appended to `verdicts`."""
        if decision and not verdict.passed and decision.decision == "approve":
            return ShotOutcome(shot_id=shot_id, scene_number=scene_number, status="approved", take=decision.take or take,
                               attempts=0, reason=f"approved in review {decision.decided_at}")
        history = [(verdict, take)]
        failures: list[str] = []

        def regenerate(attempt: int, note: str = "") -> RetakeFailed | None:
            retry = correction_request(request, history[-1][0], self.bibles, self.references, attempt)
            if note:
                retry = retry.model_copy(update={"prompt": f"{retry.prompt}\nREVIEWER: {note}"})
            try:
                new_take = self.retake(retry, attempt)
            except RetakeFailed as error:  # refused, failed, over budget: the attempt is spent, the shot goes on
                failures.append(f"attempt {attempt}: {error}")
                return error
            history.append(self.evaluate(new_take, retry))
            verdicts.append(history[-1][0])
            return None

        attempt = 1
        if decision and not verdict.passed and decision.decision == "regenerate":
            # the reviewer's attempt: beyond the automatic ones, with their note, made once
            attempt = self.config.max_attempts + 1
            regenerate(attempt, decision.note)
        while not history[-1][0].passed and not aborted and attempt < self.config.max_attempts:
            attempt += 1
            failure = regenerate(attempt)
            if failure and failure.stops_submissions:
                break  # no new submissions: the rest would be refused too
        passed = [(v, t) for v, t in history if v.passed]
        if passed:
            return ShotOutcome(shot_id=shot_id, scene_number=scene_number, status="approved", take=passed[-1][1], attempts=attempt)
        best_verdict, best_take = max(history, key=lambda pair: pair[0].continuity)
        why = "scene aborted early" if aborted else f"failed {attempt} attempts"
        made_none = f"; no take from {'; '.join(failures)}" if failures else ""
        return ShotOutcome(shot_id=shot_id, scene_number=scene_number, status="review", take=best_take, attempts=attempt,
                           reason=f"{why}; best take kept (continuity {best_verdict.continuity}){made_none}")

    def run(self, storyboard: Storyboard, shots: ShotsManifest, on_progress: Callable[[int, int, str, float], None] | None = None,
            decisions: dict | None = None) -> GateReport:
        """`decisions`: shot_id -> ReviewDecision from human review (zipx_core.qa.review)."""
        decisions = decisions or {}
        takes = {t.shot_id: t for t in shots.takes}
        requests = {s.shot_id: build_request(s, self.bibles, self.settings.width, self.settings.height, self.settings.fps) for s in storyboard.shots}
        verdicts: list[Verdict] = []
        outcomes: list[ShotOutcome] = []
        scene_failures: list[SceneFailure] = []
        started, done, total = time.monotonic(), 0, len(storyboard.shots)
        for scene_number, scene_shots in groupby(storyboard.shots, key=lambda s: s.scene_number):
            scene_shots = list(scene_shots)
            first = [self.evaluate(takes[s.shot_id], requests[s.shot_id]) for s in scene_shots]
            verdicts += [v for v, _ in first]
            head = [v for v, _ in first[: self.config.early_abort_first]]
            failed_head = sum(not v.passed for v in head)
            aborted = len(head) >= 2 and failed_head / len(head) >= self.config.early_abort_share
            if aborted:
                scene_failures.append(SceneFailure(scene_number=scene_number, checked=len(head), failed=failed_head,
                                                   reason="most of the scene's first shots failed: the set-up, not the shots"))
            for shot, (verdict, take) in zip(scene_shots, first):
                outcomes.append(self._settle(shot.shot_id, scene_number, verdict, take, requests[shot.shot_id],
                                             decisions.get(shot.shot_id), aborted, verdicts))
                done += 1
                if on_progress:
                    on_progress(done, total, shot.shot_id, time.monotonic() - started)
        return GateReport(drama=storyboard.drama, episode=storyboard.episode, embedder=self.embedder.name,
                          embedder_note=self.embedder_note, verdicts=verdicts, outcomes=outcomes, scene_failures=scene_failures)
