"""Contract tests of hosted speech (ElevenLabs, OpenAI-compatible, Gemini TTS) against the
local protocol server (tests/providers_server.py): an episode spoken with no line left to
eSpeak, the drama's ledger charged before paying and a re-run paying nothing, retries,
refusals and bad audio; delivery from parentheticals and intensity; and voices chosen
from each catalogue, locked per drama, never of the other sex where the sex is known."""

import asyncio
import logging
import random
import time

import pytest

from zipx_core.audio import EspeakEngine, voice_episode
from zipx_core.audio.dialogue import cast_voices
from zipx_core.audio.speech import Delivery, Line, say_all
from zipx_core.bible.cast_sheet import CastRecord, apply_cast_sheet, parse_cast_sheet
from zipx_core.bible.voices import (
    NARRATOR_ID,
    Casting,
    VoiceChoiceError,
    cast_engine_voices,
    engine_voice_lines,
    espeak_catalogue,
    load_engine_voice_lock,
)
from zipx_core.generation import Budget, BudgetExceeded, GenerationSettings
from zipx_core.models import CatalogueVoice, DialogueLine, VoiceProfile
from zipx_core.providers import ContentPolicyRejected, RequestRejected, RetryPolicy
from zipx_core.providers.speech import HOSTED_SPEECH, BadAudio, SpeechConfigError, SpeechPrice, SpeechSettings
from zipx_core.providers.speech.base import words_from_characters
from zipx_core.providers.speech.elevenlabs import ElevenLabsSpeech, _voice
from zipx_core.providers.speech.gemini import GEMINI_VOICES, GeminiSpeech
from zipx_core.providers.speech.openai_compatible import OPENAI_VOICES, OpenAISpeech
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode
from tests.providers_server import ELEVEN_VOICES, KEYS, FakeProviders, Fault

FAST = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=2, timeout_s=5)
ENGINES = ["elevenlabs", "openai", "gemini"]
SERVER_NAME = {"elevenlabs": "elevenlabs", "openai": "openai_tts", "gemini": "gemini_tts"}
ELEVEN_CATALOGUE = [_voice(v) for v in ELEVEN_VOICES]


def engine(name: str, fake, key: str | None = None, **settings):
    base = {"elevenlabs": fake.url, "openai": f"{fake.url}/v1", "gemini": f"{fake.url}/v1beta"}[name]
    return HOSTED_SPEECH[name](key or KEYS[SERVER_NAME[name]], SpeechSettings(base_url=base, retry=FAST, **settings))


@pytest.fixture
def fake():
    with FakeProviders() as server:
        yield server


@pytest.fixture
def no_espeak(monkeypatch):
    """eSpeak instrumented: any line it is asked to speak is recorded (and refused)."""
    calls = []

    def refuse(self, text, voice, delivery=None):
        calls.append(text)
        raise AssertionError(f"eSpeak spoke {text!r} in a hosted run")

    monkeypatch.setattr(EspeakEngine, "synthesize", refuse)
    return calls


@pytest.fixture(scope="module")
def board(sample_script, sample_bibles):
    """Scenes 1 and 2 of the sample's episode 1, plus a cue with no bible (the radio)."""
    full = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    shots = [s for s in full.shots if s.scene_number <= 2]
    last = shots[-1]
    radio = DialogueLine(character_id="radio", text="Harbour, this is Marisol.", line=9999)
    shots[-1] = last.model_copy(update={"dialogue": [*last.dialogue, radio]})
    return full.model_copy(update={"shots": shots})


def spend(store, drama="harbour_lights") -> dict:
    return (store.get_record("spend", drama) or {"charges": {}})["charges"]


def one_line(text="Call them in. All of them.", voice="elfm", parenthetical=None, intensity=0.2) -> Line:
    return Line(text, VoiceProfile(voice_id=voice, pitch=50, rate_wpm=160, style="warm"),
                Delivery(parenthetical, intensity, "warm"), "speech test")


def voice_for(name: str) -> str:
    return {"elevenlabs": "elfm", "openai": "coral", "gemini": "Kore"}[name]


def say(name, fake, store, line=None, budget=None, **settings):
    budget = budget or Budget(store, "harbour_lights", "ep01", GenerationSettings())
    line = line or one_line(voice=voice_for(name))
    return asyncio.run(_say(engine(name, fake, **settings), line, store, budget))


async def _say(the_engine, line, store, budget):
    try:
        return await say_all([line], the_engine, store, budget)
    finally:
        await the_engine.aclose()


@pytest.mark.parametrize("name", ENGINES)
def test_an_episode_is_spoken_by_the_hosted_engine_alone_and_a_rerun_pays_nothing(name, fake, no_espeak, board,
                                                                                  sample_bibles, tmp_path):
    store = LocalArtifactStore(tmp_path)
    audio = voice_episode(board, sample_bibles, store, engine=engine(name, fake))
    assert no_espeak == [] and audio.engine == name and {line.engine for line in audio.lines} == {name}
    catalogue = {v.voice_id: v for v in asyncio.run(engine(name, fake).catalogue())}
    sexes = {c.character_id: c.appearance.gender for c in sample_bibles.characters}
    for line in audio.lines:  # each in a catalogue voice of the character's sex; the radio in a neutral one
        assert catalogue[line.voice_id].sex == sexes.get(line.character_id, "unspecified"), line
        assert line.duration_s == pytest.approx(0.2 + 0.06 * len(line.text), abs=0.02)  # decoded at the right rate
    sent = [q for q in fake.tts_requests]
    assert len(sent) == len({(line.text, line.voice_id) for line in audio.lines}) == len(spend(store))
    assert all(charge["usd"] > 0 for charge in spend(store).values())
    quietly = next(d for s in board.shots for d in s.dialogue if d.parenthetical == "(quietly)")
    provider, path, query, body = next(r for r in sent if quietly.text in str(r[3]))
    if name == "elevenlabs":
        assert path.endswith("/with-timestamps") and query == {"output_format": "pcm_24000"}
        assert body["model_id"] == "eleven_multilingual_v2" and body["voice_settings"]["stability"] > 0.5
        assert next(line for line in audio.lines if line.text == quietly.text).words[0].text == "One"
    elif name == "openai":
        assert body["response_format"] == "wav" and "Delivery: quietly." in body["instructions"]
    else:
        assert body["contents"][0]["parts"][0]["text"].startswith("Say quietly, calm and restrained")

    before, charges = dict(fake.counts), spend(store)
    again = voice_episode(board, sample_bibles, store, engine=engine(name, fake))
    assert dict(fake.counts) == before and spend(store) == charges  # nothing sent, nothing paid twice
    made = [(line.voice_id, line.speech_uri) for line in audio.lines]
    assert [(line.voice_id, line.speech_uri) for line in again.lines] == made


@pytest.mark.parametrize("name", ENGINES)
def test_429_with_retry_after_500s_and_drops_are_retried_and_a_lost_send_is_charged(name, fake, tmp_path):
    store = LocalArtifactStore(tmp_path)
    server = SERVER_NAME[name]
    fake.faults = [Fault(server, "speech", "429", retry_after=0.3), Fault(server, "speech", "500"),
                   Fault(server, "speech", "drop")]
    started = time.monotonic()
    (said,) = say(name, fake, store)
    assert time.monotonic() - started >= 0.3  # Retry-After honoured
    assert fake.counts[f"{server}:speech"] == 4 and said.duration_s > 0
    estimate = engine(name, fake).estimate_cost("Call them in. All of them.", one_line().voice, one_line().delivery)
    (charge,) = spend(store).values()
    assert charge["usd"] > estimate  # the dropped send may have been billed


@pytest.mark.parametrize("name", ENGINES)
def test_a_wrong_key_is_refused_once_and_never_shown(name, fake, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    store = LocalArtifactStore(tmp_path)
    wrong = engine(name, fake, key="sk-wrong-secret-123")
    with pytest.raises(RequestRejected, match=r"HTTP 40[01]") as error:
        asyncio.run(_say(wrong, one_line(voice=voice_for(name)), store, Budget(store, "harbour_lights", "ep01",
                                                                                 GenerationSettings())))
    assert fake.counts[f"{SERVER_NAME[name]}:speech"] == 1  # not retried
    assert "sk-wrong-secret-123" not in str(error.value) + repr(wrong) + caplog.text
    assert spend(store) == {}  # refunded: nothing was made


@pytest.mark.parametrize("kind", ["bad_audio", "malformed"])
@pytest.mark.parametrize("name", ENGINES)
def test_audio_that_does_not_decode_is_refused_and_not_kept(name, kind, fake, tmp_path):
    store = LocalArtifactStore(tmp_path)
    fake.faults = [Fault(SERVER_NAME[name], "audio" if kind == "bad_audio" else "speech", kind)]
    with pytest.raises(BadAudio):
        say(name, fake, store)
    assert not list(tmp_path.glob("records/speech/*")) and not list(tmp_path.glob("speech/*/*.wav"))
    assert len(spend(store)) == 1  # answered, so probably billed: the charge stays
    assert len(say(name, fake, store)) == 1  # asked again on the next run


@pytest.mark.parametrize("name", ENGINES)
def test_the_budget_stops_speech_before_it_pays(name, fake, tmp_path):
    store = LocalArtifactStore(tmp_path)
    budget = Budget(store, "harbour_lights", "ep01", GenerationSettings(budget_episode_usd=0.0))
    with pytest.raises(BudgetExceeded, match="budget for episode ep01"):
        say(name, fake, store, budget=budget)
    assert fake.counts[f"{SERVER_NAME[name]}:speech"] == 0 and spend(store) == {}


@pytest.mark.parametrize("name", ["openai", "gemini"])
def test_refused_content_is_its_own_error_and_costs_nothing(name, fake, tmp_path):
    store = LocalArtifactStore(tmp_path)
    fake.faults = [Fault(SERVER_NAME[name], "speech", "policy")]
    with pytest.raises(ContentPolicyRejected, match="content refused"):
        say(name, fake, store)
    assert fake.counts[f"{SERVER_NAME[name]}:speech"] == 1 and spend(store) == {}


def test_gemini_is_charged_by_the_tokens_it_reports(fake, tmp_path):
    store = LocalArtifactStore(tmp_path)
    say("gemini", fake, store)
    (charge,) = spend(store).values()
    estimate = engine("gemini", fake).estimate_cost("Call them in. All of them.", one_line().voice, one_line().delivery)
    assert 0 < charge["usd"] < estimate  # settled from usageMetadata, below the estimate that errs high


def test_delivery_becomes_voice_settings_instructions_and_a_style_prompt():
    calm, intense = Delivery(None, 0.2, "dry, quick"), Delivery(None, 0.9, "dry, quick")
    whisper = Delivery("(whispering)", 0.9, "dry, quick")
    settings = ElevenLabsSpeech.voice_settings
    assert settings(intense)["stability"] < settings(calm)["stability"] and settings(intense)["style"] > settings(calm)["style"]
    assert whisper.level() < intense.level() and Delivery("(shouting)", 0.5).level() > 0.5
    v3 = ElevenLabsSpeech("k", SpeechSettings(model="eleven_v3"))
    assert v3.request("Go.", VoiceProfile(voice_id="x", pitch=50, rate_wpm=160), whisper)["body"]["text"] == "[whispering] Go."
    assert ElevenLabsSpeech("k").sent_text("Go.", whisper) == "Go."  # older models would say the tag aloud
    instructions = OpenAISpeech.instructions(whisper)
    assert "Voice: dry, quick." in instructions and "Delivery: whispering." in instructions
    voice = VoiceProfile(voice_id="coral", pitch=50, rate_wpm=160)
    assert "instructions" not in OpenAISpeech("k", SpeechSettings(model="tts-1")).request("Go.", voice, whisper)
    assert GeminiSpeech("k").sent_text("Go.", whisper) == "Say whispering, with clear feeling, in a dry, quick voice: Go."


def test_word_timing_comes_from_the_alignment_and_audio_tags_are_not_words(fake, tmp_path):
    (said,) = say("elevenlabs", fake, LocalArtifactStore(tmp_path))
    assert [w.text for w in said.words] == ["Call", "them", "in.", "All", "of", "them."]
    assert all(a.end_s <= b.start_s for a, b in zip(said.words, said.words[1:])) and said.words[-1].end_s <= said.duration_s
    text = "[under her breath] Go home."
    times = [i * 0.1 for i in range(len(text) + 1)]
    assert [w.text for w in words_from_characters(list(text), times[:-1], times[1:])] == ["Go", "home."]


CATALOGUES = {"elevenlabs": ELEVEN_CATALOGUE, "openai": OPENAI_VOICES, "gemini": GEMINI_VOICES, "espeak": espeak_catalogue()}


@pytest.mark.parametrize("catalogue", list(CATALOGUES))
def test_a_voice_of_the_other_sex_is_never_chosen_where_the_sex_is_known(catalogue):
    rng = random.Random(7)
    castings = [Casting(f"c{i}", rng.choice(["female", "male", "unspecified"]), rng.random() < 0.7,
                        f"{rng.randint(8, 80)}", rng.choice(["warm", "gravelly deep", "bright", "calm", "neutral"]),
                        rng.randint(0, 30)) for i in range(40)]
    entries = cast_engine_voices(castings, CATALOGUES[catalogue], {})
    for casting in castings:
        entry = entries[casting.character_id]
        if casting.sex == "unspecified":
            assert entry.needs_review and entry.sex == "unspecified"
        else:
            assert entry.sex == casting.sex and entry.needs_review == (not casting.sure)
    leads = sorted((c for c in castings if c.sex == "female"), key=lambda c: (-c.importance, c.character_id))
    distinct = min(len(leads), sum(v.sex == "female" for v in CATALOGUES[catalogue]))
    assert len({entries[c.character_id].voice_id for c in leads[:distinct]}) == distinct  # leads do not share


def test_age_and_the_voice_description_choose_among_the_voices_of_a_sex():
    castings = [Casting("june", "female", True, "19-25", "bright", 6), Casting("ava", "female", True, "31-37", "warm", 8),
                Casting("tomas", "male", True, "55-61", "gravelly", 7)]
    entries = cast_engine_voices(castings, ELEVEN_CATALOGUE, {})
    assert {cid: e.voice_id for cid, e in entries.items()} == {"june": "elfy", "ava": "elfm", "tomas": "elmo"}
    gemini = cast_engine_voices([Casting("nan", "female", True, "70", "mature", 1)], GEMINI_VOICES, {})
    assert gemini["nan"].voice_id == "Gacrux"


def test_a_known_sex_without_a_voice_of_it_is_an_error_not_the_other_sex():
    men = [v for v in OPENAI_VOICES if v.sex == "male"]
    with pytest.raises(VoiceChoiceError, match="mia is female, and the catalogue has no female voice"):
        cast_engine_voices([Casting("mia", "female", True, "29", "", 3)], men, {})
    only_men = cast_engine_voices([Casting("x", "unspecified", True, "", "", 1)], men, {})
    assert only_men["x"].needs_review  # no neutral voice: any, marked for review


def test_voices_are_locked_per_drama_across_runs_and_episodes_and_move_only_for_a_sex_now_known(sample_bibles, tmp_path):
    store = LocalArtifactStore(tmp_path)
    reversed_catalogue = SpeechSettings(base_url="https://api.openai.com/v1", voices=list(reversed(OPENAI_VOICES)))
    first = asyncio.run(cast_voices(sample_bibles, OpenAISpeech("k"), store, narrator=True))
    again = asyncio.run(cast_voices(sample_bibles, OpenAISpeech("k", reversed_catalogue), store, narrator=False))
    assert {cid: v.voice_id for cid, v in again.items()} == {cid: v.voice_id for cid, v in first.items() if cid != NARRATOR_ID}
    assert first[NARRATOR_ID].voice_id in {v.voice_id for v in OPENAI_VOICES if v.sex == "unspecified"}
    lock = load_engine_voice_lock(store, "harbour_lights", "openai")
    assert lock["ava"].dealt_for == "female" and lock[NARRATOR_ID].needs_review
    shown = engine_voice_lines(store, "harbour_lights")  # what the cast sheet shows
    assert f"ava: openai voice {first['ava'].voice_id}" in shown[1] and "NEEDS REVIEW" in shown[0]
    # a person sets June's sex: a voice dealt for another sex moves, the others stay
    june = sample_bibles.character("june")
    he = june.model_copy(update={"appearance": june.appearance.model_copy(update={"gender": "male"})})
    changed = sample_bibles.model_copy(update={"characters": [he if c is june else c for c in sample_bibles.characters]})
    moved = asyncio.run(cast_voices(changed, OpenAISpeech("k"), store, narrator=False))
    assert moved["ava"].voice_id == first["ava"].voice_id and moved["june"].voice_id in {v.voice_id for v in OPENAI_VOICES
                                                                                          if v.sex == "male"}


def test_a_voice_set_on_the_cast_sheet_wins_for_its_engine_and_espeak_keeps_its_own(sample_bibles, tmp_path):
    store = LocalArtifactStore(tmp_path)
    sheet = parse_cast_sheet("characters:\n  ava:\n    voice:\n      engine: elevenlabs\n      voice_id: elfo\n")
    bibles = apply_cast_sheet(sample_bibles, CastRecord(edits=sheet))
    voices = asyncio.run(cast_voices(bibles, ElevenLabsSpeech("k", SpeechSettings(voices=ELEVEN_CATALOGUE)), store, False))
    assert voices["ava"].voice_id == "elfo" and voices["ava"].engine == "elevenlabs"
    assert load_engine_voice_lock(store, "harbour_lights", "elevenlabs")["ava"].source == "cast sheet"
    offline = asyncio.run(cast_voices(bibles, EspeakEngine(), store, False))
    assert offline["ava"].engine == "espeak-ng" and offline["ava"].voice_id in {v.voice_id for v in espeak_catalogue()
                                                                                 if v.sex == "female"}
    assert offline["tomas"] == sample_bibles.character("tomas").voice_profile  # eSpeak's own dealing, untouched


def test_the_speech_resource_is_espeak_by_default_and_takes_its_key_from_the_environment(monkeypatch):
    import dagster as dg

    from zipx_dagster.resources import TextToSpeech, speech_from_env

    assert isinstance(TextToSpeech().speech_engine(), EspeakEngine)
    assert isinstance(speech_from_env().speech_engine(), EspeakEngine)
    monkeypatch.setenv("ZIPX_SPEECH_ENGINE", "elevenlabs")
    monkeypatch.setenv("ELEVENLABS_API_KEY", "xi-env-secret-456")
    resource = speech_from_env()
    assert "xi-env-secret-456" not in resource.model_dump_json()  # the config holds the variable's name only
    with dg.build_resources({"speech": resource}) as resources:
        hosted = resources.speech.speech_engine()
    assert hosted.headers() == {"xi-api-key": "xi-env-secret-456"} and "secret" not in repr(hosted)
    assert hosted.prices().as_of == "2026-06"  # the dated default for the model


def test_settings_that_would_spend_unrecorded_or_leak_the_key_are_refused():
    with pytest.raises(SpeechConfigError, match="no price for model 'my-tts'"):
        OpenAISpeech("k", SpeechSettings(model="my-tts"))
    with pytest.raises(SpeechConfigError, match="in clear"):
        GeminiSpeech("k", SpeechSettings(base_url="http://tts.example.com/v1beta"))
    with pytest.raises(SpeechConfigError, match="only pcm_"):
        ElevenLabsSpeech("k", SpeechSettings(output_format="mp3_44100_128"))
    own = SpeechSettings(base_url="http://127.0.0.1:8880/v1", model="kokoro", price=SpeechPrice(as_of="2026-12-03",
                         source="own server"), voices=[CatalogueVoice(voice_id="af_bella", sex="female")])
    local = OpenAISpeech(None, own)
    assert local.headers() == {} and asyncio.run(local.catalogue())[0].voice_id == "af_bella"  # its own voice list
