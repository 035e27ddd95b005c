"""Reference stills: generated, scored, picked and locked.

For each character, front stills in close-up and medium shot in its default wardrobe,
in each place the character appears (the colour embedder compares whole frames, so a
reference shares the shot's surroundings); for each location, an empty establishing
still. Two candidates each, the better kept. Once locked, references survive re-runs:
re-locking is an explicit choice.
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


def make_references(
    bibles: Bibles, boards: list[Storyboard], store, width: int, height: int, renderer: LocalRenderer | None = None
) -> ReferenceSet:
    renderer = renderer or LocalRenderer()
    where = {c.character_id: set() for c in bibles.characters}
    for board in boards:
        for shot in board.shots:
            for character_id in shot.characters:
                where.setdefault(character_id, set()).add(shot.location_id)
    references = ReferenceSet(drama=bibles.drama)
    for character in bibles.characters:
        uris = []
        for location_id in sorted(where.get(character.character_id) or {bibles.locations[0].location_id}):
            for shot_type in PORTRAITS:
                requests = [
                    _request(bibles, location_id, shot_type, [figure_spec(character, character.wardrobe["default"])],
                             stable_hash(character.character_id, location_id, shot_type.value, k) % 2**31, width, height)
                    for k in range(CANDIDATES)
                ]
                uri, score = _best_still(store, requests, renderer)
                uris.append(uri)
                references.scores[uri] = round(score, 3)
        references.characters[character.character_id] = uris
    for place in bibles.locations:
        requests = [_request(bibles, place.location_id, ShotType.ELS, [], stable_hash(place.location_id, k) % 2**31, width, height) for k in range(CANDIDATES)]
        uri, score = _best_still(store, requests, renderer)
        references.locations[place.location_id] = [uri]
        references.scores[uri] = round(score, 3)
    return references


def lock_references(store, fresh: ReferenceSet, relock: bool = False) -> ReferenceSet:
    """The locked set: the stored one, with only new characters and places added from
    `fresh`; or `fresh` entirely when re-locking is asked for."""
    stored = store.get_record("references", fresh.drama)
    locked = fresh if relock or not stored else ReferenceSet.model_validate(stored)
    for character_id, uris in fresh.characters.items():
        locked.characters.setdefault(character_id, uris)
    for location_id, uris in fresh.locations.items():
        locked.locations.setdefault(location_id, uris)
    locked.scores = {**fresh.scores, **locked.scores}
    store.put_record("references", fresh.drama, locked.model_dump(mode="json"))
    return locked


def load_rgb(store, uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(store.path(uri).read_bytes())).convert("RGB"))


def references_for_drama(script, bibles: Bibles, store, width: int, height: int, relock: bool = False) -> ReferenceSet:
    """Plans every episode (to know who appears where), draws the stills, locks them."""
    from zipx_core.storyboard import plan_episode

    boards = [plan_episode(script, episode.key, bibles, bibles.drama) for episode in script.episodes]
    return lock_references(store, make_references(bibles, boards, store, width, height), relock)
