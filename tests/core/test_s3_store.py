"""The artifact store on a real S3-compatible server (SeaweedFS) on 127.0.0.1."""

import hashlib
import json
import os
import threading

import pytest

from zipx_core.storage import S3ArtifactStore, StorageError
from tests.s3server import SECRET_KEY, S3Server


@pytest.fixture
def server(tmp_path):
    s3 = S3Server(tmp_path / "s3").start()
    yield s3
    s3.stop()


def store_on(server, tmp_path, **kwargs) -> S3ArtifactStore:
    return S3ArtifactStore(server.client(**kwargs), "zipx", prefix="studio", cache_root=tmp_path / "cache")


def test_round_trip_and_records(server, tmp_path):
    store = store_on(server, tmp_path)
    source = tmp_path / "clip.bin"
    source.write_bytes(b"frames" * 1000)
    artifact = store.put_file(source, "clips", ".mp4")
    assert artifact.uri.startswith("zipx://clips/") and not source.exists()
    assert store.exists(artifact.uri)
    fresh = store_on(server, tmp_path / "other-machine")  # an empty cache: a real download
    assert fresh.path(artifact.uri).read_bytes() == b"frames" * 1000
    store.put_record("takes", "abc", {"clip": artifact.uri})
    assert fresh.get_record("takes", "abc") == {"clip": artifact.uri}
    assert fresh.get_record("takes", "missing") is None
    assert any(key.startswith("studio/clips/") for key in server.objects("studio/"))


def test_large_video_goes_up_in_parts(server, tmp_path):
    store = store_on(server, tmp_path)
    data = os.urandom(20 * 1024 * 1024)
    source = tmp_path / "episode.mp4"
    source.write_bytes(data)
    parts = []
    artifact = store.put_file(source, "episodes", ".mp4", callback=parts.append)
    assert len(parts) > 2  # boto3 reported progress per part: a multipart upload
    head = store.client.head_object(Bucket="zipx", Key="studio/" + artifact.uri[len("zipx://"):])
    assert head["ContentLength"] == len(data)
    assert hashlib.sha256(store_on(server, tmp_path / "b").path(artifact.uri).read_bytes()).hexdigest() == artifact.sha256


def test_missing_key_and_bad_uri(server, tmp_path):
    store = store_on(server, tmp_path)
    uri = "zipx://clips/00/" + "0" * 64 + ".mp4"
    assert not store.exists(uri)
    with pytest.raises(StorageError, match="download .* failed"):
        store.path(uri)
    with pytest.raises(StorageError):
        store.path("zipx://../../etc/passwd")


def test_wrong_credential_is_a_clear_error_without_the_secret(server, tmp_path):
    store = store_on(server, tmp_path, secret="wrong-secret-value")
    source = tmp_path / "x.bin"
    source.write_bytes(b"x")
    with pytest.raises(StorageError) as caught:
        store.put_file(source, "clips", ".mp4")
    message = str(caught.value)
    assert "SignatureDoesNotMatch" in message or "AccessDenied" in message or "403" in message
    assert "wrong-secret-value" not in message and SECRET_KEY not in message
    assert source.exists()  # nothing lost: the file stays where it was


def test_server_gone_mid_upload_leaves_no_half_object(server, tmp_path):
    store = store_on(server, tmp_path)
    source = tmp_path / "big.mp4"
    source.write_bytes(os.urandom(40 * 1024 * 1024))
    sent = []

    def kill_after_first_part(count):
        sent.append(count)
        if sum(sent) > 8 * 1024 * 1024 and server.process.poll() is None:
            threading.Thread(target=server.stop).start()

    with pytest.raises(StorageError, match="upload .* failed"):
        store.put_file(source, "episodes", ".mp4", callback=kill_after_first_part)
    assert source.exists()
    server.start()  # back up on the same data
    listing = store.client.list_objects_v2(Bucket="zipx", Prefix="studio/episodes/")
    assert listing.get("KeyCount", 0) == 0  # never a partial object where a reader would look


def test_presigned_url_lets_a_provider_fetch_without_credentials(server, tmp_path):
    import httpx

    store = store_on(server, tmp_path)
    source = tmp_path / "still.png"
    source.write_bytes(b"\x89PNG reference frame")
    artifact = store.put_file(source, "references", ".png")
    url = store.presigned_url(artifact.uri, expires_s=60)
    assert SECRET_KEY not in url and "X-Amz-Signature=" in url
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == b"\x89PNG reference frame"
    assert httpx.get(url.split("?")[0]).status_code in (400, 401, 403)  # the bare URL is refused


def test_a_drama_budget_holds_across_machines(server, tmp_path):
    """The ledger on S3, charged by four processes with no lock in common: only the
    bucket's conditional writes keep the drama's $60 from being overspent."""
    from tests.core.test_generation import charge_at_once

    assert charge_at_once(server.endpoint, tmp_path) == 60
    ledger = store_on(server, tmp_path).client.get_object(Bucket="zipx", Key="records/spend/drama.json")["Body"].read()
    charges = json.loads(ledger)["charges"]
    assert len(charges) == 60 and sum(c["usd"] for c in charges.values()) == 60.0


def test_records_changed_from_many_threads_lose_no_update(server, tmp_path):
    stores = [store_on(server, tmp_path / f"machine{n}") for n in range(6)]

    def add_ten(store):
        for _ in range(10):
            store.update_record("counts", "shots", lambda r: {"n": (r or {"n": 0})["n"] + 1})

    threads = [threading.Thread(target=add_ten, args=(store,)) for store in stores]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert stores[0].get_record("counts", "shots") == {"n": 60}
    assert stores[0].update_record("counts", "shots", lambda r: None) == {"n": 60}  # None: left as it is


def test_a_record_deleted_between_read_and_write_is_read_again(server, tmp_path):
    """AWS answers If-Match on a key deleted meanwhile with NoSuchKey: that is another
    writer's win too, so the change is redone on what is there now (nothing)."""
    store = store_on(server, tmp_path)
    store.put_record("counts", "shots", {"n": 5})
    seen = []

    def add_one(record):
        seen.append(record)
        if len(seen) == 1:  # someone else removes the record after this writer read it
            store.client.delete_object(Bucket="zipx", Key="studio/records/counts/shots.json")
        return {"n": (record or {"n": 0})["n"] + 1}

    assert store.update_record("counts", "shots", add_one) == {"n": 1}
    assert seen == [{"n": 5}, None] and store.get_record("counts", "shots") == {"n": 1}


def test_a_server_that_ignores_conditional_writes_is_refused(server, tmp_path):
    """Simulated by a client that drops the condition headers before they are sent: the
    server then overwrites, as rclone's S3 server does, and the store must refuse it."""
    store = store_on(server, tmp_path)

    def drop_conditions(request, **_):
        for header in ("If-None-Match", "If-Match"):
            del request.headers[header]  # (a missing header is no error)

    store.client.meta.events.register("before-sign.s3.PutObject", drop_conditions)
    with pytest.raises(StorageError, match="ignores conditional writes"):
        store.update_record("spend", "drama", lambda r: {"charges": {}})
    assert store.get_record("spend", "drama") is None  # nothing written


def test_zipx_tasks_acts_on_the_s3_store_the_runs_use(server, tmp_path, monkeypatch, capsys):
    """With ZIPX_S3_BUCKET set, `zipx tasks` lists and releases the submissions recorded on
    S3 (where a run on another machine wrote them), not in a local folder."""
    from tests.s3server import ACCESS_KEY
    from zipx_core.cli import main

    for variable, value in {"ZIPX_S3_BUCKET": "zipx", "ZIPX_S3_PREFIX": "studio", "ZIPX_S3_ENDPOINT_URL": server.endpoint,
                            "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}.items():
        monkeypatch.setenv(variable, value)
    run = store_on(server, tmp_path / "worker")
    lost = {"state": "submitting", "provider": "kling", "model": "kling-v2", "shot_id": "ep01-sc001-02"}
    run.put_record("tasks", "a" * 64, lost)
    run.put_record("tasks", "b" * 64, {**lost, "state": "done", "shot_id": "ep01-sc001-03"})
    home = tmp_path / "laptop"  # empty: nothing local to find
    assert main(["tasks", "unknown", "--home", str(home)]) == 0
    listed = capsys.readouterr().out
    assert "a" * 64 in listed and "ep01-sc001-02" in listed and "b" * 64 not in listed
    assert main(["tasks", "release", "a" * 64, "--home", str(home)]) == 0
    assert run.get_record("tasks", "a" * 64)["state"] == "not_sent" and run.list_records("tasks") == ["a" * 64, "b" * 64]
    assert not (home / "artifacts" / "records").exists()
