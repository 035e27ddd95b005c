"""Every parser fixture in ../shared/corpus/fixtures against the expected output beside
it: (scene headings, character cues, dialogue) counted from screenplain's FDX/HTML,
fountain-tools' dumps and Jouvence's YAML. Where a reference parser follows its own
convention rather than the Fountain spec, the difference is listed with its reason."""

import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
import yaml

from zipx_core.script import parse_text

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "fixtures"

# case: (ours, reason). Ours = (headings, cues, dialogue) where it differs from the reference.
KNOWN_DIFFERENCES = {
    "fountain-tools/Character.fountain": (
        (0, 17, 17),
        "fountain-tools rejects a cue that starts with a digit (3CPO) and a '^' with a space "
        "before it; the Fountain spec and screenplain accept both",
    ),
    "fountain-tools/LineBreaks.fountain": ((2, 5, 11), "fountain-tools merges a speech's lines into one dialogue; we keep one per line, as screenplain does"),
    "jouvence/test_dialogue.yaml#1": ((0, 1, 2), "Jouvence merges a speech's lines into one dialogue; we keep one per line"),
    "fountain-tools/Lyrics.fountain": ((0, 2, 3), "'~' lyrics are not in screenplain: a lyric line under a cue is read as dialogue"),
    "fountain-tools/Parenthetical.fountain": ((0, 4, 7), "'(bouncy)' after '(loudly)' is a second parenthetical to us and screenplain; fountain-tools makes it dialogue"),
    "fountain-tools/Tags.fountain": ((4, 0, 0), "'#tag' words are a fountain-tools extension; with them, cue and scene-number lines are not Fountain"),
}


def ours(text: str) -> tuple[int, int, int]:
    script = parse_text(text, "fixture")
    kinds = Counter(e.type for e in script.all_elements())
    headings = sum(1 for s in script.scenes if s.heading != "(no scene heading)")
    return headings, kinds["character"], kinds["dialogue"]


def cases():
    for source in sorted((FIXTURES / "screenplain").glob("*.fountain")):
        fdx, html = source.with_suffix(".fdx"), source.with_suffix(".html")
        if fdx.exists():
            kinds = Counter(p.get("Type") for p in ET.parse(fdx).getroot().iter("Paragraph"))
            expected = (kinds["Scene Heading"], kinds["Character"], kinds["Dialogue"])
        elif html.exists():
            page = html.read_text()
            expected = (page.count("<h6"), page.count('class="character"'), None)
        else:
            continue  # title-page.fountain: its expected output is a PDF, not copied
        yield f"screenplain/{source.name}", source.read_bytes().decode("utf-8-sig"), expected
    for source in sorted((FIXTURES / "fountain-tools").glob("*.fountain")):
        dump = next(p for p in (source.with_suffix(".txt"), source.with_name(f"{source.stem}-Unmerged.txt")) if p.exists())
        kinds = Counter(m.group(1) for m in re.finditer(r"(?m)^([A-Z]+):", dump.read_text()))
        yield f"fountain-tools/{source.name}", source.read_text(encoding="utf-8-sig"), (kinds["HEADING"], kinds["CHARACTER"], kinds["DIALOGUE"])
    for source in sorted((FIXTURES / "jouvence").glob("*.yaml")):
        for index, doc in enumerate(yaml.safe_load_all(source.read_text())):
            if doc and "out" in doc:
                marks = Counter(item[:1] for item in doc["out"] if isinstance(item, str))
                yield f"jouvence/{source.name}#{index}", doc["in"], (marks["."], marks["@"], marks["="])


CASES = list(cases()) if FIXTURES.is_dir() else []


def test_fixtures_are_present():
    assert len(CASES) > 60, f"expected the fixtures at {FIXTURES}"


@pytest.mark.parametrize("name, text, expected", CASES, ids=[c[0] for c in CASES])
def test_fixture_counts(name, text, expected):
    got = ours(text)
    if name in KNOWN_DIFFERENCES:
        assert got == KNOWN_DIFFERENCES[name][0], KNOWN_DIFFERENCES[name][1]
        return
    assert got[:2] == expected[:2]
    if expected[2] is not None:
        assert got[2] == expected[2]
