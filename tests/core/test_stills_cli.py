"""`zipx stills`: list a drama's still slots, approve a candidate (the next reference_frames
run locks it), re-roll a character; on a local home with a ReferenceSet drawn offline on
tiny frames, as the runs leave it (the manifest and the `references` record)."""

import numpy as np
import pytest
from PIL import Image

from zipx_core.bible import extract_bibles
from zipx_core.cli import main
from zipx_core.manifests import ManifestReader
from zipx_core.models import CharacterBibles, ReferenceSet, SceneBibles
from zipx_core.qa.references import lock_references, make_references
from zipx_core.records import Records
from zipx_core.script import load_drama
from zipx_core.storage import store_from_env
from zipx_core.storyboard import plan_episode

DRAMA = "kitchen"
SCRIPT = """Title: Kitchen

INT. KITCHEN - DAY

ANNA, 30, a woman with red hair, in a blue coat, makes tea.

ANNA
Tea?

BEN, 40, a broad man with grey hair, reads the paper.

BEN
Please.
"""


class SeededDrawer:
    """Draws what its seed says, as a hosted image model does (the offline drawer draws
    from the bible alone: its two candidates are the same still)."""

    def still(self, request):
        noise = np.random.default_rng(request.seed).integers(0, 256, (request.height, request.width, 3), dtype=np.uint8)
        return Image.fromarray(noise)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home whose bibles are materialized; `draw(auto)` locks and saves its still slots."""
    for variable in ("ZIPX_S3_BUCKET", "ZIPX_HOME"):
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / f"{DRAMA}.fountain"
    path.write_text(SCRIPT)
    script = load_drama(path)
    bibles = extract_bibles(script, DRAMA)
    store = store_from_env(tmp_path)  # what the CLI opens for --home tmp_path
    reader = ManifestReader(store)
    reader.save("character_bible", DRAMA, None, CharacterBibles(drama=DRAMA, characters=bibles.characters))
    reader.save("scene_bible", DRAMA, None, SceneBibles(drama=DRAMA, locations=bibles.locations))
    boards = [plan_episode(script, e.key, bibles, DRAMA) for e in script.episodes]

    def draw(auto: bool = True) -> ReferenceSet:
        locked = lock_references(store, make_references(bibles, boards, store, 32, 18, SeededDrawer()), auto=auto)
        reader.save("reference_frames", DRAMA, None, locked)
        return locked

    return tmp_path, store, reader, draw


def stills(home_dir, *args) -> list[str]:
    return ["stills", *args, "--home", str(home_dir)]


def next_run(store, reader) -> ReferenceSet:
    """What the next reference_frames run does when nothing changed: the stored slots, with
    the approvals recorded since."""
    locked = lock_references(store, ReferenceSet(drama=DRAMA), auto=False)
    reader.save("reference_frames", DRAMA, None, locked)
    return locked


def test_list_shows_every_slot_its_candidates_and_what_awaits_a_person(home, capsys):
    home_dir, _, _, draw = home
    locked = draw(auto=True)
    assert main(stills(home_dir, "list", DRAMA)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{DRAMA}: {len(locked.slots)} still slots (local)"
    for slot in locked.slots:
        assert f"{slot.slot}  (local)" in out
        for k, uri in enumerate(slot.candidates, start=1):
            line = next(line for line in out if uri in line)
            assert line.split()[0] == str(k) and float(line.split()[1]) == slot.scores[k - 1]
            assert line.endswith("✓ approved by auto (best score)") == (uri == slot.approved)
    assert {s.entity for s in locked.slots} == {"anna", "ben", "kitchen"}
    assert out[-1] == f"0 of {len(locked.slots)} slots await a person"

    draw(auto=False)  # as with a hosted image model: every slot waits for a person
    assert main(stills(home_dir, "list", DRAMA)) == 0
    out = capsys.readouterr().out.splitlines()
    assert "✓" not in "\n".join(out) and sum(line.endswith("awaiting a person") for line in out) == len(locked.slots)
    assert out[-1].startswith(f"{len(locked.slots)} of {len(locked.slots)} slots await a person (`zipx stills approve {DRAMA} SLOT N")


def test_approve_by_number_or_uri_is_recorded_and_locked_by_the_next_run(home, capsys):
    home_dir, store, reader, draw = home
    locked = draw(auto=False)
    first, second = locked.slots[0], locked.slots[-1]

    assert main(stills(home_dir, "approve", DRAMA, first.slot, "2", "--by", "Ana")) == 0
    said = capsys.readouterr().out
    assert f"{first.slot}: {first.candidates[1]} chosen by Ana" in said
    assert f"the next reference_frames run for {DRAMA} locks it" in said and f"--partition {DRAMA}" in said
    assert store.get_record("still_approvals", DRAMA)[first.slot] | {"at": None} == {"uri": first.candidates[1], "by": "Ana", "at": None}
    assert main(stills(home_dir, "approve", DRAMA, second.slot, second.candidates[0], "--by", "Ben")) == 0
    capsys.readouterr()

    assert main(stills(home_dir, "list", DRAMA)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith(f"{len(locked.slots) - 2} of {len(locked.slots)} slots await a person")
    assert out[-1].endswith("; 2 chosen, locked by the next reference_frames run")
    assert next(line for line in out if first.candidates[1] in line).endswith("chosen by Ana: locked by the next reference_frames run")

    after = next_run(store, reader)
    approved = {s.slot: (s.approved, s.approved_by) for s in after.slots}
    assert approved[first.slot] == (first.candidates[1], "Ana") and approved[second.slot] == (second.candidates[0], "Ben")
    assert main(stills(home_dir, "list", DRAMA)) == 0
    out = capsys.readouterr().out.splitlines()
    assert next(line for line in out if first.candidates[1] in line).endswith("✓ approved by Ana")
    waiting = len(locked.slots) - 2
    assert out[-1] == f"{waiting} of {len(locked.slots)} slots await a person (`zipx stills approve {DRAMA} SLOT N --by NAME`)"


def test_approve_by_defaults_to_the_user_as_review_does(home, monkeypatch, capsys):
    """No --by: the chooser is $USER, else the system's login name (the same default as `zipx review`)."""
    import zipx_core.cli as cli

    home_dir, store, _, draw = home
    first, second = draw(auto=False).slots[:2]
    monkeypatch.setenv("USER", "carla")
    assert main(stills(home_dir, "approve", DRAMA, first.slot, "1")) == 0
    assert "chosen by carla" in capsys.readouterr().out
    monkeypatch.delenv("USER")
    monkeypatch.setattr(cli.getpass, "getuser", lambda: "dora")
    assert main(stills(home_dir, "approve", DRAMA, second.slot, "1")) == 0
    approvals = Records(store).still_approvals(DRAMA).get()
    assert (approvals[first.slot]["by"], approvals[second.slot]["by"]) == ("carla", "dora")


@pytest.mark.parametrize("candidate", ["0", "3", "zipx://references/00/" + "0" * 64 + ".png", "best"])
def test_an_unknown_candidate_is_refused_and_nothing_recorded(home, capsys, candidate):
    home_dir, store, _, draw = home
    slot = draw().slots[0]
    assert main(stills(home_dir, "approve", DRAMA, slot.slot, candidate, "--by", "Ana")) == 2
    assert capsys.readouterr().err == (f"error: still slot {slot.slot} has no candidate {candidate!r}: "
                                       "give its number (1 to 2) or one of its URIs\n")
    assert store.get_record("still_approvals", DRAMA) is None


def test_an_unknown_slot_a_missing_name_or_drama_is_refused(home, capsys):
    home_dir, store, _, draw = home
    assert main(stills(home_dir, "list", "nowhere")) == 2  # never a silent empty list
    assert capsys.readouterr().err == "error: nowhere: no reference stills; materialize reference_frames for it (drama_job) first\n"
    assert main(stills(home_dir, "list", DRAMA)) == 2  # bibles, but no stills drawn yet
    assert f"error: {DRAMA}: no reference stills" in capsys.readouterr().err
    assert main(stills(home_dir, "list", "Not A Slug")) == 2
    assert "not a manifest name" in capsys.readouterr().err

    slot = draw().slots[0]
    assert main(stills(home_dir, "approve", DRAMA, "anna/back/default", "1", "--by", "Ana")) == 2
    assert capsys.readouterr().err == f"error: {DRAMA} has no still slot 'anna/back/default'\n"
    assert main(stills(home_dir, "approve", DRAMA, slot.slot, "1", "--by", " ")) == 2
    assert "--by NAME" in capsys.readouterr().err
    assert main(stills(home_dir, "approve", DRAMA, slot.slot)) == 2
    assert "stills approve takes DRAMA SLOT CANDIDATE" in capsys.readouterr().err
    assert store.get_record("still_approvals", DRAMA) is None


def test_stills_locked_before_slots_were_kept_say_what_to_run(home, capsys):
    home_dir, _, reader, draw = home
    old = draw().model_copy(update={"slots": []})
    reader.save("reference_frames", DRAMA, None, old)
    assert main(stills(home_dir, "list", DRAMA)) == 2
    err = capsys.readouterr().err
    assert "locked before still slots were kept" in err and "--select reference_frames" in err


def test_reroll_records_a_new_seed_and_releases_only_that_character(home, capsys):
    home_dir, store, _, draw = home
    draw()
    assert main(stills(home_dir, "reroll", DRAMA, "ben")) == 0
    assert capsys.readouterr().out.startswith("ben: re-roll 1 recorded; to draw new candidates, materialize reference_frames")
    assert store.get_record("rerolls", DRAMA) == {"ben": 1}
    assert set(store.get_record("references", DRAMA)["characters"]) == {"anna"}
    assert main(stills(home_dir, "reroll", DRAMA, "ben")) == 0
    assert store.get_record("rerolls", DRAMA) == {"ben": 2}
    capsys.readouterr()

    assert main(stills(home_dir, "reroll", DRAMA, "carol")) == 2
    assert capsys.readouterr().err == f"error: {DRAMA} has no character 'carol'\n"
    assert main(stills(home_dir, "reroll", "nowhere", "ben")) == 2
    assert "nowhere: no materialized bibles" in capsys.readouterr().err
