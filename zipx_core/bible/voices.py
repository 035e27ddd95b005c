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
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from zipx_core.bible.ages import low_end
from zipx_core.models import CharacterBible, VoiceProfile
from zipx_core.naming import stable_hash
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
    return {cid: _locked(entry) for cid, entry in (store.get_record("voices", drama) or {}).items()}


def save_voice_lock(store: LocalArtifactStore, drama: str, characters: list[CharacterBible]) -> None:
    """Locks every character's voice. A voice that is the locked one keeps the sex it was
    dealt for; a new one was dealt for the character's sex as now known."""
    record = store.get_record("voices", drama) or {}
    for c in characters:
        lock = _locked(record[c.character_id]) if c.character_id in record else None
        sex = lock.sex if lock is not None and lock.profile() == c.voice_profile else _dealt_sex(c)
        record[c.character_id] = LockedVoice(**c.voice_profile.model_dump(), sex=sex).model_dump()
    store.put_record("voices", drama, record)


def _dealt_sex(c: CharacterBible) -> Sex:
    """The sex a voice now given was dealt for: an eSpeak NG voice says it; another
    (a hosted voice set on the cast sheet) was chosen for the character as now known."""
    voice_id = c.voice_profile.voice_id
    sex = voice_sex(voice_id)
    return sex if sex != "unspecified" or voice_id in NEUTRAL_VOICES else c.appearance.gender
