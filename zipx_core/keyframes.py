"""Keyframe-first: a still per shot before any video is paid for.

For each shot, the still source composes a keyframe from the locked stills of who and
where is in it, plus the shot's prompt. The continuity check judges each keyframe
against those stills (an image costs a few cents, a clip a dollar or more), in rounds
like the gate's: every first keyframe at once, then every failed one again with a new
seed, up to the attempt limit. The approved keyframe becomes the video model's first
frame and the video gate's set-up reference; a shot whose keyframes all fail goes
video-first, with the reason recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from zipx_core.models import Bibles, GenerationRequest, Keyframe, KeyframeSet, ReferenceSet, Storyboard
from zipx_core.policy import reseeded
from zipx_core.prompting import keyframe_prompt
from zipx_core.qa import checks
from zipx_core.qa.checks import Thresholds
from zipx_core.qa.embeddings import Embedder
from zipx_core.qa.judge import setup_key, setup_stills
from zipx_core.qa.references import load_rgb
from zipx_core.stills import Made, StillAsk, StillFailed, StillSource

STILLS_PER_CHARACTER = 2  # the sheet's first views (front close-up, three-quarter) go with a keyframe ask


def _stills_of(references: ReferenceSet, character_id: str, location_id: str) -> list[str]:
    """A character's locked stills for a shot: those drawn in its place (offline stills
    share the set), else the sheet's first views."""
    here = [s.approved for s in references.slots
            if s.entity == character_id and s.kind == "character" and s.slot.endswith(f"/{location_id}") and s.approved]
    return here or references.characters.get(character_id, [])[:STILLS_PER_CHARACTER]


def keyframe_references(request: GenerationRequest, bibles: Bibles, references: ReferenceSet) -> list[tuple[str, str]]:
    """(name, uri): the locked stills of each person in frame, then the place's plate."""
    named = [(bibles.character(f.character_id).display_name, uri)
             for f in request.figures for uri in _stills_of(references, f.character_id, request.location_id)]
    place = bibles.location(request.location_id).name
    return named + [(f"the location {place}", uri) for uri in references.locations.get(request.location_id, [])[:1]]


def keyframe_ask(request: GenerationRequest, bibles: Bibles, references: ReferenceSet, attempt: int, episode: str) -> StillAsk:
    named = keyframe_references(request, bibles, references)
    people = list(dict.fromkeys(name for name, _ in named if not name.startswith("the location ")))
    asked = reseeded(request, attempt)  # a failed keyframe is never asked for again as it was
    return StillAsk(f"keyframe {request.shot_id} attempt {attempt}", keyframe_prompt(request.prompt, people),
                    asked, asked.seed, named, stage="keyframe", episode=episode)


@dataclass
class _Track:
    request: GenerationRequest
    attempts: int = 0
    made: list[tuple[str, float]] = field(default_factory=list)  # (uri, continuity)
    passed: str | None = None
    cost: float = 0.0
    failures: list[str] = field(default_factory=list)


class KeyframeMaker:
    """`setup`: offline, the shot's set-up drawn clean (as the video gate judges offline
    takes), judged against besides the locked stills; a hosted run has none."""

    def __init__(self, bibles: Bibles, references: ReferenceSet, store, stills: StillSource, embedder: Embedder,
                 thresholds: Thresholds, max_attempts: int = 3, setup: Callable[[GenerationRequest], list[np.ndarray]] | None = None):
        self.bibles, self.references, self.store, self.stills = bibles, references, store, stills
        self.embedder, self.thresholds, self.max_attempts, self.setup = embedder, thresholds, max_attempts, setup
        self._locked: dict[str, np.ndarray] = {}  # uri -> embedding, encoded once
        self._setups: dict[tuple, np.ndarray] = {}  # set-up -> embeddings of its drawn stills

    def run(self, storyboard: Storyboard, requests: list[GenerationRequest]) -> KeyframeSet:
        tracks = [_Track(r) for r in requests]
        stopped = False
        for attempt in range(1, self.max_attempts + 1):
            due = [t for t in tracks if t.passed is None and t.attempts == attempt - 1]
            if not due or stopped:
                break
            asks = [keyframe_ask(t.request, self.bibles, self.references, attempt, storyboard.episode) for t in due]
            made = self.stills.make(asks)
            stopped = any(isinstance(m, StillFailed) and m.stops for m in made)
            self._judge(due, made)
        return KeyframeSet(drama=storyboard.drama, episode=storyboard.episode,
                           keyframes=[self._keyframe(t) for t in tracks])

    def _judge(self, due: list[_Track], made: list[Made | StillFailed]) -> None:
        """One encoder batch for the round's keyframes and the locked stills not seen yet."""
        done = [(t, m) for t, m in zip(due, made) if isinstance(m, Made)]
        for track, failure in ((t, m) for t, m in zip(due, made) if isinstance(m, StillFailed)):
            track.attempts += 1
            track.failures.append(str(failure))
        new = list(dict.fromkeys(u for t, _ in done for _, u in self._refs(t) if u not in self._locked))
        rows = self.embedder.encode([load_rgb(self.store, m.uri) for _, m in done] + [load_rgb(self.store, u) for u in new]) \
            if done else np.zeros((0, 0))
        self._locked.update(zip(new, rows[len(done):]))
        for (track, m), row in zip(done, rows[: len(done)]):
            track.attempts += 1
            track.cost += m.cost_usd
            refs = np.stack([self._locked[u] for _, u in self._refs(track)] + list(self._setup_rows(track.request)))
            stage = checks.continuity(row[None], refs, self.thresholds.continuity[track.request.shot_type.value])
            track.made.append((m.uri, stage.value))
            if stage.passed:
                track.passed = m.uri

    def _setup_rows(self, request: GenerationRequest) -> np.ndarray:
        if self.setup is None:
            return np.zeros((0, 0))
        key = setup_key(request)
        if key not in self._setups:
            self._setups[key] = self.embedder.encode(self.setup(request))
        return self._setups[key]

    def _refs(self, track: _Track) -> list[tuple[str, str]]:
        return keyframe_references(track.request, self.bibles, self.references)

    def _keyframe(self, track: _Track) -> Keyframe:
        best = max((c for _, c in track.made), default=0.0)
        continuity = next((c for u, c in track.made if u == track.passed), best)
        reason = "" if track.passed else (
            f"no keyframe passed continuity in {track.attempts} attempts (best {best:.3f}): video-first"
            + (f"; {'; '.join(track.failures)}" if track.failures else ""))
        return Keyframe(shot_id=track.request.shot_id, uri=track.passed, attempts=track.attempts, continuity=round(continuity, 4),
                        cost_usd=round(track.cost, 4), source=self.stills.name, reason=reason,
                        candidates=[u for u, _ in track.made])


def offline_setup() -> Callable[[GenerationRequest], list[np.ndarray]]:
    """The offline set-up reference of a shot, drawn clean (never with injected failures)."""
    from zipx_core.providers import LocalRenderer

    clean = LocalRenderer()
    return lambda request: setup_stills(request, clean)
