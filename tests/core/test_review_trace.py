"""Review that leaves a trace: the gate's outcomes say whose call each shot followed, and
decisions survive a re-plan's new ids where they still mean something."""

from types import SimpleNamespace

import pytest

from zipx_core.models import Take
from zipx_core.qa.checks import StageResult
from zipx_core.qa.gate import Gate, GateConfig, Verdict, _Shot
from zipx_core.qa.review import (ReviewDecision, follow_renames, load_decisions, record_decisions, save_decision,
                                 superseded_decisions)
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode
from zipx_core.storyboard.planner import episode_renames, replan_renames, replan_scene
from zipx_core.storyboard.replans import current_ids, load_renames, record_renames


def take(shot_id: str, attempt: int) -> Take:
    return Take(shot_id=shot_id, attempt=attempt, provider="local", model="m", request_hash=f"h{attempt}", seed=attempt,
                clip_uri=f"zipx://clips/{shot_id}-{attempt}.mp4", clip_sha256="s", frames=24, duration_s=1.0)


def verdict(shot_id: str, attempt: int, passed: bool, continuity: float = 0.9) -> Verdict:
    stage = StageResult(stage="continuity", passed=passed, value=continuity, limit=0.8)
    return Verdict(shot_id=shot_id, attempt=attempt, clip_uri="", stages=[stage], passed=passed)


def outcome(history: list[tuple[int, bool]], decision: ReviewDecision | None = None):
    """The gate's outcome for a shot whose takes went as `history` (attempt, passed)."""
    track = _Shot("ep01-sc001-01", 1, None, [(verdict("ep01-sc001-01", a, ok, 0.5 + a / 10), take("ep01-sc001-01", a))
                                           for a, ok in history], decision)
    track.attempt = history[-1][0]
    return Gate._outcome(SimpleNamespace(config=GateConfig()), track)


def test_an_approval_in_review_says_who_when_and_why():
    kept = take("ep01-sc001-01", 3)
    decision = ReviewDecision(shot_id="ep01-sc001-01", decision="approve", take=kept, note="reads fine", reviewer="Ana",
                              decided_at="2026-12-03T10:00:00+00:00")
    made = outcome([(1, False)], decision)
    assert (made.status, made.take, made.attempts) == ("approved", kept, 1)  # a take was made; the approval adds none
    assert (made.review_decision, made.reviewer, made.reviewed_at, made.review_note) == (
        "approve", "Ana", "2026-12-03T10:00:00+00:00", "reads fine")
    assert made.reason == "approved in review by Ana at 2026-12-03T10:00:00+00:00: reads fine"


def test_a_regeneration_in_review_is_traced_whether_it_passes_or_not():
    asked = ReviewDecision(shot_id="ep01-sc001-01", decision="regenerate", note="no black frames", reviewer="Ben",
                           decided_at="2026-12-03T11:00:00+00:00")
    passed = outcome([(1, False), (4, True)], asked)
    assert (passed.status, passed.attempts, passed.review_decision, passed.review_note) == ("approved", 4, "regenerate",
                                                                                           "no black frames")
    assert passed.reason.startswith("passed on the reviewer's regeneration; regeneration asked in review by Ben")
    failed = outcome([(1, False), (4, False)], asked)
    assert failed.status == "review" and failed.reviewer == "Ben" and "the reviewer's regeneration tried" in failed.reason
    not_made = outcome([(1, False)], asked)  # the budget stopped the rounds before it
    assert "the reviewer's regeneration not tried" in not_made.reason


def test_a_decision_on_a_passing_first_take_is_not_shown_as_applied():
    approved = outcome([(1, True)], ReviewDecision(shot_id="ep01-sc001-01", decision="approve", reviewer="Ana"))
    assert (approved.status, approved.review_decision, approved.reason) == ("approved", "", "")


def test_a_replanned_shot_maps_every_earlier_id_to_its_ids_now(sample_script, sample_bibles):
    first = [s for s in plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights").shots if s.scene_number == 2]
    now = replan_scene(first, 2, "ep01")
    renamed = replan_renames(first, 2, "ep01")
    assert {new for ids in renamed.values() for new in ids} == {s.shot_id for s in now}
    split = next(s for s in first if len(renamed[s.shot_id]) == 2)  # a long action shot, split in two
    assert all("-r2-" in new for new in renamed[split.shot_id])
    for old, new in zip(replan_scene(first, 1, "ep01"), now):  # the first re-plan's ids, part to part
        assert renamed[old.shot_id] == [new.shot_id]
    assert episode_renames(sample_script, "ep01", sample_bibles, {2: 2}) == renamed
    assert episode_renames(sample_script, "ep01", sample_bibles, {}) == {}


def test_decisions_follow_a_replan_where_they_still_mean_something(tmp_path):
    store = LocalArtifactStore(tmp_path)
    record_decisions(store, "lab", "ep01", approve=["ep01-sc002-01"], regenerate={"ep01-sc002-02": "wider"}, reviewer="Ana")
    save_decision(store, "lab", "ep01", ReviewDecision(shot_id="ep01-sc001-01", decision="approve", reviewer="Ben"))
    record_renames(store, "lab", "ep01", {"ep01-sc002-01": ["ep01-sc002-r1-01"],
                                         "ep01-sc002-02": ["ep01-sc002-r1-02", "ep01-sc002-r1-03"]})
    decisions = load_decisions(store, "lab", "ep01")
    assert set(decisions) == {"ep01-sc001-01", "ep01-sc002-r1-02", "ep01-sc002-r1-03"}  # the approval stays behind
    followed = decisions["ep01-sc002-r1-03"]
    assert (followed.decision, followed.note, followed.reviewer, followed.replanned_from) == ("regenerate", "wider", "Ana",
                                                                                           "ep01-sc002-02")
    assert [d.shot_id for d in superseded_decisions(store, "lab", "ep01")] == ["ep01-sc002-01"]
    assert current_ids(store, "lab", "ep01", "ep01-sc002-02") == ["ep01-sc002-r1-02", "ep01-sc002-r1-03"]
    assert current_ids(store, "lab", "ep01", "ep01-sc001-01") == ["ep01-sc001-01"]
    assert load_renames(store, "other", "ep01") == {}


@pytest.mark.parametrize("given_on_new_id", [True, False])
def test_a_decision_given_on_the_new_id_wins(given_on_new_id):
    old = ReviewDecision(shot_id="a", decision="regenerate", note="old note")
    new = ReviewDecision(shot_id="b", decision="approve", reviewer="Eve")
    decisions = {"a": old, **({"b": new} if given_on_new_id else {})}
    assert follow_renames(decisions, {"a": ["b"]})["b"].decision == ("approve" if given_on_new_id else "regenerate")
