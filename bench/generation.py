"""Generation makespan against a fake provider with latency L and concurrency limit C.

A 35-scene episode (The Last Birthday Card cut to 35 scenes, as in bench/spine.py) is
generated through the real engine (zipx_core.generation: routing, budgets, task
records, downloads checked and conformed by ffmpeg) against an in-process provider
whose every job takes L seconds and which takes at most C jobs at once. Printed side
by side, in one run:

- the engine: makespan / lower bound, the lower bound being ceil(shots / C) · L
  (target ≤ 1.15 at every C, 100 included: accounts with high limits run big dramas),
  and the CPU the run took (the process and its ffmpeg children): at C = 100 the
  conforms of 217 clips must fit in about 2 · L on the machine's cores;
- the seed's set-up, a fixed pool of 8 workers each making one shot at a time
  (submit, wait, download): makespan / the same lower bound.

    .venv/bin/python bench/generation.py [--latency 2] [--limits 10,30,100]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.spine import thirty_five_scene_episode  # noqa: E402
from zipx_core.bible import extract_bibles  # noqa: E402
from zipx_core.generation import GenerationSettings, RenderSettings, generate_episode  # noqa: E402
from zipx_core.media import encode_frames  # noqa: E402
from zipx_core.providers import Capabilities, HostedProvider, Job, RetryPolicy  # noqa: E402
from zipx_core.providers.base import TaskState  # noqa: E402
from zipx_core.script.parser import parse_text  # noqa: E402
from zipx_core.storage import LocalArtifactStore  # noqa: E402
from zipx_core.storyboard import plan_episode  # noqa: E402

SIZE = (128, 72)
TARGET = 1.15  # makespan / bound (issue 16)


class FakeProvider(HostedProvider):
    """Every job takes `latency` seconds; more than `limit` at once is an error (as a
    provider's 429 would be), so a scheduler that overshoots fails the benchmark."""

    name = "seedance"  # the route every shot of the bench takes (the others have no key)
    download_hosts = ("fake",)
    capabilities = Capabilities(durations_s=tuple(range(1, 13)), max_reference_images=4, first_frame=True,
                                native_audio=False, resolutions=("720p",))

    def __init__(self, latency: float, limit: int, clips: dict[int, Path]):
        super().__init__("bench-key", base_url="http://fake", retry=RetryPolicy(poll_interval_s=latency / 20))
        self.latency, self.limit, self.clips = latency, limit, clips
        self.started: dict[str, float] = {}
        self.running = self.peak = 0
        self.jobs = 0

    async def submit(self, job: Job) -> str:
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.running > self.limit:
            raise RuntimeError(f"{self.running} jobs at once; the limit is {self.limit}")
        self.jobs += 1
        task_id = f"t{self.jobs}:{job.duration_s}"
        self.started[task_id] = time.monotonic()
        return task_id

    async def poll(self, task_id: str) -> TaskState:
        if time.monotonic() - self.started[task_id] < self.latency:
            return TaskState("running", raw_status="running")
        if task_id in self.started:
            self.running -= 1
            del self.started[task_id]
        return TaskState("succeeded", video_url=task_id, raw_status="succeeded")

    async def download(self, url: str, dest: Path, job: Job) -> None:
        # a real download waits on the network, not on the event loop
        await asyncio.to_thread(shutil.copyfile, self.clips[job.duration_s], dest)


def clips(work: Path) -> dict[int, Path]:
    made = {}
    for seconds in range(1, 13):
        path = work / f"fake-{seconds}.mp4"
        frames = (np.full((SIZE[1], SIZE[0], 3), i % 255, dtype=np.uint8) for i in range(seconds * 24))
        encode_frames(frames, path, *SIZE, 24)
        made[seconds] = path
    return made


def cpu_s() -> float:
    """CPU time of this process and its waited-for children (ffmpeg) so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def engine_makespan(board, bibles, work: Path, latency: float, limit: int, fake_clips) -> tuple[float, int, float]:
    provider = FakeProvider(latency, limit, fake_clips)
    settings = GenerationSettings(concurrency={"seedance": limit}, submissions_per_minute={})
    store = LocalArtifactStore(tempfile.mkdtemp(dir=work))
    started, cpu = time.monotonic(), cpu_s()
    manifest, _ = asyncio.run(generate_episode(board, bibles, store, RenderSettings(width=SIZE[0], height=SIZE[1]), settings,
                                               providers={"seedance": provider}))
    assert not manifest.failed, manifest.failed
    return time.monotonic() - started, provider.peak, cpu_s() - cpu


def pool_makespan(board, bibles, work: Path, latency: float, limit: int, fake_clips, workers: int = 8) -> float:
    """The seed's set-up: 8 workers, each running one shot's generation start to end."""
    provider = FakeProvider(latency, limit, fake_clips)
    settings = GenerationSettings(concurrency={"seedance": limit}, submissions_per_minute={})
    store = LocalArtifactStore(tempfile.mkdtemp(dir=work))

    def one(shot):
        single = board.model_copy(update={"shots": [shot]})
        manifest, _ = asyncio.run(generate_episode(single, bibles, store, RenderSettings(width=SIZE[0], height=SIZE[1]),
                                                   settings, providers={"seedance": provider}))
        assert not manifest.failed, manifest.failed

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, board.shots))
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--limits", default="10,30,100")
    args = parser.parse_args()
    script = parse_text(thirty_five_scene_episode(), "birthday.fountain")
    bibles = extract_bibles(script, "bench")
    board = plan_episode(script, script.episodes[0].key, bibles, "bench")
    shots = len(board.shots)
    print(f"{len(script.episodes[0].scenes)} scenes, {shots} shots; latency L = {args.latency:.1f} s per job")
    print(f"{'C':>4} {'bound s':>8} {'engine s':>9} {'engine/bound':>13} {'target':>7} {'peak':>5} {'CPU s':>6} "
          f"{'8-pool s':>9} {'8-pool/bound':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fake_clips = clips(work)
        for limit in (int(x) for x in args.limits.split(",")):
            bound = math.ceil(shots / limit) * args.latency
            engine, peak, cpu = engine_makespan(board, bibles, work, args.latency, limit, fake_clips)
            pool = pool_makespan(board, bibles, work, args.latency, limit, fake_clips)
            verdict = f"{'≤' if engine / bound <= TARGET else '>'} {TARGET}"
            print(f"{limit:>4} {bound:>8.1f} {engine:>9.1f} {engine / bound:>13.3f} {verdict:>7} {peak:>5} {cpu:>6.1f} "
                  f"{pool:>9.1f} {pool / bound:>13.3f}")


if __name__ == "__main__":
    main()
