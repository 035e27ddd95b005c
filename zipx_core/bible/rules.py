"""Character and scene bibles extracted from a script by rules: deterministic, offline.

What the script says wins (an introduction's age, skin, hair, build; a wardrobe line);
what it leaves open is filled from a hash of the character's id, so the same character
looks the same on every run and in every episode of the drama.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from zipx_core import lexicon
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
FEMALE_VOICES = ("en-us+f3", "en+f2", "en+f4", "en-gb-x-rp+f1", "en+f5", "en-gb-scotland+f1")
MALE_VOICES = ("en-us+m3", "en+m1", "en+m7", "en-gb-x-rp+m2", "en+m4", "en-029+m1")
OTHER_VOICES = ("en+m2", "en+f1", "en+m5", "en+f3")

FEMALE_WORDS = {"woman", "girl", "she", "her", "lady", "mother", "mom", "daughter", "wife", "sister", "grandmother"}
MALE_WORDS = {"man", "boy", "he", "his", "guy", "father", "dad", "son", "husband", "brother", "grandfather"}
INTRO_AGE = r"\s*(?:,\s*|\()(\d{1,3})(?:\)|\b)"


@dataclass
class CueStats:
    name: str
    count: int = 0
    first_line: int = 0
    lines: list[str] = field(default_factory=list)
    parentheticals: list[str] = field(default_factory=list)
    scenes: set[int] = field(default_factory=set)


def _cue_stats(script: Script) -> dict[str, CueStats]:
    stats: dict[str, CueStats] = {}
    for scene in script.scenes:
        for element in scene.elements:
            if element.type == "character":
                name = element.text.upper()
                entry = stats.setdefault(name, CueStats(name, first_line=element.line))
                entry.count += 1
                entry.scenes.add(scene.number)
            elif element.type == "dialogue" and element.character:
                stats[element.character.upper()].lines.append(element.text)
            elif element.type == "parenthetical" and element.character:
                stats[element.character.upper()].parentheticals.append(element.text)
    return {name: s for name, s in stats.items() if _is_person(s)}


def _is_person(stats: CueStats) -> bool:
    """A cue that occurs once and reads as an instruction ('WRITE BEFORE HERE' followed by
    'Cyber Cloud Boss Thing command:') is the writer talking, not a character."""
    words = set(re.findall(r"[A-Z]+", stats.name))
    if stats.count == 1 and words & lexicon.NOT_A_NAME:
        return False
    if stats.count == 1 and stats.lines and all(line.rstrip().endswith(":") for line in stats.lines):
        return False
    return any(ch.isalpha() for ch in stats.name)


def _edit_distance_one(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = next((k for k in range(len(a)) if a[k] != b[k]), len(a))
    return a[i:] == b[i + 1 :] if len(a) < len(b) else a[i + 1 :] == b[i + 1 :]


def _alias_groups(stats: dict[str, CueStats], action_text: str) -> list[list[str]]:
    """Groups cue names that the script makes clear are one person:
    - 'BOB' and 'CYBER BOB': the short name is the last word of exactly one longer
      cue, and the longer one is written in the action too (an introduction);
    - 'MARGARGET' and 'MARGARET': one letter apart, the rarer at most a third as
      frequent (a typo, not a second person)."""
    parent = {name: name for name in stats}

    def root(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    names = sorted(stats)
    for short in names:
        if " " in short:
            continue
        longer = [n for n in names if n.endswith(" " + short) and len(n.split()) == 2]
        if len(longer) == 1 and re.search(rf"\b{re.escape(longer[0])}\b", action_text):
            parent[root(short)] = root(longer[0])
    for a in names:
        for b in names:
            rare, common = (a, b) if stats[a].count <= stats[b].count else (b, a)
            if (
                len(rare) >= 5
                and _edit_distance_one(a, b)
                and stats[rare].count * 3 <= stats[common].count
            ):
                parent[root(rare)] = root(common)
    groups: dict[str, list[str]] = defaultdict(list)
    for name in names:
        groups[root(name)].append(name)
    return list(groups.values())


def _introduction(names: list[str], action_text: str) -> tuple[int | None, str]:
    """'MARGARET, 37, a white woman, amicable, ...' -> (37, 'a white woman, amicable, ...')."""
    for name in sorted(names, key=len, reverse=True):
        match = re.search(rf"\b{re.escape(name)}{INTRO_AGE}(.*?)(?:\.\s|\.$|$)", action_text, re.S)
        if match:
            description = " ".join(match.group(2).split()).strip(" ,")
            return int(match.group(1)), description
    return None, ""


def _introduction_line(names: list[str], script: Script) -> int | None:
    """The exact source line of the introduction, inside its action paragraph."""
    for element in (e for scene in script.scenes for e in scene.elements if e.type == "action"):
        for name in names:
            match = re.search(rf"\b{re.escape(name)}{INTRO_AGE}", element.text)
            if match:
                return element.line + element.text[: match.start()].count("\n")
    return None


def _pick(options: tuple, key: str, salt: str):
    return options[stable_hash(key, salt) % len(options)]


def _appearance(character_id: str, age: int | None, description: str, name: str) -> Appearance:
    words = set(re.findall(r"[a-z]+", f"{description} {name}".lower()))
    gender = "female" if words & FEMALE_WORDS else "male" if words & MALE_WORDS else "unspecified"
    skin = next((lexicon.SKIN_TONES[w] for w in lexicon.SKIN_TONES if w in words), None)
    hair_match = re.search(r"(\w+)[- ]hair(?:ed)?|\b(blonde?|brunette|redhead|bald)\b", description.lower())
    hair_word = (hair_match.group(1) or hair_match.group(2)) if hair_match else None
    hair_color = lexicon.HAIR_COLOURS.get(hair_word or "", None) or _pick(DEFAULT_HAIR, character_id, "hair")
    if age and age >= 60 and not hair_word:
        hair_color = "#b8b8b8"
    build = next((lexicon.BUILDS[w] for w in lexicon.BUILDS if w in words), "average")
    style = "bald" if hair_word == "bald" else _pick(HAIR_STYLES[gender], character_id, "style")
    age_range = f"{max(age - 3, 0)}-{age + 3}" if age is not None else "adult (age not given)"
    return Appearance(
        face_description=description or "as yet undescribed in the script",
        hair=f"{hair_word or 'natural'} {style}".strip(),
        hair_color=hair_color,
        skin_tone=skin or _pick(DEFAULT_SKIN, character_id, "skin"),
        build=build,
        age_range=age_range,
        gender=gender,
    )


def _outfit(phrase: str, character_id: str) -> Outfit:
    """Colours the phrase names, else the character's own (hashed) colours, so a garment
    the script leaves uncoloured is the same colour in every scene."""
    words = re.findall(r"[a-z-]+", phrase.lower())
    colours = [lexicon.COLOURS[w] for w in words if w in lexicon.COLOURS]
    top = colours[0] if colours else _pick(DEFAULT_TOPS, character_id, "top")
    bottom = colours[1] if len(colours) > 1 else _pick(DEFAULT_BOTTOMS, character_id, "bottom")
    return Outfit(description=phrase, top_color=top, bottom_color=bottom)


def _wardrobe(names: list[str], character_id: str, script: Script) -> dict[str, Outfit]:
    """'default' from the hash; 'scene-N' from a line in scene N such as 'Ava, in a
    yellow slicker' or 'She wears a grey suit', naming the character in the same sentence."""
    wardrobe = {"default": _outfit("everyday clothes", character_id)}
    garments = "|".join(lexicon.GARMENTS)
    pattern = re.compile(
        rf"(?:wears|wearing|dressed in|in)\s+((?:a|an|his|her|their)?\s*(?:[\w-]+\s+){{0,3}}?(?:{garments})s?)\b",
        re.I,
    )
    name_re = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b", re.I)
    for scene in script.scenes:
        for element in scene.elements:
            if element.type != "action":
                continue
            for sentence in re.split(r"(?<=[.!?])\s+", " ".join(element.text.split())):
                if name_re.search(sentence) and (match := pattern.search(sentence)):
                    key = f"scene-{scene.number}"
                    wardrobe.setdefault(key, _outfit(match.group(1).strip(), character_id))
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


def _assign_voices(characters: list[CharacterBible], locked: dict[str, VoiceProfile]) -> None:
    """Distinct characters get distinguishable voices: voices are dealt in order of
    importance from each gender's list, and a repeat is moved in pitch. A voice in
    `locked` (given out by an earlier run) is kept: a re-run never re-assigns one."""
    used: Counter = Counter(v.voice_id for v in locked.values())
    taken = {(v.voice_id, v.pitch) for v in locked.values()}
    for character in sorted(characters, key=lambda c: (-c.cue_count, c.character_id)):
        if character.character_id in locked:
            character.voice_profile = locked[character.character_id]
            continue
        pool = {"female": FEMALE_VOICES, "male": MALE_VOICES}.get(character.appearance.gender, OTHER_VOICES)
        voice = min(pool, key=lambda v: (used[v], pool.index(v)))
        repeat = used[voice]
        used[voice] += 1
        age_text = character.appearance.age_range
        age = int(re.match(r"\d+", age_text).group()) if age_text[0].isdigit() else 35
        pitch = max(10, min(90, 50 - (age - 35) // 2 + 15 * repeat * (-1) ** repeat))
        while (voice, pitch) in taken:
            pitch = 10 + (pitch + 7 - 10) % 81
        taken.add((voice, pitch))
        rate = 150 + stable_hash(character.character_id, "rate") % 35
        style = character.emotional_range[0] if character.emotional_range else "neutral"
        character.voice_profile = VoiceProfile(voice_id=voice, pitch=pitch, rate_wpm=rate, style=style)


def extract_character_bibles(script: Script, locked_voices: dict[str, VoiceProfile] | None = None) -> list[CharacterBible]:
    stats = _cue_stats(script)
    action_text = "\n".join(
        e.text for scene in script.scenes for e in scene.elements if e.type == "action"
    ) + "\n" + "\n".join(e.text for ep in script.episodes for e in ep.preamble if e.type == "action")
    characters = []
    for group in _alias_groups(stats, action_text):
        group_stats = [stats[n] for n in group]
        main = max(group_stats, key=lambda s: (s.count, -s.first_line)).name
        character_id = slug(main)
        age, description = _introduction(group, action_text)
        intro_line = _introduction_line(group, script)
        characters.append(
            CharacterBible(
                character_id=character_id,
                display_name=main.title(),
                aliases=sorted(n for n in group if n != main),
                introduced_line=intro_line,
                appearance=_appearance(character_id, age, description, main),
                wardrobe=_wardrobe(group, character_id, script),
                voice_profile=VoiceProfile(voice_id="en", pitch=50, rate_wpm=170),
                emotional_range=_emotional_range(group_stats),
                cue_count=sum(s.count for s in group_stats),
            )
        )
    _assign_voices(characters, locked_voices or {})
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
    return Bibles(drama=drama, characters=extract_character_bibles(script), locations=extract_scene_bibles(script))
