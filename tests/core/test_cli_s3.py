"""`zipx review` and `zipx tasks` on S3 (a real S3-compatible server on 127.0.0.1): with
ZIPX_S3_BUCKET set they read the manifests and records a run on another machine wrote
there, and record a reviewer's decision or a task's release where the next run reads it;
nothing is looked for, or written, on the laptop's disk."""

import pytest

from zipx_core.cli import main
from zipx_core.qa.review import load_decisions
from zipx_core.storage import S3ArtifactStore
from tests.core.test_cli import IMAGE, WAITING, judged_episode, recorded_tasks
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server


@pytest.fixture
def server(tmp_path):
    s3 = S3Server(tmp_path / "s3").start()
    yield s3
    s3.stop()


def on_s3(server, monkeypatch, prefix: str) -> None:
    """The environment the runs have: their bucket and prefix, and the S3 credentials."""
    for variable, value in {"ZIPX_S3_BUCKET": "zipx", "ZIPX_S3_PREFIX": prefix, "ZIPX_S3_ENDPOINT_URL": server.endpoint,
                            "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}.items():
        monkeypatch.setenv(variable, value)


def test_review_list_and_approve_act_on_the_s3_store_the_runs_use(server, tmp_path, monkeypatch, capsys):
    on_s3(server, monkeypatch, "studio")
    run = S3ArtifactStore(server.client(), "zipx", prefix="studio", cache_root=tmp_path / "worker")
    judged_episode(run, tmp_path)  # what a run on another machine left
    laptop = ["--home", str(tmp_path / "laptop")]  # empty: nothing local to find
    assert main(["review", "list", *laptop]) == 0
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == [f"lab ep01 {s}" for s in WAITING]
    assert main(["review", "approve", "lab", "ep01", WAITING[0], "--by", "Ana", *laptop]) == 0
    assert main(["review", "regenerate", "lab", "ep01", WAITING[1], "--note", "steadier", "--by", "Ben", *laptop]) == 0
    decided = load_decisions(run, "lab", "ep01")  # where the next approved_frames run reads them
    assert {s: (d.decision, d.reviewer) for s, d in decided.items()} == {WAITING[0]: ("approve", "Ana"),
                                                                         WAITING[1]: ("regenerate", "Ben")}
    assert not (tmp_path / "laptop" / "artifacts").exists() and not (tmp_path / "laptop" / "manifests").exists()


def test_review_on_an_s3_prefix_with_no_zipx_data_fails_naming_it(server, tmp_path, monkeypatch, capsys):
    on_s3(server, monkeypatch, "studio")
    judged_episode(S3ArtifactStore(server.client(), "zipx", prefix="studio", cache_root=tmp_path / "worker"), tmp_path)
    monkeypatch.setenv("ZIPX_S3_PREFIX", "stuido")  # a typo: the runs write under studio/
    assert main(["review", "list", "--home", str(tmp_path / "laptop")]) == 2
    assert capsys.readouterr().err.startswith("error: no ZipX data on s3://zipx/stuido/manifests/")


def test_tasks_list_and_release_on_s3(server, tmp_path, monkeypatch, capsys):
    on_s3(server, monkeypatch, "studio")
    run = S3ArtifactStore(server.client(), "zipx", prefix="studio", cache_root=tmp_path / "worker")
    recorded_tasks(run)
    laptop = ["--home", str(tmp_path / "laptop")]
    assert main(["tasks", "list", *laptop]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "3 hosted tasks: 1 submitted, 2 submitting"
    assert main(["tasks", "release", IMAGE, *laptop]) == 0
    assert run.get_record("image_tasks", IMAGE)["state"] == "not_sent"
