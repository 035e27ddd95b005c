"""What the review room shows and records, read from the manifests and the artifact store
the runs use (a local folder or S3 alike). No web and no Dagster here: the room's pages
call these, and decisions go through the same functions as the `zipx` CLI (the cast
sheet's import and approvals, the review record, a still's approval)."""

from __future__ import annotations

from collections import defaultdict

import yaml

from zipx_core.bible.cast_sheet import CastSheetError, apply_cast_sheet, import_cast_sheet, load_cast_record
from zipx_core.manifests import ManifestReader
from zipx_core.models import Bibles, ReferenceSet, StillSlot
from zipx_core.qa.references import approve_still
from zipx_core.qa.review import ReviewDecision, load_decisions, save_decision
from zipx_core.records import Records

# What a decision re-materializes: cast sheet edits apply in the bibles and the stills;
# review decisions in the gate's pool and the episode cut from it.
DRAMA_ASSETS = ["character_bible", "scene_bible", "reference_frames"]
DECISION_ASSETS = ["approved_frames", "episode"]
STILL_ASSETS = ["reference_frames"]  # a person's choice of a still is locked by the next reference_frames run
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
    """Each character with its locked stills, its still slots and a voice sample; each
    place with its plate and slots; the slots that await a person."""
    materialized, current = _bibles(reader, store, drama)
    references = reader.load("reference_frames", drama)
    stills = references.characters if references else {}
    plates = references.locations if references else {}
    slots = still_slots(references, store, drama) if references else {"slots": [], "awaiting": [], "chosen": []}
    of = defaultdict(list)
    for view in slots["slots"]:
        of[view["slot"].kind, view["slot"].entity].append(view)
    samples = voice_samples(reader, drama)
    return {
        "characters": [{"bible": c, "stills": stills.get(c.character_id, []), "sample": samples.get(c.character_id),
                        "slots": of["character", c.character_id]} for c in current.characters],
        "places": [{"bible": s, "plates": plates.get(s.location_id, []), "slots": of["location", s.location_id]}
                   for s in current.locations],
        "pending": current != materialized,  # edits recorded, not materialized yet
        "awaiting": len(slots["awaiting"]), "chosen": len(slots["chosen"]),
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
    rolls = Records(store).rerolls(drama).update(lambda r: {**(r or {}), character_id: (r or {}).get(character_id, 0) + 1})

    def release(locked: dict | None) -> dict | None:
        if not locked or character_id not in locked.get("characters", {}):
            return None
        locked["characters"].pop(character_id)
        return locked

    Records(store).references(drama).update(release)
    return rolls[character_id]


def reference_set(reader: ManifestReader, store, drama: str) -> ReferenceSet:
    """The drama's reference stills and their slots: the reference_frames manifest, else
    the `references` record the runs lock them in. RoomError when there are none."""
    references = reader.load("reference_frames", drama)
    if references is None:
        record = Records(store).references(drama).get()
        references = ReferenceSet.model_validate(record) if record else None
    if references is None:
        raise RoomError(f"{drama}: no reference stills; materialize reference_frames for it (drama_job) first")
    return references


def _chosen(slot: StillSlot, choices: dict) -> dict | None:
    """A person's choice recorded for the slot (the `still_approvals` record) that the
    next reference_frames run has yet to lock; None when there is none or it is locked."""
    chosen = choices.get(slot.slot)
    if not chosen or chosen.get("uri") not in slot.candidates:
        return None  # none, or a choice among candidates since drawn again
    return None if (chosen["uri"], chosen.get("by")) == (slot.approved, slot.approved_by) else chosen


def still_slots(references: ReferenceSet, store, drama: str) -> dict:
    """Each slot with its candidates (numbered from 1 as `zipx stills` lists them, with
    score, approved, chosen); the slots awaiting a person, and those chosen but not locked."""
    choices = Records(store).still_approvals(drama).get() or {}
    views = []
    for slot in references.slots:
        chosen = _chosen(slot, choices)
        # by its first number: a drawer without a seed (offline) can make the same still twice
        approved, picked = (slot.candidates.index(u) + 1 if u in slot.candidates else None
                            for u in (slot.approved, chosen and chosen["uri"]))
        candidates = [{"index": k, "uri": uri, "score": score, "approved": k == approved, "chosen": k == picked}
                      for k, (uri, score) in enumerate(zip(slot.candidates, slot.scores), start=1)]
        views.append({"slot": slot, "chosen": chosen, "candidates": candidates})
    return {"slots": views, "awaiting": [v for v in views if v["slot"].approved is None and not v["chosen"]],
            "chosen": [v for v in views if v["chosen"]]}


def _candidate(slot: StillSlot, candidate: str) -> str:
    """A candidate's URI from its number as listed (from 1) or the URI itself."""
    if candidate.isdigit() and 1 <= int(candidate) <= len(slot.candidates):
        return slot.candidates[int(candidate) - 1]
    if candidate in slot.candidates:
        return candidate
    raise RoomError(f"still slot {slot.slot} has no candidate {candidate!r}: give its number "
                    f"(1 to {len(slot.candidates)}) or one of its URIs")


def approve_candidate(reader: ManifestReader, store, drama: str, slot_id: str, candidate: str, by: str) -> tuple[StillSlot, str]:
    """Records a person's choice of one candidate of a still slot, by its number or URI
    (what `zipx stills approve` does); the next reference_frames run locks it."""
    by = by.strip()
    if not by:
        raise RoomError("say who you are: a still is approved with the approver's name")
    references = reference_set(reader, store, drama)
    slot = next((s for s in references.slots if s.slot == slot_id), None)
    if slot is None:
        raise RoomError(f"{drama} has no still slot {slot_id!r}")
    uri = _candidate(slot, candidate.strip())
    approve_still(store, drama, slot.slot, uri, by)
    return slot, uri


def _outcomes(reader: ManifestReader, drama: str, episode: str) -> dict:
    report = reader.load("approved_frames", drama, episode)
    return {o.shot_id: o for o in report.outcomes} if report else {}


def storyboard_grid(reader: ManifestReader, drama: str, episode: str, filters: dict[str, str]) -> dict:
    """One row per shot (its keyframe and its take's thumbnail, id, type, who, route, cost,
    verdict), filtered; and the values each filter can take. `keyframes` is the episode's
    KeyframeSet, None for runs made before keyframes."""
    board = reader.load("storyboard", drama, episode)
    if board is None:
        raise RoomError(f"{drama} {episode}: no storyboard yet")
    shots = reader.load("shots", drama, episode)
    takes = {t.shot_id: t for t in shots.takes} if shots else {}
    keyframes = reader.load("keyframes", drama, episode)
    keyframe_of = {k.shot_id: k for k in keyframes.keyframes} if keyframes else {}
    outcomes = _outcomes(reader, drama, episode)
    rows = []
    for shot in board.shots:
        outcome = outcomes.get(shot.shot_id)
        take = outcome.take if outcome else takes.get(shot.shot_id)
        rows.append({
            "shot": shot, "take": take, "verdict": outcome.status if outcome else "not judged",
            "reason": outcome.reason if outcome else "", "cost": take.cost_usd if take else 0.0,
            "provider": take.provider if take else "",
            "thumbnail": take.thumbnail_uri if take else None, "keyframe": keyframe_of.get(shot.shot_id),
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
    return {"board": board, "rows": rows, "options": options, "keyframes": keyframes}


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


DRAMA_WIDE = "drama stills"  # charges of no one episode: reference sheets and plates (no episode budget applies)


def ledger(store, drama: str, budget_episode_usd: float | None, budget_drama_usd: float | None) -> dict:
    """The drama's spend record (every paid call, by request hash) summed per episode,
    with what each budget has left."""
    charges = (Records(store).spend(drama).get() or {}).get("charges", {})
    spent: dict[str, float] = defaultdict(float)
    for charge in charges.values():
        spent[charge["episode"] or DRAMA_WIDE] += charge["usd"]
    total = sum(spent.values(), 0.0)  # a float even with nothing spent (Dagster's float metadata insists)

    def left(budget, used):
        return None if budget is None else round(budget - used, 4)

    return {
        "episodes": {ep: {"spent": round(usd, 4), "left": None if ep == DRAMA_WIDE else left(budget_episode_usd, usd)}
                     for ep, usd in sorted(spent.items())},
        "spent": round(total, 4), "budget_drama": budget_drama_usd, "budget_episode": budget_episode_usd,
        "left": left(budget_drama_usd, total), "calls": len(charges),
    }
