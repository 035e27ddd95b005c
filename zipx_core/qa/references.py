"""Reference stills: generated, scored, picked and locked.

For each character, front stills in close-up and medium shot in its default wardrobe,
in each place the character appears (the colour embedder compares whole frames, so a
reference shares the shot's surroundings); for each location, an empty establishing
still. Two candidates each, the better kept. Once locked, references survive re-runs:
re-locking is an explicit choice. A change to a bible re-opens only what shows it: each
character's and place's stills are drawn again only when what they show changed (its
looks, default wardrobe, or the light of a place it appears in), so editing one character
on the cast sheet re-draws that character's stills and no one else's.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from zipx_core.models import Bibles, FigureSpec, GenerationRequest, ReferenceSet, ShotType, Storyboard
from zipx_core.prompting import figure_spec
from zipx_core.naming import stable_hash
from zipx_core.providers import LocalRenderer

CANDIDATES = 2
PORTRAITS = (ShotType.CU, ShotType.MS)


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


def _best_still(store, requests: list[GenerationRequest], renderer: LocalRenderer) -> tuple[str, float]:
    scored = [(score_still(image), image) for image in (renderer.still(r) for r in requests)]
    score, image = max(scored, key=lambda pair: pair[0])
    with store.scratch_dir() as scratch:
        path = Path(scratch) / "still.png"
        image.save(path, format="PNG")
        return store.put_file(path, "references", ".png").uri, score


def _where(bibles: Bibles, boards: list[Storyboard]) -> dict[str, set[str]]:
    """character_id -> the locations it appears in (the first location if none)."""
    where = {c.character_id: set() for c in bibles.characters}
    for board in boards:
        for shot in board.shots:
            for character_id in shot.characters:
                where.setdefault(character_id, set()).add(shot.location_id)
    first = {bibles.locations[0].location_id} if bibles.locations else set()
    return {character_id: places or first for character_id, places in where.items()}


def looks(bibles: Bibles, where: dict[str, set[str]]) -> dict[str, dict[str, str]]:
    """A digest per character and per place of everything its stills show."""
    places = {p.location_id: str(stable_hash(p.int_ext, p.lighting_palette.model_dump_json())) for p in bibles.locations}
    characters = {
        c.character_id: str(stable_hash(c.appearance.model_dump_json(), c.wardrobe["default"].model_dump_json(),
                                        *sorted(f"{place}:{places.get(place)}" for place in where.get(c.character_id, ()))))
        for c in bibles.characters
    }
    return {"characters": characters, "locations": places}


def make_references(
    bibles: Bibles, boards: list[Storyboard], store, width: int, height: int, renderer: LocalRenderer | None = None,
    only: dict[str, set[str]] | None = None,
) -> ReferenceSet:
    """Draws the stills, of everyone and every place or, with `only` ({"characters": ids,
    "locations": ids}), of those alone."""
    renderer = renderer or LocalRenderer()
    where = _where(bibles, boards)
    references = ReferenceSet(drama=bibles.drama)
    rolls = store.get_record("rerolls", bibles.drama) or {}  # re-rolls asked for in the review room: a new seed each
    for character in bibles.characters:
        if only is not None and character.character_id not in only["characters"]:
            continue
        uris = []
        for location_id in sorted(where[character.character_id]):
            for shot_type in PORTRAITS:
                requests = [
                    _request(bibles, location_id, shot_type, [figure_spec(character, character.wardrobe["default"])],
                             stable_hash(character.character_id, location_id, shot_type.value, k,
                                         *([rolls[character.character_id]] if rolls.get(character.character_id) else [])) % 2**31,
                             width, height)
                    for k in range(CANDIDATES)
                ]
                uri, score = _best_still(store, requests, renderer)
                uris.append(uri)
                references.scores[uri] = round(score, 3)
        references.characters[character.character_id] = uris
    for place in bibles.locations:
        if only is not None and place.location_id not in only["locations"]:
            continue
        requests = [_request(bibles, place.location_id, ShotType.ELS, [], stable_hash(place.location_id, k) % 2**31, width, height) for k in range(CANDIDATES)]
        uri, score = _best_still(store, requests, renderer)
        references.locations[place.location_id] = [uri]
        references.scores[uri] = round(score, 3)
    return references


def lock_references(store, fresh: ReferenceSet, relock: bool = False, redrawn: dict[str, set[str]] | None = None) -> ReferenceSet:
    """The locked set: the stored one, with new characters and places added from `fresh`
    and those in `redrawn` (whose bible changed) replaced; or `fresh` entirely when
    re-locking is asked for."""
    stored = store.get_record("references", fresh.drama)
    locked = fresh if relock or not stored else ReferenceSet.model_validate(stored)
    redrawn = redrawn or {"characters": set(), "locations": set()}
    for section in ("characters", "locations"):
        kept, drawn = getattr(locked, section), getattr(fresh, section)
        for entity_id, uris in drawn.items():
            kept[entity_id] = uris if entity_id in redrawn[section] else kept.get(entity_id, uris)
    locked.scores = {**fresh.scores, **locked.scores}
    store.put_record("references", fresh.drama, locked.model_dump(mode="json"))
    return locked


def _stale(store, drama: str, now: dict[str, dict[str, str]]) -> dict[str, set[str]] | None:
    """What must be drawn (again): what is not locked yet, and what looks different from
    when it was drawn. None: everything (nothing is locked)."""
    stored = store.get_record("references", drama)
    if not stored:
        return None
    before = store.get_record("reference_looks", drama) or now  # locked before looks were recorded: adopt them
    return {
        section: {eid for eid, digest in now[section].items() if eid not in stored[section] or before[section].get(eid) != digest}
        for section in ("characters", "locations")
    }


def load_rgb(store, uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(store.path(uri).read_bytes())).convert("RGB"))


def references_for_drama(script, bibles: Bibles, store, width: int, height: int, relock: bool = False,
                         renderer: LocalRenderer | None = None) -> ReferenceSet:
    """Plans every episode (to know who appears where), draws the stills that are missing
    or whose bible changed (all of them when re-locking), locks them."""
    from zipx_core.storyboard import plan_episode

    boards = [plan_episode(script, episode.key, bibles, bibles.drama) for episode in script.episodes]
    now = looks(bibles, _where(bibles, boards))
    stale = None if relock else _stale(store, bibles.drama, now)
    fresh = make_references(bibles, boards, store, width, height, renderer, only=stale)
    locked = lock_references(store, fresh, relock, redrawn=stale)
    store.put_record("reference_looks", bibles.drama, now)
    return locked
