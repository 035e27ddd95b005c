"""The parser on every screenplay in ../shared/corpus, against the expected outputs
stored there (screenplain's FDX for two scripts, SOURCES.md's counts for the rest)."""

import re
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from zipx_core.script import parse_script

# file: (scenes, cues, distinct speakers, parentheticals). From SOURCES.md; differences
# from it are explained beside the number.
EXPECTED = {
    "Brick-and-Steel.fountain": (8, 20, 7, 6),
    "The-Last-Birthday-Card.fountain": (48, 134, 12, 12),
    "afterwriting-labs_test.fountain": (11, 12, 9, 1),
    "cyrillic.fountain": (2, 1, 1, 1),  # ИНТ. headings forced by the locale-aware pre-pass
    "jp.fountain": (1, 0, 0, 0),  # INT。 forced; ジョン has no case, so no cue by Fountain's rule
    "Cyber_Bob_ep00001.fountain": (3, 35, 6, 1),
    "Cyber_Bob_ep00003.fountain": (2, 3, 2, 0),
    "Cyber_Bob_epWinDebateAgainstLincoln.fountain": (3, 73, 9, 1),
    # no headings: one implicit scene; 21 cues = 20 real + WRITE BEFORE HERE (dropped by the bible)
    "Cyber_Bob_epSithSuperInformalLanguage.fountain": (1, 21, 3, 4),
    "ASCENT_TO_GURU_PEAK.fountain": (6, 27, 2, 2),
}


def counts(script):
    elements = script.all_elements()
    kinds = Counter(e.type for e in elements)
    speakers = {e.text for e in elements if e.type == "character"}
    return len(script.scenes), kinds["character"], len(speakers), kinds["parenthetical"]


def test_every_corpus_file_is_covered(corpus):
    assert sorted(p.name for p in corpus.glob("*.fountain")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_match_expected(corpus, name):
    assert counts(parse_script(corpus / name)) == EXPECTED[name]


@pytest.mark.parametrize("name", ["Brick-and-Steel", "The-Last-Birthday-Card"])
def test_paragraph_types_match_screenplain_fdx(corpus, name):
    root = ET.parse(corpus / f"{name}.expected.screenplain.fdx").getroot()
    fdx = Counter(p.get("Type") for p in root.iter("Paragraph"))
    script = parse_script(corpus / f"{name}.fountain")
    mine = Counter(e.type for e in script.all_elements())
    assert len(script.scenes) == fdx["Scene Heading"]
    assert mine["character"] == fdx["Character"]
    assert mine["dialogue"] == fdx["Dialogue"]
    assert mine["parenthetical"] == fdx["Parenthetical"]
    assert mine["transition"] == fdx["Transition"]
    assert mine["action"] + mine["centered"] == fdx["Action"]  # FDX keeps centred text as Action


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_line_numbers_point_at_the_source(corpus, name):
    """Every heading and cue names the line it came from, boneyards and notes notwithstanding."""
    lines = (corpus / name).read_bytes().decode("utf-8-sig").splitlines()
    script = parse_script(corpus / name)
    for scene in script.scenes:
        if scene.heading == "(no scene heading)":
            continue
        source = re.sub(r"#[\w\-.]+#", "", lines[scene.line - 1]).strip().lstrip(".").upper()
        assert source.startswith(scene.heading.split("#")[0].strip()[:20].upper()), (scene.line, scene.heading)
    for element in script.all_elements():
        if element.type == "character":
            assert element.text.upper() in lines[element.line - 1].upper(), (element.line, element.text)


def test_episodes_are_top_level_sections(corpus):
    birthday = parse_script(corpus / "The-Last-Birthday-Card.fountain")
    assert [e.title for e in birthday.episodes] == ["ACT I", "ACT II: A New Day", "ACT III: The Showdown"]
    assert [e.key for e in birthday.episodes] == ["ep01", "ep02", "ep03"]
    assert sum(len(e.scenes) for e in birthday.episodes) == 48
    assert len(parse_script(corpus / "afterwriting-labs_test.fountain").episodes) == 4
    assert len(parse_script(corpus / "Brick-and-Steel.fountain").episodes) == 1


def test_headings_cues_and_extensions(corpus):
    script = parse_script(corpus / "Cyber_Bob_ep00001.fountain")
    park = script.scenes[0]
    assert (park.int_ext, park.location, park.time_of_day, park.line) == ("EXT", "PARK", "DAY", 24)
    debate = parse_script(corpus / "Cyber_Bob_epWinDebateAgainstLincoln.fountain")
    voice_over = [e for e in debate.all_elements() if e.type == "character" and e.extension]
    assert [(e.text, e.extension) for e in voice_over] == [("CYBER BOSS", "V.O.")]
    brick = parse_script(corpus / "Brick-and-Steel.fountain")
    dual = [e for e in brick.all_elements() if e.dual and e.type == "character"]
    assert [e.text for e in dual] == ["STEEL", "BRICK"]
    assert brick.title_page["Title"] == "BRICK & STEEL\nFULL RETIRED"  # emphasis markup removed


def test_an_introduction_in_action_is_not_a_cue(corpus):
    """'CYBER BOSS, 40 (or any age), an ageless,' passes screenplain's cue test; it is action."""
    script = parse_script(corpus / "Cyber_Bob_ep00001.fountain")
    cues = {e.text for e in script.all_elements() if e.type == "character"}
    assert cues == {"BOB", "CYBER BOB", "DOG", "MARGARET", "CYBER BOSS", "BOSS"}
    assert any(e.type == "action" and e.text.startswith("CYBER BOSS, 40") for e in script.all_elements())
