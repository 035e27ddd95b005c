"""What the review room shows and records, read from the manifests and the artifact store
the runs use (a local folder or S3 alike). No web and no Dagster here: the room's pages
call these, and decisions go through the same functions as the `zipx` CLI (the cast
sheet's import and approvals, the review record)."""

from __future__ import annotations

from collections import defaultdict

import yaml

from zipx_core.bible.cast_sheet import CastSheetError, apply_cast_sheet, import_cast_sheet, load_cast_record
from zipx_core.manifests import ManifestReader
from zipx_core.models import Bibles
from zipx_core.qa.review import ReviewDecision, load_decisions, save_decision

# What a decision re-materializes: cast sheet edits apply in the bibles and the stills;
# review decisions in the gate's pool and the episode cut from it.
DRAMA_ASSETS = ["character_bible", "scene_bible", "reference_frames"]
DECISION_ASSETS = ["approved_frames", "episode"]
APPEARANCE_FIELDS = ("gender", "age_range", "face_description", "hair", "hair_color", "skin_tone", "build")
VOICE_FIELDS = ("voice_id", "pitch", "rate_wpm", "style")


class RoomError(ValueError):
    """A request the room refuses; the message says why, for the page."""


def _bibles(reader: ManifestReader, store, drama: str) -> tuple[Bibles, Bibles]:
    """The bibles as last materialized, and with the cast sheet record over them (as the next run builds them)."""
    characters, scenes = reader.load("character_bible", drama), reader.load("scene_bible", drama)
    if characters is None or scenes is None:
        raise RoomError(f"{drama}: no materialized bibles; run drama_job for it first")
    materialized = Bibles.of(characters, scenes)
    return materialized, apply_cast_sheet(materialized, load_cast_record(store, drama))


def voice_samples(reader: ManifestReader, drama: str) -> dict[str, str]:
    """character_id -> the speech URI of the first line the character speaks."""
    samples: dict[str, str] = {}
    for episode in reader.episodes(drama):
        audio = reader.load("episode_audio", drama, episode)
        for line in audio.lines if audio else []:
            samples.setdefault(line.character_id, line.speech_uri)
    return samples


def cast_sheet(reader: ManifestReader, store, drama: str) -> dict:
    """Each character with its locked stills and a voice sample; each place with its plate."""
    materialized, current = _bibles(reader, store, drama)
    references = reader.load("reference_frames", drama)
    stills = references.characters if references else {}
    plates = references.locations if references else {}
    samples = voice_samples(reader, drama)
    return {
        "characters": [{"bible": c, "stills": stills.get(c.character_id, []), "sample": samples.get(c.character_id)}
                       for c in current.characters],
        "places": [{"bible": s, "plates": plates.get(s.location_id, [])} for s in current.locations],
        "pending": current != materialized,  # edits recorded, not materialized yet
    }


def _sheet_from_form(character_id: str, form: dict[str, str]) -> str:
    """A cast sheet block from the page's form fields (blank ones left out)."""
    def pick(names, numbers=()):
        return {n: int(form[n]) if n in numbers else form[n].strip() for n in names if form.get(n, "").strip()}

    try:
        block = {"appearance": pick(APPEARANCE_FIELDS), "voice": pick(VOICE_FIELDS, numbers=("pitch", "rate_wpm"))}
    except ValueError:
        raise RoomError("pitch and rate_wpm are whole numbers") from None
    if form.get("display_name", "").strip():
        block["display_name"] = form["display_name"].strip()
    return yaml.safe_dump({"characters": {character_id: {k: v for k, v in block.items() if v}}})


def edit_cast(reader: ManifestReader, store, drama: str, entity_id: str, action: str, form: dict[str, str]) -> dict:
    """approve | release | edit a character or place, through the cast sheet's own import
    (what `zipx cast import` does). Returns the import's summary."""
    _, current = _bibles(reader, store, drama)
    section = "characters" if entity_id in {c.character_id for c in current.characters} else "places"
    if action == "approve":
        text, approve = None, [entity_id]
    elif action == "release":
        text, approve = yaml.safe_dump({section: {entity_id: {"approved": False}}}), []
    elif action == "edit" and section == "characters":
        text, approve = _sheet_from_form(entity_id, form), []
    else:
        raise RoomError(f"cannot {action} {entity_id}")
    try:
        return import_cast_sheet(store, drama, current, text, "review room", approve)
    except CastSheetError as error:
        raise RoomError(str(error)) from None


def reroll(reader: ManifestReader, store, drama: str, character_id: str) -> int:
    """Asks for new stills of one character: a new seed (the `rerolls` record that
    reference drawing reads) and its locked stills released, so the next reference_frames
    run draws it again and no one else. An approved character is locked: refused."""
    _, current = _bibles(reader, store, drama)
    character = next((c for c in current.characters if c.character_id == character_id), None)
    if character is None:
        raise RoomError(f"{drama} has no character {character_id!r}")
    if character.approved:
        raise RoomError(f"{character.display_name} is approved (looks locked): release the approval to re-roll")
    rolls = store.update_record("rerolls", drama, lambda r: {**(r or {}), character_id: (r or {}).get(character_id, 0) + 1})

    def release(locked: dict | None) -> dict | None:
        if not locked or character_id not in locked.get("characters", {}):
            return None
        locked["characters"].pop(character_id)
        return locked

    store.update_record("references", drama, release)
    return rolls[character_id]


def _outcomes(reader: ManifestReader, drama: str, episode: str) -> dict:
    report = reader.load("approved_frames", drama, episode)
    return {o.shot_id: o for o in report.outcomes} if report else {}


def storyboard_grid(reader: ManifestReader, drama: str, episode: str, filters: dict[str, str]) -> dict:
    """One row per shot (keyframe, id, type, who, route, cost, verdict), filtered; and the
    values each filter can take."""
    board = reader.load("storyboard", drama, episode)
    if board is None:
        raise RoomError(f"{drama} {episode}: no storyboard yet")
    shots = reader.load("shots", drama, episode)
    takes = {t.shot_id: t for t in shots.takes} if shots else {}
    outcomes = _outcomes(reader, drama, episode)
    rows = []
    for shot in board.shots:
        outcome = outcomes.get(shot.shot_id)
        take = outcome.take if outcome else takes.get(shot.shot_id)
        rows.append({
            "shot": shot, "take": take, "verdict": outcome.status if outcome else "not judged",
            "reason": outcome.reason if outcome else "", "cost": take.cost_usd if take else 0.0,
            "provider": take.provider if take else "",
            "keyframe": take.thumbnail_uri if take else None,
        })
    options = {"type": sorted({r["shot"].shot_type.value for r in rows}), "who": sorted({c for r in rows for c in r["shot"].characters}),
               "route": sorted({r["shot"].route for r in rows}), "verdict": sorted({r["verdict"] for r in rows})}
    keep = {
        "type": lambda r, v: r["shot"].shot_type.value == v, "who": lambda r, v: v in r["shot"].characters,
        "route": lambda r, v: r["shot"].route == v, "verdict": lambda r, v: r["verdict"] == v,
    }
    for name, value in filters.items():
        if value and name in keep:
            rows = [r for r in rows if keep[name](r, value)]
    return {"board": board, "rows": rows, "options": options}


def _takes(report, outcome) -> list[dict]:
    """Every take the gate judged for the shot, attempt by attempt, with its stages; the
    kept take too when it was never judged (its scene was stopped first)."""
    verdicts = [v for v in report.verdicts if v.shot_id == outcome.shot_id]
    takes = [{"attempt": v.attempt, "clip": v.clip_uri, "passed": v.passed, "stages": v.stages, "fixed": v.fixed,
              "kept": v.clip_uri == outcome.take.clip_uri} for v in verdicts]
    if not any(t["kept"] for t in takes):
        takes.append({"attempt": outcome.take.attempt, "clip": outcome.take.clip_uri, "passed": None, "stages": [],
                      "fixed": [], "kept": True})
    return takes


def review_items(reader: ManifestReader, store, drama: str, episode: str) -> list[dict]:
    """Shots awaiting review, and shots a reviewer decided on, each with its takes side by
    side with the locked references it was judged against, the gate's scores and reasons,
    and the decision recorded."""
    report = reader.load("approved_frames", drama, episode)
    board = reader.load("storyboard", drama, episode)
    if report is None or board is None:
        return []
    references = reader.load("reference_frames", drama)
    shots = {s.shot_id: s for s in board.shots}
    decisions = load_decisions(store, drama, episode)
    items = []
    for outcome in report.outcomes:
        decision = decisions.get(outcome.shot_id)
        if outcome.status != "review" and decision is None:
            continue
        shot = shots.get(outcome.shot_id)
        refs = []
        if shot and references:
            refs = [(c, uri) for c in shot.characters for uri in references.characters.get(c, [])]
            refs += [(shot.location_id, uri) for uri in references.locations.get(shot.location_id, [])]
        items.append({"drama": drama, "episode": episode, "outcome": outcome, "shot": shot, "decision": decision,
                      "takes": _takes(report, outcome), "references": refs})
    return items


def decide(reader: ManifestReader, store, drama: str, episode: str, shot_id: str, decision: str, reviewer: str,
           note: str) -> ReviewDecision:
    """Records a reviewer's decision on a shot awaiting review, as `zipx review` does, with
    who and why: an approval keeps the take the gate kept; a regeneration needs a note."""
    reviewer, note = reviewer.strip(), note.strip()
    if decision not in ("approve", "regenerate"):
        raise RoomError(f"unknown decision {decision!r}")
    if not reviewer:
        raise RoomError("say who you are: a decision is recorded with the reviewer's name")
    if decision == "regenerate" and not note:
        raise RoomError("a regeneration needs a note: what should change")
    outcome = _outcomes(reader, drama, episode).get(shot_id)
    if outcome is None or outcome.status != "review":
        raise RoomError(f"{drama} {episode} {shot_id} is not awaiting review")
    made = ReviewDecision(shot_id=shot_id, decision=decision, take=outcome.take if decision == "approve" else None,
                          note=note, reviewer=reviewer)
    save_decision(store, drama, episode, made)
    return made


def ledger(store, drama: str, budget_episode_usd: float | None, budget_drama_usd: float | None) -> dict:
    """The drama's spend record (every paid call, by request hash) summed per episode,
    with what each budget has left."""
    charges = (store.get_record("spend", drama) or {}).get("charges", {})
    spent: dict[str, float] = defaultdict(float)
    for charge in charges.values():
        spent[charge["episode"]] += charge["usd"]
    total = sum(spent.values())

    def left(budget, used):
        return None if budget is None else round(budget - used, 4)

    return {
        "episodes": {ep: {"spent": round(usd, 4), "left": left(budget_episode_usd, usd)} for ep, usd in sorted(spent.items())},
        "spent": round(total, 4), "budget_drama": budget_drama_usd, "budget_episode": budget_episode_usd,
        "left": left(budget_drama_usd, total), "calls": len(charges),
    }
