from zipx_core.bible import extract_bibles, extract_character_bibles
from zipx_core.script import load_drama, parse_script


def cyber_bob(tmp_path, corpus):
    for name in ("Cyber_Bob_ep00001.fountain", "Cyber_Bob_epWinDebateAgainstLincoln.fountain"):
        (tmp_path / name).write_bytes((corpus / name).read_bytes())
    return load_drama(tmp_path)


def test_aliases_merge_only_where_the_script_is_clear(tmp_path, corpus):
    characters = {c.character_id: c for c in extract_character_bibles(cyber_bob(tmp_path, corpus))}
    assert characters["bob"].aliases == ["CYBER BOB"]  # 'CYBER BOB, 40, a white man' in the action
    assert characters["margaret"].aliases == ["MARGARGET"]  # a one-letter typo, 2 cues against 19
    assert characters["cyber_boss"].aliases == ["BOSS"]
    # numbered minor characters stay distinct
    assert {"audience_member_one", "audience_member_two", "audience_member_three"} <= set(characters)
    assert "lincoln" in characters and "moderator" in characters


def test_one_bible_per_character_across_episodes(tmp_path, corpus):
    drama = cyber_bob(tmp_path, corpus)
    bob = next(c for c in extract_character_bibles(drama) if c.character_id == "bob")
    assert bob.cue_count == 18 + 24  # cues from both episodes, under both names
    # introduced in episode 1 only; the bible carries it into episode 4
    assert (bob.appearance.age_range, bob.appearance.gender) == ("37-43", "male")
    assert bob.appearance.skin_tone == "#f1c9a5"  # 'a white man'


def test_introductions_fill_the_appearance(corpus):
    characters = {c.character_id: c for c in extract_character_bibles(parse_script(corpus / "Cyber_Bob_ep00001.fountain"))}
    margaret = characters["margaret"]
    assert margaret.appearance.age_range == "34-40"
    assert margaret.appearance.gender == "female"
    assert "amicable" in margaret.appearance.face_description
    assert margaret.introduced_line == 32


def test_writer_instructions_are_not_characters(corpus):
    script = parse_script(corpus / "Cyber_Bob_epSithSuperInformalLanguage.fountain")
    assert [c.character_id for c in extract_character_bibles(script)] == ["bob", "person"]


def test_wardrobe_and_lighting_from_the_script(sample_bibles):
    ava = sample_bibles.character("ava")
    assert ava.wardrobe["default"].description == "a yellow slicker"
    assert ava.outfit_for(2).top_color == "#e0bd3a"  # keeps the slicker until told otherwise
    june = sample_bibles.character("june")
    assert june.outfit_for(1).description == "a green cardigan"  # the first described outfit is her default
    assert june.outfit_for(3).description == "a green cardigan"
    night_sea = sample_bibles.location("open_sea").lighting_palette
    day_office = sample_bibles.location("harbourmasters_office").lighting_palette
    assert night_sea.mood == "cool moonlit night" and day_office.colour_temperature_k == 4300
    assert sample_bibles.location("open_sea").camera_style.movement == "handheld"  # waves, storm, boats


def test_voices_are_distinct_and_stable(tmp_path, corpus, sample_bibles):
    for bibles in (sample_bibles, extract_bibles(cyber_bob(tmp_path, corpus), "cyber_bob")):
        voices = [(c.voice_profile.voice_id, c.voice_profile.pitch) for c in bibles.characters]
        assert len(set(voices)) == len(voices)
    assert extract_bibles(cyber_bob(tmp_path, corpus), "x") == extract_bibles(cyber_bob(tmp_path, corpus), "x")


def test_every_location_has_a_bible(sample_script, sample_bibles):
    assert {s.location_id for s in sample_bibles.locations} == {
        "harbour_wall", "harbourmasters_office", "tomass_kitchen", "open_sea"
    }
    assert len({s.lighting_palette.ambient_color for s in sample_bibles.locations}) == 4
