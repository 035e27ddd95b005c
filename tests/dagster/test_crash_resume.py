"""SIGKILL at random points of an episode run (generation, the gate, assembly), then a
re-launch: the episode is the same as an uninterrupted run's (its takes, the gate's
verdicts, and the video and audio streams packet for packet); no half-written artifact
is left where the store or a manifest would read it."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import av
import pytest

from zipx_core.storage import file_sha256
from tests.conftest import REPO, SAMPLE

pytestmark = pytest.mark.slow

RUN = """
import sys
import dagster as dg
from pathlib import Path
from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import register_drama
from zipx_dagster.partitions import drama_episode_key
from zipx_dagster.resources import RenderConfig

home, script = Path(sys.argv[1]), Path(sys.argv[2])
defs = build_definitions(home, RenderConfig(width=160, height=90))
instance = dg.DagsterInstance.get()  # DAGSTER_HOME: SQLite, shared by the killed and the re-launched runs
register_drama(instance, script, home / "inbox")
assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="harbour_lights").success
job = defs.resolve_job_def("episode_job")
assert job.execute_in_process(instance=instance, partition_key=drama_episode_key("harbour_lights", "ep01")).success
print("DONE", flush=True)
"""


def launch(home, wait: float | None):
    env = {**os.environ, "DAGSTER_HOME": str(home / "dagster_home"), "ZIPX_HOME": str(home)}
    (home / "dagster_home").mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-c", RUN, str(home), str(SAMPLE)], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    if wait is None:
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0 and b"DONE" in out, out.decode(errors="replace")[-3000:]
        return True
    try:
        process.wait(timeout=wait)
        return process.returncode == 0  # finished before the kill
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return False


def manifest(home, asset: str) -> dict:
    return json.loads((home / "manifests" / asset / "harbour_lights" / "ep01.json").read_text())["data"]


def episode_fingerprint(home) -> dict:
    """What must match an uninterrupted run."""
    video = home / "artifacts" / manifest(home, "episode")["video_uri"].removeprefix("zipx://")
    packets = {"video": hashlib.sha256(), "audio": hashlib.sha256()}
    with av.open(str(video)) as container:
        for packet in container.demux(container.streams.video[0], container.streams.audio[0]):
            packets[packet.stream.type].update(bytes(packet))
    return {
        # the request beside the clip: a mismatch then says whether the ask or the encoding differed
        "takes": [(t["request_hash"], t["clip_sha256"]) for t in manifest(home, "shots")["takes"]],
        "verdicts": {o["shot_id"]: (o["status"], o["take"]["clip_sha256"]) for o in manifest(home, "approved_frames")["outcomes"]},
        "video_packets": packets["video"].hexdigest(),
        "audio_packets": packets["audio"].hexdigest(),
    }


def test_killed_runs_resume_to_the_same_episode(tmp_path):
    clean = tmp_path / "clean"
    started = time.monotonic()
    launch(clean, None)
    full = time.monotonic() - started
    reference = episode_fingerprint(clean)

    crashed = tmp_path / "crashed"
    rng = random.Random(5)
    kills = sorted(rng.uniform(0.2, 0.95) * full for _ in range(3))  # spread over generation, gate, assembly
    survived = 0
    for at in kills:
        if not launch(crashed, at):
            survived += 1
    launch(crashed, None)
    assert survived >= 2  # the kills landed mid-run
    assert episode_fingerprint(crashed) == reference
    # no half-written file where the store reads: staging names only, and none left behind
    leftovers = [p for p in crashed.rglob("*.partial")]
    assert leftovers == [] or all(p.name.startswith(".") for p in leftovers)
    artifacts = crashed / "artifacts"
    for clip in (artifacts / "clips").rglob("*.mp4"):
        assert clip.name.startswith(file_sha256(clip)), clip  # content-addressed: each file is whole
