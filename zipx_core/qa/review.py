"""Human review: decisions on shots the gate could not approve.

A reviewer approves the kept take, or asks for one more generation with a note. The
decisions live in the artifact store (per drama and episode) and the next
materialization of `approved_frames` uses them: an approval costs nothing (the take is
already made), a regeneration is one new attempt, made once. The gate's outcomes say
whose call each was, when, and the note.

A re-plan of a scene gives its shots new ids (zipx_core.storyboard.replans records
which became which). Decisions follow the new ids where they still mean something: a
regeneration's note is about what the person wants changed, so it follows; an approval
was of a take the re-planned shot no longer has, so it does not (nothing is approved
unseen) and is listed as superseded instead."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from zipx_core.manifests import ManifestReader
from zipx_core.models import Take
from zipx_core.records import Records
from zipx_core.storyboard.replans import load_renames


class ReviewDecision(BaseModel):
    shot_id: str
    decision: Literal["approve", "regenerate"]
    take: Take | None = None  # approve: the take approved
    note: str = ""
    decided_at: str = ""
    reviewer: str = ""  # who decided (the review room asks for a name)
    replanned_from: str = ""  # given on this id before a re-plan renamed the shot to `shot_id`


def recorded_decisions(store, drama: str, episode: str) -> dict[str, ReviewDecision]:
    """The decisions as they were given, under the ids they were given on."""
    record = Records(store).review(drama, episode).get() or {}
    return {shot_id: ReviewDecision.model_validate(d) for shot_id, d in record.items()}


def load_decisions(store, drama: str, episode: str) -> dict[str, ReviewDecision]:
    """The decisions on the episode's shots as they are named now (re-plans followed)."""
    return follow_renames(recorded_decisions(store, drama, episode), load_renames(store, drama, episode))


def follow_renames(decisions: dict[str, ReviewDecision], renamed: dict[str, list[str]]) -> dict[str, ReviewDecision]:
    """Regenerations given on an id a re-plan retired, moved to the ids that shot has now;
    a decision given on the new id itself wins."""
    current = {shot_id: d for shot_id, d in decisions.items() if shot_id not in renamed}
    for old_id, decision in decisions.items():
        if old_id in renamed and decision.decision == "regenerate":
            for new_id in renamed[old_id]:
                current.setdefault(new_id, decision.model_copy(update={"shot_id": new_id, "replanned_from": old_id}))
    return current


def superseded_decisions(store, drama: str, episode: str) -> list[ReviewDecision]:
    """Approvals given on shots a re-plan has since replaced: kept as a trace, applied to nothing."""
    renamed = load_renames(store, drama, episode)
    return [d for shot_id, d in recorded_decisions(store, drama, episode).items()
            if shot_id in renamed and d.decision == "approve"]


def save_decision(store, drama: str, episode: str, decision: ReviewDecision) -> None:
    stored = Records(store).review(drama, episode)
    record = stored.get() or {}
    decision.decided_at = decision.decided_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    record[decision.shot_id] = decision.model_dump(mode="json")
    stored.put(record)


def record_decisions(store, drama: str, episode: str, approve: list[str], regenerate: dict[str, str],
                     reviewer: str = "") -> dict[str, ReviewDecision]:
    """Saves decisions given with a run (shot ids to approve, shot id -> note for one more
    generation), as `reviewer`, and returns every decision on the episode's shots now."""
    for shot_id in approve:
        save_decision(store, drama, episode, ReviewDecision(shot_id=shot_id, decision="approve", reviewer=reviewer))
    for shot_id, note in regenerate.items():
        save_decision(store, drama, episode, ReviewDecision(shot_id=shot_id, decision="regenerate", note=note, reviewer=reviewer))
    return load_decisions(store, drama, episode)


def awaiting_review(reader: ManifestReader | str | Path) -> list[dict]:
    """Shots awaiting review in every approved_frames manifest `reader` finds: on the
    store the runs use (a ManifestReader over it), or in a local manifests folder."""
    if not isinstance(reader, ManifestReader):
        reader = ManifestReader(reader)
    rows = []
    for drama, episode in reader.partitions("approved_frames"):  # in key order
        report = reader.load("approved_frames", drama, episode) if episode else None
        for outcome in report.outcomes if report else []:
            if outcome.status == "review":
                rows.append({"drama": drama, "episode": episode, "shot_id": outcome.shot_id,
                             "reason": outcome.reason, "take": outcome.take, "reviewed_at": outcome.reviewed_at})
    return rows
