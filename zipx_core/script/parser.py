"""Screenplays into `Script`.

Fountain is read by screenplain (a maintained parser). It has no line numbers, no
episodes and no notion of scenes as containers, so this module wraps it: it feeds
screenplain one paragraph at a time, remembers where each paragraph started, and
groups screenplain's flat paragraph list into episodes and scenes.

Episode convention: a top-level `#` section starts an episode (its text is the
title). A script with no `#` section is one episode. A drama may also be a folder
of scripts, one file per episode (see `load_drama`).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from screenplain.parsers import fountain as sp
from screenplain.richstring import parse_emphasis
from screenplain.types import Action, Dialog, DualDialog, PageBreak, Section, Slug, Transition

from zipx_core.models import Element, Episode, Scene, Script
from zipx_core.script.errors import ScriptError
from zipx_core.script.plaintext import normalise_plain_text

MAX_SCRIPT_BYTES = 20 * 1024 * 1024

HEADING_RE = re.compile(r"^(INT\.?/EXT\.?|EXT\.?/INT\.?|I/E|INT|EXT|EST)[.\s]\s*(.*)$", re.I)
# Headings in other scripts that plain Fountain does not know; forced with a leading '.'.
FOREIGN_HEADING_RE = re.compile(r"^(ИНТ|НАТ|ЭКСТ|INT|EXT)[.。]\s*\S", re.I)
TIME_SPLIT_RE = re.compile(r"^(.*?)\s*(?:--|—|–| - )\s*([^-—–]+?)\s*$")
CUE_EXTENSION_RE = re.compile(r"\s*\(([^)]*)\)")
DUAL_MARK_RE = re.compile(r"\s*\^\s*$")


def read_script_text(path: Path) -> str:
    """Reads a script file, turning every way it can be unreadable into a ScriptError."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScriptError(name, None, f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > MAX_SCRIPT_BYTES:
        raise ScriptError(name, None, f"file is {len(data)} bytes; the limit is {MAX_SCRIPT_BYTES}")
    if not data.strip():
        raise ScriptError(name, 1, "file is empty; expected a screenplay")
    if b"\x00" in data[:8192]:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ScriptError(name, line, "file is binary (NUL byte); expected screenplay text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScriptError(
            name, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the script as UTF-8"
        ) from None


def parse_script(path: str | Path) -> Script:
    path = Path(path)
    text = read_script_text(path)
    if path.suffix.lower() == ".fdx":
        from zipx_core.script.fdx import parse_fdx_text  # fdx builds on this module

        script = parse_fdx_text(text, str(path))
    else:
        script = parse_text(text, source=path.name, plain_text=path.suffix.lower() == ".txt")
    if not any(e.type in ("dialogue", "action") for scene in script.scenes for e in scene.elements):
        raise ScriptError(str(path), 1, "nothing that looks like a screenplay: no scene heading and no dialogue")
    return script


def parse_text(text: str, source: str = "<text>", plain_text: bool = False) -> Script:
    """Whatever screenplay elements the text holds; parse_script also insists on some."""
    numbered = list(_numbered_lines(text.removeprefix("\ufeff")))
    if plain_text:
        numbered = normalise_plain_text(numbered)
    title_page, body = _split_title_page(numbered)
    paragraphs = _parse_paragraphs(body)
    forced_cue_lines = {n for n, line in body if line.lstrip().startswith("@")}
    return _build_script(paragraphs, title_page, source, forced_cue_lines)


def _numbered_lines(text: str):
    """(line number, text) pairs, boneyards blanked (a boneyard keeps its line breaks so
    the numbers still match the file), with three fixes to screenplain's reading:
    - a line of only whitespace is blank, except the two spaces that join dialogue;
    - '. NOT A HEADER' (a dot and a space) is not a forced heading, per the spec;
    - non-Latin headings (ИНТ., INT。) are forced, and a heading with text right under
      it is split from that text instead of being read as a character cue."""
    text = sp.boneyard_re.sub(lambda m: "\n" * len(sp.linebreak_re.findall(m.group(0))), text)
    lines = [sp._preprocess_line(line) for line in sp.linebreak_re.split(text)]
    previous = ""
    for number, line in enumerate(lines, start=1):
        if not line.strip() and line != sp.TWOSPACE:
            line = ""
        elif line.startswith(". "):
            line = "!" + line
        elif FOREIGN_HEADING_RE.match(line) and not HEADING_RE.match(line):
            line = "." + line
        yield number, line
        following = lines[number] if number < len(lines) else ""
        if previous == "" and following.strip() and HEADING_RE.match(line.lstrip(".")) and line.lstrip(".").isupper():
            yield number, ""
        previous = line


def _split_title_page(numbered):
    first_blank = next((i for i, (_, line) in enumerate(numbered) if line == ""), len(numbered))
    head = [line for _, line in numbered[:first_blank]]
    title_page = sp.parse_title_page(head) if head else None
    if title_page:
        return title_page, numbered[first_blank + 1 :]
    return {}, numbered


def _parse_paragraphs(numbered) -> list[tuple[int, object]]:
    """screenplain's parse_body, keeping each paragraph's first line number."""
    paragraphs: list[object] = []
    line_of: dict[int, int] = {}
    for blank, group in itertools.groupby(numbered, key=lambda item: sp._is_blank(item[1])):
        if blank:
            continue
        group = list(group)
        joined = sp.note_re.sub("", "\n".join(line for _, line in group))
        if sp._is_blank(joined):
            continue
        first = _first_line_outside_notes(group)
        sp.InputParagraph(joined.split("\n")).update_list(paragraphs)
        for offset, paragraph in enumerate(paragraphs[-len(group) :]):
            if isinstance(paragraph, DualDialog):
                line_of.setdefault(id(paragraph), line_of.get(id(paragraph.left), first))
                line_of.setdefault(id(paragraph.right), first)
            elif isinstance(paragraph, Section):
                line_of.setdefault(id(paragraph), first + offset)
            line_of.setdefault(id(paragraph), first)
    return [(line_of[id(p)], p) for p in paragraphs], line_of


def _first_line_outside_notes(group) -> int:
    """Line number of a paragraph's first text that is not inside a [[note]]."""
    in_note = False
    for number, line in group:
        outside = sp.note_re.sub("", line)
        if in_note:
            if "]]" not in line:
                continue
            outside, in_note = line.split("]]", 1)[1], False
        if "[[" in outside:
            before, _ = outside.split("[[", 1)
            in_note = True
            outside = before
        if outside.strip():
            return number
    return group[0][0]


def _text(rich) -> str:
    return str(rich).strip()


def parse_heading(heading: str) -> tuple[str, str, str]:
    """'EXT. PARK--DAY' -> ('EXT', 'PARK', 'DAY'); forced headings have no INT/EXT."""
    match = HEADING_RE.match(heading)
    int_ext, rest = "NONE", heading
    if match:
        prefix = match.group(1).upper().replace(".", "")
        int_ext = {"EST": "EXT", "I/E": "INT/EXT", "EXT/INT": "INT/EXT"}.get(prefix, prefix)
        rest = match.group(2)
    rest = rest.strip().strip(".").strip()
    split = TIME_SPLIT_RE.match(rest)
    if split:
        return int_ext, split.group(1).strip(" .-—–"), split.group(2).strip().upper()
    return int_ext, rest, ""


def split_cue(cue: str) -> tuple[str, str | None]:
    """'MOM (O. S.) (CONT'D)' -> ('MOM', "O. S., CONT'D")."""
    cue = DUAL_MARK_RE.sub("", cue.strip())
    extensions = [e.strip() for e in CUE_EXTENSION_RE.findall(cue)]
    name = CUE_EXTENSION_RE.sub("", cue).strip().lstrip("@").strip()
    return name, ", ".join(extensions) or None


def _dialog_elements(dialog: Dialog, line: int, dual: bool) -> list[Element]:
    name, extension = split_cue(_text(dialog.character))
    elements = [Element(type="character", text=name, line=line, extension=extension, dual=dual)]
    for offset, (is_parenthetical, text) in enumerate(dialog.blocks, start=1):
        elements.append(
            Element(
                type="parenthetical" if is_parenthetical else "dialogue",
                text=_text(text),
                line=line + offset,
                character=name,
                dual=dual,
            )
        )
    return elements


def _build_script(numbered_paragraphs, title_page: dict, source: str, forced_cue_lines) -> Script:
    paragraphs, line_of = numbered_paragraphs
    flat_title = {
        key: "\n".join(_text(parse_emphasis(v)) for v in values) for key, values in title_page.items()
    }
    blocks = (_block(paragraph, line, line_of, forced_cue_lines) for line, paragraph in paragraphs)
    return assemble_script(blocks, flat_title, source)


def _block(paragraph, line: int, line_of: dict[int, int], forced_cue_lines) -> Episode | Scene | list[Element]:
    if isinstance(paragraph, Section) and paragraph.level == 1:
        return Episode(key="", title=_text(paragraph.text), line=line)
    if isinstance(paragraph, Slug):
        number = _text(paragraph.scene_number) if paragraph.scene_number else None
        return scene_from_heading(_text(paragraph.line), line, number)
    return _elements(paragraph, line, line_of, forced_cue_lines)


def scene_from_heading(heading: str, line: int, scene_number: str | None = None) -> Scene:
    int_ext, location, time_of_day = parse_heading(heading)
    return Scene(
        number=0,  # renumber() counts scenes through the drama
        scene_number=scene_number,
        heading=heading,
        int_ext=int_ext,
        location=location or heading,
        time_of_day=time_of_day,
        line=line,
    )


def assemble_script(blocks, title_page: dict[str, str], source: str) -> Script:
    """Groups a flat run of blocks into episodes and scenes; every format ends here.
    A block is an Episode (one starts), a Scene (a heading) or a list of Elements."""
    title = title_page.get("Title", "").replace("\n", " — ") or Path(source).stem
    episodes: list[Episode] = []
    current = Episode(key="", title=title, line=1)
    pending: list[Element] = []  # elements before the episode's first heading

    def finish(episode: Episode) -> None:
        if any(e.type == "dialogue" for e in pending):
            episode.scenes.insert(0, _implicit_scene(pending))
        else:
            episode.preamble = list(pending)
        if episode.scenes:
            episodes.append(episode)

    for block in blocks:
        if isinstance(block, Episode):
            finish(current)
            current, pending = block, []
        elif isinstance(block, Scene):
            current.scenes.append(block)
        else:
            (current.scenes[-1].elements if current.scenes else pending).extend(block)
    finish(current)
    renumber(episodes)
    return Script(source=source, title=title, title_page=title_page, episodes=episodes)


def _elements(paragraph, line: int, line_of: dict[int, int], forced_cue_lines) -> list[Element]:
    if isinstance(paragraph, Dialog):
        name, _ = split_cue(_text(paragraph.character))
        if line not in forced_cue_lines and name != name.upper():
            # screenplain checks only the text before the first '(': an introduction
            # such as 'CYBER BOSS, 40 (or any age), an ageless,' is action, not a cue.
            lines = [_text(paragraph.character)] + [_text(t) for _, t in paragraph.blocks]
            return [Element(type="action", text="\n".join(lines), line=line)]
        return _dialog_elements(paragraph, line, dual=False)
    if isinstance(paragraph, DualDialog):
        return _dialog_elements(paragraph.left, line_of.get(id(paragraph.left), line), True) + (
            _dialog_elements(paragraph.right, line_of.get(id(paragraph.right), line), True)
        )
    if isinstance(paragraph, Action):
        text = "\n".join(_text(l) for l in paragraph.lines).strip()
        return [Element(type="centered" if paragraph.centered else "action", text=text, line=line)]
    if isinstance(paragraph, Transition):
        return [Element(type="transition", text=_text(paragraph.line), line=line)]
    if isinstance(paragraph, PageBreak):
        return [Element(type="page_break", text="", line=line)]
    return []  # sections below the top level and synopses are notes for the writer


def _implicit_scene(elements: list[Element]) -> Scene:
    return Scene(
        number=0,
        heading="(no scene heading)",
        location="UNSPECIFIED",
        line=elements[0].line,
        elements=elements,
    )


def renumber(episodes: list[Episode]) -> None:
    """Episode keys ep01, ep02 ... and scene numbers counted through the whole drama."""
    number = 0
    for index, episode in enumerate(episodes, start=1):
        episode.key = f"ep{index:02d}"
        for scene in episode.scenes:
            number += 1
            scene.number = number
