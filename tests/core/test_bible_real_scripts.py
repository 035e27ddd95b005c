"""The rules on the real screenplays of the shared corpus, and on a feature-length script
made of one of them (issue 14: rules that read real scripts; issue 16: one pass)."""

import re
from pathlib import Path

import pytest

from tests.conftest import SCREENPLAYS
from zipx_core.bible import extract_bibles
from zipx_core.bible.gender import name_sex
from zipx_core.bible.voices import NEUTRAL_VOICES, voice_sex
from zipx_core.script import load_drama, parse_script, parse_text
from zipx_core.storyboard import plan_episode

FOUNTAIN = sorted(p.name for p in SCREENPLAYS.glob("*.fountain"))


def long_birthday_card(corpus: Path, copies: int) -> str:
    """The Last Birthday Card told `copies` times in a row, each telling with its own cast
    (the first word of every cue name gets a suffix per copy: SCOTT, SCOTTBB, SCOTTCC;
    ART GIRL, ARTBB GIRL ...): a script with the length and cast size of a feature film."""
    path = corpus / "The-Last-Birthday-Card.fountain"
    script = parse_script(path)
    names = {e.text for s in script.scenes for e in s.elements if e.type == "character"}
    forms = sorted(names | {n.title() for n in names}, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(re.escape(f) for f in forms) + r")\b")
    title_page, body = path.read_text(encoding="utf-8").split("\n\n", 1)
    tellings = [body]
    for copy in range(1, copies):
        suffix = "ABCDEFGHIJKLMNOP"[copy] * 2
        tellings.append(pattern.sub(lambda m, suffix=suffix: re.sub(r"^(\S+)", r"\g<1>" + suffix, m.group()), body))
    return "\n\n".join([title_page, *tellings])


@pytest.mark.parametrize("name", FOUNTAIN)
def test_every_cue_of_a_corpus_script_is_spoken_by_its_characters(corpus, name):
    script = parse_script(corpus / name)
    bibles = extract_bibles(script, "corpus")
    ids = {c.character_id for c in bibles.characters}
    assert all(set(speakers) <= ids for speakers in bibles.cue_map.values())
    for c in bibles.characters:
        # a known sex speaks in a voice of that sex; an unknown one in a neutral voice, marked for review
        if c.appearance.gender == "unspecified":
            assert c.voice_profile.voice_id in NEUTRAL_VOICES and "gender" in c.needs_review
        else:
            assert voice_sex(c.voice_profile.voice_id) == c.appearance.gender
    voices = [(c.voice_profile.voice_id, c.voice_profile.pitch) for c in bibles.characters]
    assert len(set(voices)) == len(voices)


def test_the_last_birthday_card_cast(corpus):
    bibles = extract_bibles(parse_script(corpus / "The-Last-Birthday-Card.fountain"), "birthday")
    sexes = {c.character_id: (c.appearance.gender, c.provenance.get("gender")) for c in bibles.characters}
    assert sexes["nak"] == ("male", "script")  # 'NAK, a fellow whose ... he's dressed in a Judo Gi'
    assert sexes["baxter"] == ("male", "script")  # "BAXTER's place is devoted to his music career"
    assert sexes["nancy"] == ("female", "script")  # 'Her name is NANCY.'
    assert sexes["art_girl"] == ("female", "script")  # the name says so
    assert sexes["billups"] == ("male", "name lexicon")  # 'this must be JACOB BILLUPS': Jacob
    assert sexes["male_voice"] == ("male", "script")
    assert bibles.cue_map["THE BOSS"] == ["the_boss"]  # 'THE BOSS (O.S.)': the parser took the extension off
    assert bibles.character("art_girl").appearance.age_range == "20-29"  # 'a attractive young ART GIRL'
    assert "Japanese" in bibles.character("nak").appearance.face_description


def test_cyber_bob_across_episodes(tmp_path, corpus):
    for name in ("Cyber_Bob_ep00001.fountain", "Cyber_Bob_epWinDebateAgainstLincoln.fountain"):
        (tmp_path / name).write_bytes((corpus / name).read_bytes())
    bibles = extract_bibles(load_drama(tmp_path), "cyber_bob")
    margaret, bob = bibles.character("margaret"), bibles.character("bob")
    assert (margaret.appearance.gender, margaret.provenance["gender"]) == ("female", "script")  # 'a white woman'
    assert (bob.appearance.gender, bob.aliases) == ("male", ["CYBER BOB"])
    assert bibles.cue_map["CYBER BOSS"] == bibles.cue_map["BOSS"] == ["cyber_boss"]
    assert bibles.cue_map["MARGARGET"] == ["margaret"]


def test_brick_and_steel_ages_from_words(corpus):
    bibles = extract_bibles(parse_script(corpus / "Brick-and-Steel.fountain"), "brick")
    # 'BRICK BRADDOCK, retired police detective'; 'DICK STEEL, his former partner and fellow retiree'
    assert bibles.character("brick").appearance.age_range == bibles.character("steel").appearance.age_range == "60-70"
    assert bibles.character("steel").appearance.gender == "male"


def test_a_cyrillic_name_is_read_by_the_lexicon(corpus):
    masha = extract_bibles(parse_script(corpus / "cyrillic.fountain"), "c").characters[0]
    assert (masha.display_name, masha.appearance.gender, masha.provenance["gender"]) == ("Машa", "female", "name lexicon")


def test_a_feature_length_script_reads_each_telling_alike(corpus):
    """Five tellings with five casts in one script: one pass over all of it gives each
    cast what the one telling alone gives (nothing leaks from one cast into another)."""
    original = parse_script(corpus / "The-Last-Birthday-Card.fountain")
    one = extract_bibles(original, "one")
    script = parse_text(long_birthday_card(corpus, 5))
    five = extract_bibles(script, "five")
    assert len(script.scenes) == 5 * len(original.scenes) > 200
    assert len(five.characters) == 5 * len(one.characters)
    for suffix in ["", "BB", "CC", "DD", "EE"]:
        for c in one.characters:
            renamed = re.sub(r"^(\S+)", r"\g<1>" + suffix, c.display_name.upper())
            twin = next(t for t in five.characters if t.display_name.upper() == renamed)
            assert twin.cue_count == c.cue_count and twin.appearance.age_range == c.appearance.age_range
            if c.provenance.get("gender") == "script" and not name_sex(c.display_name):  # the suffix hides WOMAN
                assert twin.appearance.gender == c.appearance.gender
    boards = [plan_episode(script, e.key, five, "five") for e in script.episodes]
    spoken = sum(len(s.dialogue) for b in boards for s in b.shots)
    assert spoken == 5 * sum(e.type == "dialogue" for s in original.scenes for e in s.elements)
