"""The LLM reader (optional, off by default): an OpenAI-compatible model reads the script
and fills the rules' bibles where the script says more than rules can read, or says
nothing at all (a consistent invented look, marked as invented).

- The model answers in a small schema of its own (`ScriptReading`); its characters are
  matched to the rules' by cue, and a cue the script lacks is dropped: the model never
  adds a speaking character.
- Long scripts go in chunks of whole scenes, with the cast read so far carried along.
- An answer that fails the schema is sent back for repair, a bounded number of times,
  then refused with the reason.
- Every call is charged to the drama's ledger at its estimate before it is sent (over
  budget, nothing is sent), then settled at its usage.
- Answers are kept in the store by the hash of (model, prompt, schema): a re-run, or the
  second asset that asks the same question, pays nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zipx_core import lexicon
from zipx_core.bible.voices import assign_voices
from zipx_core.generation import Budget, GenerationSettings
from zipx_core.models import Bibles, CameraStyle, CharacterBible, Outfit, SceneBible, Script, VoiceProfile
from zipx_core.naming import slug
from zipx_core.providers.base import ContentPolicyRejected, ProviderError
from zipx_core.providers.llm import Completion, LLMClient
from zipx_core.records import Records

log = logging.getLogger("zipx.bible.llm")
LookField = Literal["face", "hair", "hair_colour", "skin_tone", "build", "gender", "age_range"]
LOOK_FIELDS: tuple[str, ...] = LookField.__args__


class AnswerRejected(ProviderError):
    """The model's answer failed the schema after every repair, or was cut off."""


class _Strict(BaseModel):
    # extra="forbid" gives additionalProperties: false, and no defaults keeps every field
    # required: both are what OpenAI's strict mode asks of a schema
    model_config = ConfigDict(extra="forbid")


class SceneAge(_Strict):
    scene: int = Field(description="N of [Scene N]")
    age_range: str = Field(description="apparent age there, e.g. 8-10")


class SceneOutfit(_Strict):
    scene: int = Field(description="N of [Scene N] where the script shows this outfit")
    description: str
    top_colour: str = Field(description="one plain colour name, e.g. navy")
    bottom_colour: str = Field(description="one plain colour name")


class CharacterReading(_Strict):
    cue: str = Field(description="the character's cue exactly as listed")
    gender: Literal["female", "male", "unspecified"]
    age_range: str = Field(description="apparent age, e.g. 35-40")
    face: str
    hair: str = Field(description="hair in a few words")
    hair_style: Literal["short", "cropped", "long", "bun", "curly", "bald"]
    hair_colour: str = Field(description="one plain colour name, e.g. auburn")
    skin_tone: str = Field(description="one plain word, e.g. fair, olive, brown, dark")
    build: Literal["slight", "average", "broad", "tall"]
    invented: list[LookField] = Field(description="look fields the script does not state, made up consistently")
    ages_by_scene: list[SceneAge] = Field(description="only scenes where the age differs (flashbacks, years later)")
    wardrobe: list[SceneOutfit]
    emotional_range: list[str] = Field(description="emotions the character shows, strongest first")
    voice: str = Field(description="how the voice sounds: pitch, pace, texture, accent")


class LocationReading(_Strict):
    name: str = Field(description="the location exactly as listed")
    mood: str = Field(description="the lighting in a few words")
    colour_temperature_k: int
    key_light_colour: str = Field(description="one plain colour name")
    lens: str = Field(description="e.g. 35mm")
    movement: Literal["static", "slow_push", "pan", "handheld"]
    framing_notes: str


class ScriptReading(_Strict):
    characters: list[CharacterReading]
    locations: list[LocationReading]


SYSTEM = (
    "You read screenplays for a film's continuity bible. Answer with JSON only, following the schema. "
    "Describe each speaking character under one of the listed cues, never another name. Where the script is "
    "silent about a look field, invent a plausible look that fits the story and name that field in `invented`. "
    "Keep what the cast so far says unless this part of the script states otherwise. Colours are one plain "
    "colour name each. Scene numbers are the N of [Scene N]. Lighting and camera come from each location's action."
)


def reading_schema(cues: list[str], places: list[str]) -> dict:
    """ScriptReading's JSON schema, its cues and places limited to the script's own."""
    schema = ScriptReading.model_json_schema()
    for part in [schema, *schema["$defs"].values()]:
        part.pop("title", None)
        for prop in part.get("properties", {}).values():
            prop.pop("title", None)
    if cues:
        schema["$defs"]["CharacterReading"]["properties"]["cue"]["enum"] = cues
    if places:
        schema["$defs"]["LocationReading"]["properties"]["name"]["enum"] = places
    return schema


# --- the script in chunks ---------------------------------------------------------------


def _scene_text(scene) -> str:
    lines = [f"[Scene {scene.number}] {scene.heading}"]
    for e in scene.elements:
        if e.type == "character":
            lines.append(e.text + (f" ({e.extension})" if e.extension else ""))
        elif e.type in ("dialogue", "parenthetical"):
            lines.append("    " + e.text)
        elif e.type != "page_break":
            lines.append(e.text)
    return "\n".join(lines)


def script_blocks(script: Script) -> list[str]:
    """One block per scene; an episode's opening (before its first heading) rides with its first scene."""
    blocks = []
    for episode in script.episodes:
        opening = "\n".join(e.text for e in episode.preamble if e.type in ("action", "centered"))
        for i, scene in enumerate(episode.scenes):
            text = _scene_text(scene)
            blocks.append(f"[Opening of {episode.title}]\n{opening}\n\n{text}" if i == 0 and opening else text)
    return blocks


def chunks(script: Script, max_chars: int) -> list[str]:
    """Whole scenes, packed in order up to max_chars; a longer scene goes alone, whole."""
    packed: list[str] = []
    for block in script_blocks(script):
        if packed and len(packed[-1]) + 2 + len(block) <= max_chars:
            packed[-1] += "\n\n" + block
        else:
            packed.append(block)
    return packed


# --- asking, with the cache, the ledger and repairs ----------------------------------------


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _messages(chunk: str, so_far: ScriptReading, cues: list[str], places: list[str], part: str, schema: dict,
              inline_schema: bool) -> list[dict]:
    system = SYSTEM + (f"\nThe JSON schema:\n{json.dumps(schema)}" if inline_schema else "")
    user = (f"Cues: {json.dumps(cues)}\nLocations: {json.dumps(places)}\n"
            f"Cast so far (JSON): {so_far.model_dump_json()}\n\nPart {part} of the script:\n\n{chunk}")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _parse(completion: Completion, max_tokens: int) -> ScriptReading:
    """The answer as a ScriptReading; ValueError (with the reason) for one worth repairing."""
    if completion.refusal:
        raise ContentPolicyRejected("llm", f"the model refused: {completion.refusal[:300]}")
    if completion.finish_reason == "content_filter":
        raise ContentPolicyRejected("llm", "the answer was withheld by the provider's content filter")
    if completion.finish_reason == "length":
        raise AnswerRejected("llm", f"the answer was cut off at max_tokens={max_tokens}: raise it or lower chunk_chars")
    text = (completion.content or "").strip()
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text)  # a fenced answer: the fence is not the JSON
    start, end = text.find("{"), text.rfind("}")
    try:
        return ScriptReading.model_validate_json(text[start:end + 1] if start >= 0 else text)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in error.errors()[:5])
        raise ValueError(problems) from None


def _settle(store, drama: str, digest: str, usd: float) -> None:
    """The ledger's charge for a sent call, from its estimate to what it cost."""
    def change(ledger: dict | None) -> dict | None:
        if not ledger or digest not in ledger["charges"]:
            return None
        ledger["charges"][digest]["usd"] = usd
        return ledger

    Records(store).spend(drama).update(change)


async def _paid_call(client: LLMClient, store, budget: Budget, body: dict, label: str) -> Completion:
    """One call, charged before it is sent (BudgetExceeded stops it unsent) and settled after."""
    digest = _digest({"llm_call": body})
    estimate = client.estimate(body)
    await budget.charge(digest, estimate, label, stage="script reading")
    try:
        completion = await client.complete(body)
    except ProviderError:
        await budget.refund(digest)  # refused or never answered: nothing to record as paid
        raise
    await asyncio.to_thread(_settle, store, budget.drama, digest, client.cost(completion, estimate))
    return completion


async def ask(client: LLMClient, store, budget: Budget, messages: list[dict], schema: dict, label: str) -> ScriptReading:
    """The reading for one request: from the store when asked before, else from the model,
    repaired at most schema_attempts - 1 times."""
    key = _digest({"model": client.settings.model, "messages": messages, "schema": schema,
                   "format": client.settings.response_format})
    cached = Records(store).llm_answers(key).get()
    if cached:
        return ScriptReading.model_validate(cached["reading"])
    attempts, problem = client.settings.schema_attempts, ""
    for attempt in range(1, attempts + 1):
        completion = await _paid_call(client, store, budget, client.body(messages, schema), f"{label} try {attempt}")
        try:
            reading = _parse(completion, client.settings.max_tokens)
        except ValueError as error:
            problem = str(error)
            log.info("llm %s: answer failed the schema (%s); asking for a repair", label, problem[:200])
            messages = messages + [{"role": "assistant", "content": completion.content or ""},
                                   {"role": "user", "content": f"That answer does not follow the schema: {problem}. "
                                                               "Answer again with the whole corrected JSON only."}]
            continue
        Records(store).llm_answers(key).put({"model": client.settings.model, "reading": reading.model_dump()})
        return reading
    raise AnswerRejected(client.name, f"{label}: the answer failed the schema {attempts} times; last: {problem[:300]}")


# --- combining chunks and merging into the rules' bibles ------------------------------------


def _combine_character(old: CharacterReading, new: CharacterReading) -> CharacterReading:
    """Looks stay as first read (consistent), except where the script now states what was invented."""
    merged = old.model_copy(deep=True)
    invented = set(old.invented)
    for field in LOOK_FIELDS:
        if field in invented and field not in new.invented:
            setattr(merged, field, getattr(new, field))
            invented.discard(field)
            if field == "hair":
                merged.hair_style = new.hair_style
    merged.invented = [f for f in LOOK_FIELDS if f in invented]
    merged.ages_by_scene = list({a.scene: a for a in old.ages_by_scene + new.ages_by_scene}.values())
    merged.wardrobe = list({o.scene: o for o in old.wardrobe + new.wardrobe}.values())
    merged.emotional_range = list(dict.fromkeys(old.emotional_range + new.emotional_range))
    merged.voice = old.voice or new.voice
    return merged


def combine(so_far: ScriptReading, part: ScriptReading) -> ScriptReading:
    characters = {c.cue: c for c in so_far.characters}
    for c in part.characters:
        characters[c.cue] = _combine_character(characters[c.cue], c) if c.cue in characters else c
    locations = {loc.name: loc for loc in so_far.locations} | {loc.name: loc for loc in part.locations}
    return ScriptReading(characters=list(characters.values()), locations=list(locations.values()))


def cue_index(bibles: Bibles) -> dict[str, str]:
    """A cue as the script writes it -> the one character_id it names."""
    index = {}
    for c in bibles.characters:
        for name in [c.display_name, *c.aliases]:
            index[name.upper()] = c.character_id
    for cue, ids in bibles.cue_map.items():
        if len(ids) == 1:
            index[cue.upper()] = ids[0]
    return index


def _hex(table: dict[str, str], name: str) -> str | None:
    """A named colour's hex from a lexicon table: the whole name, else its last known word."""
    words = re.findall(r"[a-z]+", name.lower())
    return table.get(name.strip().lower()) or next((table[w] for w in reversed(words) if w in table), None)


def _source(field: str, reading: CharacterReading) -> str:
    return "invented" if field in reading.invented else "llm"


def _look(c: CharacterBible, r: CharacterReading) -> None:
    """Appearance, gender and age from the reading. An invented value never replaces one
    the rules read from the script or a person set; hex colours keep the rules' (hashed)
    value when the named colour is not in the lexicon."""
    def take(field: str, target: str) -> bool:
        stated = c.provenance.get(target, c.provenance.get("appearance"))
        return not (field in r.invented and stated in ("script", "cast sheet"))

    a, updates = c.appearance, {}
    plan = [("face", "face_description", f"{r.face}; hair: {r.hair}"), ("hair", "hair", f"{r.hair_colour} {r.hair_style}"),
            ("hair_colour", "hair_color", _hex(lexicon.HAIR_COLOURS, r.hair_colour)),
            ("skin_tone", "skin_tone", _hex(lexicon.SKIN_TONES, r.skin_tone)), ("build", "build", r.build),
            ("age_range", "age_range", r.age_range.strip() or None),
            ("gender", "gender", r.gender if r.gender != "unspecified" else None)]
    for field, target, value in plan:
        if value is not None and take(field, target):
            updates[target] = value
            c.provenance[target] = _source(field, r)
            if _source(field, r) == "llm" and target in c.needs_review:
                c.needs_review.remove(target)
    c.appearance = a.model_copy(update=updates)


def _outfit(item: SceneOutfit, fallback: Outfit) -> Outfit:
    return Outfit(description=item.description,
                  top_color=_hex(lexicon.COLOURS, item.top_colour) or fallback.top_color,
                  bottom_color=_hex(lexicon.COLOURS, item.bottom_colour) or fallback.bottom_color)


def _scenes(c: CharacterBible, r: CharacterReading, scenes: set[int]) -> None:
    """Wardrobe and age per scene, for scenes the script has."""
    outfits = {f"scene-{o.scene}": _outfit(o, c.wardrobe["default"]) for o in r.wardrobe if o.scene in scenes}
    if outfits:
        c.wardrobe.update(outfits)
        first = min((k for k in c.wardrobe if k != "default"), key=lambda k: int(k.split("-")[1]))
        c.wardrobe["default"] = c.wardrobe[first]  # what they wear until the script says otherwise
        c.provenance["wardrobe"] = "llm"
    ages = {f"scene-{a.scene}": a.age_range for a in r.ages_by_scene
            if a.scene in scenes and a.age_range.strip() and a.age_range != c.appearance.age_range}
    if ages:
        c.age_by_scene.update(ages)
        c.provenance["age_by_scene"] = "llm"


def merge_character(c: CharacterBible, r: CharacterReading, scenes: set[int]) -> CharacterBible:
    if c.approved:  # locked on the cast sheet
        return c
    c = c.model_copy(deep=True)
    _look(c, r)
    _scenes(c, r, scenes)
    if r.emotional_range:
        c.emotional_range = [e.strip().lower() for e in r.emotional_range if e.strip()][:6] or c.emotional_range
        c.provenance["emotional_range"] = "llm"
    return c


def merge_location(s: SceneBible, r: LocationReading) -> SceneBible:
    if s.approved:
        return s
    light = s.lighting_palette.model_copy(update={
        "mood": r.mood, "colour_temperature_k": min(max(r.colour_temperature_k, 1500), 12000),
        "key_color": _hex(lexicon.COLOURS, r.key_light_colour) or s.lighting_palette.key_color})
    camera = CameraStyle(lens=r.lens, movement=r.movement, framing_notes=r.framing_notes)
    provenance = {**s.provenance, "lighting_palette": "llm", "camera_style": "llm"}
    return s.model_copy(update={"lighting_palette": light, "camera_style": camera, "provenance": provenance})


def _redeal_voices(before: list[CharacterBible], after: list[CharacterBible], locked: dict[str, VoiceProfile],
                   voices: dict[str, str]) -> None:
    """Voices stay as the rules dealt them, except for characters whose gender only the
    model knew (and whose voice no earlier run has locked): those are dealt again, by
    the rules' own function, from their gender's list. Then the model's voice description."""
    was = {c.character_id: c.appearance.gender for c in before}
    redeal = {c.character_id for c in after if was.get(c.character_id) == "unspecified"
              and c.appearance.gender != "unspecified" and c.character_id not in locked and not c.approved}
    if redeal:
        assign_voices(after, {c.character_id: c.voice_profile for c in after if c.character_id not in redeal})
    for c in after:
        if c.character_id in voices and not c.approved:
            c.voice_profile = c.voice_profile.model_copy(update={"style": voices[c.character_id][:160]})
            c.provenance["voice_style"] = "llm"


def merge_reading(rules: Bibles, reading: ScriptReading, script: Script,
                  locked_voices: dict[str, VoiceProfile] | None = None) -> Bibles:
    """The rules' bibles with the model's reading folded in. Cues the script lacks are dropped."""
    index, scenes = cue_index(rules), {s.number for s in script.scenes}
    by_id: dict[str, CharacterReading] = {}
    for r in reading.characters:
        cue = re.sub(r"\s*\([^)]*\)\s*$", "", r.cue).strip().upper()
        if cue in index:
            by_id.setdefault(index[cue], r)
        else:
            log.warning("llm named %r, which is no cue of the script: dropped", r.cue)
    characters = [merge_character(c, by_id[c.character_id], scenes) if c.character_id in by_id else c
                  for c in rules.characters]
    _redeal_voices(rules.characters, characters, locked_voices or {},
                   {cid: r.voice for cid, r in by_id.items() if r.voice.strip()})
    places = {slug(loc.name): loc for loc in reading.locations}  # the location ids the rules gave
    locations = [merge_location(s, places[s.location_id]) if s.location_id in places else s for s in rules.locations]
    return rules.model_copy(update={"characters": characters, "locations": locations})


# --- the one entry point --------------------------------------------------------------------


async def aread_bibles_with_llm(script: Script, rules: Bibles, client: LLMClient, store, budget: Budget | None = None,
                                locked_voices: dict[str, VoiceProfile] | None = None) -> Bibles:
    budget = budget or Budget(store, rules.drama, "bibles", GenerationSettings())
    cues = sorted(cue_index(rules))
    places = [s.name for s in rules.locations]
    schema = reading_schema(cues, places)
    inline = client.settings.response_format == "json_object"
    parts = chunks(script, client.settings.chunk_chars)
    reading = ScriptReading(characters=[], locations=[])
    for number, chunk in enumerate(parts, 1):
        messages = _messages(chunk, reading, cues, places, f"{number} of {len(parts)}", schema, inline)
        reading = combine(reading, await ask(client, store, budget, messages, schema, f"bibles part {number}"))
    return merge_reading(rules, reading, script, locked_voices)


def read_bibles_with_llm(script: Script, rules: Bibles, client: LLMClient, store, budget: Budget | None = None,
                         locked_voices: dict[str, VoiceProfile] | None = None) -> Bibles:
    """The drama's bibles: the rules' (`extract_bibles`), filled by the model. `budget` is
    the drama's ledger (Budget(store, drama, "bibles", settings)); a run that asked the
    same questions before pays nothing."""
    return asyncio.run(aread_bibles_with_llm(script, rules, client, store, budget, locked_voices))
