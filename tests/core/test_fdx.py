"""Final Draft (.fdx) scripts: the same Script as Fountain, line-numbered errors, safe XML."""

import html
from pathlib import Path

import pytest

from zipx_core.bible import extract_character_bibles
from zipx_core.cli import main
from zipx_core.script import ScriptError, load_drama, parse_fdx_text, parse_script

DATA = Path(__file__).resolve().parents[1] / "data"
FD12 = DATA / "lighthouse_fd12.fdx"
TWINS = ["Brick-and-Steel", "The-Last-Birthday-Card"]


def twins(corpus, name):
    return parse_script(corpus / f"{name}.fountain"), parse_script(corpus / f"{name}.expected.screenplain.fdx")


def content(script):
    """What both formats hold. Left out, because screenplain's FDX writer drops them: the
    title page (so the title), '#' sections (so the Fountain file's episodes; the FDX is
    one episode), notes and synopses. Line numbers are each file's own."""
    scenes = [(s.number, s.scene_number, s.heading, s.int_ext, s.location, s.time_of_day) for s in script.scenes]
    elements = [(e.type, e.text, e.character, e.extension, e.dual) for e in script.all_elements()]
    return scenes, elements


@pytest.mark.parametrize("name", TWINS)
def test_fdx_and_its_fountain_twin_agree(corpus, name):
    fountain, fdx = twins(corpus, name)
    assert content(fdx) == content(fountain)
    cues = [(e.text, e.extension, e.dual) for e in fdx.all_elements() if e.type == "character"]
    speech = [(e.character, e.text) for e in fdx.all_elements() if e.type in ("dialogue", "parenthetical")]
    assert len(cues) == {"Brick-and-Steel": 20, "The-Last-Birthday-Card": 134}[name]
    assert speech and all(speaker for speaker, _ in speech)
    assert len(fdx.episodes) == 1 and fdx.episodes[0].title == f"{name}.expected.screenplain"


@pytest.mark.parametrize("name", TWINS)
def test_the_bible_finds_the_same_cast_in_both(corpus, name):
    fountain, fdx = twins(corpus, name)
    bibles = [extract_character_bibles(script) for script in (fountain, fdx)]
    ignore = {"introduced_line", "provenance"}  # lines differ by format
    from_fountain, from_fdx = ([b.model_dump(exclude=ignore) for b in found] for found in bibles)
    assert [b["character_id"] for b in from_fdx] == [b["character_id"] for b in from_fountain]
    assert len(from_fdx) >= 5 and from_fdx == from_fountain


@pytest.mark.parametrize("name", TWINS)
def test_every_line_points_at_its_paragraph(corpus, name):
    path = corpus / f"{name}.expected.screenplain.fdx"
    lines = path.read_text(encoding="utf-8").splitlines()
    script = parse_script(path)
    for scene in script.scenes:
        assert lines[scene.line - 1].strip() == '<Paragraph Type="Scene Heading">'
        assert scene.heading in lines[scene.line]
    for element in script.all_elements():
        assert lines[element.line - 1].lstrip().startswith("<Paragraph"), element
        assert element.text[:6] in html.unescape(lines[element.line]), element  # its first <Text> run


def test_a_final_draft_12_file():
    """SceneProperties, ScriptNotes, SmartType lists, ElementSettings and the header are not script."""
    script = load_drama(FD12)
    assert script.title == "The Keeper"
    assert script.title_page == {"Title": "The Keeper", "Credit": "Written by", "Author": "Ana Silva",
                                 "Contact": "ana@example.com"}
    assert [(s.scene_number, s.int_ext, s.location, s.time_of_day, s.line) for s in script.scenes] == [
        ("1", "INT", "LIGHTHOUSE", "NIGHT", 8), ("2A", "EXT", "HARBOUR WALL", "CONTINUOUS", 73)]
    lighthouse, harbour = ([(e.type, e.text, e.character, e.extension, e.dual, e.line) for e in s.elements]
                           for s in script.scenes)
    assert lighthouse == [
        ("action", "MAYA (30s), a wiry keeper with grey hair, climbs the stairs, a lantern in her hand.",
         None, None, False, 20),
        ("character", "MAYA", None, "V.O.", False, 33),
        ("parenthetical", "(to herself)", "MAYA", None, False, 36),
        ("dialogue", "Forty years, and the light has never once gone out.", "MAYA", None, False, 39),
        ("action", "CLOSE ON THE LAMP", None, None, False, 42),  # Shot
        ("action", "It flickers.", None, None, False, 45),  # General
        ("character", "TOM", None, "O.S.", False, 48),
        ("dialogue", "Maya! The boat!", "TOM", None, False, 51),
        ("character", "MAYA", None, "CONT’D", True, 56),
        ("dialogue", "Not tonight.", "MAYA", None, True, 59),
        ("character", "TOM", None, None, True, 62),
        ("dialogue", "Not tonight.", "TOM", None, True, 65),
        ("transition", "CUT TO:", None, None, False, 70),
        ("page_break", "", None, None, False, 73),
    ]
    assert harbour[1][:2] == ("centered", "THE END")
    assert {b.character_id for b in extract_character_bibles(script)} == {"maya", "tom"}


def test_speech_with_no_cue_above_it_is_action():
    script = parse_fdx_text(
        '<FinalDraft><Content>\n<Paragraph Type="Scene Heading"><Text>INT. ROOM - DAY</Text></Paragraph>\n'
        '<Paragraph Type="Dialogue"><Text>Nobody says this.</Text></Paragraph>\n'
        '<Paragraph Type="Lyrics"><Text>A type this reader does not know.</Text></Paragraph>\n'
        "</Content></FinalDraft>",
        "orphan.fdx",
    )
    assert [(e.type, e.text, e.line) for e in script.all_elements()] == [
        ("action", "Nobody says this.", 3), ("action", "A type this reader does not know.", 4)]


def test_a_folder_of_fdx_files_is_one_episode_per_file(tmp_path, corpus):
    for index, name in enumerate(TWINS, start=1):
        (tmp_path / f"{index:02d}.fdx").write_bytes((corpus / f"{name}.expected.screenplain.fdx").read_bytes())
    drama = load_drama(tmp_path)
    assert [(e.key, e.title, len(e.scenes)) for e in drama.episodes] == [("ep01", "01", 8), ("ep02", "02", 48)]
    assert [s.number for s in drama.scenes] == list(range(1, 57))


def test_zipx_parse_reads_fdx(capsys):
    assert main(["parse", str(FD12)]) == 0
    assert "The Keeper (lighthouse_fd12.fdx): 1 episode(s), 2 scene(s)" in capsys.readouterr().out


LAUGHS = '<!DOCTYPE FinalDraft [\n<!ENTITY lol "lol">\n<!ENTITY lol2 "&lol;&lol;&lol;">\n]>\n<FinalDraft/>'
XXE = '<!DOCTYPE FinalDraft [\n<!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n<FinalDraft/>'


@pytest.mark.parametrize(
    "data, line, reason",
    [
        ('<FinalDraft>\n<Content>\n<Paragraph><Text>a & b</Text>', 3, "not well-formed XML: invalid token at column"),
        ("<FinalDraft>\n<Content>\n</FinalDraft>", 3, "not well-formed XML: mismatched tag"),
        ('<?xml version="1.0"?>\n', 2, "not well-formed XML: no element found"),
        ("<html>\n<body/></html>", 1, "the document is <html>; expected <FinalDraft>"),
        ('<FinalDraft>\n<TitlePage/>\n</FinalDraft>', 1, "<FinalDraft> has no <Content>"),
        (LAUGHS, 2, "entity declaration 'lol' refused"),
        (XXE, 2, "entity declaration 'xxe' refused"),
        ("<FinalDraft><Content/></FinalDraft>", 1, "nothing that looks like a screenplay"),
        ("  \n", 1, "file is empty"),
        ("<FinalDraft>\x00</FinalDraft>", 1, "file is binary"),
    ],
)
def test_bad_fdx_names_file_line_and_reason(tmp_path, data, line, reason):
    path = tmp_path / "bad.fdx"
    path.write_text(data, encoding="utf-8")
    with pytest.raises(ScriptError) as error:
        parse_script(path)
    assert (error.value.file, error.value.line) == (str(path), line)
    assert error.value.reason.startswith(reason), error.value.reason


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin.fdx"
    path.write_bytes('<FinalDraft>\n<Content><Paragraph><Text>Señor</Text></Paragraph></Content></FinalDraft>'
                     .encode("latin-1"))
    with pytest.raises(ScriptError, match=r"latin.fdx:2: not UTF-8 text"):
        parse_script(path)
