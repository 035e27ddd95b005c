"""Kling lip-sync: the client against the local protocol server (tests/providers_server.py)
with its faults, and the pass over an episode's takes: synced once and never paid
twice, natively voiced takes checked against their lines, every shot it cannot sync sent
to review with the reason, and an episode lip-sync cannot run on refused up front."""

import asyncio
import base64
import io
import time
import wave

import jwt
import numpy as np
import pytest

from zipx_core.audio.speech import Speech, write_wav
from zipx_core.generation import GenerationSettings
from zipx_core.lipsync import (LipSyncSettings, cannot_lip_sync, heard_speech, lip_sync_episode, review_reasons, speech_track,
                               synced_takes)
from zipx_core.media import encode_frames, probe
from zipx_core.models import EpisodeAudio, Shot, ShotsManifest, ShotType, SpokenLine, Storyboard, Take
from zipx_core.providers import ContentPolicyRejected, DownloadRejected, ProviderError, RetryPolicy, TaskFailed
from zipx_core.providers.kling_lipsync import KlingLipSync, LipSyncJob, LipSyncRefused
from zipx_core.storage import LocalArtifactStore
from tests.providers_server import KLING_ACCESS, KLING_SECRET, FakeProviders, Fault, _add_sound, _wav

FAST = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=2, timeout_s=10, poll_interval_s=0.02, max_wait_s=20)
CLIP_S = 3.0


@pytest.fixture
def fake():
    with FakeProviders(lipsync_video_s=CLIP_S) as server:
        yield server


def client(fake) -> KlingLipSync:
    return KlingLipSync(KLING_ACCESS, KLING_SECRET, base_url=fake.url, retry=FAST, download_hosts=("127.0.0.1",),
                        allow_private=True)


def wav(seconds: float, rate: int = 24000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(np.zeros(round(seconds * rate), dtype="<i2").tobytes())
    return out.getvalue()


async def sync_once(fake, tmp_path):
    kling = client(fake)
    try:
        session, faces = await kling.identify("https://store.example/clip.mp4")
        job = LipSyncJob("h" * 80, session, faces[0].face_id, wav(2.0), 2.0, 0.3, CLIP_S)
        state = await kling.wait(await kling.submit(job))
        await kling.download(state.video_url, tmp_path / "synced.mp4", job)
        return tmp_path / "synced.mp4"
    finally:
        await kling.aclose()


# --- the client --------------------------------------------------------------------------------


def test_identify_submit_poll_download_in_kling_shapes(fake, tmp_path):
    fake.job_seconds = 0.1  # a few polls
    clip = asyncio.run(sync_once(fake, tmp_path))
    assert abs(probe(clip).duration_s - CLIP_S) < 0.05
    (provider, body), = fake.submissions
    assert provider == "kling_lipsync" and body["session_id"] in fake.lipsync_sessions
    (choice,) = body["face_choose"]
    assert choice["face_id"] == "0" and choice["sound_start_time"] == 0 and choice["sound_end_time"] == 2000
    assert choice["sound_insert_time"] == 300 and base64.b64decode(choice["sound_file"]) == wav(2.0)
    assert body["external_task_id"] == "h" * 64  # Kling's limit, the request hash cut to it
    assert fake.lipsync_sessions[body["session_id"]] == "https://store.example/clip.mp4"
    assert fake.counts["kling_lipsync:poll"] >= 2


def test_the_token_is_kling_jwt():
    kling = KlingLipSync(KLING_ACCESS, KLING_SECRET)
    claims = jwt.decode(kling.token(now=1_000_000), KLING_SECRET, algorithms=["HS256"], options={"verify_exp": False,
                                                                                                 "verify_nbf": False})
    assert claims == {"iss": KLING_ACCESS, "exp": 1_001_800, "nbf": 999_995}
    asyncio.run(kling.aclose())


def test_429_with_retry_after_and_500s_are_retried_without_a_second_job(fake, tmp_path):
    fake.faults = [Fault("kling_lipsync", "identify", "429", retry_after=0.3), Fault("kling_lipsync", "submit", "500"),
                   Fault("kling_lipsync", "submit", "429", retry_after=0), Fault("kling_lipsync", "poll", "500")]
    started = time.monotonic()
    asyncio.run(sync_once(fake, tmp_path))
    assert time.monotonic() - started >= 0.3  # Retry-After honoured
    assert fake.counts["kling_lipsync:identify"] == 2 and fake.counts["kling_lipsync:submit"] == 3
    assert len(fake.submissions) == 1


@pytest.mark.parametrize("kind", ["no_face", "no_human"])
def test_no_face_found_is_a_refusal(kind, fake, tmp_path):
    fake.faults = [Fault("kling_lipsync", "identify", kind)]
    with pytest.raises(LipSyncRefused, match="no face"):
        asyncio.run(sync_once(fake, tmp_path))
    assert fake.submissions == [] and fake.counts["kling_lipsync:identify"] == 1  # not retried


@pytest.mark.parametrize("kind, error, match", [("no_face", LipSyncRefused, "no face detected"),
                                                ("failed", TaskFailed, "render error"),
                                                ("foreign", DownloadRejected, "not allowed"),
                                                ("truncated", DownloadRejected, "broken off|truncated"),
                                                ("gone", DownloadRejected, "HTTP 403")])
def test_failed_tasks_and_bad_downloads_are_typed(kind, error, match, fake, tmp_path):
    fake.faults = [Fault("kling_lipsync", "outcome", kind)]
    with pytest.raises(error, match=match):
        asyncio.run(sync_once(fake, tmp_path))


def test_a_refused_submission_is_a_content_policy_error(fake, tmp_path):
    fake.faults = [Fault("kling_lipsync", "submit", "policy")]
    with pytest.raises(ContentPolicyRejected):
        asyncio.run(sync_once(fake, tmp_path))


def test_a_service_that_stays_down_is_a_provider_error(fake, tmp_path):
    fake.faults = [Fault("kling_lipsync", "identify", "500") for _ in range(FAST.attempts)]
    with pytest.raises(ProviderError, match="HTTP 500 after 4 tries"):
        asyncio.run(sync_once(fake, tmp_path))


# --- the pass ----------------------------------------------------------------------------------


def voice(clip, start_s: float, seconds: float, rate: int = 24000) -> None:
    """The clip with a sound of its own: a tone of `seconds` from `start_s` (the model's speech), silence around it."""
    track = np.zeros(round(CLIP_S * rate), dtype="<i2")
    t = np.arange(round(seconds * rate)) / rate
    track[round(start_s * rate):round(start_s * rate) + len(t)] = (8000 * np.sin(2 * np.pi * 220 * t)).astype("<i2")
    _add_sound(clip, _wav(track.tobytes(), rate))


def make_episode(tmp_path, shot_type=ShotType.MCU, provider="kling", side=720, speech_s=1.0, timed_s=None,
                 characters=("mara",), voiced_s=None):
    """A one-shot episode: a silent take of `provider` (`voiced_s`: natively voiced, speaking
    that long from 0.5 s) and one line of Mara's, at 0.3 s."""
    store = LocalArtifactStore(tmp_path / "store")
    clip = tmp_path / "take.mp4"
    encode_frames((np.full((side, side, 3), i % 255, dtype=np.uint8) for i in range(round(CLIP_S * 24))), clip, side, side, 24)
    if voiced_s is not None:
        voice(clip, 0.5, voiced_s)
    clip_artifact = store.put_file(clip, "clips", ".mp4")
    speech = tmp_path / "line.wav"
    write_wav(speech, Speech(samples=np.zeros(round(speech_s * 24000), dtype=np.int16), sample_rate=24000))
    speech_artifact = store.put_file(speech, "speech", ".wav")
    shot = Shot(shot_id="ep01-sc001-01", scene_number=1, location_id="lab", time_of_day="NIGHT", shot_type=shot_type,
                characters=list(characters), speaker="mara", emotional_intensity=0.5, duration_s=CLIP_S, source_line=1)
    take = Take(shot_id=shot.shot_id, provider=provider, model="m", request_hash="r", seed=1, cost_usd=0.5,
                clip_uri=clip_artifact.uri, clip_sha256=clip_artifact.sha256, frames=72, duration_s=CLIP_S)
    line = SpokenLine(shot_id=shot.shot_id, character_id="mara", text="We sail at dawn.", voice_id="v",
                      speech_uri=speech_artifact.uri, start_s=0.3, duration_s=timed_s or speech_s, source_line=3)
    audio = EpisodeAudio(drama="d", episode="ep01", engine="e", fps=24, lines=[line], shot_durations={shot.shot_id: CLIP_S},
                         duration_s=CLIP_S, mix_uri="m", loudness_lufs=-16, subtitles_srt_uri="s", subtitles_vtt_uri="v")
    storyboard = Storyboard(drama="d", episode="ep01", title="t", shots=[shot])
    return store, storyboard, audio, ShotsManifest(drama="d", episode="ep01", takes=[take])


def run_pass(fake, store, storyboard, audio, manifest, generation=GenerationSettings(), url=lambda uri: "https://s3/clip.mp4",
             lip_sync=True):
    async def go():
        kling = client(fake) if lip_sync else None
        try:
            return await lip_sync_episode(storyboard, audio, manifest, store, kling, generation, LipSyncSettings(), url,
                                          sleep=lambda s: asyncio.sleep(0.01))
        finally:
            if kling:
                await kling.aclose()

    return asyncio.run(go())


def test_a_silent_dialogue_take_is_synced_charged_once_and_never_paid_twice(fake, tmp_path):
    store, storyboard, audio, manifest = make_episode(tmp_path)
    synced, report = run_pass(fake, store, storyboard, audio, manifest)
    (result,) = report.results
    assert result.status == "synced" and result.task_id and result.cost_usd > 0
    (take,) = synced.takes
    assert take.model == "m+lipsync" and take.clip_uri != manifest.takes[0].clip_uri
    assert take.cost_usd == round(0.5 + result.cost_usd, 4)
    info = probe(store.path(take.clip_uri))
    assert (info.width, info.height) == (720, 720) and abs(info.duration_s - CLIP_S) < 0.05  # the episode's format
    (_, body), = fake.submissions
    assert body["face_choose"][0]["sound_insert_time"] == 300
    assert body["face_choose"][0]["sound_end_time"] == 2000  # a 1 s line padded to Kling's 2 s
    charges = store.get_record("spend", "d")["charges"]
    assert sum(c["usd"] for c in charges.values()) == pytest.approx(result.cost_usd)
    assert store.get_record("lipsync_tasks", result.request_hash)["task_id"] == result.task_id  # saved for a resume
    again, _ = run_pass(fake, store, storyboard, audio, manifest)
    assert again.takes == synced.takes and len(fake.submissions) == 1 and fake.counts["kling_lipsync:identify"] == 1


def test_a_run_that_died_after_submitting_resumes_the_task(fake, tmp_path):
    store, storyboard, audio, manifest = make_episode(tmp_path)
    _, report = run_pass(fake, store, storyboard, audio, manifest)
    digest = report.results[0].request_hash
    store._record_path("takes", digest).unlink()  # the run died after submitting: only the task record is left
    _, again = run_pass(fake, store, storyboard, audio, manifest)
    assert again.results[0].status == "synced" and again.results[0].task_id == report.results[0].task_id
    assert len(fake.submissions) == 1 and store.get_record("lipsync_tasks", digest)["state"] == "submitted"


def test_no_face_sends_the_shot_to_review_with_the_reason_and_keeps_the_take(fake, tmp_path):
    store, storyboard, audio, manifest = make_episode(tmp_path)
    fake.faults = [Fault("kling_lipsync", "identify", "no_face")]
    synced, report = run_pass(fake, store, storyboard, audio, manifest)
    assert synced.takes == manifest.takes and fake.submissions == []
    assert "no face" in report.review()["ep01-sc001-01"]
    assert review_reasons(store, "d", "ep01") == report.review()  # what the gate reads


def test_speech_whose_length_disagrees_with_its_line_goes_to_review_before_paying(fake, tmp_path):
    store, storyboard, audio, manifest = make_episode(tmp_path, speech_s=1.0, timed_s=1.5)
    _, report = run_pass(fake, store, storyboard, audio, manifest)
    assert "speech is 1.00s, the line was timed at 1.50s" in report.review()["ep01-sc001-01"]
    assert fake.counts["kling_lipsync:identify"] == 0 and store.get_record("spend", "d") is None


def test_a_synced_clip_of_the_wrong_length_goes_to_review(fake, tmp_path):
    fake.lipsync_video_s = CLIP_S + 0.4  # within the download's tolerance, outside the sync tolerance
    store, storyboard, audio, manifest = make_episode(tmp_path)
    synced, report = run_pass(fake, store, storyboard, audio, manifest)
    assert "synced clip is 3.42s, the take is 3.00s" in report.review()["ep01-sc001-01"]  # 82 frames at 24 fps
    assert synced.takes == manifest.takes


def test_a_face_gone_while_the_line_is_spoken_and_two_faces_go_to_review(fake, tmp_path):
    fake.lipsync_faces = [{"face_id": "0", "start_time": 0, "end_time": 800}]
    store, storyboard, audio, manifest = make_episode(tmp_path)
    _, report = run_pass(fake, store, storyboard, audio, manifest)
    assert "face is visible 0.00-0.80s, the speech runs 0.30-1.30s" in report.review()["ep01-sc001-01"]
    fake.lipsync_faces = [{"face_id": "0", "start_time": 0, "end_time": 3000}, {"face_id": "1", "start_time": 0, "end_time": 3000}]
    (tmp_path / "two").mkdir()
    store, storyboard, audio, manifest = make_episode(tmp_path / "two", characters=("mara", "jon"))
    _, report = run_pass(fake, store, storyboard, audio, manifest)
    assert "cannot tell which is mara" in report.review()["ep01-sc001-01"] and fake.submissions == []


@pytest.mark.parametrize("reason, kwargs, url", [
    ("clip is 256x256; Kling's lip-sync takes 720p or 1080p clips", {"side": 256}, lambda uri: "https://s3/c.mp4"),
    ("clip is 512x512", {"side": 512}, lambda uri: "https://s3/c.mp4"),  # within 512-2160 px, but not 720p
    ("cannot give Kling a URL", {}, None),
])
def test_clips_kling_cannot_take_go_to_review(reason, kwargs, url, fake, tmp_path):
    store, storyboard, audio, manifest = make_episode(tmp_path, **kwargs)
    _, report = run_pass(fake, store, storyboard, audio, manifest, url=url)
    assert reason in report.review()["ep01-sc001-01"] and fake.counts["kling_lipsync:identify"] == 0


def test_over_budget_nothing_is_sent_and_the_shot_goes_to_review(fake, tmp_path):
    store, storyboard, audio, manifest = make_episode(tmp_path)
    _, report = run_pass(fake, store, storyboard, audio, manifest, generation=GenerationSettings(budget_episode_usd=0.0))
    assert "budget" in report.review()["ep01-sc001-01"] and fake.counts["kling_lipsync:identify"] == 0


@pytest.mark.parametrize("kwargs, why", [({"shot_type": ShotType.LS}, "LS shot"), ({"provider": "local"}, "hosted takes only")])
def test_wide_shots_and_local_takes_are_skipped(kwargs, why, fake, tmp_path):
    store, storyboard, audio, manifest = make_episode(tmp_path, **kwargs)
    synced, report = run_pass(fake, store, storyboard, audio, manifest)
    assert report.results[0].status == "skipped" and why in report.results[0].reason
    assert synced.takes == manifest.takes and sum(fake.counts.values()) == 0


def test_a_silent_take_of_a_sound_model_is_lip_synced(fake, tmp_path):
    """Veo's sound was dropped (native dialogue off): its mouth must still follow the speech."""
    store, storyboard, audio, manifest = make_episode(tmp_path, provider="veo3")
    _, report = run_pass(fake, store, storyboard, audio, manifest)
    assert report.results[0].status == "synced" and synced_takes(store, "d", "ep01") == {
        "ep01-sc001-01": report.results[0].request_hash}


# --- natively voiced takes -----------------------------------------------------------------------


def test_a_voiced_take_whose_speech_lasts_as_its_line_is_in_sync_and_not_lip_synced(fake, tmp_path):
    store, storyboard, audio, manifest = make_episode(tmp_path, provider="veo3", voiced_s=1.05)
    kept, report = run_pass(fake, store, storyboard, audio, manifest)
    (result,) = report.results
    assert result.status == "voiced" and result.request_hash == manifest.takes[0].request_hash
    assert kept.takes == manifest.takes and sum(fake.counts.values()) == 0  # nothing sent to Kling
    assert review_reasons(store, "d", "ep01") == {} and synced_takes(store, "d", "ep01") == {"ep01-sc001-01": "r"}
    assert heard_speech(store.path(manifest.takes[0].clip_uri), 30.0) == pytest.approx((0.5, 1.55), abs=0.03)


@pytest.mark.parametrize("voiced_s, reason", [
    (2.0, "native dialogue: happyhorse speaks for 2.00s (0.50-2.50s in the clip), line 3 was timed at 1.00s"),
    (0.0, "native dialogue: happyhorse's clip is silent; line 3 runs 1.00s"),
])
def test_a_voiced_take_whose_speech_disagrees_with_its_line_goes_to_review(voiced_s, reason, fake, tmp_path):
    store, storyboard, audio, manifest = make_episode(tmp_path, provider="happyhorse", voiced_s=voiced_s)
    kept, report = run_pass(fake, store, storyboard, audio, manifest, lip_sync=False)  # checked with lip-sync off too
    assert review_reasons(store, "d", "ep01") == {"ep01-sc001-01": reason}
    assert kept.takes == manifest.takes and synced_takes(store, "d", "ep01") == {}


def test_with_lip_sync_off_silent_takes_are_skipped_and_the_report_holds_nothing_back(fake, tmp_path):
    store, storyboard, audio, manifest = make_episode(tmp_path)
    store.put_record("lipsync", "d__ep01", {"drama": "d", "episode": "ep01", "results": [
        {"shot_id": "ep01-sc001-01", "status": "review", "reason": "an earlier run's"}]})
    _, report = run_pass(fake, store, storyboard, audio, manifest, lip_sync=False)
    assert report.results[0].status == "skipped" and report.results[0].reason == "lip-sync is off"
    assert review_reasons(store, "d", "ep01") == {}  # this run's report replaced the earlier one


@pytest.mark.parametrize("args, said", [
    ((1280, 720, False, True), "Kling's keys are not set"),
    ((1280, 720, True, False), "the artifact store is a local folder"),
    ((854, 480, True, True), "the episode's frame is 854x480: Kling's lip-sync takes 720p or 1080p clips with sides "
                             "of 512-2160 px"),
    ((912, 512, True, True), "912x512"),
    ((3840, 2160, True, True), "3840x2160"),
    ((720, 1280, True, True), None),
    ((1920, 1080, True, True), None),
])
def test_an_episode_lip_sync_cannot_run_on_is_refused_saying_why(args, said):
    problem = cannot_lip_sync(*args)
    assert problem is None if said is None else said in problem


def test_a_short_line_late_in_the_clip_is_padded_before_it(tmp_path):
    store, _, audio, _ = make_episode(tmp_path, speech_s=0.5)
    data, length, insert, speech = speech_track(audio.lines, [2.3], store, CLIP_S, 0.2)
    assert length == pytest.approx(2.0) and insert == pytest.approx(1.0) and speech == pytest.approx((2.3, 2.8))
    with wave.open(io.BytesIO(data)) as w:
        assert w.getnframes() == round(2.0 * 24000)


# --- native dialogue prompts -------------------------------------------------------------------


def dialogue_shot(sample_script, sample_bibles, speakers: int):
    from zipx_core.storyboard import plan_episode

    board = plan_episode(sample_script, sample_script.episodes[0].key, sample_bibles, "harbour_lights")
    return next(s for s in board.shots if len({d.character_id for d in s.dialogue}) == speakers
                and len(s.characters) > 1 and all(d.character_id in s.characters for d in s.dialogue))


def test_native_dialogue_puts_one_speaker_and_closed_mouths_in_the_prompt(sample_script, sample_bibles):
    from zipx_core.prompting import build_request, compose_prompt

    shot = dialogue_shot(sample_script, sample_bibles, speakers=1)
    speaker = sample_bibles.character(shot.dialogue[0].character_id).display_name
    others = [sample_bibles.character(c).display_name for c in shot.characters if c != shot.dialogue[0].character_id]
    prompt = build_request(shot, sample_bibles, 320, 180, native_dialogue=True).prompt
    for line in shot.dialogue:
        assert f'{speaker} speaks, lips in sync with the words' in prompt and f'"{line.text}"' in prompt
    assert f"One speaker: only {speaker} talks; {', '.join(others)} keep their mouths closed." in prompt
    plain = compose_prompt(shot, sample_bibles)
    assert "mouths closed" not in plain and f'{speaker} says: "{shot.dialogue[0].text}"' in plain  # off by default


def test_native_dialogue_with_two_speakers_keeps_every_line_and_names_no_single_speaker(sample_script, sample_bibles):
    from zipx_core.prompting import compose_prompt, dialogue_speaker

    one = dialogue_shot(sample_script, sample_bibles, speakers=1)  # the planner gives a speaker a shot; force two
    other = next(c for c in one.characters if c != one.dialogue[0].character_id)
    shot = one.model_copy(update={"dialogue": [*one.dialogue, one.dialogue[0].model_copy(update={
        "character_id": other, "text": "Not tonight."})]})
    prompt = compose_prompt(shot, sample_bibles, native_dialogue=True)
    assert dialogue_speaker(shot) is None and "One speaker" not in prompt
    assert all(f'"{line.text}"' in prompt for line in shot.dialogue)
