"""Steps on separate machines, for real. dagster-celery over a Redis broker
(scripts/broker.sh), two workers started by scripts/worker.sh, one on the `dagster`
queue and one on `gpu`, each with its own empty ZIPX_HOME, DAGSTER_HOME, working
directory and temp folder, and each in its own mount namespace where the other
workers', the launcher's and the servers' folders are hidden (empty tmpfs): a worker
can reach the others only through the broker, the Dagster instance (a real PostgreSQL
server) and the artifact store (a real S3 server); the inbox is hidden from them too, the
script being read from the store, where the script-drop sensor publishes it (here the
launcher, as the sensor would). The video model is Seedance, answered
by the local protocol server, so paying twice would show as a second submission.

drama_job then episode_job run on the workers: the episode is delivered; the QA step
ran on the GPU worker and no other step did; the CPU worker is killed mid-step (the
shots in flight at the provider) and a re-execution from failure, on a fresh worker
with an empty disk, submits nothing again. The same episode on one machine (the
multiprocess executor) gives the wall-time figures printed at the end."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from zipx_core.manifests import ManifestReader
from zipx_core.media import probe
from zipx_core.script.published import publish_script
from zipx_core.storage import open_store
from tests.conftest import REPO
from tests.pgserver import PostgresServer
from tests.providers_server import KEYS, FakeProviders
from tests.redisserver import RedisServer
from tests.s3server import ACCESS_KEY, BUCKET, SECRET_KEY, S3Server, s3_client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

SCRIPT = """Title: Lab

# One

INT. LAB - NIGHT

MIA, 29, a tall woman with black hair, in a white coat, checks a monitor.

MIA
It worked.

# Two

INT. LAB - LATER

MIA
(crying)
It actually worked!
"""
FOLDERS = ("launcher", "single", "cpu", "cpu2", "gpu", "drop", "s3", "broker")
HIDE = 'while [ "$1" != -- ]; do mount -t tmpfs tmpfs "$1" || exit 1; shift; done; shift; exec "$@"'
INSTANCE = "compute_logs:\n  module: dagster._core.storage.noop_compute_log_manager\n  class: NoOpComputeLogManager\n"
RUN = """
import json, sys
import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository
from zipx_dagster.partitions import drama_episode_key, drama_episode_partitions

job_name, drama, episode, parent, run_config = sys.argv[1:6]
job = ReconstructableRepository.for_module("zipx_dagster.definitions", "defs").get_reconstructable_job(job_name)
key = drama_episode_key(drama, episode) if episode else drama
tags = drama_episode_partitions.get_tags_for_partition_key(key) if episode else {"dagster/partition": drama}
with dg.DagsterInstance.get() as instance:
    options = dg.ReexecutionOptions.from_failure(parent, instance) if parent else None
    result = dg.execute_job(job, instance, run_config=json.loads(run_config), tags=tags, reexecution_options=options)
    print("RUN", result.run_id, result.success, flush=True)
"""


@dataclass
class Cluster:
    root: Path
    env: dict
    isolated: bool
    workers: dict = field(default_factory=dict)

    def folder(self, name: str) -> dict[str, str]:
        """A machine's own folders, and its environment."""
        base = self.root / name
        paths = {part: base / part for part in ("home", "dagster_home", "tmp", "cwd")}
        for path in paths.values():
            path.mkdir(parents=True, exist_ok=True)
        (paths["dagster_home"] / "dagster.yaml").write_text((REPO / "deploy" / "dagster.yaml").read_text() + INSTANCE)
        return {**self.env, "ZIPX_HOME": str(paths["home"]), "DAGSTER_HOME": str(paths["dagster_home"]),
                "TMPDIR": str(paths["tmp"]), "HOME": str(base), "CWD": str(paths["cwd"])}

    def start_worker(self, kind: str, name: str) -> None:
        env = self.folder(name)
        command = ["bash", str(REPO / "scripts" / "worker.sh"), kind, name]
        if self.isolated:  # everything of the other machines hidden
            hidden = [str(self.root / other) for other in FOLDERS if other != name]  # the inbox ("drop") too
            command = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", HIDE, "sh", *hidden, "--", *command]
        log = self.root / f"{name}.log"
        process = subprocess.Popen(command, cwd=env.pop("CWD"), env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
        deadline = time.monotonic() + 90
        while " ready." not in log.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.3)
        self.workers[name] = process

    def kill(self, name: str) -> None:
        """The machine dies: SIGKILL to the worker and its step processes."""
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers.pop(name).wait()

    def launch(self, job: str, drama: str, episode: str = "", parent: str = "", machine: str = "launcher",
               executor: str = "celery", config: dict | None = None) -> subprocess.Popen:
        env = {**self.folder(machine), "ZIPX_EXECUTOR": executor}
        if machine == "single":
            env["ZIPX_S3_PREFIX"] = "single"  # its own store: it renders everything itself
        return subprocess.Popen([sys.executable, "-c", RUN, job, drama, episode, parent, json.dumps(config or {})],
                                cwd=env.pop("CWD"), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def timed(cluster: Cluster, *args, **kwargs) -> tuple[str, float]:
    """Runs a job to its end; its run id and wall time."""
    started = time.monotonic()
    out, _ = cluster.launch(*args, **kwargs).communicate(timeout=240)
    line = next((line for line in out.splitlines() if line.startswith("RUN ")), "")
    assert line.endswith(" True"), out[-6000:]
    return line.split()[1], time.monotonic() - started


def can_isolate() -> bool:
    """Whether this user may give a worker its own mount namespace (root may; others run
    the workers without hiding the other folders, and the test says so)."""
    if not shutil.which("unshare"):
        return False
    trial = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "mount -t tmpfs tmpfs /mnt"]
    return subprocess.run(trial, capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    for name in FOLDERS:
        (root / name).mkdir()
    (root / "drop" / "lab.fountain").write_text(SCRIPT)
    postgres, s3, broker = PostgresServer().start(), S3Server(root / "s3").start(), RedisServer(root / "broker").start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZIPX_", "DAGSTER_", "AWS_"))}
    env.update(postgres.environ(), ZIPX_CELERY_BROKER=broker.url, ZIPX_S3_BUCKET=BUCKET, ZIPX_S3_PREFIX="dist",
               ZIPX_S3_ENDPOINT_URL=s3.endpoint, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               ARK_API_KEY=KEYS["seedance"])
    made = Cluster(root, env, isolated=can_isolate())
    try:
        made.start_worker("cpu", "cpu")
        made.start_worker("gpu", "gpu")
        yield made
    finally:
        for name in list(made.workers):
            made.kill(name)
        broker.stop(), s3.stop(), postgres.stop()


@pytest.fixture(scope="module")
def instance(cluster):
    cluster.folder("launcher")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in cluster.env.items():
            patch.setenv(key, value)
        with dg.DagsterInstance.from_config(str(cluster.root / "launcher" / "dagster_home")) as opened:
            opened.add_dynamic_partitions("drama", ["lab"])
            opened.add_dynamic_partitions("episode", ["ep01", "ep02"])
            # as the script-drop sensor does on the machine with the inbox: the workers read it from S3
            publish_script(dist_store(cluster), "lab", cluster.root / "drop" / "lab.fountain")
            yield opened


def run_config(cluster: Cluster, fake: FakeProviders) -> dict:
    """What every machine gets with the run: the inbox (empty on the workers, which read the
    published script), a small picture, and Seedance at the local protocol server (the key from the environment)."""
    return {"resources": {
        "inbox": {"config": {"root": str(cluster.root / "drop")}},
        "render": {"config": {"width": 160, "height": 90}},
        "generation": {"config": {"ark_api_key": {"env": "ARK_API_KEY"}, "base_urls": {"seedance": fake.url},
                                  "download_hosts": {"seedance": ["127.0.0.1"]}, "allow_private_hosts": True,
                                  "auto_approve_stills": True}},
    }}


def in_flight(fake: FakeProviders, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until every shot submitted so far is running at the video provider, its task id saved and polled
    (the keyframes before them were made by the image model, which answers at once)."""
    deadline = time.monotonic() + timeout
    while not ((videos := [t for t in fake.tasks.values() if t.provider == "seedance"])
               and all(t.polls and not t.reported_done for t in videos)):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0][-3000:]
        time.sleep(0.1)


def stop_run(process: subprocess.Popen, instance: dg.DagsterInstance) -> dg.DagsterRun:
    """The operator terminates the run whose worker died (SIGINT: the Celery executor
    revokes its tasks); a run left in progress is marked failed, as run monitoring does."""
    process.send_signal(signal.SIGINT)
    try:
        process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
    run = instance.get_runs(dg.RunsFilter(job_name="episode_job", tags={"dagster/partition/episode": "ep01"}), limit=1)[0]
    if not run.is_finished:
        instance.report_run_failed(run)
    return instance.get_run_by_id(run.run_id)


def steps_by_worker(instance: dg.DagsterInstance, run_ids: list[str]) -> dict[str, list[str]]:
    """Worker name -> the steps it ran, from the Celery executor's engine events."""
    found: dict[str, list[str]] = {}
    for run_id in run_ids:
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            metadata = record.dagster_event.engine_event_data.metadata
            if "Celery worker" in metadata:
                found.setdefault(metadata["Celery worker"].value.split("@")[0], []).append(record.step_key)
    return found


def wipe(cluster: Cluster, *names: str) -> None:
    for name in names:
        home = cluster.root / name / "home"
        shutil.rmtree(home)
        home.mkdir()


def dist_store(cluster: Cluster, prefix: str = "dist"):
    """The runs' store as a person's machine sees it (the CLI and the room do the same)."""
    return open_store(str(cluster.root / "checker-cache"), s3_bucket=BUCKET, s3_prefix=prefix,
                      s3_endpoint_url=cluster.env["ZIPX_S3_ENDPOINT_URL"], access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)


def assert_delivered(cluster: Cluster, episodes: list[str]) -> None:
    store = dist_store(cluster)
    for episode in episodes:
        manifest = ManifestReader(store).load("episode", "lab", episode)
        assert manifest is not None and probe(store.path(manifest.video_uri)).frames > 0, episode


def assert_nothing_local(cluster: Cluster) -> list[str]:
    """A worker's disk holds only its read cache; no manifest or record (what runs read)
    names a machine's folder; no object holds a secret. Returns the other objects that
    name a machine's folder (editor exports linking the media where they were made)."""
    for name in ("cpu2", "gpu"):
        home = cluster.root / name / "home"
        assert all(p.is_relative_to(home / "s3-cache") for p in home.rglob("*") if p.is_file()), name
    client, naming = s3_client(cluster.env["ZIPX_S3_ENDPOINT_URL"]), []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="dist/"):
        for item in page["Contents"]:
            body = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            assert SECRET_KEY.encode() not in body and KEYS["seedance"].encode() not in body, item["Key"]
            if str(cluster.root).encode() in body:
                assert not item["Key"].startswith(("dist/manifests/", "dist/records/")), item["Key"]
                naming.append(item["Key"].split("/")[1])
    return sorted(set(naming))


def test_steps_run_on_separate_workers_and_survive_a_dead_one(cluster, instance):
    with FakeProviders(job_seconds=4, width=160, height=90) as fake:
        config = run_config(cluster, fake)
        drama_run, drama_s = timed(cluster, "drama_job", "lab", config=config)
        wipe(cluster, "cpu", "gpu")  # a worker's disk is a cache: the next job starts from nothing local
        first = cluster.launch("episode_job", "lab", "ep01", config=config)
        in_flight(fake, first)  # the shots step is running on the CPU worker, its jobs at the provider
        sent_before = len(fake.submissions)
        cluster.kill("cpu")
        killed = stop_run(first, instance)
        assert not killed.is_success
        cluster.start_worker("cpu", "cpu2")  # a new machine, an empty disk
        resumed, resumed_s = timed(cluster, "episode_job", "lab", "ep01", parent=killed.run_id, config=config)
        fake.job_seconds = 0.0  # the figures below: ZipX's own work and the executors' overhead
        ep02, dist_s = timed(cluster, "episode_job", "lab", "ep02", config=config)
        paid = [json.dumps(body, sort_keys=True) for provider, body in fake.submissions if provider == "seedance"]
        _, single_drama_s = timed(cluster, "drama_job", "lab", machine="single", executor="multiprocess", config=config)
        _, single_s = timed(cluster, "episode_job", "lab", "ep02", machine="single", executor="multiprocess", config=config)

    assert_delivered(cluster, ["ep01", "ep02"])
    workers = steps_by_worker(instance, [drama_run, killed.run_id, resumed, ep02])
    assert sorted(workers["gpu"]) == ["approved_frames", "approved_frames"]  # the QA step, and only it
    assert all("approved_frames" not in steps for name, steps in workers.items() if name != "gpu")
    assert set(steps_by_worker(instance, [resumed])["cpu2"]) == {"shots", "episode"}  # nothing made before was redone
    # nothing paid twice: every submission a new request, each charged once; none made again after the kill
    ledger = [c for c in dist_store(cluster).get_record("spend", "lab")["charges"].values() if c["stage"] == "video"]
    assert len(paid) == len(set(paid)) == len(ledger) and sent_before > 0
    exports_with_paths = assert_nothing_local(cluster)
    logs = "".join(str(record) for run_id in (drama_run, killed.run_id, resumed, ep02) for record in instance.all_logs(run_id))
    assert SECRET_KEY not in logs and KEYS["seedance"] not in logs
    # a person's machine, an empty home: `zipx cast` reads the runs' manifests on S3
    person = cluster.root / "person"
    shown = subprocess.run([str(Path(sys.executable).with_name("zipx")), "cast", "show", "lab", "--home", str(person)],
                           env=cluster.env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "Cast of lab (1 characters" in shown.stdout, shown.stderr
    print(f"\nisolated machines (mount namespaces): {cluster.isolated}; objects naming a worker's folder: {exports_with_paths}")
    print("steps per worker:", {name: len(steps) for name, steps in workers.items()}, workers)
    print(f"drama_job: celery {drama_s:.1f}s, one machine {single_drama_s:.1f}s; "
          f"episode_job ep02: celery {dist_s:.1f}s, one machine {single_s:.1f}s; ep01 re-execution {resumed_s:.1f}s")
