"""Reference stills: made by the still source (zipx_core.stills), scored, approved, locked.

With a hosted image model, each character gets a sheet on a neutral background (front
close-up, three-quarter, full body in the default wardrobe; a full body per outfit the
script changes to) and each location an empty plate; a person approves one candidate of
each slot (`zipx stills approve`, the launchpad, the review room), or the best-scored is
approved when the drama says so. Offline, each character is drawn in close-up and medium
shot in each place it appears (the colour embedder compares whole frames, so a reference
shares the shot's surroundings), each location as an empty establishing still, and the
best-scored candidate is approved. Once locked, references survive re-runs:
re-locking is an explicit choice. A change to a bible re-opens only what shows it: each
character's and place's stills are drawn again only when what they show changed (its
looks, default wardrobe, or the light of a place it appears in), so editing one character
on the cast sheet re-draws that character's stills and no one else's.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from zipx_core.models import Bibles, FigureSpec, GenerationRequest, ReferenceSet, ShotType, Storyboard
from zipx_core.models import StillSlot
from zipx_core.prompting import figure_spec, plate_prompt, sheet_prompt
from zipx_core.naming import stable_hash
from zipx_core.providers import LocalRenderer
from zipx_core.records import Records
from zipx_core.stills import LocalStills, StillAsk, StillFailed, StillSource

CANDIDATES = 2
PORTRAITS = (ShotType.CU, ShotType.MS)
# A hosted sheet: neutral background, default wardrobe (and a full-body view per outfit
# the script changes to). The offline drawer instead draws each character in every place
# it appears: the colour embedder compares whole frames, so its stills share the set.
SHEET = (("front-close-up", ShotType.CU, "front view, head and shoulders, looking straight at the camera"),
         ("three-quarter", ShotType.MS, "three-quarter view, waist up"),
         ("full-body", ShotType.LS, "full body, standing, arms relaxed, feet visible"))


def score_still(image: Image.Image) -> float:
    """Higher is better: sharp (edge energy) and well exposed (few clipped pixels)."""
    grey = np.asarray(image.convert("L"), dtype=np.float64)
    edges = np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean()
    clipped = ((grey < 8) | (grey > 247)).mean()
    return float(edges * (1.0 - clipped))


def _request(bibles: Bibles, location_id: str, shot_type: ShotType, figures: list[FigureSpec], seed: int, width: int, height: int) -> GenerationRequest:
    place = bibles.location(location_id)
    return GenerationRequest(
        shot_id=f"reference-{location_id}", location_id=location_id, prompt="reference still", shot_type=shot_type,
        duration_s=1 / 24, width=width, height=height, seed=seed, palette=place.lighting_palette,
        camera_movement="static", figures=figures, is_exterior=place.int_ext == "EXT",
    )


def _where(bibles: Bibles, boards: list[Storyboard]) -> dict[str, set[str]]:
    """character_id -> the locations it appears in (the first location if none)."""
    where = {c.character_id: set() for c in bibles.characters}
    for board in boards:
        for shot in board.shots:
            for character_id in shot.characters:
                where.setdefault(character_id, set()).add(shot.location_id)
    first = {bibles.locations[0].location_id} if bibles.locations else set()
    return {character_id: places or first for character_id, places in where.items()}


def looks(bibles: Bibles, where: dict[str, set[str]], source: str = "local") -> dict[str, dict[str, str]]:
    """A digest per character and per place of everything its stills show, and what draws
    them: stills drawn offline are never kept for a hosted run."""
    salt = () if source == "local" else (source,)  # offline digests stay as they were before image models
    places = {p.location_id: str(stable_hash(p.int_ext, p.lighting_palette.model_dump_json(), *salt)) for p in bibles.locations}
    characters = {
        c.character_id: str(stable_hash(c.appearance.model_dump_json(), c.wardrobe["default"].model_dump_json(), *salt,
                                        *sorted(f"{place}:{places.get(place)}" for place in where.get(c.character_id, ()))))
        for c in bibles.characters
    }
    return {"characters": characters, "locations": places}


@dataclass
class _Slot:
    slot: str
    kind: str  # character | location
    entity: str
    view: str
    asks: list[StillAsk]


def _local_slots(bibles: Bibles, where, width: int, height: int, rolls: dict) -> list[_Slot]:
    slots = []
    for character in bibles.characters:
        cid, roll = character.character_id, ([rolls[character.character_id]] if rolls.get(character.character_id) else [])
        figure = figure_spec(character, character.wardrobe["default"])
        for location_id in sorted(where[cid]):
            for shot_type in PORTRAITS:
                asks = [StillAsk(f"sheet {cid}/{shot_type.value}/{location_id}", "reference still",
                                 _request(bibles, location_id, shot_type, [figure], seed, width, height), seed)
                        for seed in (stable_hash(cid, location_id, shot_type.value, k, *roll) % 2**31 for k in range(CANDIDATES))]
                slots.append(_Slot(f"{cid}/{shot_type.value}/{location_id}", "character", cid, shot_type.value, asks))
    for place in bibles.locations:
        asks = [StillAsk(f"plate {place.location_id}", "reference still",
                         _request(bibles, place.location_id, ShotType.ELS, [], seed, width, height), seed, stage="plate")
                for seed in (stable_hash(place.location_id, k) % 2**31 for k in range(CANDIDATES))]
        slots.append(_Slot(f"{place.location_id}/plate/default", "location", place.location_id, "plate", asks))
    return slots


def _hosted_slots(bibles: Bibles, width: int, height: int, rolls: dict, candidates: int) -> list[_Slot]:
    """Per character a sheet (three views, default wardrobe; a full body per outfit the
    script changes to), per location an empty plate, `candidates` each."""
    slots, first = [], bibles.locations[0].location_id if bibles.locations else None
    for character in bibles.characters:
        cid, roll = character.character_id, rolls.get(character.character_id, 0)
        views = [(view, shot_type, words, "default") for view, shot_type, words in SHEET]
        views += [("full-body", ShotType.LS, SHEET[2][2], key) for key in sorted(character.wardrobe) if key != "default"]
        for view, shot_type, words, wardrobe in views:
            outfit = character.wardrobe[wardrobe]
            prompt = sheet_prompt(character, outfit, words)
            asks = [StillAsk(f"sheet {cid}/{view}/{wardrobe}", prompt,
                             _request(bibles, first, shot_type, [figure_spec(character, outfit)], seed, width, height), seed)
                    for seed in (stable_hash(cid, view, wardrobe, k, roll) % 2**31 for k in range(candidates))]
            slots.append(_Slot(f"{cid}/{view}/{wardrobe}", "character", cid, view, asks))
    for place in bibles.locations:
        asks = [StillAsk(f"plate {place.location_id}", plate_prompt(place),
                         _request(bibles, place.location_id, ShotType.ELS, [], seed, width, height), seed, stage="plate")
                for seed in (stable_hash(place.location_id, k) % 2**31 for k in range(candidates))]
        slots.append(_Slot(f"{place.location_id}/plate/default", "location", place.location_id, "plate", asks))
    return slots


def _drawn(store, stills: StillSource, slots: list[_Slot]) -> list[StillSlot]:
    """Every candidate of every slot made at once, and scored."""
    made = stills.make([ask for slot in slots for ask in slot.asks])
    drawn, results = [], iter(made)
    for slot in slots:
        mine = [next(results) for _ in slot.asks]
        failed = [str(m) for m in mine if isinstance(m, StillFailed)]
        if failed:
            raise StillFailed(f"reference still {slot.slot}: {failed[0]}", stops=any(m.stops for m in mine if isinstance(m, StillFailed)))
        scores = [round(score_still(Image.open(io.BytesIO(store.path(m.uri).read_bytes()))), 3) for m in mine]
        drawn.append(StillSlot(slot=slot.slot, kind=slot.kind, entity=slot.entity, view=slot.view, candidates=[m.uri for m in mine],
                               scores=scores, source=stills.name, cost_usd=round(sum(m.cost_usd for m in mine), 4)))
    return drawn


def make_references(
    bibles: Bibles, boards: list[Storyboard], store, width: int, height: int, renderer: LocalRenderer | None = None,
    only: dict[str, set[str]] | None = None, stills: StillSource | None = None, candidates: int = CANDIDATES,
) -> ReferenceSet:
    """Makes the candidate stills of everyone and every place or, with `only`
    ({"characters": ids, "locations": ids}), of those alone, and approves the best-scored
    of each slot (the offline default; `lock_references` applies a person's choice)."""
    stills = stills or LocalStills(store, renderer)
    rolls = Records(store).rerolls(bibles.drama).get() or {}  # re-rolls asked for in the review room: a new seed each
    plan = (_hosted_slots(bibles, width, height, rolls, candidates) if stills.hosted
            else _local_slots(bibles, _where(bibles, boards), width, height, rolls))
    if only is not None:
        plan = [s for s in plan if s.entity in only["characters" if s.kind == "character" else "locations"]]
    references = ReferenceSet(drama=bibles.drama, source=stills.name, slots=_drawn(store, stills, plan))
    return _approved(references, {}, auto=True)


def _approved(references: ReferenceSet, approvals: dict, auto: bool) -> ReferenceSet:
    """Each slot's approved candidate: a person's choice where it is one of the slot's
    candidates, else (when `auto`) the best-scored; the locked lists rebuilt from them."""
    references.characters, references.locations, references.scores = {}, {}, {}
    for slot in references.slots:
        chosen = approvals.get(slot.slot) or {}
        if chosen.get("uri") in slot.candidates:
            slot.approved, slot.approved_by = chosen["uri"], chosen.get("by", "a person")
        elif slot.approved not in slot.candidates or slot.approved_by.startswith("auto"):
            best = max(range(len(slot.candidates)), key=lambda k: slot.scores[k])
            slot.approved, slot.approved_by = (slot.candidates[best], "auto (best score)") if auto else (None, "")
        if slot.approved:
            getattr(references, _section(slot.kind)).setdefault(slot.entity, []).append(slot.approved)
            references.scores[slot.approved] = slot.scores[slot.candidates.index(slot.approved)]
    return references


def approve_still(store, drama: str, slot: str, uri: str, by: str) -> dict:
    """A person's choice of one candidate for a slot (CLI, launchpad, review room); the next
    reference_frames run locks it."""
    chosen = {"uri": uri, "by": by, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return Records(store).still_approvals(drama).update(lambda r: {**(r or {}), slot: chosen})


def lock_references(store, fresh: ReferenceSet, relock: bool = False, redrawn: dict[str, set[str]] | None = None,
                    auto: bool = True) -> ReferenceSet:
    """The locked set: the stored one, with new characters and places added from `fresh`
    and those in `redrawn` (whose bible changed) replaced; or `fresh` entirely when
    re-locking is asked for. Approvals a person made are applied to every slot."""
    stored = Records(store).references(fresh.drama).get()
    stored = None if relock or not stored else ReferenceSet.model_validate(stored)
    redrawn = redrawn or {"characters": set(), "locations": set()}
    slots = {s.slot: s for s in (stored.slots if stored else [])}
    for slot in fresh.slots:
        if stored is None or slot.slot not in slots or _entity_redrawn(slot, redrawn):
            slots[slot.slot] = slot
    fresh_slots = {s.slot for s in fresh.slots}
    kept = [s for s in slots.values() if s.slot in fresh_slots or not _entity_redrawn(s, redrawn)]
    locked = ReferenceSet(drama=fresh.drama, source=fresh.source, slots=kept)
    records = Records(store)
    locked = _approved(locked, records.still_approvals(fresh.drama).get() or {}, auto)
    records.references(fresh.drama).put(locked.model_dump(mode="json"))
    return locked


def _section(kind: str) -> str:
    return "characters" if kind == "character" else "locations"


def _entity_redrawn(slot: StillSlot, redrawn: dict[str, set[str]]) -> bool:
    return slot.entity in redrawn[_section(slot.kind)]


def _stale(store, drama: str, now: dict[str, dict[str, str]]) -> dict[str, set[str]] | None:
    """What must be drawn (again): what is not locked yet, and what looks different from
    when it was drawn. None: everything (nothing is locked)."""
    stored = Records(store).references(drama).get()
    if not stored or not stored.get("slots"):  # nothing, or locked before slots were kept: all of it
        return None
    before = Records(store).reference_looks(drama).get() or now  # locked before looks were recorded: adopt them
    drawn = {section: {s["entity"] for s in stored["slots"] if _section(s["kind"]) == section} for section in ("characters", "locations")}
    return {
        section: {eid for eid, digest in now[section].items()
                  if eid not in drawn[section] or eid not in stored[section] or before[section].get(eid) != digest}
        for section in ("characters", "locations")
    }


def load_rgb(store, uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(store.path(uri).read_bytes())).convert("RGB"))


def references_for_drama(script, bibles: Bibles, store, width: int, height: int, relock: bool = False,
                         renderer: LocalRenderer | None = None, stills: StillSource | None = None,
                         auto_approve: bool | None = None, candidates: int = CANDIDATES) -> ReferenceSet:
    """Plans every episode (to know who appears where), makes the stills that are missing
    or whose bible changed (all of them when re-locking), locks them. `auto_approve`
    None: the best-scored is approved offline, a person approves a hosted model's."""
    from zipx_core.storyboard import plan_episode

    stills = stills or LocalStills(store, renderer)
    boards = [plan_episode(script, episode.key, bibles, bibles.drama) for episode in script.episodes]
    now = looks(bibles, _where(bibles, boards), stills.name)
    stale = None if relock else _stale(store, bibles.drama, now)
    fresh = make_references(bibles, boards, store, width, height, only=stale, stills=stills, candidates=candidates)
    auto = not stills.hosted if auto_approve is None else auto_approve
    locked = lock_references(store, fresh, relock, redrawn=stale, auto=auto)
    Records(store).reference_looks(bibles.drama).put(now)
    return locked
