"""What can be checked of deploy/ without a Docker engine or a cluster (see deploy/README.md)."""

import json
import os
import re
import subprocess
import sys

import yaml

from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def test_compose_parses_and_names_what_exists():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "minio", "zipx-code", "webserver", "daemon"} <= set(services)
    build = services["zipx-code"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve().is_file()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume
        for dependency in service.get("depends_on", []):
            assert dependency in services
    # secrets are required from the environment, never written into the file
    text = (DEPLOY / "docker-compose.yml").read_text()
    assert "DAGSTER_PG_PASSWORD:?" in text and "MINIO_ROOT_PASSWORD:?" in text
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["grpc_server"]["host"] == "zipx-code"


def test_dockerfile_copies_files_that_exist_and_runs_our_module():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+(?: \S+)*) \S+$", dockerfile, re.M):
        for path in source.split():
            assert (REPO / path).exists(), path
    assert '"-m", "zipx_dagster.definitions"' in dockerfile


def test_the_image_entrypoint_module_imports():
    env = {**os.environ, "ZIPX_HOME": "/tmp/zipx-entrypoint-check"}
    result = subprocess.run([sys.executable, "-c", "import zipx_dagster.definitions as d; print(len(d.defs.assets))"],
                            env=env, capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 7


def _key_paths(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path
            if not path.endswith(("runK8sConfig", ".env", "resources", "nodeSelector")):
                yield from _key_paths(value, path)
    elif isinstance(node, list) and prefix.endswith(".deployments"):
        for item in node:
            yield from _key_paths(item, prefix + "[]")


def test_helm_values_use_the_charts_keys():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    known = set(json.loads((DEPLOY / "helm" / "chart-keys.json").read_text())["keys"])
    unknown = [p for p in _key_paths(values) if p not in known]
    assert unknown == []
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagster-user-deployments"]["deployments"][0]["dagsterApiGrpcArgs"] == ["-m", "zipx_dagster.definitions"]


def test_production_instance_config_is_valid_for_dagster(tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert "postgres" in config["storage"]
    assert config["run_retries"]["max_retries"] == 2
