"""The generation engine against the local protocol server: every shot in flight under
the provider's limit, identical requests made once, budgets, fallbacks, refusals
retried, and a run killed mid-generation that resumes without paying again."""

import asyncio
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from zipx_core.generation import (Budget, BudgetExceeded, GenerationSettings, RenderSettings, cost_summary, generate_episode,
                                  generate_shots, request_hash)
from zipx_core.prompting import shot_requests
from zipx_core.providers.local import FailureModes
from zipx_core.studio import GenerationConfig, Studio, StudioConfig
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode
from tests.conftest import REPO
from tests.core.test_providers import FAST
from tests.providers_server import KEYS, FakeProviders, Fault
from zipx_core.providers import KlingProvider, SeedanceProvider
from zipx_core.routing import DEFAULT_PRICES
from tests.providers_server import KLING_ACCESS, KLING_SECRET

TINY = RenderSettings(width=128, height=72, fps=24, workers=2)


@pytest.fixture
def board(sample_script, sample_bibles):
    return plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")


def seedance(fake):
    return SeedanceProvider(KEYS["seedance"], base_url=fake.url, retry=FAST, download_hosts=("127.0.0.1",), prices=DEFAULT_PRICES,
                            allow_private=True)


def kling(fake):
    return KlingProvider(KLING_ACCESS, KLING_SECRET, base_url=fake.url, retry=FAST, download_hosts=("127.0.0.1",),
                         prices=DEFAULT_PRICES, allow_private=True)


def run(board, bibles, store, providers, generation=GenerationSettings(), shots=None):
    if shots:
        board = board.model_copy(update={"shots": board.shots[:shots]})

    async def go():
        made = providers()
        try:
            return await generate_episode(board, bibles, store, TINY, generation, providers=made)
        finally:
            for provider in made.values():
                await provider.aclose()

    return asyncio.run(go())


def test_every_shot_is_in_flight_at_once_under_the_providers_limit(board, sample_bibles, tmp_path):
    store = LocalArtifactStore(tmp_path)
    with FakeProviders(job_seconds=0.4) as fake:
        generation = GenerationSettings(concurrency={"seedance": 6}, submissions_per_minute={})
        manifest, stats = run(board, sample_bibles, store, lambda: {"seedance": seedance(fake)}, generation, shots=10)
        assert len(manifest.takes) == 10 and not manifest.failed
        assert fake.max_running == 6  # the limit, and no less: nothing waited on a worker pool
        assert stats.submitted["seedance"] == 10
        # the clips are conformed to the episode's format
        take = manifest.takes[0]
        assert take.provider == "seedance" and take.task_id and take.cost_usd > 0
        # again: nothing is submitted, every take is read back
        again, stats = run(board, sample_bibles, store, lambda: {"seedance": seedance(fake)}, generation, shots=10)
        assert stats.submitted == {} and stats.cached == 10 and len(fake.submissions) == 10
        assert [t.clip_sha256 for t in again.takes] == [t.clip_sha256 for t in manifest.takes]


def test_identical_requests_are_submitted_once(board, sample_bibles, tmp_path):
    twin = board.shots[0]
    doubled = board.model_copy(update={"shots": [twin, twin.model_copy(), twin.model_copy()]})
    with FakeProviders(job_seconds=0.2) as fake:
        manifest, stats = run(doubled, sample_bibles, LocalArtifactStore(tmp_path), lambda: {"seedance": seedance(fake)})
        assert len(manifest.takes) == 3 and len(fake.submissions) == 1 and stats.submitted["seedance"] == 1


def test_the_budget_stops_new_submissions_and_keeps_what_was_made(board, sample_bibles, tmp_path):
    store = LocalArtifactStore(tmp_path)
    shots = board.model_copy(update={"shots": board.shots[:6]})
    with FakeProviders() as fake:
        first_three = sum(  # what three shots cost, as the client estimates it
            seedance(fake).estimate_cost(seedance(fake).prepare(_job_for(shot, sample_bibles))) for shot in shots.shots[:3])
        tight = GenerationSettings(budget_episode_usd=first_three + 0.001, concurrency={"seedance": 1}, submissions_per_minute={})
        manifest, _ = run(shots, sample_bibles, store, lambda: {"seedance": seedance(fake)}, tight)
        assert len(manifest.takes) == 3 and len(manifest.failed) == 3
        assert all("budget for episode ep01" in why for why in manifest.failed.values())
        # a bigger budget: only the three left are submitted, none of the first three again
        manifest, stats = run(shots, sample_bibles, store, lambda: {"seedance": seedance(fake)},
                              tight.model_copy(update={"budget_episode_usd": 100.0}))
        assert len(manifest.takes) == 6 and stats.submitted["seedance"] == 3 and stats.cached == 3
        prompts = [body["content"][0]["text"] for _, body in fake.submissions]
        assert len(prompts) == len(set(prompts)) == 6


def _job_for(shot, bibles):
    from zipx_core.providers import Job
    from zipx_core.prompting import build_request

    request = build_request(shot, bibles, TINY.width, TINY.height, TINY.fps)
    duration = SeedanceProvider.capabilities.duration_for(shot.duration_s)
    return Job(request=request, model="seedance-1-0-pro-250528", duration_s=duration, resolution="720p")


def test_a_refused_take_is_a_failed_attempt_and_a_down_provider_is_routed_around(board, sample_bibles, tmp_path):
    with FakeProviders() as fake:
        fake.faults = [Fault("seedance", "outcome", "policy")]
        manifest, stats = run(board, sample_bibles, LocalArtifactStore(tmp_path), lambda: {"seedance": seedance(fake)}, shots=1)
        assert manifest.takes[0].attempt == 2 and stats.retried["seedance"] == 1
    dialogue = board.model_copy(update={"shots": [next(s for s in board.shots if s.route == "seedance")]})
    with FakeProviders() as fake:
        fake.faults = [Fault("seedance", "submit", "500") for _ in range(FAST.attempts)]
        providers = lambda: {"seedance": seedance(fake), "kling": kling(fake)}  # noqa: E731
        manifest, stats = run(dialogue, sample_bibles, LocalArtifactStore(tmp_path / "b"), providers)
        assert manifest.takes[0].provider == "kling" and stats.rerouted


def test_with_no_keys_every_shot_renders_locally_but_is_routed_and_costed(board, sample_bibles, tmp_path):
    shots = board.model_copy(update={"shots": board.shots[:8]})
    manifest, _ = run(shots, sample_bibles, LocalArtifactStore(tmp_path), lambda: {})
    assert {t.provider for t in manifest.takes} == {"local"}
    assert [t.intended_provider for t in manifest.takes] == [s.route for s in shots.shots]
    summary = cost_summary(shots, manifest, GenerationSettings())
    assert summary["actual_cost_usd"] == 0 and summary["estimated_cost_usd"] > 0
    assert summary["all_veo3_cost_usd"] > summary["estimated_cost_usd"]


WORKER = """
import asyncio, sys
from zipx_core.bible import extract_bibles
from zipx_core.generation import GenerationSettings, RenderSettings, generate_episode
from zipx_core.providers import SeedanceProvider, RetryPolicy
from zipx_core.routing import DEFAULT_PRICES
from zipx_core.script import load_drama
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode

url, root, sample = sys.argv[1:4]
script = load_drama(sample)
bibles = extract_bibles(script, "harbour_lights")
board = plan_episode(script, "ep01", bibles, "harbour_lights")
board = board.model_copy(update={"shots": board.shots[:8]})
retry = RetryPolicy(base_delay_s=0.01, poll_interval_s=0.05)
provider = SeedanceProvider("%s", base_url=url, retry=retry, download_hosts=("127.0.0.1",), prices=DEFAULT_PRICES, allow_private=True)
settings = GenerationSettings(concurrency={"seedance": 8}, submissions_per_minute={})
asyncio.run(generate_episode(board, bibles, LocalArtifactStore(root), RenderSettings(width=128, height=72), settings,
                             providers={"seedance": provider}))
""" % KEYS["seedance"]


@pytest.mark.slow
def test_a_run_killed_mid_generation_resumes_polling_and_pays_for_nothing_twice(board, sample_bibles, tmp_path):
    store_root = tmp_path / "store"
    with FakeProviders(job_seconds=4) as fake:
        worker = subprocess.Popen([sys.executable, "-c", WORKER, fake.url, str(store_root), str(REPO / "examples/harbour_lights.fountain")],
                                  cwd=REPO, start_new_session=True)
        deadline = time.monotonic() + 60
        while len(fake.submissions) < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # the ids are saved right after each answer
        os.killpg(worker.pid, signal.SIGKILL)  # mid-generation: every job submitted, none finished
        worker.wait()
        assert len(fake.submissions) == 8 and fake.counts["seedance:download"] == 0
        store = LocalArtifactStore(store_root)
        generation = GenerationSettings(concurrency={"seedance": 8}, submissions_per_minute={})
        manifest, stats = run(board, sample_bibles, store, lambda: {"seedance": seedance(fake)}, generation, shots=8)
        assert len(manifest.takes) == 8 and not manifest.failed
        assert stats.resumed["seedance"] == 8 and stats.submitted == {}
        assert len(fake.submissions) == 8  # none repeated
        spend = store.get_record("spend", "harbour_lights")["charges"]
        assert len(spend) == 8  # each charged once


CHARGER = """
import asyncio, sys, time
from zipx_core.generation import Budget, BudgetExceeded, GenerationSettings
from zipx_core.storage import LocalArtifactStore, S3ArtifactStore
from tests.s3server import BUCKET, s3_client

where, episode, start, cache = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
store = S3ArtifactStore(s3_client(where), BUCKET, cache_root=cache) if where.startswith("http") else LocalArtifactStore(where)
budget = Budget(store, "drama", episode, GenerationSettings(budget_drama_usd=60.0))
time.sleep(max(0.0, start - time.time()))  # all four start together

async def main():
    admitted = 0
    for i in range(25):
        try:
            await budget.charge(f"{episode}-{i}", 1.0, f"shot-{i}")
            admitted += 1
        except BudgetExceeded:
            pass
    print(admitted)

asyncio.run(main())
"""


def charge_at_once(where: str, tmp_path) -> int:
    """Four processes (four episodes' runs) charge $1 25 times each against one $60 drama
    budget kept in `where` (a store folder, or an S3 endpoint); each has a cache of its
    own, as four machines would. Returns how many charges were admitted."""
    start = str(time.time() + 3)
    workers = [subprocess.Popen([sys.executable, "-c", CHARGER, where, f"ep0{n}", start, str(tmp_path / f"machine{n}")],
                                cwd=REPO, stdout=subprocess.PIPE) for n in range(4)]
    return sum(int(w.communicate(timeout=120)[0]) for w in workers)


def test_the_drama_budget_holds_with_episodes_charging_at_once(tmp_path):
    assert charge_at_once(str(tmp_path / "store"), tmp_path) == 60
    ledger = LocalArtifactStore(tmp_path / "store").get_record("spend", "drama")["charges"]
    assert len(ledger) == 60 and sum(c["usd"] for c in ledger.values()) == 60.0


def test_a_lost_submission_is_held_until_a_person_releases_it(board, sample_bibles, tmp_path, capsys):
    from zipx_core.cli import main

    store = LocalArtifactStore(tmp_path / "artifacts")
    shot = next(s for s in board.shots if s.route == "seedance")
    one = board.model_copy(update={"shots": [shot]})
    with FakeProviders() as fake:
        fake.faults = [Fault("seedance", "submit", "hang", retry_after=1.0)]

        def lossy():
            provider = seedance(fake)
            provider.client.timeout = 0.3
            return {"seedance": provider}

        manifest, _ = run(one, sample_bibles, store, lossy)
        assert "not retried" in manifest.failed[shot.shot_id]
        time.sleep(1.2)  # the server made the job all the same
        manifest, _ = run(one, sample_bibles, store, lambda: {"seedance": seedance(fake)})
        assert "zipx tasks release" in manifest.failed[shot.shot_id] and len(fake.submissions) == 1  # held
        assert main(["tasks", "unknown", "--home", str(tmp_path)]) == 0
        digest = capsys.readouterr().out.split()[0]
        assert main(["tasks", "release", digest, "--home", str(tmp_path)]) == 0
        manifest, _ = run(one, sample_bibles, store, lambda: {"seedance": seedance(fake)})
        assert [t.shot_id for t in manifest.takes] == [shot.shot_id] and len(fake.submissions) == 2


class SlowReads(LocalArtifactStore):
    """A store whose reads take a random while: they finish in any order."""

    def get_record(self, kind, name):
        time.sleep(random.random() * 0.02)
        return super().get_record(kind, name)


def test_submissions_follow_the_storyboard_although_store_reads_finish_in_any_order(board, sample_bibles, tmp_path):
    shots = board.model_copy(update={"shots": [s for s in board.shots if s.route == "seedance"][:8]})
    with FakeProviders(job_seconds=0.1) as fake:
        generation = GenerationSettings(concurrency={"seedance": 1}, submissions_per_minute={})
        manifest, _ = run(shots, sample_bibles, SlowReads(tmp_path), lambda: {"seedance": seedance(fake)}, generation)
        assert not manifest.failed
        prompts = [body["content"][0]["text"] for _, body in fake.submissions]
        assert prompts == [_job_for(shot, sample_bibles).request.prompt for shot in shots.shots]


class CountedUpdates(LocalArtifactStore):
    updates = 0

    def update_record(self, kind, name, change):
        self.updates += 1
        return super().update_record(kind, name, change)


def test_charges_that_arrive_together_share_a_ledger_write_and_are_judged_in_order(tmp_path):
    store = CountedUpdates(tmp_path)
    budget = Budget(store, "drama", "ep01", GenerationSettings(budget_drama_usd=30.0))

    async def charge_fifty():
        return await asyncio.gather(*(budget.charge(f"job-{i}", 1.0 if i != 3 else 50.0, f"shot-{i}") for i in range(50)),
                                    return_exceptions=True)

    results = asyncio.run(charge_fifty())
    admitted = [i for i, result in enumerate(results) if result is None]
    assert admitted == [i for i in range(31) if i != 3]  # the $50 one refused, the rest in order up to $30
    assert all(isinstance(results[i], BudgetExceeded) for i in range(50) if i not in admitted)
    assert store.updates <= 3  # not one write per charge
    asyncio.run(budget.refund("job-0"))
    assert "job-0" not in store.get_record("spend", "drama")["charges"]


def test_clips_conformed_together_are_the_bytes_of_clips_conformed_alone_and_a_bad_one_fails_alone(tmp_path):
    import numpy as np

    from zipx_core.media import encode_frames, probe
    from zipx_core.media.ffmpeg import Conform, conform_clip, conform_clips

    sources = []
    for n, (width, seconds) in enumerate(((96, 2), (160, 3))):
        source = tmp_path / f"source{n}.mp4"
        encode_frames((np.full((54, width, 3), i * 9 % 255, dtype=np.uint8) for i in range(24 * seconds)), source, width, 54, 24)
        sources.append(source)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    batch = [Conform(sources[0], tmp_path / "a.mp4", 1.5), Conform(broken, tmp_path / "b.mp4", 1.0),
             Conform(sources[1], tmp_path / "c.mp4", 2.5)]
    errors = conform_clips(batch, 128, 72, 24)
    assert errors[0] is None and errors[2] is None and "ffmpeg failed" in str(errors[1])
    assert conform_clips(batch[::2], 128, 72, 24) == [None, None]  # together, in one run
    for clip in batch[::2]:
        conform_clip(clip.source, tmp_path / "alone.mp4", clip.seconds, 128, 72, 24, threads=1)
        assert (tmp_path / "alone.mp4").read_bytes() == clip.out.read_bytes()
        assert probe(clip.out).frames == round(clip.seconds * 24) and probe(clip.out).width == 128


def test_the_engine_takes_the_studios_video_models_and_local_is_one_of_them(board, sample_bibles, tmp_path):
    """One mapping of video models (Studio.video_models): hosted ones are submitted to, `local`
    (not hosted) renders in process, with the studio's failure modes and the hashes it always had."""
    shots = board.model_copy(update={"shots": board.shots[:3]})
    offline = Studio(StudioConfig.at(tmp_path / "offline", failures=FailureModes(blur=1.0)))
    models = offline.video_models()
    assert {name: model.hosted for name, model in models.items()} == {"local": False}
    made = generate_shots(shots, sample_bibles, offline.store, TINY, models=models)
    renderer, requests = models["local"], shot_requests(shots, sample_bibles, TINY.width, TINY.height, TINY.fps)
    assert [t.request_hash for t in made.takes] == [request_hash("local", renderer.model, r) for r in requests]
    assert {t.injected_failure for t in made.takes} == {"blur"}
    with FakeProviders(job_seconds=0.1) as fake:
        generation = GenerationConfig(ark_api_key=KEYS["seedance"], base_urls={"seedance": fake.url},
                                      download_hosts={"seedance": ["127.0.0.1"]}, allow_private_hosts=True)
        hosted = Studio(StudioConfig.at(tmp_path / "hosted", generation=generation))
        models = hosted.video_models()
        models["seedance"].retry = FAST  # the fake server's jobs finish at once: poll them so
        assert {name: model.hosted for name, model in models.items()} == {"local": False, "seedance": True}
        made = generate_shots(shots, sample_bibles, hosted.store, TINY, generation=hosted.generation_settings(), models=models)
        assert {t.provider for t in made.takes} == {"seedance"} and len(fake.submissions) == 3
        assert hosted.records.tasks.names() == sorted(t.request_hash for t in made.takes)
