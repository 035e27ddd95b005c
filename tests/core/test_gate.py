"""The quality gate on real renders: every failure mode, three attempts, review, early abort."""

import numpy as np
import pytest

from zipx_core.generation import RenderSettings, generate_shots
from zipx_core.models import ReferenceSet
from zipx_core.providers.local import FailureModes, LocalRenderer
from zipx_core.qa.checks import equal_error_threshold
from zipx_core.qa.embeddings import ClipConfig, ClipEmbedder, ColourEmbedder, EmbedderError, choose_embedder
from zipx_core.qa.gate import Gate
from zipx_core.qa.references import approve_still, lock_references, make_references
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode

SETTINGS = RenderSettings(width=320, height=180, workers=2)


@pytest.fixture(scope="module")
def world(tmp_path_factory, sample_script, sample_bibles):
    store = LocalArtifactStore(tmp_path_factory.mktemp("gate"))
    boards = [plan_episode(sample_script, e.key, sample_bibles, "harbour_lights") for e in sample_script.episodes]
    references = make_references(sample_bibles, boards, store, SETTINGS.width, SETTINGS.height)
    return store, boards, references


def first_attempts(world, sample_bibles, mode, shots):
    store, boards, references = world
    board = boards[0].model_copy(update={"shots": shots})
    renderer = LocalRenderer(failures=FailureModes(**{mode: 1.0}) if mode else FailureModes())
    takes = generate_shots(board, sample_bibles, store, SETTINGS, renderer=renderer)
    gate = Gate(sample_bibles, references, store, ColourEmbedder(), "test", SETTINGS, renderer=renderer)
    from zipx_core.prompting import build_request

    return [gate.evaluate(t, build_request(s, sample_bibles, 320, 180))[0] for s, t in zip(board.shots, takes.takes)]


def pick(world, types, count=3):
    return [s for s in world[1][0].shots if s.shot_type.value in types and s.characters][:count]


def failed(verdict):
    return {s.stage for s in verdict.stages if not s.passed and s.stage not in ("lighting", "resolution")}


def test_clean_takes_pass(world, sample_bibles):
    verdicts = first_attempts(world, sample_bibles, None, world[1][0].shots[:10])
    assert all(v.passed and not v.fixed for v in verdicts), [failed(v) for v in verdicts]


def test_drift_fails_continuity(world, sample_bibles):
    verdicts = first_attempts(world, sample_bibles, "drift", pick(world, ("CU",)))
    assert all(failed(v) == {"continuity"} for v in verdicts), [(v.continuity, failed(v)) for v in verdicts]


def test_colour_cast_is_graded_not_regenerated(world, sample_bibles):
    verdicts = first_attempts(world, sample_bibles, "colour_cast", pick(world, ("MS", "LS")))
    assert any("graded" in v.fixed and v.passed for v in verdicts)
    for v in verdicts:
        light = next(s for s in v.stages if s.stage == "lighting")
        assert not light.passed  # the cast was seen


@pytest.mark.parametrize("mode, stage", [("blur", "blur"), ("black_frames", "black_frames"), ("frozen", "frozen")])
def test_artifacts_are_discarded(world, sample_bibles, mode, stage):
    verdicts = first_attempts(world, sample_bibles, mode, pick(world, ("CU", "MS", "MCU")))
    assert all(not v.passed and stage in failed(v) for v in verdicts), [failed(v) for v in verdicts]


def test_low_resolution_within_2x_is_upscaled(world, sample_bibles):
    verdicts = first_attempts(world, sample_bibles, "low_resolution", pick(world, ("CU", "MS")))
    assert all(v.passed and v.fixed == ["upscaled"] for v in verdicts)


def test_three_attempts_then_review_with_best_take(world, sample_bibles):
    store, boards, references = world
    shots = pick(world, ("CU",), 1)
    board = boards[0].model_copy(update={"shots": shots})
    always_blurred = LocalRenderer(failures=FailureModes(blur=1.0))
    takes = generate_shots(board, sample_bibles, store, SETTINGS, renderer=always_blurred)
    report = Gate(sample_bibles, references, store, ColourEmbedder(), "test", SETTINGS, renderer=always_blurred).run(board, takes)
    outcome = report.outcomes[0]
    assert (outcome.status, outcome.attempts) == ("review", 3)
    assert [v.attempt for v in report.verdicts] == [1, 2, 3]
    assert outcome.take.clip_uri == max(report.verdicts, key=lambda v: v.continuity).clip_uri
    assert report.awaiting_review == {shots[0].shot_id}


def test_regeneration_fixes_a_drifted_shot(world, sample_bibles):
    store, boards, references = world
    board = boards[0].model_copy(update={"shots": pick(world, ("CU",), 1)})
    takes = generate_shots(board, sample_bibles, store, SETTINGS, renderer=LocalRenderer(failures=FailureModes(drift=1.0)))
    report = Gate(sample_bibles, references, store, ColourEmbedder(), "test", SETTINGS, renderer=LocalRenderer()).run(board, takes)
    assert report.outcomes[0].status == "approved" and report.outcomes[0].attempts == 2
    assert report.drift_in_pool() == []


def test_a_scene_that_fails_from_the_start_is_stopped(world, sample_bibles):
    store, boards, references = world
    scene = [s for s in boards[0].shots if s.scene_number == 1]
    board = boards[0].model_copy(update={"shots": scene})
    broken = LocalRenderer(failures=FailureModes(black_frames=1.0))
    takes = generate_shots(board, sample_bibles, store, SETTINGS, renderer=broken)
    report = Gate(sample_bibles, references, store, ColourEmbedder(), "test", SETTINGS, renderer=broken).run(board, takes)
    assert [f.scene_number for f in report.scene_failures] == [1]
    assert len(report.verdicts) == len(scene)  # nothing regenerated: no more spent on the scene
    assert all(o.status == "review" and "aborted" in o.reason for o in report.outcomes)


def test_references_stay_locked_until_relocked(world, sample_bibles):
    store, boards, references = world
    first = lock_references(store, references)
    slot = first.slots[0]
    assert slot.entity == "ava" and slot.approved_by == "auto (best score)"
    redrawn = slot.model_copy(update={"candidates": ["zipx://references/00/" + "0" * 64 + ".png"], "scores": [1.0], "approved": None})
    other = ReferenceSet(drama=references.drama, slots=[redrawn])
    assert lock_references(store, other).characters["ava"] == first.characters["ava"]
    assert lock_references(store, other, relock=True).characters["ava"] == redrawn.candidates
    # a person's choice wins over the best score, and a hosted set waits for one
    approve_still(store, references.drama, slot.slot, slot.candidates[1], "ana")
    chosen = lock_references(store, references, relock=True)
    assert chosen.slots[0].approved == slot.candidates[1] and chosen.slots[0].approved_by == "ana"
    waiting = lock_references(store, references.model_copy(update={"slots": [redrawn]}), relock=True, auto=False)
    assert [s.slot for s in waiting.awaiting_approval] == [slot.slot] and "ava" not in waiting.characters


def test_equal_error_threshold():
    threshold, error = equal_error_threshold([0.9, 0.92, 0.95, 0.97], [0.3, 0.5, 0.6, 0.91])
    assert 0.6 < threshold <= 0.92 and error == pytest.approx(0.25, abs=0.13)


def test_colour_embedder_sees_through_a_cast():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    cast = np.clip(frame * np.array([1.3, 1.0, 0.75]), 0, 255).astype(np.uint8)
    other = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    other[..., 0] = 250
    e = ColourEmbedder().encode([frame, cast, other])
    assert e[0] @ e[1] > 0.9 > e[0] @ e[2]


def test_clip_without_weights_says_how_to_provide_them(tmp_path):
    embedder = ClipEmbedder(ClipConfig(checkpoint_path=str(tmp_path / "missing.bin")))
    with pytest.raises(EmbedderError, match="checkpoint_path"):
        embedder.encode([np.zeros((32, 32, 3), np.uint8)])
    chosen, reason = choose_embedder("auto", ClipConfig(checkpoint_path=str(tmp_path / "missing.bin")))
    assert isinstance(chosen, ColourEmbedder) and "colour embedder" in reason


def test_clip_code_path_with_random_weights_only_when_asked():
    embedder = ClipEmbedder(ClipConfig(pretrained=None, allow_random_init=True, batch_size=2))
    rows = embedder.encode([np.full((64, 64, 3), v, np.uint8) for v in (0, 128, 255)])
    assert rows.shape == (3, 512) and np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-4)
    assert embedder.calibrated is False and embedder.name.endswith("random")
    with pytest.raises(EmbedderError):  # no weights and not asked for random ones: refused
        ClipEmbedder(ClipConfig(pretrained=None)).encode([np.zeros((64, 64, 3), np.uint8)])


def test_a_round_of_retakes_is_one_batch_and_a_budget_stop_ends_the_rounds(world, sample_bibles):
    from zipx_core.generation import RetakeFailed, render_take

    store, boards, references = world
    board = boards[0].model_copy(update={"shots": pick(world, ("CU", "MS"), 3)})
    always_drift = LocalRenderer(failures=FailureModes(drift=1.0))
    takes = generate_shots(board, sample_bibles, store, SETTINGS, renderer=always_drift)
    rounds = []

    def retake(jobs):
        rounds.append([attempt for _, attempt in jobs])
        return [render_take(request, always_drift, store, attempt) for request, attempt in jobs]

    report = Gate(sample_bibles, references, store, ColourEmbedder(), "test", SETTINGS, retake=retake).run(board, takes)
    failed_first = sum(not v.passed for v in report.verdicts if v.attempt == 1)
    assert rounds and all(len(set(r)) == 1 for r in rounds) and len(rounds[0]) == failed_first  # one call per round

    def broke(jobs):
        return [RetakeFailed("budget spent", stops_submissions=True) for _ in jobs]

    report = Gate(sample_bibles, references, store, ColourEmbedder(), "test", SETTINGS, retake=broke).run(board, takes)
    assert max(v.attempt for v in report.verdicts) == 1
    assert all("budget spent" in o.reason and o.attempts == 2 for o in report.outcomes if o.status == "review")


def test_no_weights_no_torch(tmp_path):
    """Deciding that no CLIP weights exist does not import torch (1.2 GB of the demo's memory)."""
    import os
    import subprocess
    import sys

    code = ("import sys; from zipx_core.qa.embeddings import choose_embedder; e, why = choose_embedder('auto'); "
            "assert e.name == 'colour-v2' and 'torch' not in sys.modules, (e.name, why)")
    env = {**os.environ, "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HOME", None), env.pop("HF_HUB_CACHE", None), env.pop("XDG_CACHE_HOME", None)
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
