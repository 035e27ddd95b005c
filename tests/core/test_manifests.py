"""The manifests on the artifact store, the same on a local folder and on a real
S3-compatible server (SeaweedFS): one envelope format, one key layout, whole writes,
listing for the room and the CLI, clear errors for corrupt manifests and bad names."""

import json

import pytest

from zipx_core.manifests import ManifestError, ManifestReader
from zipx_core.models import CharacterBibles, Storyboard
from zipx_core.storage import LocalArtifactStore, S3ArtifactStore, StorageError
from tests.s3server import S3Server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s3 = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield s3
    s3.stop()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "home" / "artifacts", objects_root=tmp_path / "home")
    server = request.getfixturevalue("server")
    return S3ArtifactStore(server.client(), "zipx", prefix=f"m{abs(hash(str(tmp_path))) % 10**8}", cache_root=tmp_path / "cache")


def test_round_trip_listing_and_layout(store, tmp_path):
    manifests = ManifestReader(store)
    bibles = CharacterBibles(drama="lab", characters=[])
    assert manifests.load("character_bible", "lab") is None
    where = manifests.save("character_bible", "lab", None, bibles)
    manifests.save("storyboard", "lab", "ep02", Storyboard(drama="lab", episode="ep02", title="Two", shots=[]))
    manifests.save("storyboard", "lab", "ep01", Storyboard(drama="lab", episode="ep01", title="One", shots=[]))
    manifests.save("drama_script", "lab", None, bibles)  # any model: the envelope names it
    assert ManifestReader(store).load("character_bible", "lab") == bibles  # a fresh reader (another machine) sees it
    assert manifests.episodes("lab") == ["ep01", "ep02"] and manifests.dramas() == ["lab"]
    assert manifests.partitions("storyboard") == [("lab", "ep01"), ("lab", "ep02")]
    envelope = json.loads(store.read_object("manifests/character_bible/lab.json"))
    assert envelope["model"] == "zipx_core.models:CharacterBibles" and envelope["data"]["drama"] == "lab"
    if isinstance(store, LocalArtifactStore):  # a laptop's manifests stay in ZIPX_HOME/manifests
        assert where == str(tmp_path / "home" / "manifests" / "character_bible" / "lab.json")
        assert [p.name for p in (tmp_path / "home" / "manifests").rglob("*") if p.name.startswith(".")] == []
    else:
        assert where == f"s3://zipx/{store.prefix}/manifests/character_bible/lab.json"


def test_corrupt_and_foreign_manifests_are_refused_naming_where(store):
    manifests = ManifestReader(store)
    store.write_object("manifests/scene_bible/lab.json", b'{"model": "zipx_core.models:SceneBibles", "data": {"dra')
    with pytest.raises(ManifestError, match=r"scene_bible/lab.json: corrupt manifest .*re-materialize scene_bible"):
        manifests.load("scene_bible", "lab")
    store.write_object("manifests/scene_bible/lab.json", json.dumps({"model": "os:system", "data": {}}).encode())
    with pytest.raises(ManifestError, match="is not a zipx_core model"):
        manifests.load("scene_bible", "lab")
    for bad in ("../etc", "Lab", "a/b"):
        with pytest.raises(ManifestError, match="not a manifest name"):
            manifests.load("scene_bible", bad)
    with pytest.raises(StorageError):
        store.read_object("manifests/../../passwd.json")


def test_a_folder_path_still_reads_as_before(tmp_path):
    """ManifestReader(home / "manifests"): the folder's own layout, no `manifests/` prefix."""
    local = LocalArtifactStore(tmp_path / "artifacts", objects_root=tmp_path)
    ManifestReader(local).save("character_bible", "lab", None, CharacterBibles(drama="lab", characters=[]))
    assert ManifestReader(tmp_path / "manifests").load("character_bible", "lab").drama == "lab"
    assert ManifestReader(tmp_path / "manifests").partitions("character_bible") == [("lab", None)]
