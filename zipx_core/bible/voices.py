"""Voices: dealt by sex and importance, and kept once given.

A drama's voice lock lives in the artifact store and every later extraction reads it, so
a re-run (or a new episode with new characters) never re-assigns a voice the audience
has already heard. The lock stores the sex each voice was dealt for: a voice given
against what is now surely known of the character (an older run guessed wrong, or a
person set the sex on the cast sheet) is dealt again, since a man speaking in a woman's
voice is a worse break than a voice that changes once. A doubtful new guess (a single
pronoun) does not move a voice already heard.

Pitch bands are measured on the speech engine (fundamental frequency of one sentence,
eSpeak NG): male voices at pitch 10-55 speak at about 80-118 Hz, female voices at 50-90
at 180-280 Hz. Where the sex is unknown the voice is one of NEUTRAL_VOICES, which speak
at 155-170 Hz, where a voice is heard as neither clearly male nor clearly female: it can
be wrong, but not obviously so, until a person sets the sex.

Hosted engines (ElevenLabs, OpenAI-compatible, Gemini) have catalogues of their own: each
character's voice is chosen from the engine's catalogue once, to fit the bible (sex,
then age, then the voice description), and locked per drama and engine in the
`engine_voices` record, under the same rules: never a voice of the other sex where the
sex is known, a neutral one (marked for review) where it is not, a voice set on the
cast sheet for that engine wins, and a locked voice moves only when dealt for another
sex than the one now surely known.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from zipx_core.bible.ages import low_end
from zipx_core.models import CatalogueVoice, CharacterBible, VoiceProfile
from zipx_core.naming import stable_hash
from zipx_core.records import Records
from zipx_core.storage import LocalArtifactStore

Sex = Literal["female", "male", "unspecified"]
FEMALE_VOICES = ("en-us+f3", "en+f2", "en+f4", "en-gb-x-rp+f1", "en+f5", "en-gb-scotland+f1")
MALE_VOICES = ("en-us+m3", "en+m1", "en+m7", "en-gb-x-rp+m2", "en+m4", "en-029+m1")
# voice -> the pitch at which it speaks at 155-170 Hz (measured as above)
NEUTRAL_VOICES = {"en+shelby": 25, "en+Jacky": 85, "en+Alex": 84, "en+edward": 94, "en-us+shelby": 30}
# sex -> (lowest, highest, usual) pitch: 'usual' is a 35-year-old's
PITCH_BANDS = {"female": (50, 90, 60), "male": (10, 60, 45)}
NEUTRAL_SPREAD = 4  # repeats of a neutral voice step this far in pitch, staying in the band


class LockedVoice(VoiceProfile):
    """A voice as the lock holds it: the voice, and the sex it was dealt for."""

    sex: Sex = "unspecified"

    def profile(self) -> VoiceProfile:
        return VoiceProfile(**self.model_dump(exclude={"sex"}))


def voice_sex(voice_id: str) -> Sex:
    """The sex an eSpeak NG voice sounds: its variant '+fN' or '+mN'; others neither."""
    variant = voice_id.rpartition("+")[2]
    if not variant[1:].isdigit():
        return "unspecified"
    return {"f": "female", "m": "male"}.get(variant[:1], "unspecified")


def _locked(value: VoiceProfile | dict) -> LockedVoice:
    """A lock entry; one written before the sex was stored reads it from the voice."""
    if isinstance(value, LockedVoice):
        return value
    entry = value.model_dump() if isinstance(value, VoiceProfile) else value
    return LockedVoice.model_validate({**entry, "sex": entry.get("sex") or voice_sex(entry["voice_id"])})


def _band(sex: str, voice: str) -> tuple[int, int]:
    if sex in PITCH_BANDS:
        return PITCH_BANDS[sex][:2]
    centre = NEUTRAL_VOICES.get(voice, 50)
    return max(centre - 2 * NEUTRAL_SPREAD, 0), min(centre + 2 * NEUTRAL_SPREAD, 99)


def _pitch(sex: str, age_range: str, repeat: int, voice: str) -> int:
    """The n-th use of a voice steps away from its usual pitch, down, up, further down ..."""
    if sex in PITCH_BANDS:
        usual, step = PITCH_BANDS[sex][2] - ((low_end(age_range) or 35) - 35) // 3, 8  # older lower, children higher
    else:
        usual, step = NEUTRAL_VOICES.get(voice, 50), NEUTRAL_SPREAD
    lo, hi = _band(sex, voice)
    return max(lo, min(hi, usual + step * ((repeat + 1) // 2) * (-1) ** repeat))


def _free_pitch(voice: str, pitch: int, sex: str, taken: set) -> int:
    """The nearest pitch in the band that no other character speaks this voice at."""
    lo, hi = _band(sex, voice)
    candidates = sorted(range(lo, hi + 1), key=lambda p: (abs(p - pitch), p))
    return next((p for p in candidates if (voice, p) not in taken), pitch)


def assign_voices(characters: list[CharacterBible], locked: dict[str, VoiceProfile | LockedVoice]) -> None:
    """Distinct characters get distinguishable voices: voices are dealt in order of
    importance from their sex's list, and a repeat is moved in pitch. A locked voice is
    kept unless it was dealt for another sex than the one the character now surely has
    (read from the script or the lexicon, or set by a person: not in `needs_review`)."""
    locks = {cid: _locked(v) for cid, v in locked.items()}
    # only a sex nobody doubts moves a voice already heard (a neutral one included)
    known = {c.character_id: c.appearance.gender for c in characters if "gender" not in c.needs_review}
    redeal = {cid for cid, lock in locks.items() if known.get(cid, "unspecified") not in ("unspecified", lock.sex)}
    kept = {cid: lock for cid, lock in locks.items() if cid not in redeal}
    used: Counter = Counter(lock.voice_id for lock in kept.values())
    taken = {(lock.voice_id, lock.pitch) for lock in kept.values()}
    for character in sorted(characters, key=lambda c: (-c.cue_count, c.character_id)):
        if character.character_id in kept:
            character.voice_profile = kept[character.character_id].profile()
            continue
        sex = character.appearance.gender
        pool = {"female": FEMALE_VOICES, "male": MALE_VOICES}.get(sex, tuple(NEUTRAL_VOICES))
        voice = min(pool, key=lambda v: (used[v], pool.index(v)))
        pitch = _free_pitch(voice, _pitch(sex, character.appearance.age_range, used[voice], voice), sex, taken)
        used[voice] += 1
        taken.add((voice, pitch))
        rate = 150 + stable_hash(character.character_id, "rate") % 35
        style = character.emotional_range[0] if character.emotional_range else "neutral"
        character.voice_profile = VoiceProfile(voice_id=voice, pitch=pitch, rate_wpm=rate, style=style)


def load_voice_lock(store: LocalArtifactStore, drama: str) -> dict[str, LockedVoice]:
    """Character id -> the locked voice, with the sex it was dealt for."""
    return {cid: _locked(entry) for cid, entry in (Records(store).voices(drama).get() or {}).items()}


def save_voice_lock(store: LocalArtifactStore, drama: str, characters: list[CharacterBible]) -> None:
    """Locks every character's voice. A voice that is the locked one keeps the sex it was
    dealt for; a new one was dealt for the character's sex as now known."""
    stored = Records(store).voices(drama)
    record = stored.get() or {}
    for c in characters:
        lock = _locked(record[c.character_id]) if c.character_id in record else None
        sex = lock.sex if lock is not None and lock.profile() == c.voice_profile else _dealt_sex(c)
        record[c.character_id] = LockedVoice(**c.voice_profile.model_dump(), sex=sex).model_dump()
    stored.put(record)


def _dealt_sex(c: CharacterBible) -> Sex:
    """The sex a voice now given was dealt for: an eSpeak NG voice says it; another
    (a hosted voice set on the cast sheet) was chosen for the character as now known."""
    voice_id = c.voice_profile.voice_id
    sex = voice_sex(voice_id)
    return sex if sex != "unspecified" or voice_id in NEUTRAL_VOICES else c.appearance.gender


# --- voices from a speech engine's catalogue --------------------------------------------------

NARRATOR_ID = "_narrator"  # the lock's name for the voice of cues with no bible
STOPWORDS = {"a", "an", "and", "the", "of", "in", "with", "voice", "neutral", "very", "quite", "slightly"}


class VoiceChoiceError(ValueError):
    """No voice in the catalogue may speak for a character (none of its known sex)."""


class EngineVoice(BaseModel):
    """A locked voice of one engine: the voice, its own sex per the catalogue, the sex of
    the character it was dealt for, and where it came from."""

    voice_id: str
    name: str = ""
    sex: Sex = "unspecified"
    dealt_for: Sex = "unspecified"
    source: Literal["catalogue", "cast sheet"] = "catalogue"
    needs_review: bool = False


@dataclass(frozen=True)
class Casting:
    """What the choice reads of a character."""

    character_id: str
    sex: Sex
    sure: bool  # the sex is not in doubt (not in needs_review)
    age_range: str
    description: str  # the voice description (the LLM's) and emotional range
    importance: int  # cues: leads choose first

    @classmethod
    def of(cls, c: CharacterBible) -> Casting:
        return cls(c.character_id, c.appearance.gender, "gender" not in c.needs_review, c.appearance.age_range,
                   " ".join([c.voice_profile.style, *c.emotional_range]), c.cue_count)

    @classmethod
    def narrator(cls) -> Casting:
        return cls(NARRATOR_ID, "unspecified", True, "", "clear even narrator", -1)


def espeak_catalogue() -> list[CatalogueVoice]:
    return ([CatalogueVoice(voice_id=v, sex="female") for v in FEMALE_VOICES]
            + [CatalogueVoice(voice_id=v, sex="male") for v in MALE_VOICES]
            + [CatalogueVoice(voice_id=v) for v in NEUTRAL_VOICES])


def age_band(age_range: str) -> str:
    """young | middle_aged | old, as voice catalogues label ages; '' when unknown."""
    low = low_end(age_range or "")
    return "" if low is None else "young" if low < 30 else "middle_aged" if low < 55 else "old"


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS}


def _fit(casting: Casting, voice: CatalogueVoice, used: Counter) -> int:
    """Distinct voices first, then the age, then words shared with the voice's description."""
    band = age_band(casting.age_range)
    if not band or not voice.age:
        age = 0
    else:
        age = 2 if band == voice.age else -2 if {band, voice.age} == {"young", "old"} else -1
    shared = len(_words(casting.description) & _words(f"{voice.name} {voice.description}"))
    return -3 * used[voice.voice_id] + age + min(shared, 3)


def choose_voice(casting: Casting, catalogue: list[CatalogueVoice], used: Counter) -> EngineVoice:
    """The catalogue voice that fits: of the character's sex where it is known (never the
    other), a neutral one where it is not (any voice when the catalogue has none), marked
    for review when the sex is unknown or doubtful."""
    known = casting.sex in ("female", "male")
    pool = [v for v in catalogue if v.sex == (casting.sex if known else "unspecified")] or ([] if known else list(catalogue))
    if not pool:
        raise VoiceChoiceError(f"{casting.character_id} is {casting.sex}, and the catalogue has no {casting.sex} voice: "
                               "set the character's voice on the cast sheet, or use a catalogue that has one")
    voice = max(pool, key=lambda v: (_fit(casting, v, used), -pool.index(v)))
    return EngineVoice(voice_id=voice.voice_id, name=voice.name, sex=voice.sex, dealt_for=casting.sex,
                       needs_review=not (known and casting.sure))


def _stays(casting: Casting, entry: EngineVoice) -> bool:
    """A locked voice moves only when dealt for another sex than the one now surely known."""
    return not (casting.sure and casting.sex != "unspecified" and casting.sex != entry.dealt_for)


def needs_choice(castings: list[Casting], lock: dict[str, EngineVoice]) -> bool:
    """Whether any character still needs a voice (so the catalogue must be read)."""
    return any(c.character_id not in lock or not _stays(c, lock[c.character_id]) for c in castings)


def cast_engine_voices(castings: list[Casting], catalogue: list[CatalogueVoice], lock: dict[str, EngineVoice],
                       sheet: dict[str, EngineVoice] | None = None) -> dict[str, EngineVoice]:
    """The drama's lock for one engine after this cast: the sheet's voices, the locked
    ones that stay, and a choice for every other character, leads first."""
    entries = {**{cid: e for cid, e in lock.items() if cid not in {c.character_id for c in castings}}, **(sheet or {})}
    for casting in castings:
        entry = lock.get(casting.character_id)
        if casting.character_id not in entries and entry is not None and _stays(casting, entry):
            entries[casting.character_id] = entry
    used = Counter(e.voice_id for e in entries.values())
    for casting in sorted(castings, key=lambda c: (-c.importance, c.character_id)):
        if casting.character_id not in entries:
            entries[casting.character_id] = choose_voice(casting, catalogue, used)
            used[entries[casting.character_id].voice_id] += 1
    return entries


def engine_profile(entry: EngineVoice, casting: Casting, engine: str, style: str) -> VoiceProfile:
    """The VoiceProfile a line is spoken with. Only eSpeak reads pitch and rate."""
    pitch = _pitch(entry.dealt_for, casting.age_range, 0, entry.voice_id) if engine == "espeak-ng" else 50
    rate = 150 + stable_hash(casting.character_id, "rate") % 35
    return VoiceProfile(voice_id=entry.voice_id, pitch=pitch, rate_wpm=rate, style=style, engine=engine)


def load_engine_voice_lock(store, drama: str, engine: str) -> dict[str, EngineVoice]:
    record = (Records(store).engine_voices(drama).get() or {}).get(engine, {})
    return {cid: EngineVoice.model_validate(entry) for cid, entry in record.items()}


def save_engine_voice_lock(store, drama: str, engine: str, entries: dict[str, EngineVoice]) -> None:
    """Locks the engine's voices (one write, and none when nothing changed)."""
    dumped = {cid: e.model_dump() for cid, e in entries.items()}

    def change(record: dict | None) -> dict | None:
        record = record or {}
        if record.get(engine) == dumped:
            return None
        return {**record, engine: dumped}

    Records(store).engine_voices(drama).update(change)


def engine_voice_lines(store, drama: str) -> list[str]:
    """The drama's locked hosted voices as lines for the cast sheet and `zipx cast show`."""
    lines = []
    for engine, entries in sorted((Records(store).engine_voices(drama).get() or {}).items()):
        for cid, raw in sorted(entries.items()):
            entry = EngineVoice.model_validate(raw)
            review = "  NEEDS REVIEW: sex unknown or doubtful, set it" if entry.needs_review else ""
            lines.append(f"{cid}: {engine} voice {entry.voice_id} ({entry.name or entry.voice_id}, {entry.sex}), "
                         f"from the {entry.source}{review}")
    return lines
