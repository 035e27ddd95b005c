"""Who speaks a cue. The parser has already taken bracketed extensions off a cue
('MARY (V.O.)' -> 'MARY'); here the forms written without brackets are folded into the
speaker ("MARY'S VOICE", 'MARY ON PHONE' -> MARY) and a cue for several speakers is
split ('JOHN AND MARY', 'ANNA, TOM & LEE' -> each of them), so that every line belongs
to the people who say it and an off-screen voice is not a character of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from zipx_core import lexicon
from zipx_core.bible.ages import extension_age
from zipx_core.models import CharacterBible, Script

POSSESSIVE_VOICE = re.compile(r"^(.+?)['’]S\s+(?:RECORDED\s+|RADIO\s+|PHONE\s+)?VOICE(?:[- ]?OVER)?$")
OFFSCREEN_ENDING = re.compile(
    r"^(.+?)[\s,]+(?:" + "|".join(re.escape(e) for e in sorted(lexicon.OFFSCREEN_CUE_ENDINGS, key=len, reverse=True)) + r")$"
)
SPEAKER_SEPARATOR = re.compile(r"\s*(?:,|&|\+|/|\bAND\b)\s*")


def fold(cue: str, known: Callable[[str], bool]) -> str:
    """The speaker of an off-screen form: "MARY'S VOICE" always, 'MARY V.O.' when MARY is
    a name the script knows (so 'MALE VOICE' stays a character of its own)."""
    cue = " ".join(cue.upper().split())
    while True:
        if match := POSSESSIVE_VOICE.match(cue):
            cue = match.group(1).strip()
        elif (match := OFFSCREEN_ENDING.match(cue)) and known(match.group(1).strip()):
            cue = match.group(1).strip()
        else:
            return cue


def speakers(cue: str, known: Callable[[str], bool]) -> list[str]:
    """The names who speak a cue, each folded. A cue is split only where every part is a
    name the script knows: 'MR. AND MRS. SMITH' is one (the couple), 'ALL' a crowd."""
    whole = fold(cue, known)
    parts = [fold(p, known) for p in SPEAKER_SEPARATOR.split(cue.upper()) if p.strip()]
    if len(parts) >= 2 and whole not in lexicon.GROUP_CUES and all(known(p) for p in parts):
        return list(dict.fromkeys(parts))
    return [whole]


@dataclass
class CueStats:
    """What the script gives one speaker name: cues, lines, scenes, and ages written in
    a cue's brackets ('MARY (8)')."""

    name: str
    count: int = 0
    first_line: int = 0
    lines: list[str] = field(default_factory=list)
    parentheticals: list[str] = field(default_factory=list)
    scenes: set[int] = field(default_factory=set)
    ages: list[tuple[int, str]] = field(default_factory=list)


def cue_stats(script: Script, introduced: set[str]) -> dict[str, CueStats]:
    """One pass over the cues. `introduced`: names written in capitals in the action, so a
    part of a multi-speaker cue who never speaks alone is still a known name."""
    raw = [(scene.number, e) for scene in script.scenes for e in scene.elements]
    singles = {e.text.upper() for _, e in raw if e.type == "character" and not SPEAKER_SEPARATOR.search(e.text)}
    known = singles | introduced
    stats: dict[str, CueStats] = {}
    current: list[CueStats] = []
    for scene_number, element in raw:
        if element.type == "character":
            current = [
                stats.setdefault(name, CueStats(name, first_line=element.line))
                for name in speakers(element.text, known.__contains__)
            ]
            age = extension_age(element.extension)
            for entry in current:
                entry.count += 1
                entry.scenes.add(scene_number)
                if age:
                    entry.ages.append((scene_number, age))
        elif element.type in ("dialogue", "parenthetical") and element.character:
            for entry in current:
                (entry.lines if element.type == "dialogue" else entry.parentheticals).append(element.text)
    return stats


def character_cue_map(script: Script, characters: Iterable[CharacterBible]) -> dict[str, list[str]]:
    """Every cue of the script (upper case, extension removed) -> the character_ids who
    speak it: 'JOHN AND MARY' -> [john, mary], "MARY'S VOICE" -> [mary]. Works on any
    characters whose display name and aliases are their cue names (rules, reader, sheet)."""
    by_name = {n.upper(): c.character_id for c in characters for n in [c.display_name, *c.aliases]}
    cues = {e.text.upper() for scene in script.scenes for e in scene.elements if e.type == "character"}
    cue_map = {}
    for cue in sorted(cues):
        ids = [by_name[n] for n in speakers(cue, by_name.__contains__) if n in by_name]
        if ids:
            cue_map[cue] = list(dict.fromkeys(ids))
    return cue_map
