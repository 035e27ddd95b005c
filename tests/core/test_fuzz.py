"""Property-based fuzzing (hypothesis) of the script parser and the bible and storyboard
stages: whatever the bytes, the answer is a valid Script (which the later stages take
without crashing) or a ScriptError naming the file (and the line where there is one),
in bounded time."""

import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zipx_core.bible import extract_bibles
from zipx_core.models import Script
from zipx_core.script import ScriptError, load_drama
from zipx_core.storyboard import plan_episode

FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

# Pieces of screenplays, and the things that break parsers, put together at random.
PIECES = [
    "INT. KITCHEN - NIGHT", "EXT. ROOF - DAY", "ИНТ. КУХНЯ - НОЧЬ", "INT。BAR", ".FORCED HEADING", "# Episode", "## Act",
    "MARA", "BOB (V.O.)", "@mixed Case", "(whispering)", "Hello there!", "> THE END <", "CUT TO:", "/*", "*/", "[[", "]]",
    "===", "Title: x", "~lyric", "!ACTION", "    ", "\t", "\u200b", "\ufeff", "\x00", "é\u0301", "👩‍👩‍👧", "\u202e", "MARA, 30, a tall woman in a red coat.",
]
LINES = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=40)), max_size=80)


def _check(path: Path) -> None:
    started = time.monotonic()
    try:
        script = load_drama(path)
    except ScriptError as error:
        assert error.file and str(path.name) in error.file and error.reason
        assert error.line is None or error.line >= 1
        return
    finally:
        assert time.monotonic() - started < 20, "parsing took too long"
    Script.model_validate(script.model_dump())
    bibles = extract_bibles(script, "fuzz")
    for episode in script.episodes:
        board = plan_episode(script, episode.key, bibles, "fuzz")
        assert board is not None and all(shot.duration_s > 0 for shot in board.shots)


@FUZZ
@given(data=st.binary(max_size=3000))
def test_any_bytes(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.fountain"
        path.write_bytes(data)
        _check(path)


@FUZZ
@given(lines=LINES, separator=st.sampled_from(["\n", "\n\n", "\r\n", "\r"]))
def test_screenplay_shaped_text(lines, separator):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.fountain"
        path.write_bytes(separator.join(lines).encode("utf-8", errors="replace"))
        _check(path)


@pytest.mark.parametrize("shape", ["boneyards", "notes", "headings", "long_line"])
def test_deeply_nested_and_repetitive_input_is_bounded(tmp_path, shape):
    text = {
        "boneyards": "/*" * 20000 + "INT. ROOM - DAY\n\nANA\nHi.\n" + "*/" * 20000,
        "notes": "[[" * 20000 + "note" + "]]" * 20000 + "\n\nINT. ROOM - DAY\n",
        "headings": "INT. ROOM - DAY\n\n" * 20000,
        "long_line": "INT. ROOM - DAY\n\n" + "word " * 400000,
    }[shape]
    path = tmp_path / f"{shape}.fountain"
    path.write_text(text)
    _check(path)


def test_an_enormous_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.fountain"
    with path.open("wb") as out:
        out.truncate(50 * 1024 * 1024)  # 50 MB, sparse
    started = time.monotonic()
    with pytest.raises(ScriptError, match="huge.fountain") as error:
        load_drama(path)
    assert "the limit is" in error.value.reason and time.monotonic() - started < 2
