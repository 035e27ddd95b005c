"""The timed shot plan: built once, and its requests (keyframes added) hash as the
requests generation and the gate built before it existed, so takes made then are found."""

import json

import pytest

from zipx_core.generation import RenderSettings, request_hash
from zipx_core.manifests import dump_manifest, parse_manifest
from zipx_core.models import EpisodeAudio, Keyframe, KeyframeSet, ReferenceSet
from zipx_core.policy import QualityPolicy
from zipx_core.prompting import build_request, with_keyframes
from zipx_core.storyboard import plan_episode
from zipx_core.storyboard.shot_plan import plan_shots

SETTINGS = RenderSettings(width=192, height=108, fps=24)


@pytest.fixture(scope="module")
def board(sample_script, sample_bibles):
    return plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")


def _audio(board) -> EpisodeAudio:
    """Speech that makes every other shot longer than planned."""
    durations = {s.shot_id: s.duration_s + 1.25 for s in board.shots[::2]}
    return EpisodeAudio(drama=board.drama, episode=board.episode, engine="espeak-ng", fps=24, lines=[], shot_durations=durations,
                        duration_s=0.0, mix_uri="zipx://mix", loudness_lufs=-16.0, subtitles_srt_uri="zipx://srt",
                        subtitles_vtt_uri="zipx://vtt")


def _references(board) -> ReferenceSet:
    people = sorted({c for s in board.shots for c in s.characters})
    return ReferenceSet(drama=board.drama, characters={c: [f"zipx://stills/{c}-{n}.png" for n in range(3)] for c in people[:-1]})


def _keyframes(board) -> KeyframeSet:
    """Keyframes for the first half of the shots (the rest went video-first)."""
    half = board.shots[: len(board.shots) // 2]
    return KeyframeSet(drama=board.drama, episode=board.episode,
                       keyframes=[Keyframe(shot_id=s.shot_id, uri=f"zipx://keyframes/{s.shot_id}.png") for s in half])


def _requests_as_before(timed, bibles, keyframes, references, native_dialogue):
    """prompting.shot_requests as generation and the gate each built it before the shot plan (kept here, frozen)."""
    requests = []
    for shot in timed.shots:
        request = build_request(shot, bibles, SETTINGS.width, SETTINGS.height, SETTINGS.fps, native_dialogue)
        stills = [u for c in shot.characters for u in references.characters.get(c, [])[:2]]
        keyframe = keyframes.uri_of(shot.shot_id)
        if stills or keyframe:
            request = request.model_copy(update={"keyframe_uri": keyframe, "reference_frames": stills or request.reference_frames})
        requests.append(request)
    return requests


@pytest.mark.parametrize("native_dialogue", [False, True])
def test_the_plans_requests_hash_as_before_after_a_manifest_round_trip(board, sample_bibles, native_dialogue):
    audio, references, keyframes = _audio(board), _references(board), _keyframes(board)
    plan = plan_shots(board, audio, sample_bibles, SETTINGS, references, native_dialogue)
    stored = parse_manifest(dump_manifest(plan), "test", "shot_plan")  # as keyframes, shots and the gate read it
    now = with_keyframes(stored.requests, keyframes)
    before = _requests_as_before(stored.storyboard(), sample_bibles, keyframes, references, native_dialogue)
    assert [request_hash("veo3", "m", r, 2, duration_s=8) for r in now] == [request_hash("veo3", "m", r, 2, duration_s=8)
                                                                            for r in before]
    assert sum(bool(r.keyframe_uri) for r in now) == len(keyframes.keyframes)  # and the keyframes are in them


def test_the_plan_is_timed_by_the_speech_and_hashes_each_request(board, sample_bibles):
    audio = _audio(board)
    plan = plan_shots(board, audio, sample_bibles, SETTINGS, _references(board), policy=QualityPolicy(max_replans=1))
    for planned, shot in zip(plan.shots, board.shots):
        assert planned.shot.duration_s == audio.shot_durations.get(shot.shot_id, shot.duration_s)
        assert planned.request.duration_s == planned.shot.duration_s
    assert plan.storyboard().shots == [p.shot for p in plan.shots]
    assert len({p.request_hash for p in plan.shots}) == len(plan.shots)  # every shot its own request
    again = plan_shots(board, audio, sample_bibles, SETTINGS, _references(board))
    assert [p.request_hash for p in again.shots] == [p.request_hash for p in plan.shots]  # stable
    longer = plan_shots(board, _audio(board).model_copy(update={"shot_durations": {board.shots[1].shot_id: 7.0}}),
                        sample_bibles, SETTINGS, _references(board))
    changed = [p.shot.shot_id for p, q in zip(longer.shots, plan.shots) if p.request_hash != q.request_hash]
    assert board.shots[1].shot_id in changed
    assert json.loads(dump_manifest(plan))["data"]["policy"]["max_replans"] == 1  # the policy rides in the manifest
