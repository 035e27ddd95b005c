"""Contract tests of the LLM reader: the OpenAI-compatible client against the local server
speaking chat completions (tests/providers_server.py), on a corpus script and under its
faults; and the merge of the model's reading into the rules' bibles."""

import functools
import json
import logging
import re
import time

import pytest

from zipx_core import lexicon
from zipx_core.bible import extract_bibles
from zipx_core.bible.llm_reader import (
    AnswerRejected,
    ScriptReading,
    chunks,
    merge_reading,
    read_bibles_with_llm,
    reading_schema,
)
from zipx_core.bible.voices import MALE_VOICES, NEUTRAL_VOICES
from zipx_core.generation import Budget, BudgetExceeded, GenerationSettings
from zipx_core.providers import ContentPolicyRejected, RequestRejected, RetryPolicy
from zipx_core.providers.llm import LLMClient, LLMConfigError, LLMPrice, LLMSettings
from zipx_core.script import load_drama
from zipx_core.storage import LocalArtifactStore
from tests.conftest import SCREENPLAYS
from tests.providers_server import KEYS, FakeProviders, Fault

FAST = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=2, timeout_s=10)
PRICE = LLMPrice(input_usd_per_million=1.0, output_usd_per_million=4.0, as_of="2026-12-03", source="test")


def client(fake, key: str = KEYS["llm"], **settings) -> LLMClient:
    options = dict(base_url=f"{fake.url}/v1", model="test-model", price=PRICE, retry=FAST, max_tokens=2000)
    return LLMClient(LLMSettings(**{**options, **settings}), key)


def character(cue: str, scene: int, gender: str = "unspecified") -> dict:
    """What the scripted model says of a character first cued in `scene`: a look the
    script leaves open, invented and marked so."""
    return {"cue": cue, "gender": gender, "age_range": "30-35",
            "face": "long face, quick eyes", "hair": "short and untidy", "hair_style": "short", "hair_colour": "auburn",
            "skin_tone": "fair", "build": "tall", "invented": ["face", "hair", "hair_colour", "skin_tone", "build"],
            "ages_by_scene": [], "emotional_range": ["wry", "anxious"], "voice": "dry, quick, mid-pitched",
            "wardrobe": [{"scene": scene, "description": "a navy hoodie and jeans", "top_colour": "navy",
                          "bottom_colour": "denim"}]}


def reply(body: dict, male: str = "") -> dict:
    """The scripted model: every listed cue spoken in this part of the script (`male` a
    man), every listed location headed in it, and one speaker the script does not have."""
    user = body["messages"][1]["content"]
    cues = json.loads(user.splitlines()[0].removeprefix("Cues: "))
    places = json.loads(user.splitlines()[1].removeprefix("Locations: "))
    part = user.split("of the script:\n\n", 1)[1]
    first_scene = {}
    for number, text in re.findall(r"\[Scene (\d+)\][^\n]*\n(.*?)(?=\n\[Scene |\Z)", part, re.S):
        for cue in cues:
            if re.search(rf"^{re.escape(cue)}( \(|$)", text, re.M):
                first_scene.setdefault(cue, int(number))
    headings = [line for line in part.splitlines() if line.startswith("[Scene ")]
    locations = [{"name": name, "mood": "hard fluorescent", "colour_temperature_k": 4000, "key_light_colour": "teal",
                  "lens": "35mm", "movement": "handheld", "framing_notes": "tight, nervous"}
                 for name in places if any(name in h for h in headings)]
    characters = [character(cue, scene, "male" if cue == male else "unspecified") for cue, scene in first_scene.items()]
    return {"characters": characters + [character("MYSTERY MAN", 1)], "locations": locations}


@pytest.fixture
def fake():
    with FakeProviders(llm_reply=reply) as server:
        yield server


@pytest.fixture(scope="module")
def card():
    script = load_drama(SCREENPLAYS / "The-Last-Birthday-Card.fountain")
    return script, extract_bibles(script, "card")


@pytest.fixture(scope="module")
def brick():
    script = load_drama(SCREENPLAYS / "Brick-and-Steel.fountain")
    return script, extract_bibles(script, "brick")


def read(script, rules, the_client, store, budget=None):
    return read_bibles_with_llm(script, rules, the_client, store, budget or Budget(store, rules.drama, "bibles", GenerationSettings()))


def charges(store, drama: str) -> dict:
    return (store.get_record("spend", drama) or {"charges": {}})["charges"]


def test_a_corpus_script_is_read_in_chunks_and_fills_the_bibles(fake, card, tmp_path):
    script, rules = card
    unknown = [c for c in rules.characters if c.appearance.gender == "unspecified"]
    man, other = unknown[0], unknown[1]  # the rules could not tell; the model says one is a man
    fake.llm_reply = functools.partial(reply, male=man.display_name.upper())
    store = LocalArtifactStore(tmp_path)
    bibles = read(script, rules, client(fake, chunk_chars=8000), store)

    assert len(fake.llm_requests) == len(chunks(script, 8000)) >= 3
    later = fake.llm_requests[1]["messages"][1]["content"]
    assert '"cue":"SCOTT"' in later.split("Cast so far (JSON): ", 1)[1].split("\n")[0]  # the cast rides along
    assert [c.character_id for c in bibles.characters] == [c.character_id for c in rules.characters]  # no MYSTERY MAN
    scott = bibles.character("scott")
    assert scott.appearance.hair_color == lexicon.HAIR_COLOURS["auburn"] and scott.provenance["hair_color"] == "invented"
    assert scott.appearance.skin_tone == lexicon.SKIN_TONES["fair"] and scott.appearance.build == "tall"
    assert scott.appearance.hair.split()[-1] == "short"  # the renderer's hair style is the last word
    outfit = scott.outfit_for(max(s.number for s in script.scenes))
    assert (outfit.top_color, outfit.bottom_color) == (lexicon.COLOURS["navy"], lexicon.COLOURS["denim"])
    assert scott.voice_profile.style == "dry, quick, mid-pitched" and scott.emotional_range == ["wry", "anxious"]
    he = bibles.character(man.character_id)  # his voice is dealt again, from the men's voices
    assert he.appearance.gender == "male" and he.provenance["gender"] == "llm"
    assert he.voice_profile.voice_id in MALE_VOICES and man.voice_profile.voice_id in NEUTRAL_VOICES
    assert bibles.character(other.character_id).voice_profile == other.voice_profile.model_copy(
        update={"style": "dry, quick, mid-pitched"})  # still unknown: the rules' voice is kept
    assert any(s.provenance.get("lighting_palette") == "llm" and s.camera_style.movement == "handheld"
               and s.lighting_palette.key_color == lexicon.COLOURS["teal"] for s in bibles.locations)

    paid = charges(store, "card")
    assert len(paid) == len(fake.llm_requests) and all(c["episode"] == "bibles" and c["usd"] > 0 for c in paid.values())
    # the second run, as a re-materialization would: nothing sent, nothing paid, the same bibles
    again = read(script, rules, client(fake, chunk_chars=8000), store)
    assert again == bibles and len(fake.llm_requests) == len(paid) and charges(store, "card") == paid


def test_charges_are_settled_from_usage_below_the_estimate(fake, brick, tmp_path):
    script, rules = brick
    store = LocalArtifactStore(tmp_path)
    the_client = client(fake)
    read(script, rules, the_client, store)
    (body,) = fake.llm_requests
    (charge,) = charges(store, "brick").values()
    prompt = len(json.dumps(body["messages"])) // 4  # the server's own usage arithmetic
    assert 0 < charge["usd"] < the_client.estimate(body)
    assert charge["usd"] >= prompt * PRICE.input_usd_per_million / 1e6


def test_429_with_retry_after_500s_drops_and_hangs_are_retried_and_lost_sends_are_charged(fake, brick, tmp_path):
    script, rules = brick
    store = LocalArtifactStore(tmp_path)
    fake.faults = [Fault("llm", "chat", "429", retry_after=0.3), Fault("llm", "chat", "500"),
                   Fault("llm", "chat", "drop"), Fault("llm", "chat", "hang", retry_after=1.0)]
    the_client = client(fake, retry=FAST.model_copy(update={"attempts": 5, "timeout_s": 0.5}))
    started = time.monotonic()
    bibles = read(script, rules, the_client, store)
    assert time.monotonic() - started >= 0.3  # Retry-After honoured
    assert fake.counts["llm:chat"] == 5  # four faults, then the answer
    (charge,) = charges(store, "brick").values()
    assert charge["usd"] > 2 * the_client.estimate(fake.llm_requests[0])  # the dropped and the hung send may be billed
    assert bibles.characters


def test_an_answer_that_is_not_json_is_sent_back_for_repair(fake, brick, tmp_path):
    script, rules = brick
    store = LocalArtifactStore(tmp_path)
    fake.faults = [Fault("llm", "answer", "not_json")]
    read(script, rules, client(fake), store)
    first, second = fake.llm_requests
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert "does not follow the schema" in second["messages"][-1]["content"]
    assert len(charges(store, "brick")) == 2  # both were paid for
    fake.faults = []
    read(script, rules, client(fake), store)  # the repaired answer is what is kept
    assert len(fake.llm_requests) == 2


def test_a_fenced_answer_is_repaired_without_asking_again(fake, brick, tmp_path):
    script, rules = brick
    fake.faults = [Fault("llm", "answer", "fenced")]
    bibles = read(script, rules, client(fake), LocalArtifactStore(tmp_path))
    assert len(fake.llm_requests) == 1 and all(c.provenance["hair_color"] == "invented" for c in bibles.characters)


def test_answers_that_keep_failing_the_schema_are_refused_with_the_reason(fake, brick, tmp_path):
    script, rules = brick
    store = LocalArtifactStore(tmp_path)
    fake.faults = [Fault("llm", "answer", "schema") for _ in range(3)]
    with pytest.raises(AnswerRejected, match=r"failed the schema 3 times; last: characters\.0\.gender: Field required"):
        read(script, rules, client(fake, schema_attempts=3), store)
    assert len(fake.llm_requests) == 3 and len(charges(store, "brick")) == 3
    assert not list((tmp_path / "records").glob("llm_answers/*"))  # nothing kept: a re-run asks again


@pytest.mark.parametrize("phase, kind, error, message", [
    ("answer", "refusal", ContentPolicyRejected, "model refused: I can't help"),
    ("answer", "length", AnswerRejected, "cut off at max_tokens=2000"),
    ("chat", "policy", ContentPolicyRejected, "content refused: Your request was rejected"),
])
def test_refusals_and_cut_off_answers_are_their_own_errors(phase, kind, error, message, fake, brick, tmp_path):
    script, rules = brick
    fake.faults = [Fault("llm", phase, kind)]
    with pytest.raises(error, match=message):
        read(script, rules, client(fake), LocalArtifactStore(tmp_path))
    assert fake.counts["llm:chat"] == 1  # never retried


def test_the_budget_stops_the_reader_before_it_pays(fake, brick, tmp_path):
    script, rules = brick
    store = LocalArtifactStore(tmp_path)
    budget = Budget(store, "brick", "bibles", GenerationSettings(budget_drama_usd=0.001))
    with pytest.raises(BudgetExceeded, match="budget for drama brick"):
        read(script, rules, client(fake), store, budget)
    assert fake.counts["llm:chat"] == 0 and charges(store, "brick") == {}


def test_a_wrong_key_is_a_4xx_without_retries_and_no_key_is_ever_shown(fake, brick, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    script, rules = brick
    wrong = client(fake, key="sk-wrong-secret-123")
    with pytest.raises(RequestRejected, match="HTTP 401: Incorrect API key provided: \\*\\*\\*") as error:
        read(script, rules, wrong, LocalArtifactStore(tmp_path / "a"))
    assert fake.counts["llm:chat"] == 1
    assert "sk-wrong-secret-123" not in str(error.value) + repr(wrong) + caplog.text
    store = LocalArtifactStore(tmp_path / "b")
    read(script, rules, client(fake), store)
    written = "".join(p.read_text(errors="replace") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert "llm_answers" in str(list((tmp_path / "b").rglob("*"))) and KEYS["llm"] not in written + caplog.text


def test_json_object_mode_carries_the_schema_in_the_prompt(fake, brick, tmp_path):
    script, rules = brick
    read(script, rules, client(fake, response_format="json_object"), LocalArtifactStore(tmp_path))
    (body,) = fake.llm_requests
    assert body["response_format"] == {"type": "json_object"} and "The JSON schema:" in body["messages"][0]["content"]
    assert body["max_completion_tokens"] == 2000 and "temperature" not in body


def test_the_schema_is_strict_and_limited_to_the_scripts_cues_and_places(card):
    script, rules = card
    schema = reading_schema(["SCOTT", "NAK"], ["BATHROOM"])
    objects = [schema, *schema["$defs"].values()]
    for part in objects:
        assert part["additionalProperties"] is False and sorted(part["required"]) == sorted(part["properties"])
    assert schema["$defs"]["CharacterReading"]["properties"]["cue"]["enum"] == ["SCOTT", "NAK"]
    assert "default" not in json.dumps(schema)


def test_chunks_are_whole_scenes_in_order_within_the_budget(card):
    script, _ = card
    parts = chunks(script, 4000)
    numbers = [int(n) for part in parts for n in re.findall(r"^\[Scene (\d+)\]", part, re.M)]
    assert numbers == [s.number for s in script.scenes]
    assert all(len(p) <= 4000 or p.count("[Scene ") == 1 for p in parts)


def test_settings_that_would_spend_unrecorded_or_leak_the_key_are_refused():
    with pytest.raises(LLMConfigError, match="no price for model 'my-model'"):
        LLMClient(LLMSettings(model="my-model"), "k")
    with pytest.raises(LLMConfigError, match="in clear"):
        LLMClient(LLMSettings(base_url="http://llm.example.com/v1", price=PRICE), "k")
    local = LLMClient(LLMSettings(base_url="http://127.0.0.1:11434/v1", model="llama3", price=PRICE))
    assert local.headers() == {}  # Ollama and llama.cpp need no key


def test_the_dagster_resource_is_off_by_default_and_takes_its_key_from_the_environment(monkeypatch):
    import dagster as dg

    from zipx_dagster.resources import LLMReader, llm_reader_from_env

    assert LLMReader().client() is None and llm_reader_from_env().client() is None
    monkeypatch.setenv("ZIPX_LLM_MODEL", "gpt-4.1-mini")
    monkeypatch.setenv("ZIPX_LLM_API_KEY", "sk-env-secret-456")
    reader = llm_reader_from_env()
    assert "sk-env-secret-456" not in reader.model_dump_json()  # the config holds the variable's name only
    with dg.build_resources({"llm": reader}) as resources:
        the_client = resources.llm.client()
    assert the_client.headers() == {"Authorization": "Bearer sk-env-secret-456"}
    assert the_client.settings.prices().as_of == "2026-03"  # the dated default for the model


def test_an_invented_look_never_replaces_what_the_script_states_and_cue_extensions_match(card):
    script, rules = card
    stated = rules.model_copy(deep=True)
    scott = stated.character("scott")
    scott.appearance.hair_color, scott.provenance["hair_color"] = "#d8b96a", "script"
    reading = ScriptReading.model_validate({"characters": [{**character("SCOTT (V.O.)", 999), "gender": "male"}],
                                            "locations": []})
    merged = merge_reading(stated, reading, script).character("scott")
    assert merged.appearance.hair_color == "#d8b96a" and merged.provenance["hair_color"] == "script"
    assert merged.appearance.skin_tone == lexicon.SKIN_TONES["fair"] and merged.provenance["skin_tone"] == "invented"
    assert "scene-999" not in merged.wardrobe  # a scene the script does not have
