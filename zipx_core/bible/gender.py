"""A character's sex, from what the script says around the name, else the first name.

In order of trust:
1. the name itself: ART GIRL, MRS. DALLOWAY, GRANDPA;
2. words that name the person: "Tom's wife, ANNA", 'his sister MAY', 'ANNA, a woman in
   her sixties', 'a man named JOHN', 'Her name is NANCY' (three votes each);
3. pronouns that point back at the name: after it in the sentence that names only this
   character ('MARY takes off her coat'), and opening the next two sentences that name
   no one ('She sits.'); one vote per sentence;
4. the first-name lexicon (gender_guesser) when the text is silent or split.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from zipx_core import lexicon
from zipx_core.bible.ages import FULL_NAME_TAIL
from zipx_core.bible.mentions import Mention, MentionIndex

NOUN_VOTES = 3
_NOUNS = "|".join(sorted(lexicon.FEMALE_NOUNS | lexicon.MALE_NOUNS, key=len, reverse=True))
# "Tom's wife, ANNA" / 'his younger sister MAY' / 'a woman, NANCY' / 'a man named JOHN', right before the name
RELATION_BEFORE = re.compile(
    rf"(?:\b(?:his|her|their|my|our|[\w’'-]+['’]s)\s+(?:[\w’'-]+\s+){{0,2}}?(?P<kin>{_NOUNS})\s*,?"
    rf"|\b(?:an?|the)\s+(?:[\w’'-]+\s+){{0,3}}?(?P<noun>{_NOUNS})\s*(?:,|named|called)?"
    rf"|\b(?P<own>his|her)\s+name\s+is)\s*[\"“]?$",
    re.I,
)
# 'ANNA, Tom's wife' / 'NAK, a fellow whose ...' / 'MARGARET, 37, a white woman', right after the name
APPOSITION = re.compile(
    rf"^{FULL_NAME_TAIL}(?:\s*\([^)]*\))?\s*,\s*(?:[^,.;:]{{1,20}},\s*)?(?:an?|the|his|her|their|[\w’'-]+['’]s)\s+"
    rf"(?:[\w’'-]+\s+){{0,3}}?(?P<noun>{_NOUNS})\b",
    re.I,
)
WORD = re.compile(r"[a-z’']+")


def sex_of_word(word: str) -> str | None:
    word = word.lower().strip(".")
    return "female" if word in lexicon.FEMALE_NOUNS else "male" if word in lexicon.MALE_NOUNS else None


def name_sex(name: str) -> str | None:
    """ART GIRL -> female; MR. SMITH -> male; a name that says both says nothing."""
    sexes = {sex_of_word(w) for w in re.findall(r"[A-Za-z]+", name)} - {None}
    return sexes.pop() if len(sexes) == 1 else None


def _pronoun_sex(words: list[str], i: int) -> str | None:
    word = words[i]
    if word in lexicon.FEMALE_PRONOUNS or (word == "her" and _possessive(words, i)):
        return "female"
    return "male" if word in lexicon.MALE_PRONOUNS else None


def _possessive(words: list[str], i: int) -> bool:
    """'her coat' (possessive: points back at the subject) against 'kisses her gently'."""
    following = words[i + 1] if i + 1 < len(words) else ""
    return bool(following) and following not in lexicon.NOT_AFTER_POSSESSIVE and not following.endswith("ly")


def _mention_votes(mention: Mention) -> Counter:
    votes: Counter = Counter()
    if match := RELATION_BEFORE.search(mention.before[-80:]):
        own = (match.group("own") or "").lower()  # 'Her name is NANCY'
        sex = {"her": "female", "his": "male"}.get(own) or sex_of_word(match.group("kin") or match.group("noun"))
        votes[sex] += NOUN_VOTES
    if match := APPOSITION.match(mention.after):
        votes[sex_of_word(match.group("noun"))] += NOUN_VOTES
    return votes


def pronoun_votes(index: MentionIndex) -> dict[int, Counter]:
    """Votes per character group from the pronouns that follow its name (see above)."""
    votes: dict[int, Counter] = defaultdict(Counter)
    for paragraph in index.paragraphs:
        subject, since = None, 0
        for sentence in paragraph:
            words = WORD.findall(sentence.text.lower())
            if len(sentence.groups) == 1:
                (subject, end), since = next(iter(sentence.groups.items())), 0
                after = WORD.findall(sentence.text[end:].lower())
                sexes = {_pronoun_sex(after, i) for i in range(len(after))} - {None}
                votes[subject].update(sexes)
            elif sentence.groups:
                subject = None
            elif subject is not None and since < 2 and words:
                since += 1
                if sex := _pronoun_sex(words, 0):
                    votes[subject][sex] += 1
    return votes


def text_votes(index: MentionIndex, group: int, pronouns: Counter) -> Counter:
    votes = Counter(pronouns)
    for mention in index.by_group.get(group, []):
        votes.update(_mention_votes(mention))
    votes.pop(None, None)
    return votes


def decide(name_words: str | None, votes: Counter, lexicon_sex: str | None) -> tuple[str, str | None, bool]:
    """(sex, where it came from, whether a person should check it)."""
    if name_words:
        return name_words, "script", False
    female, male = votes["female"], votes["male"]
    leader, lead, other = ("female", female, male) if female >= male else ("male", male, female)
    if lead >= 2 and lead >= 2 * other:
        return leader, "script", False
    if lexicon_sex:
        return lexicon_sex, "name lexicon", False
    if lead >= 1 and other == 0:
        return leader, "script", True  # one pronoun only: likely, worth a look
    return "unspecified", None, True
