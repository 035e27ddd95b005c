"""A storm of faults over one episode on all four hosted models (the local protocol
server scripted at random, seeded, and one model down for the whole run): every shot
ends with a take or a reason, none goes missing, retries are bounded, nothing is
submitted twice, and a re-run pays for none of what was made."""

import random
from collections import Counter

import pytest

from zipx_core.generation import MAX_ATTEMPTS, GenerationSettings
from zipx_core.providers import HappyHorseProvider, KlingProvider, SeedanceProvider, VeoProvider
from zipx_core.routing import DEFAULT_PRICES
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode
from tests.core.test_generation import run
from tests.core.test_providers import FAST
from tests.providers_server import KEYS, KLING_ACCESS, KLING_SECRET, FakeProviders, Fault

PROVIDERS = ["veo3", "kling", "seedance", "happyhorse"]
SUBMIT_FAULTS = ["429", "500", "malformed", "policy", "hang"]
POLL_FAULTS = ["429", "500", "hang"]
OUTCOMES = ["failed", "expired", "policy", "truncated", "corrupt", "gone", "wrong_length", "foreign"]


def clients(fake, down: str | None):
    common = dict(retry=FAST.model_copy(update={"timeout_s": 0.5}), download_hosts=("127.0.0.1",), prices=DEFAULT_PRICES,
                  allow_private=True)
    closed = "http://127.0.0.1:9"  # nothing listens: connection refused, for the whole run
    made = {
        "veo3": VeoProvider(KEYS["veo3"], base_url=(closed if down == "veo3" else fake.url) + "/v1beta", **common),
        "kling": KlingProvider(KLING_ACCESS, KLING_SECRET, base_url=closed if down == "kling" else fake.url, **common),
        "seedance": SeedanceProvider(KEYS["seedance"], base_url=closed if down == "seedance" else fake.url, **common),
        "happyhorse": HappyHorseProvider(KEYS["happyhorse"], base_url=closed if down == "happyhorse" else fake.url, **common),
    }
    return made


def assert_sent_again_only_after_failing(fake: FakeProviders) -> None:
    """The same job body twice is a new attempt after a failed one (models without a seed
    parameter, Veo on the Gemini API and Kling, get the same body); never a second
    payment for a job that succeeded or may still be running."""
    jobs: dict[str, list[str]] = {}
    for (_, body), task_id in zip(fake.submissions, fake.job_of_submission):
        jobs.setdefault(repr(body), []).append(task_id)
    for body, task_ids in jobs.items():
        for earlier in task_ids[:-1]:
            assert fake.tasks[earlier].outcome in OUTCOMES, (earlier, body[:200])


def storm(seed: int, count: int) -> list[Fault]:
    rng = random.Random(seed)
    faults = []
    for _ in range(count):
        provider = rng.choice(PROVIDERS)
        phase = rng.choice(["submit", "poll", "outcome"])
        kind = rng.choice({"submit": SUBMIT_FAULTS, "poll": POLL_FAULTS, "outcome": OUTCOMES}[phase])
        faults.append(Fault(provider, phase, kind, retry_after=0.8 if kind == "hang" else 0.05))
    return faults


@pytest.mark.slow
@pytest.mark.parametrize("seed, down", [(1, "kling"), (2, "seedance")])
def test_every_shot_ends_with_a_take_or_a_reason_under_a_storm_of_faults(seed, down, sample_script, sample_bibles, tmp_path):
    board = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    store = LocalArtifactStore(tmp_path)
    generation = GenerationSettings(submissions_per_minute={})

    def generate(fake):
        return run(board, sample_bibles, store, lambda: clients(fake, down), generation)

    with FakeProviders(job_seconds=0.05, width=128, height=72) as fake:
        fake.faults = storm(seed, 60)
        injected = len(fake.faults)
        manifest, stats = generate(fake)
        shot_ids = [s.shot_id for s in board.shots]
        made = {t.shot_id for t in manifest.takes}
        assert sorted(made | set(manifest.failed)) == sorted(shot_ids)  # none silently missing
        assert not made & set(manifest.failed)
        assert all(reason.strip() for reason in manifest.failed.values())
        assert {t.provider for t in manifest.takes} <= set(PROVIDERS) - {down}  # routed around it; never a local stand-in
        assert injected - len(fake.faults) >= 10  # the storm hit (faults for the model that is down never fire)
        # bounded: at most MAX_ATTEMPTS jobs per shot, and a job sent again only after it failed
        assert len(fake.submissions) <= MAX_ATTEMPTS * len(shot_ids)
        assert_sent_again_only_after_failing(fake)
        print(f"seed {seed}: {injected - len(fake.faults)} faults hit, {len(manifest.takes)} takes, "
              f"{len(manifest.failed)} failed: {Counter(r.split(':')[0] for r in manifest.failed.values())}")

        # the storm over: a re-run makes what is missing and submits nothing already made
        fake.faults = []
        before = len(fake.submissions)
        again, stats = generate(fake)
        assert {t.shot_id for t in again.takes} | set(again.failed) == set(shot_ids)
        assert len(fake.submissions) - before <= MAX_ATTEMPTS * len(manifest.failed)  # only shots that had no take
        assert stats.cached >= len(manifest.takes)
        assert_sent_again_only_after_failing(fake)  # nothing made in the first run is paid for again
