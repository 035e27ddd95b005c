"""The music bed: found where the user put it, looped to the episode, ducked under the
lines, at the loudness target; none by default. Measured on real files."""

import pytest

from zipx_core.audio import apply_speech_timing, voice_episode
from zipx_core.audio.dialogue import AudioSettings, read_wav
from zipx_core.audio.music import MusicError, chord_loop, ducking_in_mix, find_music, score_episode, speech_and_gap_db
from zipx_core.audio.sync import decode_audio, line_offsets
from zipx_core.generation import RenderSettings, generate_shots
from zipx_core.media import integrated_loudness
from zipx_core.media.assembly import assemble_episode
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode

SMALL = RenderSettings(width=192, height=108, workers=2)
# two silent establishing shots around four lines: gaps long enough to hear the bed come back
SHOTS = ["ep01-sc001-01", "ep01-sc001-05", "ep01-sc001-06", "ep01-sc002-01", "ep01-sc002-04", "ep01-sc002-05"]


@pytest.fixture(scope="module")
def short_episode(tmp_path_factory, sample_script, sample_bibles):
    """About 20 s of the sample's episode 1, voiced and rendered small, with a 4 s chord
    loop to score it (so the bed must loop five times)."""
    folder = tmp_path_factory.mktemp("music")
    store = LocalArtifactStore(folder / "store")
    board = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    board = board.model_copy(update={"shots": [s for s in board.shots if s.shot_id in SHOTS]})
    audio = voice_episode(board, sample_bibles, store)
    timed = apply_speech_timing(board, audio)
    takes = generate_shots(timed, sample_bibles, store, SMALL)
    return store, timed, audio, takes, chord_loop(folder / "chords.m4a", seconds=4.0)


def test_music_bed_is_ducked_under_speech_at_the_loudness_target(short_episode):
    store, timed, audio, takes, music = short_episode
    bed = score_episode(audio, store, str(music), "EpisodeConfig.music")
    manifest = assemble_episode(timed, takes, store, audio, music=bed)
    video = store.path(manifest.video_uri)

    assert abs(integrated_loudness(video) - AudioSettings().target_lufs) <= 1.0
    assert manifest.loudness_lufs == bed.loudness_lufs
    # the music in the delivered file, the dialogue stem fitted out of its decoded sound
    speech_db, gap_db = ducking_in_mix(video, store.path(audio.mix_uri), audio)
    assert gap_db > -35, "the bed is heard between lines"
    assert gap_db - speech_db >= 6, f"music under speech {speech_db:.1f} dBFS, between lines {gap_db:.1f}"
    assert bed.ducking_db == pytest.approx(gap_db - speech_db, abs=0.5)
    # the music stem alone says the same, and is the episode's length: looped, not cut short
    stem, rate = decode_audio(store.path(bed.stem_uri))
    stem_speech, stem_gap = speech_and_gap_db(stem, rate, audio)
    assert stem_gap - stem_speech >= 6
    # looped, not cut short (that would be seconds); a few AAC frames either way are the
    # codec's padding as the decoder trims it (CI once read 19.947 s of 20)
    assert len(stem) / rate == pytest.approx(audio.duration_s, abs=0.1)

    assert manifest.stems == {"dialogue": audio.mix_uri, "music": bed.stem_uri}
    assert all(store.exists(uri) for uri in [bed.music_uri, bed.mix_uri, *manifest.stems.values()])
    assert music.is_file(), "the user's music file is copied into the store, not moved"
    # the limiter's 5 ms lookahead is compensated: every line where it was (dialogue only: 0 ms)
    lines = [(l.start_s, l.duration_s, *_samples(store, l.speech_uri)) for l in audio.lines]
    assert max(abs(o) for o in line_offsets(video, lines)) < 0.002


def _samples(store, uri):
    speech = read_wav(store.path(uri))
    return speech.samples, speech.sample_rate


def test_no_music_by_default_keeps_the_dialogue_track(short_episode, tmp_path):
    store, timed, audio, takes, _ = short_episode
    manifest = assemble_episode(timed, takes, store, audio)
    assert manifest.music is None and manifest.stems == {"dialogue": audio.mix_uri}
    assert manifest.loudness_lufs == audio.loudness_lufs
    sound, _ = decode_audio(store.path(manifest.video_uri))
    dialogue, _ = decode_audio(store.path(audio.mix_uri))
    assert (sound == dialogue).all(), "the dialogue track is muxed as it is (stream copy)"
    assert find_music(tmp_path, "harbour_lights", "ep01") is None


def test_inbox_music_for_the_drama_and_for_one_episode(tmp_path):
    for name in ["Harbour Lights.fountain", "Harbour Lights.mp3", "Harbour Lights.ep02.wav", "Other.mp3", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    assert find_music(tmp_path, "harbour_lights", "ep01") == tmp_path / "Harbour Lights.mp3"
    assert find_music(tmp_path, "harbour_lights", "ep02") == tmp_path / "Harbour Lights.ep02.wav"
    assert find_music(tmp_path, "storm_front", "ep01") is None
    assert find_music(tmp_path / "missing", "harbour_lights", "ep01") is None


@pytest.mark.parametrize(
    "source, says",
    [
        ("{tmp}/nowhere/theme.mp3", "no music file at '{tmp}/nowhere/theme.mp3'"),
        ("{tmp}/theme.txt", "is not a music file"),
        ("{tmp}/broken.mp3", "is not audio ffmpeg can read"),
        ("zipx://music/00/" + "0" * 64 + ".mp3", "no music in the artifact store"),
        ("zipx://../etc/passwd", "no music in the artifact store"),
    ],
)
def test_a_bad_music_source_names_the_field_and_the_file(short_episode, tmp_path, source, says):
    store, _, audio, _, _ = short_episode
    (tmp_path / "theme.txt").write_text("la la la")
    (tmp_path / "broken.mp3").write_text("not really an mp3")
    source = source.format(tmp=tmp_path)
    with pytest.raises(MusicError) as raised:
        score_episode(audio, store, source, "EpisodeConfig.music")
    assert str(raised.value).startswith("EpisodeConfig.music: ")
    assert says.format(tmp=tmp_path) in str(raised.value) and source in str(raised.value)
