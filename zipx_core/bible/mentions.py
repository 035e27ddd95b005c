"""Where the action names each character: one pass over the action, all names at once.

Reading a feature-length script once per character took seconds; here every action
paragraph is cut into sentences and searched once with one pattern of every name, and
what later rules need (introductions, pronouns, wardrobe, how a name is written) is read
from the sentences that name the character.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from zipx_core.models import Script

BOUNDARY = re.compile(r"[.!?]+[\"”’)]*\s+")
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "vs", "mt", "capt", "lt", "sgt", "col",
                           "gen", "det", "no", "v.o", "o.s", "o.c", "approx", "etc"})


@dataclass
class Sentence:
    scene: int | None  # None: before the episode's first scene heading
    line: int  # source line where the sentence starts
    text: str
    groups: dict[int, int] = field(default_factory=dict)  # who it names, in order -> where the first naming ends
    following: Sentence | None = field(default=None, repr=False)  # the next one in the paragraph

    def and_after(self, limit: int = 2) -> list[Sentence]:
        """This sentence and up to `limit` after it that name no one (still about the same person)."""
        found, sentence = [self], self.following
        while sentence is not None and not sentence.groups and len(found) <= limit:
            found.append(sentence)
            sentence = sentence.following
        return found


@dataclass
class Mention:
    group: int
    sentence: Sentence
    start: int  # the name's span in the sentence
    end: int

    @property
    def line(self) -> int:
        return self.sentence.line + self.sentence.text[: self.start].count("\n")

    @property
    def before(self) -> str:
        return self.sentence.text[: self.start]

    @property
    def after(self) -> str:
        return self.sentence.text[self.end :]


@dataclass
class MentionIndex:
    paragraphs: list[list[Sentence]] = field(default_factory=list)
    by_group: dict[int, list[Mention]] = field(default_factory=lambda: defaultdict(list))
    written: dict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))  # forms as written


def sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs; 'MR. SMITH' and initials do not end a sentence."""
    parts, start = [], 0
    for boundary in BOUNDARY.finditer(text):
        before = text[start : boundary.start() + 1].split()
        word = before[-1].rstrip(".!?").lower() if before else ""
        if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            continue
        parts.append((start, text[start : boundary.end()]))
        start = boundary.end()
    if text[start:].strip():
        parts.append((start, text[start:]))
    return parts


def name_pattern(names: list[str]) -> re.Pattern:
    alternatives = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))
    return re.compile(rf"(?<![\w'’-])(?:{alternatives})(?![\w-])", re.I)


def index_mentions(script: Script, group_of: dict[str, int]) -> MentionIndex:
    """`group_of`: every name (upper case) -> its character's group. A name written all
    in lower case ('may', 'will') is a word, not a mention."""
    index = MentionIndex()
    if not group_of:
        return index
    pattern = name_pattern(list(group_of))
    folded = {name.casefold(): group for name, group in group_of.items()}  # 'ß' and 'SS' are one name to re.I
    for scene_number, element in _action(script):
        paragraph = []
        for offset, text in sentences(element.text):
            sentence = Sentence(scene_number, element.line + element.text[:offset].count("\n"), text)
            for match in pattern.finditer(text):
                group = folded.get(match.group().casefold())
                if group is None or match.group()[0].islower():
                    continue
                index.by_group[group].append(Mention(group, sentence, match.start(), match.end()))
                index.written[group][match.group()] += 1
                sentence.groups.setdefault(group, match.end())
            if paragraph:
                paragraph[-1].following = sentence
            paragraph.append(sentence)
        index.paragraphs.append(paragraph)
    return index


def _action(script: Script):
    """(scene number or None, element) for every action paragraph, episode preambles included."""
    for episode in script.episodes:
        for element in episode.preamble:
            if element.type == "action":
                yield None, element
        for scene in episode.scenes:
            for element in scene.elements:
                if element.type == "action":
                    yield scene.number, element


def action_texts(script: Script) -> list[str]:
    return [element.text for _, element in _action(script)]
