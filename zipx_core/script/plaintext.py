"""Screenplays pasted as plain text, in the usual typewriter layout.

Such text marks elements by indentation instead of blank lines: a cue sits far to the
right (about 3.5 inches), dialogue about 2.5 inches in, and a cue follows action or
dialogue with no blank line between. This turns that layout into Fountain paragraphs,
keeping each line's number in the original file, so the one Fountain parser reads both.
"""

import re

CUE_INDENT = 15  # columns; dialogue sits at about 10, cues at about 20 or more
DIALOGUE_INDENT = 6
HEADING_RE = re.compile(r"^(INT|EXT|EST|I/E|INT\./EXT)[.\s]", re.I)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def normalise_plain_text(numbered: list[tuple[int, str]]) -> list[tuple[int, str]]:
    indented = [n for n, line in numbered if line.strip() and _indent(line) >= DIALOGUE_INDENT]
    if len(indented) < 2:
        return numbered  # already Fountain-like: blank lines separate the elements
    out: list[tuple[int, str]] = []
    previous_kind = "blank"
    for number, line in numbered:
        text = line.strip()
        indent = _indent(line)
        if not text:
            kind = "blank"
        elif HEADING_RE.match(text) and indent < DIALOGUE_INDENT:
            kind = "heading"
        elif text.isupper() and text.rstrip().endswith(("TO:", "OUT.", "IN:")) and indent >= CUE_INDENT:
            kind = "transition"
        elif indent >= CUE_INDENT and text.split("(")[0].isupper() and previous_kind != "cue":
            kind = "cue"
        elif indent >= DIALOGUE_INDENT and previous_kind in ("cue", "dialogue"):
            kind = "dialogue"
        else:
            kind = "action"
        starts_paragraph = kind in ("heading", "transition", "cue") or (
            kind == "action" and previous_kind in ("cue", "dialogue", "heading", "transition")
        )
        if starts_paragraph and out and out[-1][1] != "":
            out.append((number, ""))
        if kind == "transition" and not text.endswith("TO:"):
            text = "> " + text
        out.append((number, text))
        if kind in ("heading", "transition") :
            out.append((number, ""))
            kind = "blank"
        previous_kind = kind
    return out
