"""Bad input gets a ScriptError naming file, line and reason; plain text and folders parse."""

import pytest

from zipx_core.script import ScriptError, load_drama, parse_script, parse_text

FOUNTAIN = """Title: Two Rooms

INT. KITCHEN - NIGHT

ANNA, 30, a tall woman with black hair, waits.

ANNA
(quietly)
You came back.

BEN (O.S.)
I never left.

CUT TO:

EXT. GARDEN - DAY

Ben digs.
"""

PLAIN = """INT. KITCHEN - NIGHT

ANNA, 30, a tall woman with black hair, waits.
                         ANNA
                    (quietly)
               You came back.
                         BEN (O.S.)
               I never left.
                                                   CUT TO:
EXT. GARDEN - DAY
Ben digs.
"""


@pytest.mark.parametrize(
    "content, line, reason",
    [
        (b"", 1, "empty"),
        (b"   \n\n  ", 1, "empty"),
        (b"INT. A - DAY\n\x00\x01\x02", 2, "binary"),
        (b"INT. HOUSE - DAY\n\nBOB\nHello\xff\n", 4, "UTF-8"),
        (b"Just a note to myself.\n\nAnother thought.\n", 1, "nothing that looks like a screenplay"),
    ],
)
def test_bad_files_name_file_line_and_reason(tmp_path, content, line, reason):
    path = tmp_path / "bad.fountain"
    path.write_bytes(content)
    with pytest.raises(ScriptError) as caught:
        parse_script(path)
    assert caught.value.file == str(path)
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_missing_file_and_empty_folder(tmp_path):
    with pytest.raises(ScriptError, match="no such file"):
        load_drama(tmp_path / "nope.fountain")
    with pytest.raises(ScriptError, match="holds no script"):
        load_drama(tmp_path)


def test_plain_text_layout_parses_like_fountain(tmp_path):
    (tmp_path / "two.fountain").write_text(FOUNTAIN)
    (tmp_path / "two.txt").write_text(PLAIN)
    fountain = parse_script(tmp_path / "two.fountain")
    plain = parse_script(tmp_path / "two.txt")

    def shape(script):
        return [(s.heading, [(e.type, e.text, e.character, e.extension) for e in s.elements]) for s in script.scenes]

    assert shape(plain) == shape(fountain)
    ben = next(e for e in plain.all_elements() if e.type == "character" and e.text == "BEN")
    assert ben.line == 7 and ben.extension == "O.S."


def test_folder_is_one_episode_per_file(tmp_path, corpus):
    for name in ("Cyber_Bob_ep00001.fountain", "Cyber_Bob_epWinDebateAgainstLincoln.fountain"):
        (tmp_path / name).write_bytes((corpus / name).read_bytes())
    drama = load_drama(tmp_path)
    assert [e.key for e in drama.episodes] == ["ep01", "ep02"]
    assert [s.number for s in drama.scenes] == [1, 2, 3, 4, 5, 6]


def test_utf8_bom_and_crlf():
    script = parse_text("\ufeffINT. ROOM - DAY\r\n\r\nAMY\r\nHi.\r\n", "bom.fountain")
    assert script.scenes[0].location == "ROOM"
    assert [e.line for e in script.scenes[0].elements] == [3, 4]
