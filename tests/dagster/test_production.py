"""The same code on production parts: the Dagster instance on a real PostgreSQL server
with deploy/dagster.yaml, and the artifacts on a real S3-compatible server."""

import json
import shutil

import dagster as dg
import pytest

from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import run_drama
from zipx_dagster.resources import ArtifactStore, RenderConfig
from tests.conftest import REPO
from tests.pgserver import PostgresServer
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server

pytestmark = pytest.mark.slow
ONE_EPISODE = "INT. LAB - NIGHT\n\nMIA, 29, a tall woman with black hair, checks a monitor.\n\nMIA\nIt worked. It actually worked!\n"


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


def test_partition_materializes_on_postgres_and_s3(tmp_path, postgres, s3, monkeypatch):
    for key, value in postgres.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
    script = tmp_path / "lab.fountain"
    script.write_text(ONE_EPISODE)
    artifacts = ArtifactStore(
        root=str(tmp_path / "s3-cache"), s3_bucket="zipx", s3_prefix="prod", s3_endpoint_url=s3.endpoint,
        aws_access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"), aws_secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
    )
    defs = build_definitions(tmp_path, RenderConfig(width=160, height=90), artifacts)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        episodes = run_drama(instance, script, defs, tmp_path)
        assert len(episodes) == 1 and episodes[0].resolve().is_file()
        runs = instance.get_runs()
        assert len(runs) == 2 and all(r.is_success for r in runs)
        assert instance.get_latest_materialization_event(dg.AssetKey("episode")) is not None
        # the gpu pool, at one slot (what deploy/scripts/init-instance.sh sets)
        instance.event_log_storage.set_concurrency_slots("gpu", 1)
        assert instance.event_log_storage.get_concurrency_info("gpu").slot_count == 1

    objects = s3.objects("prod/")
    assert {"clips", "episodes", "audio", "records"} <= {key.split("/")[1] for key in objects}
    manifest = json.loads(objects["prod/manifests/episode/lab/ep01.json"])["data"]  # the manifests are on S3 too
    assert not (tmp_path / "manifests").exists()  # and not on this machine's disk
    assert manifest["video_uri"].startswith("zipx://episodes/")  # a store URI, not a path
    # secrets: nowhere in what was written (manifests, S3 objects, the run's event log)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".json", ".yaml", ".srt", ".otio")]
    assert written and not any(SECRET_KEY.encode() in p.read_bytes() for p in written)
    assert not any(SECRET_KEY.encode() in body for body in objects.values())
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for run in instance.get_runs():
            for record in instance.all_logs(run.run_id):
                assert SECRET_KEY not in str(record)
