"""The quality gate: continuity -> lighting -> resolution and artifacts -> approved pool.

The gate works in rounds, one batch per round: every first take is judged at once
(zipx_core.qa.judge), the scenes that fail from the start are stopped, each failed
shot gets its correction request, all the round's retakes go through generation
together, and they are judged again as one batch. A shot gets at most `max_attempts`
(its first take and two regenerations that restate the bible entries and pass the
locked reference stills as image inputs); a reviewer's regeneration is one attempt
more, made once. A shot that fails them all goes to human review with its best take
kept and marked. When most of the first shots of a scene fail (a bad scene set-up
fails most of what follows), the gate stops spending on that scene and records a
scene failure for the re-plan sensor. Once the budget stops submissions, no later
round is submitted: the rest would be refused too.

Dialogue sync is held apart from the verdicts: a shot whose dialogue the sync pass could
not put in sync (zipx_core.lipsync: no face, speech of the wrong length...) goes to
review with that reason whatever its verdict, and so does a shot in sync whose take the
gate replaced (a retake was neither lip-synced nor checked); a reviewer's approval stands.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

from pydantic import BaseModel, Field

from zipx_core.generation import GenerationSettings, RenderSettings, RetakeFailed, retake_function, video_models
from zipx_core.media import probe
from zipx_core.media.ffmpeg import with_sound
from zipx_core.models import Bibles, GenerationRequest, KeyframeSet, ReferenceSet, ShotsManifest, Storyboard, Take
from zipx_core.policy import QualityPolicy, reseeded
from zipx_core.prompting import shot_requests
from zipx_core.providers import LocalRenderer
from zipx_core.qa.checks import Thresholds
from zipx_core.qa.embeddings import Embedder
from zipx_core.qa.judge import Judge, Verdict, hosted_setup, setup_key, setup_stills
from zipx_core.qa.review import ReviewDecision
from zipx_core.records import Records

__all__ = ["Gate", "GateConfig", "GateReport", "ShotOutcome", "SceneFailure", "Verdict", "correction_request",
           "setup_key", "setup_stills"]

# (request, attempt) pairs -> one Take or RetakeFailed each, all in flight at once
Retake = Callable[[list[tuple[GenerationRequest, int]]], list["Take | RetakeFailed"]]


class GateConfig(QualityPolicy):
    """The quality policy the gate is held to, and the continuity thresholds it judges by."""

    thresholds: Thresholds = Field(default_factory=Thresholds)

    @classmethod
    def recorded(cls, store, embedder_name: str, policy: QualityPolicy | None = None) -> GateConfig:
        """`policy` (the default one when None) with the thresholds `zipx calibrate` recorded for this embedder, if any."""
        calibrated = Records(store).thresholds(embedder_name).get()
        thresholds = Thresholds(**calibrated) if calibrated else Thresholds()
        return cls(**(policy or QualityPolicy()).model_dump(), thresholds=thresholds)

    @property
    def policy(self) -> QualityPolicy:
        return QualityPolicy(**self.model_dump(exclude={"thresholds"}))


class ShotOutcome(BaseModel):
    shot_id: str
    scene_number: int
    status: str = Field(description="approved | review")
    take: Take = Field(description="the take that goes into the episode")
    attempts: int = Field(description="takes generated for this shot (a reviewer's approval adds none)")
    reason: str = ""
    review_decision: str = Field("", description="the reviewer's call this outcome follows: approve | regenerate; "
                                 "empty when the gate decided alone")
    reviewer: str = Field("", description="who made that call")
    reviewed_at: str = Field("", description="when (UTC, ISO 8601)")
    review_note: str = Field("", description="the reviewer's note (a regeneration's goes into its request)")


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
    policy: QualityPolicy = Field(default_factory=QualityPolicy, description="the numbers the gate was held to")

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

    def failure_clusters(self) -> list[int]:
        """Scenes whose failures cluster: stopped early, or at least the policy's
        cluster_share of their shots failed their first take."""
        first = {v.shot_id: v for v in self.verdicts if v.attempt == 1}
        clusters = {f.scene_number for f in self.scene_failures}
        for scene in {o.scene_number for o in self.outcomes}:
            shots = [o.shot_id for o in self.outcomes if o.scene_number == scene]
            failed = sum(1 for s in shots if s in first and not first[s].passed)
            if shots and failed / len(shots) >= self.policy.cluster_share:
                clusters.add(scene)
        return sorted(clusters)

    def summary(self) -> dict:
        """The figures the asset shows: pass rate, counts, failed stages."""
        return {
            "first_attempt_pass_rate": round(self.first_attempt_pass_rate, 3),
            "approved": sum(o.status == "approved" for o in self.outcomes),
            "awaiting_review": len(self.awaiting_review),
            "regenerations": sum(v.attempt > 1 for v in self.verdicts),
            "graded_or_upscaled": sum(bool(v.fixed) for v in self.verdicts if v.passed),
            "scene_failures": [f.scene_number for f in self.scene_failures],
            "failure_clusters": self.failure_clusters(),
            "failed_stages": dict(Counter(s.stage for v in self.verdicts for s in v.stages if not s.passed and s.stage != "lighting")),
        }

    def verdict_rows(self) -> list[list]:
        """Per shot: status, attempts, its latest continuity, what fixed its approved take, why."""
        last = {v.shot_id: v for v in self.verdicts}
        last_passed = {v.shot_id: v for v in self.verdicts if v.passed}
        return [[o.shot_id, o.status, o.attempts, last[o.shot_id].continuity if o.shot_id in last else "",
                 ", ".join(last_passed[o.shot_id].fixed if o.shot_id in last_passed else []), o.reason] for o in self.outcomes]

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
    return reseeded(request.model_copy(update={"prompt": "\n".join(lines), "reference_frames": images[:3]}), attempt)


@dataclass
class _Shot:
    """One shot through the rounds."""

    shot_id: str
    scene_number: int
    request: GenerationRequest
    history: list[tuple[Verdict, Take]]
    decision: ReviewDecision | None = None  # applied when the first take failed
    aborted: bool = False
    attempt: int = 1
    failures: list[str] = field(default_factory=list)
    stops: bool = False  # its retake was refused by the budget: no more submissions

    def next_attempt(self, max_attempts: int) -> int | None:
        """The one attempt policy: automatic retakes up to the limit unless the scene is
        stopped; a reviewer's regeneration once, beyond them; an approval, none."""
        if self.history[-1][0].passed or (self.decision and self.decision.decision == "approve"):
            return None
        if self.decision and self.decision.decision == "regenerate":
            return max_attempts + 1 if self.attempt == 1 else None
        return self.attempt + 1 if not self.aborted and self.attempt < max_attempts else None


class Gate:
    def __init__(self, bibles: Bibles, references: ReferenceSet, store, embedder: Embedder, embedder_note: str,
                 settings: RenderSettings, renderer: LocalRenderer | None = None, config: GateConfig = GateConfig(),
                 retake: Retake | None = None, keyframes: KeyframeSet | None = None, hosted: bool = False,
                 native_dialogue: bool = False, must_review: dict[str, str] | None = None,
                 synced: dict[str, str] | None = None):
        """`keyframes`: the episode's approved keyframes (keyframe-first); `hosted`: a run
        on hosted models, whose set-up references are its keyframes and locked stills,
        never drawn offline; `native_dialogue`: the drama's setting, as generation had it
        (the requests, and their hashes, must agree). `must_review`: shot_id -> why it goes
        to a person whatever its verdict (lipsync.review_reasons); `synced`: shot_id -> the
        request hash of its take whose dialogue is in sync (lipsync.synced_takes)."""
        self.bibles, self.references, self.store, self.keyframes = bibles, references, store, keyframes
        self.native_dialogue, self.must_review, self.synced = native_dialogue, must_review or {}, synced or {}
        self.embedder, self.embedder_note, self.settings = embedder, embedder_note, settings
        self.renderer = renderer or LocalRenderer()
        # a round's retakes at once: the engine's router when given (hosted models), else the local renderer
        self.retake = retake
        self.config = config
        self.judge = Judge(references, store, embedder, settings, config.thresholds, hosted_setup(references) if hosted else None)

    def evaluate(self, take: Take, request: GenerationRequest) -> tuple[Verdict, Take]:
        return self.judge([(take, request)])[0]

    def run(self, storyboard: Storyboard, shots: ShotsManifest, on_progress: Callable[[int, int, str, float], None] | None = None,
            decisions: dict | None = None, requests: list[GenerationRequest] | None = None) -> GateReport:
        """`decisions`: shot_id -> ReviewDecision from human review (zipx_core.qa.review).
        `requests`: the shots' requests as generation had them (the shot plan's, with their
        keyframes); None: built here the way generation builds them."""
        try:
            return self._run(storyboard, shots, on_progress, decisions or {}, requests)
        finally:
            self.judge.close()  # its inspecting process

    def _run(self, storyboard: Storyboard, shots: ShotsManifest, on_progress, decisions: dict,
             requests: list[GenerationRequest] | None) -> GateReport:
        started = time.monotonic()
        retake = self.retake or retake_function(storyboard, self.store, self.settings, GenerationSettings(),
                                                lambda: video_models(self.renderer))
        takes = {t.shot_id: t for t in shots.takes}
        if requests is None:
            requests = shot_requests(storyboard, self.bibles, self.settings.width, self.settings.height, self.settings.fps,
                                     self.keyframes, self.references, self.native_dialogue)
        tracks = [_Shot(s.shot_id, s.scene_number, r, [], decisions.get(s.shot_id)) for s, r in zip(storyboard.shots, requests)]
        verdicts = self._judge(tracks, [takes[t.shot_id] for t in tracks], [t.request for t in tracks])
        scene_failures = self._stop_failing_scenes(tracks)
        settled: set[str] = set()

        def report_progress() -> None:
            for track in tracks:
                if track.shot_id not in settled and track.next_attempt(self.config.max_attempts) is None:
                    settled.add(track.shot_id)
                    if on_progress:
                        on_progress(len(settled), len(tracks), track.shot_id, time.monotonic() - started)

        report_progress()
        while not self._stopped(tracks) and (jobs := self._retakes(tracks)):
            made = retake([(request, attempt) for _, request, attempt in jobs])
            done = []
            for (track, request, attempt), result in zip(jobs, made):
                track.attempt = attempt
                if isinstance(result, RetakeFailed):  # refused, failed, over budget: the attempt is spent
                    track.failures.append(f"attempt {attempt}: {result}")
                    track.stops = result.stops_submissions
                else:
                    done.append((track, request, result))
            verdicts += self._judge([t for t, _, _ in done], [r for _, _, r in done], [q for _, q, _ in done])
            report_progress()
        outcomes = [self._out_of_sync(t, self._sound_kept(self._outcome(t), takes[t.shot_id])) for t in tracks]
        return GateReport(drama=storyboard.drama, episode=storyboard.episode, embedder=self.embedder.name,
                          embedder_note=self.embedder_note, verdicts=verdicts, outcomes=outcomes, scene_failures=scene_failures,
                          policy=self.config.policy)

    def _judge(self, tracks: list[_Shot], takes: list[Take], requests: list[GenerationRequest]) -> list[Verdict]:
        judged = self.judge(list(zip(takes, requests)))
        for track, pair in zip(tracks, judged):
            track.history.append(pair)
        return [verdict for verdict, _ in judged]

    def _stop_failing_scenes(self, tracks: list[_Shot]) -> list[SceneFailure]:
        failures = []
        for scene_number, scene in groupby(tracks, key=lambda t: t.scene_number):
            head = [t.history[0][0] for t in list(scene)[: self.config.early_abort_first]]
            failed = sum(not v.passed for v in head)
            if len(head) >= 2 and failed / len(head) >= self.config.early_abort_share:
                failures.append(SceneFailure(scene_number=scene_number, checked=len(head), failed=failed,
                                             reason="most of the scene's first shots failed: the set-up, not the shots"))
        stopped = {f.scene_number for f in failures}
        for track in tracks:
            track.aborted = track.scene_number in stopped
        return failures

    @staticmethod
    def _stopped(tracks: list[_Shot]) -> bool:
        return any(t.stops for t in tracks)

    def _retakes(self, tracks: list[_Shot]) -> list[tuple[_Shot, GenerationRequest, int]]:
        """The round's correction requests, each from the shot's last verdict and reseeded by attempt."""
        jobs = []
        for track in tracks:
            attempt = track.next_attempt(self.config.max_attempts)
            if attempt is None:
                continue
            request = correction_request(track.request, track.history[-1][0], self.bibles, self.references, attempt)
            if track.decision and track.decision.note:
                request = request.model_copy(update={"prompt": f"{request.prompt}\nREVIEWER: {track.decision.note}"})
            jobs.append((track, request, attempt))
        return jobs

    def _outcome(self, track: _Shot) -> ShotOutcome:
        verdict, take = track.history[0]
        decision = track.decision if track.decision and not verdict.passed else None  # applied to a failed first take only
        made = dict(shot_id=track.shot_id, scene_number=track.scene_number, attempts=track.attempt, **_reviewed(decision))
        if decision and decision.decision == "approve":
            return ShotOutcome(**made, status="approved", take=decision.take or take, reason=_review_reason(decision))
        passed = [(v, t) for v, t in track.history if v.passed]
        if passed:
            reason = f"passed on the reviewer's regeneration; {_review_reason(decision)}" if decision else ""
            return ShotOutcome(**made, status="approved", take=passed[-1][1], reason=reason)
        best_verdict, best_take = max(track.history, key=lambda pair: pair[0].continuity)
        why = "scene aborted early" if track.aborted else f"failed {track.attempt} attempts"
        if decision:  # a regeneration: tried as the attempt beyond the limit, unless the budget stopped the rounds first
            tried = "tried" if track.attempt > self.config.max_attempts else "not tried"
            why += f" (the reviewer's regeneration {tried}: {_review_reason(decision)})"
        made_none = f"; no take from {'; '.join(track.failures)}" if track.failures else ""
        return ShotOutcome(**made, status="review", take=best_take,
                           reason=f"{why}; best take kept (continuity {best_verdict.continuity}){made_none}")

    def _sound_kept(self, outcome: ShotOutcome, made: Take) -> ShotOutcome:
        """A natively voiced take the judge graded or upscaled comes back re-encoded without
        its sound (the model's speech, which the episode plays): the sound is put back."""
        take = outcome.take
        if take.request_hash != made.request_hash or take.clip_uri == made.clip_uri:
            return outcome  # not a fixed version of the take generation made
        if not probe(self.store.path(made.clip_uri)).has_audio or probe(self.store.path(take.clip_uri)).has_audio:
            return outcome
        with self.store.scratch_dir() as scratch:
            voiced = Path(scratch) / "voiced.mp4"
            with_sound(self.store.path(take.clip_uri), self.store.path(made.clip_uri), voiced)
            artifact = self.store.put_file(voiced, "clips", ".mp4")
        return outcome.model_copy(update={"take": take.model_copy(update={"clip_uri": artifact.uri,
                                                                          "clip_sha256": artifact.sha256})})

    def _out_of_sync(self, track: _Shot, outcome: ShotOutcome) -> ShotOutcome:
        """The outcome sent to review when its dialogue is not in sync: the sync pass said
        so, or the take is a retake of a shot whose synced (or checked) take it replaced.
        A reviewer's approval stands, even of a first take that passed (the gate applies
        decisions to failed ones only): a person's call, made seeing the reason."""
        why = self.must_review.get(track.shot_id)
        in_sync = self.synced.get(track.shot_id)
        if not why and in_sync and outcome.take.request_hash != in_sync:
            why = "dialogue not in sync: a retake replaced the take whose dialogue was lip-synced or checked"
        if not why or outcome.review_decision == "approve":
            return outcome
        decision = track.decision
        if decision and decision.decision == "approve":
            return outcome.model_copy(update={"status": "approved", "take": decision.take or outcome.take,
                                              "reason": _review_reason(decision), **_reviewed(decision)})
        return outcome.model_copy(update={"status": "review", "reason": "; ".join(r for r in (why, outcome.reason) if r)})


def _reviewed(decision: ReviewDecision | None) -> dict:
    """The reviewer's call as ShotOutcome fields: what, who, when, the note."""
    if decision is None:
        return {}
    return dict(review_decision=decision.decision, reviewer=decision.reviewer, reviewed_at=decision.decided_at,
                review_note=decision.note)


def _review_reason(decision: ReviewDecision) -> str:
    """e.g. 'approved in review by Ana at 2026-12-03T10:00:00+00:00: reads fine'."""
    done = "approved in review" if decision.decision == "approve" else "regeneration asked in review"
    given = f" (given on {decision.replanned_from} before its scene was re-planned)" if decision.replanned_from else ""
    note = f": {decision.note}" if decision.note else ""
    return f"{done} by {decision.reviewer or 'a reviewer'} at {decision.decided_at or 'an unrecorded time'}{given}{note}"
