"""A script published from the inbox to the store reads the same on a machine that never
saw the inbox: the same parsed script, the music beside it, one artifact per content."""

import shutil

import pytest

from zipx_core.audio.music import find_music
from zipx_core.records import Records
from zipx_core.script import load_drama
from zipx_core.script.published import bundle_files, current_script, fetch_script, publish_script
from zipx_core.storage import LocalArtifactStore
from tests.conftest import SAMPLE


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copyfile(SAMPLE, folder / "Harbour Lights.fountain")
    (folder / "Harbour Lights.ep02.mp3").write_bytes(b"ID3 not really music")
    (folder / "Other Drama.mp3").write_bytes(b"someone else's")
    return folder


def test_a_published_script_parses_the_same_without_the_inbox(inbox, tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    script = inbox / "Harbour Lights.fountain"
    expected = load_drama(script)
    uri = publish_script(store, "harbour_lights", script)
    assert [p.name for p in bundle_files(script)] == ["Harbour Lights.fountain", "Harbour Lights.ep02.mp3"]
    shutil.rmtree(inbox)  # the other machine never had it
    unpacked = fetch_script(store, "harbour_lights", tmp_path / "worker")
    assert load_drama(unpacked) == expected  # the same source name, scenes and line numbers
    assert find_music(unpacked.parent, "harbour_lights", "ep02").name == "Harbour Lights.ep02.mp3"
    assert find_music(unpacked.parent, "harbour_lights", "ep01") is None
    assert Records(store).scripts("harbour_lights").get() == {"uri": uri, "name": "Harbour Lights.fountain"}


def test_the_same_files_are_one_artifact_and_an_edit_is_published(inbox, tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    script = inbox / "Harbour Lights.fountain"
    first = publish_script(store, "harbour_lights", script)
    assert publish_script(store, "harbour_lights", script) == first  # content-addressed: nothing new
    script.write_text(script.read_text() + "\nINT. NEW ROOM - NIGHT\n\nA late scene.\n")
    unpacked = current_script(store, "harbour_lights", script, tmp_path / "run")  # this machine holds the inbox
    assert Records(store).scripts("harbour_lights").get()["uri"] != first
    assert "A late scene." in unpacked.read_text()


def test_a_folder_script_travels_whole(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    folder = tmp_path / "inbox" / "Two Parts"
    folder.mkdir(parents=True)
    text = SAMPLE.read_text()
    (folder / "01.fountain").write_text(text)
    (folder / "02.fountain").write_text(text)
    expected = load_drama(folder)
    publish_script(store, "two_parts", folder)
    assert load_drama(fetch_script(store, "two_parts", tmp_path / "worker")) == expected


def test_a_drama_never_published_says_where_scripts_go(tmp_path):
    with pytest.raises(FileNotFoundError, match="drop it into the inbox"):
        fetch_script(LocalArtifactStore(tmp_path / "store"), "missing", tmp_path / "worker")
