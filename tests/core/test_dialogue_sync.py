"""Dialogue on screen in sync, past the sync pass (tests/core/test_lipsync.py): native
dialogue in the one place requests are built, a voiced clip keeping its sound through the
conform and the judge's fixes, the gate holding back shots whose dialogue is not in sync,
and the episode playing a voiced take's own sound over its span. Real renders and audio."""

from pathlib import Path

import numpy as np
import pytest

from zipx_core.audio import apply_speech_timing, voice_episode
from zipx_core.audio.dialogue import AudioSettings, read_wav
from zipx_core.audio.music import chord_loop, score_episode
from zipx_core.audio.sync import decode_audio, line_offsets
from zipx_core.generation import RenderSettings, generate_shots, request_hash
from zipx_core.media import encode_frames, integrated_loudness, probe
from zipx_core.media.assembly import assemble_episode
from zipx_core.media.ffmpeg import Conform, conform_clips
from zipx_core.models import ShotsManifest
from zipx_core.prompting import build_request, dialogue_speaker, shot_requests, speaks_natively
from zipx_core.providers.local import FailureModes, LocalRenderer
from zipx_core.qa.embeddings import ColourEmbedder
from zipx_core.qa.gate import Gate
from zipx_core.qa.references import make_references
from zipx_core.qa.review import ReviewDecision
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode
from tests.providers_server import _add_sound, _wav

SMALL = RenderSettings(width=192, height=108, workers=2)
VOICE_HZ = 880  # the model's own speech in a voiced clip; eSpeak's voices sit far lower


def tone_wav(seconds: float, start_s: float, length_s: float, hz: float = VOICE_HZ, rate: int = 48000) -> bytes:
    track = np.zeros(round(seconds * rate), dtype="<i2")
    t = np.arange(round(length_s * rate)) / rate
    track[round(start_s * rate):round(start_s * rate) + len(t)] = (9000 * np.sin(2 * np.pi * hz * t)).astype("<i2")
    return _wav(track.tobytes(), rate)


def voiced(store, take, start_s=0.3, length_s=1.0):
    """The take as a natively voiced one: its clip with a sound of its own (a tone where the model speaks)."""
    with store.scratch_dir() as scratch:
        clip = store.path(take.clip_uri)
        copy = Path(scratch) / "voiced.mp4"
        copy.write_bytes(clip.read_bytes())
        _add_sound(copy, tone_wav(take.duration_s, start_s, length_s))
        artifact = store.put_file(copy, "clips", ".mp4")
    return take.model_copy(update={"clip_uri": artifact.uri, "clip_sha256": artifact.sha256})


# --- requests ----------------------------------------------------------------------------------


def test_native_dialogue_flows_into_the_requests_generation_makes(tmp_path, sample_script, sample_bibles):
    board = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    one = [s for s in board.shots if dialogue_speaker(s)][:2]
    silent = next(s for s in board.shots if not s.dialogue)
    board = board.model_copy(update={"shots": [*one, silent]})
    native = shot_requests(board, sample_bibles, 192, 108, native_dialogue=True)
    assert [speaks_natively(r) for r in native] == [True, True, False]
    assert not any(speaks_natively(r) for r in shot_requests(board, sample_bibles, 192, 108))  # off by default
    assert native[0] == build_request(one[0], sample_bibles, 192, 108, native_dialogue=True)
    store = LocalArtifactStore(tmp_path)
    renderer = LocalRenderer()
    made = generate_shots(board, sample_bibles, store, SMALL, renderer=renderer, native_dialogue=True)
    # the takes are the native requests' (the gate builds the same through shot_requests, its hashes agree)
    assert [t.request_hash for t in made.takes] == [request_hash(renderer.name, renderer.model, r) for r in native]


def test_a_parenthetical_becomes_the_delivery_once_bracketed(sample_script, sample_bibles):
    board = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    shot = next(s for s in board.shots if dialogue_speaker(s))
    line = shot.dialogue[0].model_copy(update={"parenthetical": "(quietly)"})
    prompt = build_request(shot.model_copy(update={"dialogue": [line]}), sample_bibles, 192, 108, native_dialogue=True).prompt
    assert f'lips in sync with the words (quietly): "{line.text}"' in prompt and "words ((" not in prompt


# --- the conform -------------------------------------------------------------------------------


def test_the_conform_keeps_a_voiced_clips_sound_and_drops_every_other(tmp_path):
    source = tmp_path / "model.mp4"
    encode_frames((np.full((72, 128, 3), i * 4 % 255, dtype=np.uint8) for i in range(72)), source, 128, 72, 24)
    silent = tmp_path / "silent.mp4"
    silent.write_bytes(source.read_bytes())
    _add_sound(source, tone_wav(3.0, 0.3, 1.0))
    jobs = [Conform(source, tmp_path / "voiced.mp4", 2.0, keep_audio=True), Conform(source, tmp_path / "dropped.mp4", 2.0),
            Conform(silent, tmp_path / "none.mp4", 2.0, keep_audio=True)]
    assert conform_clips(jobs, 96, 54, 24) == [None, None, None]
    kept = probe(tmp_path / "voiced.mp4")
    assert kept.has_audio and (kept.width, kept.height, kept.frames) == (96, 54, 48)
    assert not probe(tmp_path / "dropped.mp4").has_audio and not probe(tmp_path / "none.mp4").has_audio
    sound, rate = decode_audio(tmp_path / "voiced.mp4")
    assert rate == 48000 and len(sound) / rate == pytest.approx(2.0, abs=0.05)


# --- the gate ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory, sample_script, sample_bibles):
    store = LocalArtifactStore(tmp_path_factory.mktemp("sync"))
    board = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    board = board.model_copy(update={"shots": [s for s in board.shots if s.characters][:3]})
    references = make_references(sample_bibles, [board], store, SMALL.width, SMALL.height)
    return store, board, references


def gate(world, sample_bibles, renderer=None, **holds) -> Gate:
    store, _, references = world
    return Gate(sample_bibles, references, store, ColourEmbedder(), "test", SMALL, renderer=renderer or LocalRenderer(), **holds)


def test_the_gate_sends_shots_out_of_sync_to_review_with_the_reason(world, sample_bibles):
    store, board, _ = world
    takes = generate_shots(board, sample_bibles, store, SMALL)
    first, second, third = (s.shot_id for s in board.shots)
    clean = gate(world, sample_bibles).run(board, takes)
    assert {o.status for o in clean.outcomes} == {"approved"}  # without holds every clean take passes

    holds = {"must_review": {first: "lip-sync: no face found in the clip"},
             "synced": {second: "the hash of the take lip-sync made", third: takes.takes[2].request_hash}}
    report = gate(world, sample_bibles, **holds).run(board, takes)
    outcomes = {o.shot_id: o for o in report.outcomes}
    assert (outcomes[first].status, outcomes[first].reason) == ("review", "lip-sync: no face found in the clip")
    assert outcomes[second].status == "review" and "a retake replaced the take whose dialogue was lip-synced" in \
        outcomes[second].reason
    assert outcomes[third].status == "approved"  # its take is the one in sync
    assert report.awaiting_review == {first, second}

    # a reviewer who saw the reason approves the take: a person's call stands
    approve = ReviewDecision(shot_id=first, decision="approve", reviewer="ana", decided_at="2026-12-03T10:00:00+00:00")
    again = gate(world, sample_bibles, **holds).run(board, takes, decisions={first: approve})
    held = next(o for o in again.outcomes if o.shot_id == first)
    assert (held.status, held.review_decision, held.reviewer) == ("approved", "approve", "ana")


def test_a_voiced_take_the_judge_grades_keeps_its_own_sound(world, sample_bibles):
    store, board, _ = world
    cast = LocalRenderer(failures=FailureModes(colour_cast=1.0))
    made = generate_shots(board, sample_bibles, store, SMALL, renderer=cast)
    takes = ShotsManifest(drama=made.drama, episode=made.episode, takes=[voiced(store, t) for t in made.takes])
    report = gate(world, sample_bibles, renderer=cast).run(board, takes)
    graded = [o for o in report.outcomes if o.take.request_hash in {t.request_hash for t in takes.takes}
              and "graded" in o.take.model]
    assert graded, [o.take.model for o in report.outcomes]
    for outcome in graded:
        assert outcome.take.clip_uri not in {t.clip_uri for t in takes.takes}  # the graded picture
        assert probe(store.path(outcome.take.clip_uri)).has_audio  # with the model's speech put back


# --- the episode -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def episode(tmp_path_factory, sample_script, sample_bibles):
    """A few shots of the sample, voiced by eSpeak; the second dialogue shot natively voiced."""
    folder = tmp_path_factory.mktemp("voiced")
    store = LocalArtifactStore(folder / "store")
    board = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    talking = [s.shot_id for s in board.shots if s.dialogue][:3]
    board = board.model_copy(update={"shots": [s for s in board.shots if s.shot_id in talking]})
    audio = voice_episode(board, sample_bibles, store)
    timed = apply_speech_timing(board, audio)
    takes = generate_shots(timed, sample_bibles, store, SMALL).takes
    takes[1] = voiced(store, takes[1], start_s=0.4, length_s=1.2)
    span = (takes[0].duration_s, takes[0].duration_s + takes[1].duration_s)
    manifest = ShotsManifest(drama=board.drama, episode=board.episode, takes=takes)
    return store, timed, audio, manifest, span, chord_loop(folder / "chords.m4a", seconds=4.0)


def band_share(sound: np.ndarray, rate: int, start: float, end: float, hz: float = VOICE_HZ) -> float:
    """The share of a stretch's energy within 30 Hz of `hz`."""
    part = sound[round(start * rate):round(end * rate)]
    power = np.abs(np.fft.rfft(part)) ** 2
    freqs = np.fft.rfftfreq(len(part), 1 / rate)
    return float(power[np.abs(freqs - hz) < 30].sum() / max(power.sum(), 1e-12))


@pytest.mark.parametrize("with_music", [False, True])
def test_the_episode_plays_a_voiced_takes_own_sound_over_its_span(episode, with_music):
    store, timed, audio, takes, (start, end), music = episode
    bed = score_episode(audio, store, str(music)) if with_music else None
    manifest = assemble_episode(timed, takes, store, audio, music=bed)
    video = store.path(manifest.video_uri)
    sound, rate = decode_audio(video)

    assert band_share(sound, rate, start + 0.45, start + 1.55) > 0.95  # the model's speech alone: eSpeak muted
    assert band_share(sound, rate, 0.0, start) < 0.1  # eSpeak before it
    lines = [line for line in audio.lines if not start <= line.start_s < end]
    spoken = [(l.start_s, l.duration_s, *_samples(store, l.speech_uri)) for l in lines]
    assert spoken and max(abs(o) for o in line_offsets(video, spoken)) < 0.002  # the other lines where they were
    muted = [l for l in audio.lines if start <= l.start_s < end]
    assert muted, "the voiced shot has lines of its own"
    assert abs(integrated_loudness(video) - AudioSettings().target_lufs) <= 1.0
    assert manifest.loudness_lufs == pytest.approx(integrated_loudness(video), abs=0.2)
    assert manifest.stems["dialogue"] != audio.mix_uri and store.exists(manifest.stems["dialogue"])
    assert manifest.stems.get("music") == (bed.stem_uri if bed else None)
    stem, stem_rate = decode_audio(store.path(manifest.stems["dialogue"]))
    assert band_share(stem, stem_rate, start + 0.45, start + 1.55) > 0.5  # the stem is the dialogue as heard
    assert manifest.join_method == "copy" and probe(video).has_audio


def _samples(store, uri):
    speech = read_wav(store.path(uri))
    return speech.samples, speech.sample_rate
