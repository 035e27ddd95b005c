"""Which cue names are one person, how a name is written, and what a first name says.

Young and adult versions of one person. The same cue aged differently across scenes
('MARY (8)' in a flashback, 'MARY' as an adult elsewhere) is one character: the writer
uses one name, so the story treats her as one person, and the bible records the other
age per scene (`age_by_scene`). A distinct cue 'YOUNG MARY' / 'LITTLE MARY' is a
character of its own with `linked_to='mary'`: the writer has cast a second performer,
and a child needs its own reference stills and its own (higher) voice; the link keeps
the two together on the cast sheet and lets the child inherit what the script says only
of the adult (her sex, say).
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import gender_guesser.detector

from zipx_core import lexicon

CAPS_WORD = r"(?:(?:Ma?c)?[A-Z][A-Z'’-]*[A-Z](?:['’]S)?\.?|[A-Z]\.)"  # MARY, O'BRIEN, McCABE, DR.
QUOTED = r"[\"“][A-Z][\w'’-]*[\"”]"  # a nickname: "LIZZIE"
CAPS_RUN = re.compile(rf"(?<![\w'’]){CAPS_WORD}(?:[ \t]+(?:{QUOTED}[ \t]+)?{CAPS_WORD})*(?:[ \t]+{QUOTED})?(?![\w'’])")
# 'Anne-Marie O'Brien', 'Dick Steel': a full name written in mixed case
TITLE_WORD = r"(?:Ma?c|O['’]|D['’]|De)?[A-Z][a-z]+(?:-[A-Z][a-z]+)?"
TITLE_RUN = re.compile(rf"(?<![\w'’-]){TITLE_WORD}(?:[ \t]+{TITLE_WORD}){{1,2}}(?![\w'’-])")
NICKNAME = re.compile(r"[\"“]([A-Z][\w'’-]*)[\"”]")
RUN_BREAKS = frozenset({"AND", "OR", "THE", "A", "AN", "OF", "WITH", "TO", "IN", "ON", "AT", "FROM", "BY", "FOR", "IS"})


@dataclass
class FullName:
    """A name introduced in capitals in the action: 'ELIZABETH "LIZZIE" BENNET'."""

    words: tuple[str, ...]
    nickname: str | None = None

    @property
    def forms(self) -> list[str]:
        """The cues that may stand for this person (the surname alone is judged apart)."""
        first, last = self.words[0], self.words[-1]
        forms = [" ".join(self.words), first, f"{first} {last}"]
        if self.nickname:
            forms += [self.nickname, f"{self.nickname} {last}"]
        return forms


@dataclass
class Capitals:
    """Names the action introduces: in capitals (the convention), or as a full name."""

    names: set[str]  # every run of capitals, cut at 'AND', 'THE' ...: 'JOHN AND MARY' -> JOHN, MARY
    full_names: list[FullName]  # runs of two or three words (capitals or 'Anne-Marie O'Brien'), or with a nickname


def read_capitals(action_texts: Iterable[str]) -> Capitals:
    """One pass; a run of four or more words is a sign or a shout, not a name."""
    names: set[str] = set()
    full: dict[tuple, FullName] = {}
    for text in action_texts:
        for run in CAPS_RUN.finditer(text):
            nickname = NICKNAME.search(run.group())
            nick = nickname.group(1).upper() if nickname else None
            for part in _split_at(_words(NICKNAME.sub(" ", run.group())), RUN_BREAKS):
                names.add(" ".join(part))
                if 2 <= len(part) <= 3 or (nick and len(part) <= 3):
                    full.setdefault((tuple(part), nick), FullName(tuple(part), nick))
        for run in TITLE_RUN.finditer(text):
            words = _words(run.group())
            if words[0] not in RUN_BREAKS:
                full.setdefault((tuple(words), None), FullName(tuple(words)))
    return Capitals(names, [f for f in full.values() if f.words[0] not in lexicon.AGE_PREFIXES])


def _words(run: str) -> list[str]:
    """Upper-case words of a run, a possessive 's taken off: "MARY'S" -> 'MARY'."""
    return [re.sub(r"['’]S$", "", w.upper()) for w in run.split()]


def _split_at(words: list[str], breaks: frozenset) -> list[list[str]]:
    parts, current = [], []
    for word in words:
        if word.rstrip(".") in breaks:
            parts.append(current)
            current = []
        else:
            current.append(word)
    return [p for p in parts + [current] if p]


def _edit_distance_one(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = next((k for k in range(len(a)) if a[k] != b[k]), len(a))
    return a[i:] == b[i + 1 :] if len(a) < len(b) else a[i + 1 :] == b[i + 1 :]


@dataclass
class Groups:
    members: list[list[str]]
    given_names: dict[str, str] = field(default_factory=dict)  # any member -> a first name the script gives
    links: dict[str, str] = field(default_factory=dict)  # 'YOUNG MARY' -> 'MARY'


def age_prefixed(name: str) -> tuple[str, str] | None:
    """'YOUNG MARY' -> ('YOUNG', 'MARY')."""
    prefix, _, rest = name.partition(" ")
    return (prefix, rest) if prefix in lexicon.AGE_PREFIXES and rest else None


def alias_groups(counts: dict[str, int], names_in_action: list[FullName]) -> Groups:
    """Groups cue names that the script makes clear are one person:
    - the forms of a name introduced in capitals: 'ELIZABETH "LIZZIE" BENNET' joins the
      cues ELIZABETH, LIZZIE, ELIZABETH BENNET, LIZZIE BENNET; 'CYBER BOB' joins BOB (a
      last word joins only where no other introduced name or cue ends with it);
    - 'MARGARGET' and 'MARGARET': one letter apart, the rarer at most a third as frequent
      (a typo, not a second person); numbered names (HERO 1, HERO 3) are never typos.
    'YOUNG MARY' stays apart from MARY, linked to it."""
    parent = {name: name for name in counts}

    def root(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    def join(names: list[str]) -> None:
        for name in names[1:]:
            parent[root(name)] = root(names[0])

    given: dict[str, str] = {}
    last_words = Counter(n.words[-1] for n in names_in_action if len(n.words) > 1)
    for full in names_in_action:
        cues = [f for f in dict.fromkeys(full.forms) if f in counts and not age_prefixed(f)]
        last = full.words[-1]
        if len(full.words) > 1 and last in counts and last_words[last] == 1 and sum(n.endswith(" " + last) for n in counts) <= 1:
            cues.append(last)
        join(cues)
        if cues and full.words[0].rstrip(".") not in lexicon.TITLES:
            given.update({cue: full.words[0] for cue in cues})
    names = sorted(counts)
    for a in names:
        for b in names:
            rare, common = (a, b) if counts[a] <= counts[b] else (b, a)
            if (len(rare) >= 5 and not re.search(r"\d", a + b) and _edit_distance_one(a, b)
                    and counts[rare] * 3 <= counts[common] and bool(age_prefixed(a)) == bool(age_prefixed(b))):
                parent[root(rare)] = root(common)
    groups: dict[str, list[str]] = defaultdict(list)
    for name in names:
        groups[root(name)].append(name)
    links = {n: p[1] for n in names if (p := age_prefixed(n)) and p[1] in counts}
    return Groups(list(groups.values()), given, links)


def title_case(name: str) -> str:
    """'MARY'S' -> "Mary's", "O'BRIEN" -> "O'Brien", 'ANNE-MARIE' -> 'Anne-Marie', 'MCCABE' -> 'McCabe'."""
    def word(w: str) -> str:
        w = w[:1].upper() + w[1:].lower()
        w = re.sub(r"^([OD])(['’])(\w)", lambda m: m.group(1) + m.group(2) + m.group(3).upper(), w)
        return re.sub(r"^Mc(\w)", lambda m: "Mc" + m.group(1).upper(), w)

    return re.sub(r"[^\s-]+", lambda m: word(m.group()), name)


def display_name(name: str, written: Counter) -> str:
    """The name as the action writes it in mixed case ('McCabe', 'DeShawn'), else title case."""
    mixed = [(count, form) for form, count in written.items() if form.upper() == name and form != form.upper()
             and form != form.lower()]
    return max(mixed)[1] if mixed else title_case(name)


# --- the first-name lexicon --------------------------------------------------------------


class _FirstNames(gender_guesser.detector.Detector):
    """gender_guesser's own reading of its name list, fed only the lines of the names
    asked for: parsing all 48,000 lines takes a third of a second, as long as the whole
    extraction of a feature-length script."""

    def __init__(self, lines: list[str]):
        self._lines = lines
        super().__init__(case_sensitive=False)

    def _parse(self, filename):
        self.names = {}
        for line in self._lines:
            self._eat_name_line(line.strip())


@functools.cache
def _lexicon_lines() -> dict[str, list[str]]:
    """Lower-case name -> its lines in gender_guesser's data file ('+' joins the parts
    of a double name; it reads as nothing, a space or a hyphen)."""
    path = Path(gender_guesser.detector.__file__).parent / "data" / "nam_dict.txt"
    index: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line[0] not in "#=":
                name = line.split(maxsplit=2)[1].lower()
                index[name.replace("+", "")].append(line)
    return index


def _lexicon_key(name: str) -> str:
    """How the lexicon spells a name: lower case, Latin letters, no hyphen or space."""
    return "".join(lexicon.CYRILLIC_LATIN.get(ch, ch) for ch in name.lower() if ch not in "- ")


def first_name_sex(names: Iterable[str]) -> dict[str, str]:
    """First name (any case) -> 'female' or 'male' where the lexicon leans one way."""
    names = list(names)
    detector = _FirstNames([line for n in {_lexicon_key(n) for n in names} for line in _lexicon_lines().get(n, [])])
    sexes = {}
    for name in names:
        guess = detector.get_gender(_lexicon_key(name))
        if guess in ("female", "mostly_female", "male", "mostly_male"):
            sexes[name] = guess.removeprefix("mostly_")
    return sexes


def first_name(name: str) -> str | None:
    """The word of a cue that may be a first name: 'DR. JOHN WATSON' -> 'JOHN'."""
    words = [w.rstrip(".") for w in name.upper().split()]
    if any(w.isdigit() or w.lower() in lexicon.NUMBER_WORDS for w in words):
        return None  # HERO 1, AUDIENCE MEMBER TWO: roles, not names
    words = [w for w in words if w not in lexicon.TITLES and w not in lexicon.AGE_PREFIXES]
    if not words or words[0] in lexicon.NOT_FIRST_NAMES:
        return None
    return words[0] if re.fullmatch(r"[^\W\d_]+(?:['’-][^\W\d_]+)?", words[0]) else None
