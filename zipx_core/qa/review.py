"""Human review: decisions on shots the gate could not approve.

A reviewer approves the kept take, or asks for one more generation with a note. The
decisions live in the artifact store (per drama and episode) and the next
materialization of `approved_frames` uses them: an approval costs nothing (the take is
already made), a regeneration is one new attempt, made once."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from zipx_core.models import Take


class ReviewDecision(BaseModel):
    shot_id: str
    decision: Literal["approve", "regenerate"]
    take: Take | None = None  # approve: the take approved
    note: str = ""
    decided_at: str = ""
    reviewer: str = ""  # who decided (the review room asks for a name)


def _record(drama: str, episode: str) -> str:
    return f"{drama}__{episode}"


def load_decisions(store, drama: str, episode: str) -> dict[str, ReviewDecision]:
    record = store.get_record("review", _record(drama, episode)) or {}
    return {shot_id: ReviewDecision.model_validate(d) for shot_id, d in record.items()}


def save_decision(store, drama: str, episode: str, decision: ReviewDecision) -> None:
    record = store.get_record("review", _record(drama, episode)) or {}
    decision.decided_at = decision.decided_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    record[decision.shot_id] = decision.model_dump(mode="json")
    store.put_record("review", _record(drama, episode), record)


def record_decisions(store, drama: str, episode: str, approve: list[str], regenerate: dict[str, str]) -> dict[str, ReviewDecision]:
    """Saves decisions given with a run (shot ids to approve, shot id -> note for one more
    generation) and returns every decision recorded for the episode."""
    for shot_id in approve:
        save_decision(store, drama, episode, ReviewDecision(shot_id=shot_id, decision="approve"))
    for shot_id, note in regenerate.items():
        save_decision(store, drama, episode, ReviewDecision(shot_id=shot_id, decision="regenerate", note=note))
    return load_decisions(store, drama, episode)


def awaiting_review(manifests: Path) -> list[dict]:
    """Shots awaiting review in every approved_frames manifest under `manifests`."""
    rows = []
    for path in sorted((manifests / "approved_frames").glob("*/*.json")):
        report = json.loads(path.read_text())["data"]
        for outcome in report["outcomes"]:
            if outcome["status"] == "review":
                rows.append({"drama": report["drama"], "episode": report["episode"], "shot_id": outcome["shot_id"],
                             "reason": outcome["reason"], "take": outcome["take"]})
    return rows
