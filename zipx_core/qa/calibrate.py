"""Continuity thresholds from approved frames: for each shot type, the similarity of
approved takes to their own set-up (same characters) against their similarity to the
same set-up with other characters of the drama in their place; the threshold is set at
the equal error rate, per (embedder, shot type)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from zipx_core.models import Bibles, ShotsManifest, Storyboard
from zipx_core.prompting import build_request
from zipx_core.providers import LocalRenderer
from zipx_core.qa.checks import Thresholds, equal_error_threshold
from zipx_core.qa.embeddings import Embedder
from zipx_core.qa.frames import keyframes
from zipx_core.qa.judge import SetupUris, given_stills, setup_stills

# A shot type whose same/other similarities overlap this much (tiny figures in an ELS)
# cannot be told apart by the embedder: its threshold stays at the default.
MAX_USABLE_EER = 0.2


def calibrate(storyboard: Storyboard, takes: ShotsManifest, bibles: Bibles, store, embedder: Embedder,
              width: int, height: int, setup_uris: SetupUris | None = None) -> tuple[Thresholds, dict[str, dict]]:
    """`setup_uris` (judge.hosted_setup): a hosted run's set-ups are its locked stills, read
    from the store; offline they are drawn clean."""
    clean = LocalRenderer()

    def setup(request) -> list[np.ndarray]:
        return given_stills([str(store.path(u)) for u in setup_uris(request)], request) if setup_uris else setup_stills(request, clean)

    same, other = defaultdict(list), defaultdict(list)
    by_shot = {t.shot_id: t for t in takes.takes}
    cast = [c.character_id for c in bibles.characters]
    for shot in storyboard.shots:
        if not shot.characters or shot.shot_id not in by_shot:
            continue
        frames = embedder.encode(keyframes(store.path(by_shot[shot.shot_id].clip_uri)))
        request = build_request(shot, bibles, width, height)
        own = embedder.encode(setup(request))
        same[shot.shot_type.value].append(float((frames @ own.T).max(axis=1).min()))
        for stranger in (c for c in cast if c not in shot.characters):
            swapped = build_request(shot.model_copy(update={"characters": [stranger, *shot.characters[1:]]}), bibles, width, height)
            theirs = embedder.encode(setup(swapped))
            other[shot.shot_type.value].append(float((frames @ theirs.T).max(axis=1).min()))
    thresholds = Thresholds(embedder=embedder.name)
    report = {}
    for shot_type in sorted(same):
        if other[shot_type]:
            threshold, error = equal_error_threshold(same[shot_type], other[shot_type])
            usable = error <= MAX_USABLE_EER
            if usable:
                thresholds.continuity[shot_type] = round(threshold, 4)
            report[shot_type] = {
                "used": usable,
                "threshold": round(threshold, 4), "equal_error_rate": round(error, 4),
                "same_mean": round(float(np.mean(same[shot_type])), 4), "other_mean": round(float(np.mean(other[shot_type])), 4),
                "pairs": (len(same[shot_type]), len(other[shot_type])),
            }
    return thresholds, report
