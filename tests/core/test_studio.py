"""The composition root: the CLI and the Dagster resources build the same Studio from the
same environment, so they act on the same store (a local folder, or a real S3-compatible
server on 127.0.0.1); records are named in one place; the embedder costs nothing until used."""

import subprocess
import sys

import dagster as dg
import pytest

from zipx_core.cli import main
from zipx_core.records import Records, by_episode
from zipx_core.storage import LocalArtifactStore, PresignedURLs, S3ArtifactStore
from zipx_core.studio import PROVIDER_KEYS, Studio, StudioConfig
from zipx_dagster.resources import artifact_store_from_env, generation_from_env, studio
from tests.core.test_cli import IMAGE, recorded_tasks
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server


@pytest.fixture
def clean_env(monkeypatch):
    for variable in ("ZIPX_S3_BUCKET", "ZIPX_S3_PREFIX", "ZIPX_S3_ENDPOINT_URL", "ZIPX_HOME", "ZIPX_SPEECH_ENGINE",
                     "ZIPX_LLM_MODEL", *(v for fields in PROVIDER_KEYS.values() for v in fields.values())):
        monkeypatch.delenv(variable, raising=False)


def the_runs_studio(home) -> Studio:
    """The Studio an asset builds: the code location's resources, resolved as a run resolves them."""
    with dg.build_resources({"artifacts": artifact_store_from_env(home), "generation": generation_from_env()}) as resources:
        return studio(resources.artifacts, resources.generation, home=home)


def test_the_cli_and_the_runs_open_the_same_local_store(clean_env, tmp_path, capsys):
    cli, runs = Studio.from_env(tmp_path), the_runs_studio(tmp_path)
    assert cli.config == runs.config
    assert isinstance(cli.store, LocalArtifactStore) and not isinstance(cli.store, PresignedURLs)
    recorded_tasks(runs.store)  # what a run left
    assert main(["tasks", "release", IMAGE, "--home", str(tmp_path)]) == 0
    assert runs.records.image_tasks(IMAGE).get()["state"] == "not_sent"  # where the next run reads it


@pytest.fixture
def s3(tmp_path, monkeypatch):
    server = S3Server(tmp_path / "s3").start()
    for variable, value in {"ZIPX_S3_BUCKET": "zipx", "ZIPX_S3_PREFIX": "studio", "ZIPX_S3_ENDPOINT_URL": server.endpoint,
                            "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}.items():
        monkeypatch.setenv(variable, value)
    yield server
    server.stop()


def test_the_cli_and_the_runs_open_the_same_s3_store(clean_env, s3, tmp_path, capsys):
    laptop, worker = Studio.from_env(tmp_path / "laptop"), the_runs_studio(tmp_path / "worker")
    assert isinstance(laptop.store, S3ArtifactStore) and isinstance(laptop.store, PresignedURLs)
    assert (worker.store.bucket, worker.store.prefix) == (laptop.store.bucket, laptop.store.prefix) == ("zipx", "studio")
    worker.records.image_tasks(IMAGE).put({"provider": "gemini_image", "model": "gemini-image", "label": "ava/front",
                                           "state": "submitting"})
    assert main(["tasks", "unknown", "--home", str(tmp_path / "laptop")]) == 0
    assert IMAGE in capsys.readouterr().out  # a record the run wrote through Records, found by the CLI
    assert set(s3.objects("studio/records/image_tasks/")) == {f"studio/records/image_tasks/{IMAGE}.json"}


def test_each_record_kind_is_named_once(tmp_path):
    kinds = Records.kinds()
    assert len({k.kind for k in kinds.values()}) == len(kinds)  # no two attributes share a kind
    records = Records(LocalArtifactStore(tmp_path))
    records.review("lab", "ep01").put({"shot": "approved"})
    assert tmp_path.joinpath("records", "review", f"{by_episode('lab', 'ep01')}.json").is_file()
    assert records.review.names() == ["lab__ep01"] and records.thresholds("open_clip:ViT-B-32").name == "open_clip_vit_b_32"
    assert records.rerolls("lab").update(lambda r: {**(r or {}), "ava": 1}) == {"ava": 1}


def test_the_video_models_hold_local_beside_the_hosted_ones_with_keys(clean_env, tmp_path, monkeypatch):
    assert list(Studio.from_env(tmp_path).video_models()) == ["local"]
    monkeypatch.setenv("ARK_API_KEY", "not-a-real-key")
    models = Studio.from_env(tmp_path).video_models()
    assert {name: model.name for name, model in models.items()} == {"local": "local", "seedance": "seedance"}
    assert Studio.from_env(tmp_path).still_source("lab").hosted  # hosted models set up: hosted stills


def test_the_colour_embedder_never_imports_torch(tmp_path):
    """In a fresh process: building the Studio (and the CLI and the resources) and choosing
    the colour embedder leave torch unimported."""
    code = (
        "import sys\n"
        "import zipx_core.cli, zipx_dagster.resources\n"
        "from zipx_core.studio import EmbedderConfig, Studio, StudioConfig\n"
        f"made = Studio(StudioConfig.at({str(tmp_path)!r}, embedder=EmbedderConfig(embedder='colour')))\n"
        "embedder, note = made.embedder()\n"
        "made.store, made.manifests, made.records, made.video_models(), made.speech_engine()\n"
        "assert type(embedder).__name__ == 'ColourEmbedder', embedder\n"
        "assert 'torch' not in sys.modules and 'open_clip' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_config_is_plain_data(tmp_path):
    config = StudioConfig.at(tmp_path)
    assert StudioConfig.model_validate_json(config.model_dump_json()) == config
    assert config.store.root == str(tmp_path.resolve() / "artifacts") and config.embedder.embedder == "auto"
