"""Final Draft (.fdx) screenplays into `Script`.

An .fdx file is XML: `<FinalDraft><Content>` holds one `<Paragraph Type="...">` per
screenplay element, its words in one or more `<Text>` runs (one per style). The file
comes from outside, so defusedxml reads it (no entity expansion, no external
references), and every element keeps the line its `<Paragraph>` starts on. The
paragraphs become the same blocks the Fountain reader makes and `assemble_script`
groups both, so a script gives the same `Script` in either format.

An .fdx file has no `#` sections: a file is one episode, and a folder of .fdx files is
one episode per file (see `load_drama`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as safe_xml

from zipx_core.models import Element, Script
from zipx_core.script.errors import ScriptError
from zipx_core.script.parser import assemble_script, scene_from_heading, split_cue

# Paragraph Type -> Element type; any other type is read as action, so no text is lost.
# Fountain has no shot or general element: a shot is written as action there.
ELEMENT_TYPES = {"Action": "action", "General": "action", "Shot": "action", "Transition": "transition"}
SPEECH = {"Dialogue": "dialogue", "Parenthetical": "parenthetical"}
# Structure marks of Final Draft's TV templates, not screenplay text (a whole file is one episode).
SKIPPED = {"New Act", "End of Act", "Cast List"}
CREDIT_RE = re.compile(r"^((written|screenplay|teleplay|story)\s+)?by:?$", re.I)


class _LineRecorder(ET.TreeBuilder):
    """Builds the tree and notes the line each element starts on: expat knows it while it
    calls `start`, and the tree forgets it afterwards."""

    def __init__(self):
        super().__init__()
        self.parser = None
        self.lines: dict[ET.Element, int] = {}

    def start(self, tag, attrs):
        element = super().start(tag, attrs)
        self.lines[element] = self.parser.parser.CurrentLineNumber
        return element


def parse_fdx_text(text: str, name: str) -> Script:
    """The Script in a Final Draft document; `name` is the file, for errors and `source`."""
    root, lines = _read_xml(text, name)
    if root.tag != "FinalDraft":
        expected = "expected <FinalDraft>, a Final Draft script"
        raise ScriptError(name, lines[root], f"the document is <{root.tag}>; {expected}")
    content = root.find("Content")
    if content is None:
        raise ScriptError(name, lines[root], "<FinalDraft> has no <Content>; expected the script's paragraphs there")
    blocks = _blocks(content.findall("Paragraph"), lines)
    return assemble_script(blocks, _title_page(root), Path(name).name)


def _read_xml(text: str, name: str) -> tuple[ET.Element, dict[ET.Element, int]]:
    recorder = _LineRecorder()
    parser = safe_xml.XMLParser(target=recorder)
    recorder.parser = parser
    try:
        parser.feed(text)
        return parser.close(), recorder.lines
    except ET.ParseError as exc:
        line, column = exc.position
        reason = re.sub(r"^not well-formed \((.*)\)$", r"\1", str(exc).split(": line ")[0])
        raise ScriptError(name, line, f"not well-formed XML: {reason} at column {column + 1}") from None
    except defusedxml.EntitiesForbidden as exc:
        line = parser.parser.CurrentLineNumber
        reason = f"entity declaration '{exc.name}' refused: a Final Draft script declares none"
        raise ScriptError(name, line, reason) from None
    except defusedxml.DefusedXmlException as exc:
        line = parser.parser.CurrentLineNumber
        reason = f"refused: {exc}; a Final Draft script has no DTD or external references"
        raise ScriptError(name, line, reason) from None


def _text(paragraph: ET.Element) -> str:
    """The paragraph's words: its <Text> runs joined (a run per style), line breaks kept and
    each line stripped, as the Fountain reader strips them."""
    text = "".join(run.text or "" for run in paragraph.findall("Text"))
    return "\n".join(line.strip() for line in text.splitlines()).strip()


def _blocks(paragraphs, lines, dual: bool = False):
    """Scenes and element lists from a run of <Paragraph>s. A cue's speaker carries to the
    dialogue and parentheticals under it; speech with no cue above it is read as action,
    as the same text would be in Fountain."""
    speaker = None
    for paragraph in paragraphs:
        line, kind, text = lines[paragraph], paragraph.get("Type", "General"), _text(paragraph)
        pair = paragraph.find("DualDialogue") if not dual else None  # one level: no nesting
        if pair is not None:
            yield from _blocks(pair.findall("Paragraph"), lines, dual=True)
            speaker = None
            continue
        if paragraph.get("StartsNewPage") == "Yes" and not dual:
            yield [Element(type="page_break", text="", line=line)]
        if not text or kind in SKIPPED:
            continue
        if kind == "Scene Heading":
            speaker = None
            yield scene_from_heading(text, line, paragraph.get("Number") or None)
        elif kind == "Character" and split_cue(text)[0]:
            speaker, extension = split_cue(text)
            yield [Element(type="character", text=speaker, line=line, extension=extension, dual=dual)]
        elif kind in SPEECH and speaker:
            yield [Element(type=SPEECH[kind], text=text, line=line, character=speaker, dual=dual)]
        else:
            speaker = None
            yield [Element(type=_other_type(paragraph, kind), text=text, line=line)]


def _other_type(paragraph: ET.Element, kind: str) -> str:
    element_type = ELEMENT_TYPES.get(kind, "action")
    if element_type == "action" and paragraph.get("Alignment") == "Center":
        return "centered"
    return element_type


def _title_page(root: ET.Element) -> dict[str, str]:
    """Final Draft's title page is free text: the first line is the title, a 'Written by'
    line and the name under it are credit and author, the rest is contact (left or right)
    or notes (centred)."""
    content = root.find("TitlePage/Content")
    paragraphs = [(p, _text(p)) for p in content.findall("Paragraph")] if content is not None else []
    paragraphs = [(p, text) for p, text in paragraphs if text]
    page: dict[str, list[str]] = {}
    for index, (paragraph, text) in enumerate(paragraphs):
        previous = paragraphs[index - 1][1] if index else ""
        if index == 0:
            key = "Title"
        elif CREDIT_RE.match(text) and "Credit" not in page:
            key = "Credit"
        elif CREDIT_RE.match(previous) and "Author" not in page:
            key = "Author"
        else:
            key = "Notes" if paragraph.get("Alignment") == "Center" else "Contact"
        page.setdefault(key, []).append(text)
    return {key: "\n".join(values) for key, values in page.items()}
