"""Speech, timing, loudness, subtitles, sync and timelines, measured on real files."""

import shutil
import subprocess

import numpy as np
import opentimelineio as otio
import pysubs2
import pytest

from zipx_core.audio import AudioSettings, EspeakEngine, apply_speech_timing, voice_episode
from zipx_core.audio.sync import decode_audio, line_offsets
from zipx_core.bible import extract_character_bibles
from zipx_core.bible.voices import load_voice_lock, save_voice_lock
from zipx_core.generation import RenderSettings, generate_shots
from zipx_core.audio.dialogue import read_wav
from zipx_core.media import ffmpeg_exe, integrated_loudness, probe
from zipx_core.media.assembly import _mux, assemble_episode
from zipx_core.media.timeline import build_timeline, export_timeline
from zipx_core.script import load_drama
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode

SMALL = RenderSettings(width=192, height=108, workers=2)


def fundamental_hz(samples: np.ndarray, rate: int) -> float:
    """Median pitch of voiced 40 ms frames, by autocorrelation (60-400 Hz)."""
    x = samples.astype(np.float64)
    size, estimates = int(0.04 * rate), []
    for start in range(0, len(x) - size, size):
        frame = x[start : start + size] - x[start : start + size].mean()
        if np.sqrt((frame**2).mean()) < 0.1 * np.sqrt((x**2).mean()):
            continue
        corr = np.correlate(frame, frame, "full")[size - 1 :]
        lo, hi = rate // 400, rate // 60
        estimates.append(rate / (lo + int(np.argmax(corr[lo:hi]))))
    return float(np.median(estimates))


@pytest.fixture(scope="module")
def episode(tmp_path_factory, sample_script, sample_bibles):
    """The first two scenes of the sample's episode 1, voiced, rendered and assembled."""
    store = LocalArtifactStore(tmp_path_factory.mktemp("store"))
    board = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    board = board.model_copy(update={"shots": [s for s in board.shots if s.scene_number <= 2]})
    audio = voice_episode(board, sample_bibles, store)
    timed = apply_speech_timing(board, audio)
    takes = generate_shots(timed, sample_bibles, store, SMALL)
    manifest = assemble_episode(timed, takes, store, audio)
    return store, board, timed, audio, takes, manifest


def cyber_bob(folder, corpus, names):
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes((corpus / name).read_bytes())
    return load_drama(folder)


def test_voices_are_distinguishable_by_pitch(tmp_path, corpus):
    """Bob (male) and Margaret (female) of the Cyber Bob episodes, saying the same words."""
    drama = cyber_bob(tmp_path / "d", corpus, ["Cyber_Bob_ep00001.fountain", "Cyber_Bob_epWinDebateAgainstLincoln.fountain"])
    characters = {c.character_id: c for c in extract_character_bibles(drama)}
    engine = EspeakEngine()
    sentence = "Oh hey, it's my potentially malevolent cyber cloud boss thing."
    bob = engine.synthesize(sentence, characters["bob"].voice_profile)
    margaret = engine.synthesize(sentence, characters["margaret"].voice_profile)
    assert bob.sample_rate == 22050 and bob.duration_s > 1.5 and np.abs(bob.samples).max() > 1000
    assert fundamental_hz(margaret.samples, 22050) > 1.3 * fundamental_hz(bob.samples, 22050)
    pairs = [(c.voice_profile.voice_id, c.voice_profile.pitch) for c in characters.values()]
    assert len(set(pairs)) == len(pairs)


SPEAK_IN_A_NEW_PROCESS = """
import hashlib, sys
from zipx_core.audio import EspeakEngine
from zipx_core.models import VoiceProfile
voice = VoiceProfile(voice_id="en-us+f3", pitch=62, rate_wpm=165)
print(hashlib.sha256(EspeakEngine().synthesize(sys.argv[1], voice).samples.tobytes()).hexdigest())
"""


def test_a_line_sounds_the_same_whatever_came_before_and_in_any_process():
    """eSpeak NG on its own carries state between utterances and seeds its noise from
    the clock; a resumed run must still make the same audio as an uninterrupted one."""
    import hashlib
    import sys

    from zipx_core.audio import SpeechError
    from zipx_core.models import VoiceProfile

    engine, line = EspeakEngine(), "The harbour lights are out again tonight."
    voice = VoiceProfile(voice_id="en-us+f3", pitch=62, rate_wpm=165)
    first = engine.synthesize(line, voice).samples
    engine.synthesize("Something else entirely, in another voice.", VoiceProfile(voice_id="en+m2", pitch=40, rate_wpm=150))
    with pytest.raises(SpeechError, match="no voice 'xx-nope'"):
        engine.synthesize(line, VoiceProfile(voice_id="xx-nope", pitch=50, rate_wpm=160))
    again = engine.synthesize(line, voice).samples
    assert len(first) > 20000 and np.array_equal(first, again)
    elsewhere = subprocess.run([sys.executable, "-c", SPEAK_IN_A_NEW_PROCESS, line], capture_output=True, text=True, check=True)
    assert elsewhere.stdout.strip() == hashlib.sha256(first.tobytes()).hexdigest()


def test_voices_survive_a_new_episode(tmp_path, corpus):
    """Episode 1 alone gives out voices; adding episode 4 (with Lincoln, a moderator and an
    audience, and more lines for everyone) keeps every voice already heard."""
    store = LocalArtifactStore(tmp_path / "store")
    first = extract_character_bibles(cyber_bob(tmp_path / "one", corpus, ["Cyber_Bob_ep00001.fountain"]), load_voice_lock(store, "cyber_bob"))
    save_voice_lock(store, "cyber_bob", first)
    both = cyber_bob(tmp_path / "two", corpus, ["Cyber_Bob_ep00001.fountain", "Cyber_Bob_epWinDebateAgainstLincoln.fountain"])
    later = {c.character_id: c.voice_profile for c in extract_character_bibles(both, load_voice_lock(store, "cyber_bob"))}
    for character in first:
        assert later[character.character_id] == character.voice_profile
    assert len({(v.voice_id, v.pitch) for v in later.values()}) == len(later)


def test_shots_last_as_long_as_their_lines(episode):
    store, board, timed, audio, takes, manifest = episode
    starts, position = {}, 0.0
    for shot, take in zip(timed.shots, takes.takes):
        starts[shot.shot_id] = (position, position + take.duration_s)
        position += take.duration_s
        assert take.duration_s >= shot.duration_s - 0.5 / 24
    for line in audio.lines:
        shot_start, shot_end = starts[line.shot_id]
        assert shot_start + AudioSettings().lead_in_s - 1e-6 <= line.start_s
        assert line.start_s + line.duration_s <= shot_end + 1e-6
    assert sum(len(s.dialogue) for s in board.shots) == len(audio.lines) == 8


def test_episode_is_h264_aac_at_the_target_loudness(episode):
    store, board, timed, audio, takes, manifest = episode
    path = store.path(manifest.video_uri)
    info = probe(path)
    assert (info.codec, info.has_audio, manifest.audio_codec) == ("h264", True, "aac")
    assert abs(integrated_loudness(path) - AudioSettings().target_lufs) < 1.0
    assert abs(info.frames / 24 - audio.duration_s) < 1 / 24
    head = path.read_bytes()[:65536]  # faststart: the index before the media
    assert 0 <= head.find(b"moov") < (head.find(b"mdat") if b"mdat" in head else len(head))


def test_lines_are_in_sync_with_their_shots(episode):
    store, board, timed, audio, takes, manifest = episode
    lines = []
    for line in audio.lines:
        speech = read_wav(store.path(line.speech_uri))
        lines.append((line.start_s, line.duration_s, speech.samples, speech.sample_rate))
    offsets = line_offsets(store.path(manifest.video_uri), lines)
    assert max(abs(o) for o in offsets) < 1 / 24  # within a frame
    # the measurement sees a misplacement: expecting each line 50 ms late reads as -50 ms
    shifted = line_offsets(store.path(manifest.video_uri), [(s + 0.05, *rest) for s, *rest in lines])
    assert all(abs(o + 0.05) < 0.002 for o in shifted)


def test_subtitles_follow_the_speech(episode):
    store, board, timed, audio, takes, manifest = episode
    for uri in (manifest.subtitles_srt_uri, manifest.subtitles_vtt_uri):
        subs = pysubs2.load(str(store.path(uri)))
        assert [e.plaintext for e in subs] == [l.text for l in audio.lines]
        assert [e.start for e in subs] == [round(l.start_s * 1000) for l in audio.lines]


def test_a_models_own_soundtrack_is_replaced(tmp_path, episode):
    store, board, timed, audio, takes, manifest = episode
    noisy = tmp_path / "noisy.mp4"
    clip = store.path(takes.takes[0].clip_uri)
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(clip), "-f", "lavfi", "-i", "sine=frequency=1000",
                    "-shortest", "-c:v", "copy", "-c:a", "aac", str(noisy)], check=True)
    out = tmp_path / "replaced.mp4"
    _mux(noisy, store.path(audio.mix_uri), out, None)
    track, rate = decode_audio(out)
    lead_in = track[: int(rate * 0.25)]
    assert np.sqrt((lead_in**2).mean()) < 1e-3  # the mix is silent here; the model's tone was loud


def test_timeline_reads_back_like_the_episode(episode):
    store, board, timed, audio, takes, manifest = episode
    review = {timed.shots[3].shot_id}
    export = export_timeline(build_timeline(timed, takes, store, audio, review), store)
    assert export.failures == {} and set(export.exports) == {"fcp_xml", "edl", "capcut"}
    expected = [(t.shot_id, t.frames) for t in takes.takes]
    readers = {"otio_json": (export.otio_uri, {}), "fcp_xml": (export.exports["fcp_xml"], {}), "cmx_3600": (export.exports["edl"], {"rate": 24})}
    for adapter, (uri, options) in readers.items():
        timeline = otio.adapters.read_from_file(str(store.path(uri)), adapter_name=adapter, **options)
        video = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video][0]
        clips = list(video.find_clips())
        assert [(c.name, round(c.duration().value)) for c in clips] == expected, adapter
        assert [c.name for c in clips if c.markers] == sorted(review), adapter
        assert round(timeline.duration().to_seconds() * 24) == sum(f for _, f in expected)
        if adapter != "cmx_3600":  # an EDL has no separate audio track
            dialogue = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio][0]
            assert len(list(dialogue.find_clips())) == len(audio.lines)


@pytest.mark.skipif(not shutil.which("fc-list") or not subprocess.run(["fc-list"], capture_output=True, text=True).stdout.strip(),
                    reason="no fonts on this machine: libass cannot draw burned-in subtitles")
def test_burned_in_subtitles_are_drawn(tmp_path, episode):
    store, board, timed, audio, takes, manifest = episode
    burned = assemble_episode(timed, takes, store, audio, burn_subtitles=True)
    assert burned.burned_subtitles and burned.video_uri != manifest.video_uri
    line = audio.lines[0]
    frame = round((line.start_s + line.duration_s / 2) * 24)

    def bottom(uri):
        import av

        with av.open(str(store.path(uri))) as container:
            for index, image in enumerate(container.decode(video=0)):
                if index == frame:
                    return image.to_ndarray(format="rgb24")[-30:].astype(int)

    assert np.abs(bottom(burned.video_uri) - bottom(manifest.video_uri)).max() > 100
