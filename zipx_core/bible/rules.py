"""Character and scene bibles extracted from a script by rules: deterministic, offline.

What the script says wins (an introduction's age, skin, hair, build; a wardrobe line; the
pronouns and relationship words around a name); where it is silent the first-name
lexicon gives the sex, and the rest is filled from a hash of the character's id, so the
same character looks the same on every run and in every episode of the drama. Where
each value came from is in `provenance`; what nobody could tell is in `needs_review`.

The work is one pass over the cues (zipx_core.bible.cues) and one over the action
(zipx_core.bible.mentions); each character is then read from its own mentions.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from zipx_core import lexicon
from zipx_core.bible import gender
from zipx_core.bible.ages import FLASHBACK_HEADING, FULL_NAME_TAIL, ages_by_scene, low_end, stated_age
from zipx_core.bible.cues import CueStats, character_cue_map, cue_stats
from zipx_core.bible.mentions import Mention, MentionIndex, action_texts, index_mentions
from zipx_core.bible.names import Groups, age_prefixed, alias_groups, display_name, first_name, first_name_sex, read_capitals
from zipx_core.bible.voices import assign_voices
from zipx_core.models import (
    Appearance,
    Bibles,
    CameraStyle,
    CharacterBible,
    LightingPalette,
    Outfit,
    SceneBible,
    Script,
    VoiceProfile,
)
from zipx_core.naming import slug, stable_hash

DEFAULT_SKIN = ("#f1c9a5", "#e0ac7e", "#c68b59", "#9a6a48", "#6b4630", "#f3d2b8")
DEFAULT_HAIR = ("#17130f", "#4a2e1c", "#5a3a22", "#8a3b22", "#d8b96a", "#9a9a9a")
DEFAULT_TOPS = ("#b3262e", "#2f5da8", "#2f7a45", "#e0bd3a", "#6c3f8f", "#d9702a", "#2a7f80", "#d98aa6")
DEFAULT_BOTTOMS = ("#1f2f56", "#1c1c1e", "#6b4a2f", "#7d7f83", "#4a6a95", "#a69b6b")
HAIR_STYLES = {
    "female": ("long", "bun", "curly", "short"),
    "male": ("short", "cropped", "curly"),
    "unspecified": ("short", "long", "curly", "cropped"),
}
UNKNOWN_AGE = "adult (age not given)"
# ', a white woman', ", Tom's wife": what follows a name, not another name in a list
APPOSITIVE = re.compile(rf"^{FULL_NAME_TAIL}\s*,\s*(?P<text>(?:[a-z\d]|[\w’'-]+['’]s\b).*)$", re.S)


def _is_person(stats: CueStats) -> bool:
    """A cue that occurs once and reads as an instruction ('WRITE BEFORE HERE' followed by
    'Cyber Cloud Boss Thing command:') is the writer talking, not a character."""
    words = set(re.findall(r"[A-Z]+", stats.name))
    if stats.count == 1 and words & lexicon.NOT_A_NAME:
        return False
    if stats.count == 1 and stats.lines and all(line.rstrip().endswith(":") for line in stats.lines):
        return False
    return any(ch.isalpha() for ch in stats.name)


@dataclass
class _Reading:
    """What one pass over the script gives every character."""

    stats: dict[str, CueStats]
    groups: Groups
    index: MentionIndex
    pronouns: dict[int, Counter]
    first_name_sexes: dict[str, str]
    flashbacks: set[int]


def _read(script: Script) -> _Reading:
    texts = action_texts(script)
    capitals = read_capitals(texts)
    stats = {n: s for n, s in cue_stats(script, capitals.names).items() if _is_person(s)}
    groups = alias_groups({n: s.count for n, s in stats.items()}, capitals.full_names)
    group_of = {name: i for i, members in enumerate(groups.members) for name in members}
    index = index_mentions(script, group_of)
    candidates = {n for members in groups.members for n in _given_names(members, groups)}
    return _Reading(
        stats=stats,
        groups=groups,
        index=index,
        pronouns=gender.pronoun_votes(index),
        first_name_sexes=first_name_sex(candidates),
        flashbacks={s.number for s in script.scenes if FLASHBACK_HEADING.search(s.heading)},
    )


def _given_names(members: list[str], groups: Groups) -> list[str]:
    """First names to look up: one an introduction gives ('JACOB BILLUPS' for the cue
    BILLUPS), then each cue's own first word that is not a title."""
    names = [groups.given_names[m] for m in members if m in groups.given_names]
    return list(dict.fromkeys(names + [n for m in members if (n := first_name(m))]))


def _introduction(mentions: list[Mention]) -> tuple[int | None, str]:
    """The line that introduces the character (the first mention with an age or a
    description, else the first in capitals) and what the script says of their looks:
    an apposition ('MARGARET, 37, a white woman, amicable, ...' -> 'a white woman,
    amicable, ...'), else the first sentence about them alone that speaks of looks."""
    line, description = None, ""
    for m in mentions:
        age = stated_age(m.after)
        # after an age, what follows is the introduction ('MARGARET, 37, a white woman');
        # without one, only what reads as a description ('NAK, a fellow whose ...')
        apposition = APPOSITIVE.match(m.after[age[1] :] if age else m.after)
        described = apposition.group("text") if apposition and (age or _describes(apposition.group("text"))) else None
        if line is None and (age or described):
            line = m.line
        if described and not description:
            description = _clean(described)
    if line is None:
        line = next((m.line for m in mentions if m.sentence.text[m.start : m.end].isupper()), None)
    return line, description or _looks(mentions)


def _looks(mentions: list[Mention]) -> str:
    """The first sentence about the character alone, or one right after a sentence that
    names them last and that names no one ('She is tired, with grey-streaked hair.'),
    that speaks of looks."""
    for m in mentions:
        named = list(m.sentence.groups)
        if named[-1] != m.group:
            continue  # the sentences after are about whoever was named last
        for sentence in m.sentence.and_after()[0 if len(named) == 1 else 1 :]:
            if set(re.findall(r"[a-z]+", sentence.text.lower())) & lexicon.LOOK_WORDS:
                return _clean(sentence.text)
    return ""


def _describes(apposition: str) -> bool:
    """', a fellow whose ...', ", Tom's wife", ', tall and wiry' describe a person;
    ', who catches it', ', now awake' do not."""
    words = re.findall(r"[\w’']+", apposition.lower())
    return bool(words) and (words[0] in ("a", "an", "the", "his", "her", "their") or words[0].endswith(("'s", "’s"))
                            or bool(set(words) & (lexicon.LOOK_WORDS | lexicon.FEMALE_NOUNS | lexicon.MALE_NOUNS)))


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(" ,.")


def _pick(options: tuple, key: str, salt: str):
    return options[stable_hash(key, salt) % len(options)]


def _appearance(character_id: str, age_range: str, description: str, name: str, sex: str, provenance: dict) -> Appearance:
    words = set(re.findall(r"[a-z]+", f"{description} {name}".lower()))
    skin = next((lexicon.SKIN_TONES[w] for w in lexicon.SKIN_TONES if w in words), None)
    hair_match = re.search(r"(\w+)[- ]hair(?:ed)?|\b(blonde?|brunette|redhead|bald)\b", description.lower())
    hair_word = (hair_match.group(1) or hair_match.group(2)) if hair_match else None
    hair_color = lexicon.HAIR_COLOURS.get(hair_word or "", None) or _pick(DEFAULT_HAIR, character_id, "hair")
    if (low_end(age_range) or 0) >= 60 and not hair_word:
        hair_color = "#b8b8b8"
    build = next((lexicon.BUILDS[w] for w in lexicon.BUILDS if w in words), None)
    style = "bald" if hair_word == "bald" else _pick(HAIR_STYLES[sex], character_id, "style")
    for field, read in (("face_description", description), ("hair_color", hair_word), ("skin_tone", skin), ("build", build)):
        provenance[field] = "script" if read else "invented"
    return Appearance(
        face_description=description or "as yet undescribed in the script",
        hair=f"{hair_word or 'natural'} {style}".strip(),
        hair_color=hair_color,
        skin_tone=skin or _pick(DEFAULT_SKIN, character_id, "skin"),
        build=build or "average",
        age_range=age_range,
        gender=sex,
    )


def _outfit(phrase: str, character_id: str) -> Outfit:
    """Colours the phrase names, else the character's own (hashed) colours, so a garment
    the script leaves uncoloured is the same colour in every scene."""
    words = re.findall(r"[a-z-]+", phrase.lower())
    colours = [lexicon.COLOURS[w] for w in words if w in lexicon.COLOURS]
    top = colours[0] if colours else _pick(DEFAULT_TOPS, character_id, "top")
    bottom = colours[1] if len(colours) > 1 else _pick(DEFAULT_BOTTOMS, character_id, "bottom")
    return Outfit(description=phrase, top_color=top, bottom_color=bottom)


GARMENT = re.compile(
    rf"(?:wears|wearing|dressed in|in)\s+((?:a|an|his|her|their)?\s*(?:[\w-]+\s+){{0,3}}?(?:{'|'.join(lexicon.GARMENTS)})s?)\b",
    re.I,
)


def _wardrobe(mentions: list[Mention], character_id: str) -> dict[str, Outfit]:
    """'default' from the hash; 'scene-N' from a sentence in scene N that names the
    character and a garment ('Ava, in a yellow slicker', 'TOMAS ... in a navy sweater')."""
    wardrobe = {"default": _outfit("everyday clothes", character_id)}
    for mention in mentions:
        key = f"scene-{mention.sentence.scene}"
        if mention.sentence.scene is None or key in wardrobe:
            continue
        if match := GARMENT.search(" ".join(mention.sentence.text.split())):
            wardrobe[key] = _outfit(match.group(1).strip(), character_id)
    described = sorted((k for k in wardrobe if k != "default"), key=lambda k: int(k.split("-")[1]))
    if described:
        wardrobe["default"] = wardrobe[described[0]]
    return wardrobe


def _emotional_range(stats: list[CueStats]) -> list[str]:
    words = Counter(
        w for s in stats for text in s.lines + s.parentheticals for w in re.findall(r"[a-z']+", text.lower())
    )
    scores = {emotion: sum(words[w] for w in vocab) for emotion, vocab in lexicon.EMOTIONS.items()}
    ranked = [e for e, score in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])) if score > 0]
    return ranked or ["neutral"]


def _sex(group: int, members: list[str], reading: _Reading) -> tuple[str, str | None, bool]:
    named = next((sex for m in members if (sex := gender.name_sex(m))), None)
    votes = gender.text_votes(reading.index, group, reading.pronouns.get(group, Counter()))
    from_lexicon = next((reading.first_name_sexes[n] for n in _given_names(members, reading.groups)
                         if n in reading.first_name_sexes), None)
    return gender.decide(named, votes, from_lexicon)


def _ages(members: list[str], mentions: list[Mention], reading: _Reading) -> tuple[str | None, dict[int, str]]:
    statements = [(m.sentence.scene, age[0]) for m in mentions if (age := stated_age(m.after))]
    statements += [a for m in members for a in reading.stats[m].ages]
    statements.sort(key=lambda s: s[0] or 0)
    scenes = {s for m in members for s in reading.stats[m].scenes} | {m.sentence.scene for m in mentions}
    main, by_scene = ages_by_scene(statements, sorted(s for s in scenes if s is not None), reading.flashbacks)
    return main or _age_from_words(mentions), by_scene


def _age_from_words(mentions: list[Mention]) -> str | None:
    """An age the words of an introduction imply: 'BRICK, retired police detective' ->
    60-70, 'a young ART GIRL' -> 20-29."""
    for m in mentions[:3]:
        before = m.before.lower().split()[-1:]
        if before and before[0] in lexicon.AGE_ADJECTIVES:
            return lexicon.AGE_ADJECTIVES[before[0]]
        apposition = APPOSITIVE.match(m.after)
        words = re.findall(r"[a-z-]+", apposition.group("text").lower()) if apposition else []
        if age := next((lexicon.AGE_WORDS[w] for w in words if w in lexicon.AGE_WORDS), None):
            return age
    return None


def _age_or_prefix(main: str, age_range: str | None, provenance: dict, needs_review: list) -> str:
    """The script's age; else the age a YOUNG/OLD cue implies, for a person to confirm."""
    if age_range:
        provenance["age_range"] = "script"
        return age_range
    if prefixed := age_prefixed(main):
        provenance["age_range"] = "invented"
        needs_review.append("age_range")
        return lexicon.AGE_PREFIXES[prefixed[0]]
    return UNKNOWN_AGE


def _character(group: int, members: list[str], reading: _Reading) -> CharacterBible:
    group_stats = [reading.stats[n] for n in members]
    main = max(group_stats, key=lambda s: (s.count, -s.first_line)).name
    character_id = slug(main)
    mentions = reading.index.by_group.get(group, [])
    provenance: dict[str, str] = {"voice": "invented"}
    needs_review: list[str] = []
    sex, source, doubtful = _sex(group, members, reading)
    if source:
        provenance["gender"] = source
    if doubtful:
        needs_review.append("gender")
    age_range, by_scene = _ages(members, mentions, reading)
    age_range = _age_or_prefix(main, age_range, provenance, needs_review)
    intro_line, description = _introduction(mentions)
    return CharacterBible(
        character_id=character_id,
        display_name=display_name(main, reading.index.written.get(group, Counter())),
        aliases=sorted(n for n in members if n != main),
        introduced_line=intro_line,
        appearance=_appearance(character_id, age_range, description, main, sex, provenance),
        wardrobe=_wardrobe(mentions, character_id),
        voice_profile=VoiceProfile(voice_id="en", pitch=50, rate_wpm=170),
        emotional_range=_emotional_range(group_stats),
        cue_count=sum(s.count for s in group_stats),
        age_by_scene={f"scene-{n}": age for n, age in sorted(by_scene.items())},
        provenance=provenance,
        needs_review=needs_review,
    )


def _link_ages(characters: list[CharacterBible], groups: Groups) -> None:
    """YOUNG MARY -> linked_to MARY; where only one of the two has a sex the script or the
    lexicon gives, the other takes it (a person at another age keeps their sex)."""
    by_name = {name: characters[i] for i, members in enumerate(groups.members) for name in members}
    for young_name, base_name in groups.links.items():
        young, base = by_name[young_name], by_name[base_name]
        if base is young:
            continue
        young.linked_to = base.character_id
        for a, b in ((young, base), (base, young)):
            if "gender" in a.needs_review and "gender" not in b.needs_review and b.appearance.gender != "unspecified":
                a.appearance.gender = b.appearance.gender
                a.provenance["gender"] = b.provenance.get("gender", "script")
                a.needs_review.remove("gender")


def extract_character_bibles(script: Script, locked_voices: dict | None = None) -> list[CharacterBible]:
    """One bible per speaking character. `locked_voices`: character id -> the voice an
    earlier run gave (a VoiceProfile, or a LockedVoice from zipx_core.bible.voices)."""
    reading = _read(script)
    characters = [_character(group, members, reading) for group, members in enumerate(reading.groups.members)]
    _link_ages(characters, reading.groups)
    assign_voices(characters, locked_voices or {})
    return sorted(characters, key=lambda c: (-c.cue_count, c.character_id))


# --- Scene bibles ------------------------------------------------------------------------

# (time of day group, INT/EXT) -> colour temperature, key, fill, ambient, mood
LIGHTING = {
    ("day", "EXT"): (5600, "#fff4e0", "#9fc2e8", "#87b5e8", "bright natural daylight"),
    ("day", "INT"): (4300, "#ffe8c8", "#d8cbb4", "#b8a68c", "soft window light"),
    ("night", "EXT"): (4100, "#9fb4ff", "#2a3350", "#141c34", "cool moonlit night"),
    ("night", "INT"): (3200, "#ffc27a", "#5a4030", "#2e2219", "warm tungsten pools"),
    ("dusk", "EXT"): (3000, "#ffb060", "#a05070", "#6a3c5c", "golden hour"),
    ("dusk", "INT"): (2900, "#ffae6a", "#7a4a3a", "#4a3028", "late amber light"),
    ("dawn", "EXT"): (4800, "#ffd8b0", "#b0c8e0", "#90a8c8", "fresh pale morning"),
    ("dawn", "INT"): (4500, "#ffe2c0", "#c8c0b0", "#a09888", "quiet morning light"),
}
TIME_GROUPS = {
    "night": ("NIGHT", "MIDNIGHT", "LATE NIGHT"),
    "dusk": ("DUSK", "SUNSET", "EVENING", "TWILIGHT", "MAGIC HOUR"),
    "dawn": ("DAWN", "SUNRISE", "MORNING", "EARLY MORNING"),
}


def time_group(time_of_day: str) -> str:
    return next((g for g, names in TIME_GROUPS.items() if time_of_day.upper() in names), "day")


def _mix(a: str, b: str, t: float) -> str:
    ca = [int(a[i : i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))


def lighting_palette(location_id: str, int_ext: str, time_of_day: str) -> LightingPalette:
    kelvin, key, fill, ambient, mood = LIGHTING[(time_group(time_of_day), "EXT" if int_ext == "EXT" else "INT")]
    # Each place gets its own tint, so two day interiors still look like two rooms.
    tint = _pick(("#c0504d", "#4f81bd", "#9bbb59", "#8064a2", "#4bacc6", "#f79646", "#a5a5a5"), location_id, "tint")
    return LightingPalette(
        colour_temperature_k=kelvin,
        key_color=key,
        fill_color=_mix(fill, tint, 0.35),
        ambient_color=_mix(ambient, tint, 0.3),
        mood=mood,
    )


def _camera_style(int_ext: str, action_words: list[str], dialogue_lines: int, action_lines: int) -> CameraStyle:
    physics = sum(1 for w in action_words if any(w in words for words in lexicon.PHYSICS.values()))
    if physics >= 3:
        return CameraStyle(lens="28mm", movement="handheld", framing_notes="kinetic, follow the action, wider for stunts")
    if dialogue_lines > action_lines:
        return CameraStyle(lens="50mm", movement="static", framing_notes="eye level, shot-reverse-shot coverage")
    if int_ext == "EXT":
        return CameraStyle(lens="24mm", movement="slow_push", framing_notes="wide vistas, slow push-ins")
    return CameraStyle(lens="35mm", movement="pan", framing_notes="motivated pans across the set")


def extract_scene_bibles(script: Script) -> list[SceneBible]:
    by_location: dict[str, list] = defaultdict(list)
    names: dict[str, str] = {}
    for scene in script.scenes:
        location_id = slug(scene.location)
        by_location[location_id].append(scene)
        names.setdefault(location_id, scene.location)
    bibles = []
    for location_id, scenes in by_location.items():
        int_ext = Counter(s.int_ext for s in scenes).most_common(1)[0][0]
        times = sorted({s.time_of_day for s in scenes if s.time_of_day}) or ["DAY"]
        main_time = Counter(s.time_of_day or "DAY" for s in scenes).most_common(1)[0][0]
        elements = [e for s in scenes for e in s.elements]
        words = [w for e in elements if e.type == "action" for w in re.findall(r"[a-z]+", e.text.lower())]
        bibles.append(
            SceneBible(
                location_id=location_id,
                name=names[location_id],
                int_ext=int_ext,
                times_of_day=times,
                lighting_palette=lighting_palette(location_id, int_ext, main_time),
                camera_style=_camera_style(
                    int_ext,
                    words,
                    sum(e.type == "dialogue" for e in elements),
                    sum(e.type == "action" for e in elements),
                ),
            )
        )
    return bibles


def extract_bibles(script: Script, drama: str) -> Bibles:
    characters = extract_character_bibles(script)
    return Bibles(drama=drama, characters=characters, locations=extract_scene_bibles(script),
                  cue_map=character_cue_map(script, characters))
