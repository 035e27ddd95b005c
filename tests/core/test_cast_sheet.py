"""The cast sheet: export, validated import of a person's edits (an overlay on
extraction), approvals that lock, the reader hook, the CLI, and a change that re-opens
only what shows the changed character."""

import json
from dataclasses import dataclass, field

import pytest
import yaml

from zipx_core.bible.build import build_bibles
from zipx_core.bible.cast_sheet import (
    CastSheetError,
    export_cast_sheet,
    import_cast_sheet,
    load_cast_record,
    parse_cast_sheet,
    show_cast,
)
from zipx_core.bible.voices import load_voice_lock
from zipx_core.cli import main
from zipx_core.generation import RenderSettings, generate_shots, request_hash
from zipx_core.models import CharacterBibles, SceneBibles
from zipx_core.prompting import build_request
from zipx_core.providers import LocalRenderer
from zipx_core.qa.references import references_for_drama
from zipx_core.script import load_drama
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode

DRAMA = "two_rooms"
SCRIPT = """Title: Two Rooms

INT. KITCHEN - DAY

MARY, 30, a white woman with red hair, in a blue coat, makes tea.

JOHN, 40, a brown man with grey hair, in a green sweater, reads the paper.

MARY
Tea?

JOHN
Please. Two sugars.

EXT. GARDEN - NIGHT

PETE, 20, a black man with black hair, in a red jacket, waits by the gate.

PETE
Anyone home?
"""


def script_of(tmp_path, text=SCRIPT):
    path = tmp_path / f"{DRAMA}.fountain"
    path.write_text(text)
    return load_drama(path)


@pytest.fixture
def world(tmp_path):
    store = LocalArtifactStore(tmp_path / "artifacts")
    script = script_of(tmp_path)
    return script, store, build_bibles(script, DRAMA, store)


def sheet(**characters) -> str:
    return yaml.safe_dump({"characters": characters})


def test_export_then_import_changes_nothing(world):
    script, store, bibles = world
    text = export_cast_sheet(bibles)
    assert text.startswith("# ZipX cast sheet of two_rooms") and "approved: true locks" in text
    parsed = parse_cast_sheet(text)
    assert set(parsed.characters) == {"mary", "john", "pete"} and set(parsed.places) == {"kitchen", "garden"}
    assert import_cast_sheet(store, DRAMA, bibles, text) == {"changed": {}, "approved": {}}
    assert load_cast_record(store, DRAMA).edits.characters == {}
    assert build_bibles(script, DRAMA, store) == bibles


def test_an_edit_is_kept_as_an_overlay_marked_and_its_voice_locked(world):
    script, store, bibles = world
    edited = yaml.safe_load(export_cast_sheet(bibles))
    pitch = 10 if bibles.character("mary").voice_profile.pitch != 10 else 11
    edited["characters"]["mary"]["appearance"]["hair"] = "red braid"
    edited["characters"]["mary"]["voice"]["pitch"] = pitch
    summary = import_cast_sheet(store, DRAMA, bibles, yaml.safe_dump(edited), "cast.yaml")
    assert summary["changed"] == {"characters.mary": ["appearance.hair", "voice.pitch"]}
    record = load_cast_record(store, DRAMA).edits.characters["mary"]
    assert record.model_dump(exclude_none=True) == {"appearance": {"hair": "red braid"}, "voice": {"pitch": pitch}}
    mary = build_bibles(script, DRAMA, store).character("mary")
    assert (mary.appearance.hair, mary.voice_profile.pitch) == ("red braid", pitch)
    assert mary.provenance["hair"] == "cast sheet" and mary.provenance["voice"] == "cast sheet"
    assert load_voice_lock(store, DRAMA)["mary"].pitch == pitch  # a voice set on the sheet is locked


@pytest.mark.parametrize("path, value, message", [
    (("appearance", "gender"), "woman", "characters.mary.appearance.gender: must be one of 'female', 'male' or 'unspecified'"),
    (("voice", "pitch"), 150, "characters.mary.voice.pitch: must be less than or equal to 99"),
    (("appearance", "hair_color"), "red", "characters.mary.appearance.hair_color: must be a colour like #a4452a"),
    (("appearance", "eye_color"), "#112233", "characters.mary.appearance.eye_color: not an editable field"),
    (("appearance", "age_range"), "thirties", "characters.mary.appearance.age_range: must be an age or an age range"),
])
def test_a_bad_field_is_named_with_its_line_and_nothing_is_stored(world, path, value, message):
    _, store, bibles = world
    edited = yaml.safe_load(export_cast_sheet(bibles))
    edited["characters"]["mary"][path[0]][path[1]] = value
    text = yaml.safe_dump(edited, sort_keys=False)
    rows = text.splitlines()
    mary = rows.index("  mary:")
    line = next(n for n, row in enumerate(rows[mary:], mary + 1) if row.strip().startswith(f"{path[1]}:"))
    with pytest.raises(CastSheetError) as error:
        import_cast_sheet(store, DRAMA, bibles, text, "cast.yaml")
    assert str(error.value).startswith(f"cast.yaml line {line}: {message}")
    assert store.get_record("cast_sheet", DRAMA) is None


def test_unknown_ids_wrong_drama_bad_yaml_and_half_an_outfit_are_refused(world):
    _, store, bibles = world
    with pytest.raises(CastSheetError, match=r"characters\.bob: no such character in two_rooms \(its characters: john, mary, pete\)"):
        import_cast_sheet(store, DRAMA, bibles, sheet(bob={"display_name": "Bob"}), "cast.yaml")
    with pytest.raises(CastSheetError, match=r"approve: 'cellar' is neither a character nor a place"):
        import_cast_sheet(store, DRAMA, bibles, None, approve=["cellar"])
    with pytest.raises(CastSheetError, match=r"drama: this sheet is for 'other', not 'two_rooms'"):
        import_cast_sheet(store, DRAMA, bibles, "drama: other\n", "cast.yaml")
    with pytest.raises(CastSheetError, match=r"cast.yaml line 2: not valid YAML: found character '\\t'"):
        import_cast_sheet(store, DRAMA, bibles, "characters:\n\tmary: {}\n", "cast.yaml")
    with pytest.raises(CastSheetError, match=r"characters\.mary\.wardrobe\.scene_2: an outfit is 'default' or 'scene-N'"):
        import_cast_sheet(store, DRAMA, bibles, sheet(mary={"wardrobe": {"scene_2": {"top_color": "#112233"}}}), "cast.yaml")
    with pytest.raises(CastSheetError, match=r"characters\.mary: description: Field required \(a new outfit needs"):
        import_cast_sheet(store, DRAMA, bibles, sheet(mary={"wardrobe": {"scene-2": {"top_color": "#112233"}}}), "cast.yaml")
    assert store.get_record("cast_sheet", DRAMA) is None


def test_edits_survive_re_extraction_and_untouched_fields_follow_it(tmp_path, world):
    _, store, bibles = world
    import_cast_sheet(store, DRAMA, bibles, sheet(mary={"appearance": {"hair_color": "#101010"}}))
    older = script_of(tmp_path, SCRIPT.replace("MARY, 30", "MARY, 50"))  # the writer ages her
    mary = build_bibles(older, DRAMA, store).character("mary")
    assert mary.appearance.hair_color == "#101010"  # the edit survives
    low, high = map(int, mary.appearance.age_range.split("-"))
    assert low <= 50 <= high  # extraction still updates the fields nobody edited


def test_approval_locks_looks_and_voice_against_a_changed_extraction(tmp_path, world):
    _, store, bibles = world
    approved = build_bibles(script_of(tmp_path), DRAMA, store, approve=["mary", "garden"])
    assert approved.character("mary").approved and approved.location("garden").approved
    changed = SCRIPT.replace("MARY, 30, a white woman with red hair", "MARY, 50, a black woman with blond hair")
    changed = changed.replace("JOHN, 40", "JOHN, 70")
    later = build_bibles(script_of(tmp_path, changed), DRAMA, store)
    mary, john = later.character("mary"), later.character("john")
    assert mary.appearance == approved.character("mary").appearance  # locked
    assert mary.voice_profile == approved.character("mary").voice_profile
    assert john.appearance.age_range != approved.character("john").appearance.age_range  # not approved: follows the script
    assert mary.provenance["age_range"] == "cast sheet" and mary.needs_review == []
    import_cast_sheet(store, DRAMA, later, sheet(mary={"approved": False}))  # released: follows the script again
    assert build_bibles(script_of(tmp_path, changed), DRAMA, store).character("mary").appearance.age_range != mary.appearance.age_range


def test_the_reader_runs_after_the_rules_and_before_the_sheet(world):
    script, store, bibles = world
    seen = []

    def reader(script_, drama, rules_bibles):
        seen.append((drama, {c.character_id for c in rules_bibles.characters}, rules_bibles.character("john").appearance.hair))
        john = rules_bibles.character("john")
        hair = john.appearance.model_copy(update={"hair": "silver waves", "face_description": "from the reader"})
        return rules_bibles.model_copy(update={"characters": [
            c.model_copy(update={"appearance": hair}) if c.character_id == "john" else c for c in rules_bibles.characters
        ]})

    import_cast_sheet(store, DRAMA, bibles, sheet(john={"appearance": {"hair": "bald"}}))
    john = build_bibles(script, DRAMA, store, reader=reader).character("john")
    assert seen == [(DRAMA, {"mary", "john", "pete"}, bibles.character("john").appearance.hair)]  # the rules' bibles
    assert john.appearance.face_description == "from the reader"  # the reader's where the sheet is silent
    assert john.appearance.hair == "bald"  # the sheet over the reader


def test_show_marks_what_needs_review_and_what_is_approved(world):
    _, store, bibles = world
    mary = bibles.character("mary").model_copy(update={"needs_review": ["gender", "emotional_range"], "approved": False})
    john = bibles.character("john").model_copy(update={"approved": True})
    shown = show_cast(bibles.model_copy(update={"characters": [mary, john]}))
    assert "gender: ? — set it" in shown and "emotional_range: ? — set it" in shown
    assert "John (john)  [approved: looks and voice locked]" in shown
    assert "Mary (mary)\n" in shown


@dataclass
class CountingRenderer(LocalRenderer):
    stills_of: list = field(default_factory=list)
    clips_of: list = field(default_factory=list)

    def still(self, request):
        self.stills_of.append(",".join(f.character_id for f in request.figures) or request.location_id)
        return super().still(request)

    def render(self, request, out, attempt=1):
        self.clips_of.append(request.shot_id)
        return super().render(request, out, attempt)


def test_changing_one_character_re_opens_only_its_stills_and_its_shots(world):
    script, store, bibles = world
    settings = RenderSettings(width=112, height=64, workers=1)
    board = plan_episode(script, "ep01", bibles, DRAMA)
    with_mary = {s.shot_id for s in board.shots if "mary" in s.characters}
    assert with_mary and len(with_mary) < len(board.shots)

    def run(current):
        renderer = CountingRenderer()
        references = references_for_drama(script, current, store, 112, 64, renderer=renderer)
        generate_shots(board, current, store, settings, renderer=renderer)
        hashes = {s.shot_id: request_hash("local", renderer.model, build_request(s, current, 112, 64)) for s in board.shots}
        return renderer, references, hashes

    first, references, hashes = run(bibles)
    assert {"mary", "john", "pete", "kitchen", "garden"} <= set(first.stills_of)
    import_cast_sheet(store, DRAMA, bibles, sheet(mary={"appearance": {"hair_color": "#2050ff"}}))
    again, references_after, hashes_after = run(build_bibles(script, DRAMA, store))
    assert set(again.stills_of) == {"mary"}  # only her stills are drawn again
    assert references_after.characters["mary"] != references.characters["mary"]
    assert {k: v for k, v in references_after.characters.items() if k != "mary"} == {k: v for k, v in references.characters.items() if k != "mary"}
    assert references_after.locations == references.locations
    assert {s for s in hashes if hashes[s] != hashes_after[s]} == with_mary  # only her shots are new requests
    assert set(again.clips_of) == with_mary  # and only they are rendered again
    unchanged, _, _ = run(build_bibles(script, DRAMA, store))
    assert unchanged.stills_of == [] and unchanged.clips_of == []  # nothing changed: nothing re-opened


def write_manifests(home, bibles):
    for asset, model in (("character_bible", CharacterBibles(drama=DRAMA, characters=bibles.characters)),
                         ("scene_bible", SceneBibles(drama=DRAMA, locations=bibles.locations))):
        path = home / "manifests" / asset / f"{DRAMA}.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"model": f"zipx_core.models:{type(model).__name__}", "data": model.model_dump(mode="json")}))


def test_cli_export_import_show_on_a_home_with_bibles(tmp_path, world, capsys):
    _, _, bibles = world
    home = tmp_path / "home"
    write_manifests(home, bibles)
    out = tmp_path / "cast.yaml"
    assert main(["cast", "export", "--out", str(out), DRAMA, "--home", str(home)]) == 0
    assert f"wrote the cast sheet of {DRAMA} to {out}" in capsys.readouterr().out
    out.write_text(out.read_text().replace("gender: male", "gender: unspecified", 1))  # john's
    assert main(["cast", "import", DRAMA, str(out), "--approve", "kitchen", "--home", str(home)]) == 0
    said = capsys.readouterr().out
    assert "characters.john: appearance.gender" in said and "kitchen: approved" in said
    assert main(["cast", "show", DRAMA, "--home", str(home)]) == 0
    shown = capsys.readouterr().out
    assert "from the cast sheet: gender" in shown and "(kitchen) [INT]" in shown and "[approved: look locked]" in shown
    assert "not materialized yet" in shown
    assert main(["cast", "export", DRAMA, "--home", str(home)]) == 0
    exported = capsys.readouterr().out
    assert yaml.safe_load(exported)["characters"]["john"]["appearance"]["gender"] == "unspecified"
    out.write_text(exported)
    assert main(["cast", "import", DRAMA, str(out), "--home", str(home)]) == 0
    assert f"{out}: nothing changed" in capsys.readouterr().out


def test_cli_on_an_empty_home_names_the_missing_manifest(tmp_path, capsys):
    assert main(["cast", "show", DRAMA, "--home", str(tmp_path)]) == 2
    missing = tmp_path / "manifests" / "character_bible" / f"{DRAMA}.json"
    assert capsys.readouterr().err.startswith(f"error: no materialized bibles for drama '{DRAMA}': {missing} does not exist")
    assert not (tmp_path / "artifacts").exists()
