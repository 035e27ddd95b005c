"""Ages as scripts write them, and the age a character is in each scene.

Introductions give an age in many forms: 'MARY (30s)', 'MARY (8)', 'MARY, 28,',
'MARY, late twenties', 'MARY, mid-forties', 'ELIZABETH "LIZZIE" BENNET, 28',
'MARY, a woman in her sixties', 'MARY, a ten-year-old'. Each becomes a range 'lo-hi'.
"""

from __future__ import annotations

import re
from collections import Counter

from zipx_core import lexicon

_DECADE = r"(?:(?:early|mid|late)[- ]?)?(?:[1-9]0['’]?s|" + "|".join(lexicon.DECADE_WORDS) + ")"
_NUMBER_WORD = "|".join(sorted(lexicon.NUMBER_WORDS, key=len, reverse=True))
AGE = rf"(?:{_DECADE}|\d{{1,3}}|{_NUMBER_WORD})"
# a nickname and a surname in capitals between the name and the age: ELIZABETH "LIZZIE" BENNET, 28
FULL_NAME_TAIL = r"(?:\s+[\"“][^\"”\n]{1,30}[\"”])?(?-i:(?:\s+(?:Ma?c)?[A-Z][A-Z'’.-]+){0,2})"
_END = r"(?=[\s,.;:)!?—–-]|$)"
# After a name: the statement, and the age inside it.
AGE_AFTER_NAME = re.compile(
    rf"^{FULL_NAME_TAIL}(?:"
    rf"\s*\(\s*(?:age[ds]?\s+)?(?P<bracketed>{AGE})\s*\)"  # MARY (30s)
    rf"|\s*,\s*(?:now\s+|about\s+|around\s+|roughly\s+|maybe\s+|aged?\s+)?(?P<plain>{_DECADE}|\d{{1,3}}){_END}"  # MARY, 28
    rf"|\s*,\s*(?:an?\s+)?(?:[\w’'-]+\s+){{0,4}}?in\s+(?:his|her|their)\s+(?P<decade>{_DECADE}){_END}"  # in her sixties
    rf"|\s*,\s*(?:an?\s+)?(?P<years_old>\d{{1,2}}|{_NUMBER_WORD})[- ]years?[- ]old"  # a ten-year-old
    rf"|(?:\s+(?:and|&)\s+(?-i:[A-Z][A-Z'’.-]+))?\s*,\s*both\s+(?P<both>{_DECADE}|\d{{1,3}}){_END}"  # JOHN and MARY, both 30s
    r")",
    re.I,
)
PART_SPAN = {"early": (0, 3), "mid": (3, 6), "late": (6, 9)}
TEEN_PART_SPAN = {"early": (0, 2), "mid": (2, 4), "late": (4, 6)}  # the teen years run 13-19
FLASHBACK_HEADING = re.compile(r"FLASH\s*BACK|YEARS? (?:EARLIER|AGO|BEFORE)|\bTHE PAST\b", re.I)


def parse_age(phrase: str) -> str | None:
    """'8' -> '7-9', '28' -> '25-31', '30s' -> '30-39', 'late twenties' -> '27-29'."""
    text = phrase.strip().lower().replace("’", "'")
    if match := re.fullmatch(r"(?:(early|mid|late)[- ]?)?(?:([1-9]0)'?s|([a-z]+))", text):
        part, digits, word = match.groups()
        decade = int(digits) if digits else lexicon.DECADE_WORDS.get(word or "")
        if decade is not None:
            spans, last = (TEEN_PART_SPAN, 19) if decade == 13 else (PART_SPAN, decade + 9)
            lo, hi = (decade, last) if not part else (decade + spans[part][0], decade + spans[part][1])
            return f"{lo}-{hi}"
    years = int(text) if text.isdigit() else lexicon.NUMBER_WORDS.get(text)
    if years is None or years > 110:
        return None
    spread = 1 if years < 18 else 3  # a child of 8 and one of 11 look different; adults less so
    return f"{max(years - spread, 0)}-{years + spread}"


def extension_age(extension: str | None) -> str | None:
    """An age in a cue's brackets: 'MARY (8)' or 'MARY (V.O.) (30s)'."""
    return next((age for part in (extension or "").split(",") if (age := parse_age(part))), None)


def stated_age(after_name: str) -> tuple[str, int] | None:
    """The age stated right after a name, and where the rest of the introduction starts:
    after '(30s)' or ', 28', but at the apposition that holds the age (', a woman in her
    sixties, ...'), which describes the person too. None if no age is stated."""
    match = AGE_AFTER_NAME.match(after_name)
    if not match:
        return None
    kind, phrase = next((k, v) for k, v in match.groupdict().items() if v)
    age = parse_age(phrase)
    rest = after_name.index(",") if kind in ("decade", "years_old") else match.end()
    return (age, rest) if age else None


def low_end(age_range: str) -> int | None:
    match = re.match(r"\d+", age_range)
    return int(match.group()) if match else None


def ages_by_scene(
    statements: list[tuple[int | None, str]], scenes: list[int], flashbacks: set[int]
) -> tuple[str | None, dict[int, str]]:
    """The age seen in most of a character's scenes, and the scenes where it differs.

    `statements`: (scene or None before any scene, age range) in script order;
    `flashbacks`: scenes whose heading says so. The story's present age is the first one
    stated outside a flashback. A later, older age holds from its scene on (a time jump:
    'MARY, now 28'); an age stated in a flashback, or a younger one, holds for its scene
    and the flashback scenes right after it, then the story is back in the present (a
    writer rarely restates the age after a flashback)."""
    if not statements:
        return None, {}
    present = [age for scene, age in statements if scene not in flashbacks]
    current = present[0] if present else statements[0][1]
    stated: dict[int, str] = {}
    for scene, age in statements:
        if scene is not None:
            stated.setdefault(scene, age)
    flashback_age, seen = None, {}
    for scene in sorted(set(scenes) | set(stated)):
        age = stated.get(scene)
        if age and (scene in flashbacks or (low_end(age) or 0) < (low_end(current) or 0)):
            flashback_age = age
        elif age:
            current, flashback_age = age, None
        elif scene not in flashbacks:
            flashback_age = None
        seen[scene] = flashback_age or current
    if not seen:
        return current, {}
    counts = Counter(seen.values())
    main = max(counts, key=lambda a: (counts[a], low_end(a) or 0))
    return main, {scene: age for scene, age in seen.items() if age != main}
