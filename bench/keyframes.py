"""Keyframe-first against video-first: what an episode costs, and where the attempts go.

One episode of the sample drama is made on hosted models end to end, against the local
protocol server (tests/providers_server.py, speaking the image and video APIs) with each
model's published prices (zipx_core.routing.DEFAULT_PRICES, DEFAULT_IMAGE_PRICES):
reference sheets and plates, then either a keyframe per shot judged for continuity and
sent as each clip's first frame (keyframe-first), or clips from the prompt and the locked
stills (video-first); then the quality gate with its retakes. Drift is injected at 0, 20
and 40 % of everything the models return (a drifted image or clip is the asked picture
inverted: another person, another palette). Printed side by side, in one run: cost per
episode by stage, attempts at each stage, shots left for review, and drift left in the
pool (approved takes that were drifted ones: what the gate let through).

The colour embedder judges (no CLIP weights here): it tells an inverted picture from the
asked one, which is what the fake's drift is, not what a real model's drift looks like.
The fake's clips are pictures, not acting: a clip with a first frame is that frame, one
made from reference images is the first reference (a character sheet on its neutral
background), which the gate's lighting check, judged against the location's plate,
mostly refuses. So video-first figures here are the case of a model that keeps the
face and loses the set; how real models fall between the two is not measured here.

    .venv/bin/python bench/keyframes.py [--drift 0,0.2,0.4] [--episode ep01]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.providers_server import KEYS, KLING_ACCESS, KLING_SECRET, FakeProviders, Fault  # noqa: E402
from zipx_core.bible import extract_bibles  # noqa: E402
from zipx_core.generation import generate_shots, ledger_by_stage, retake_function  # noqa: E402
from zipx_core.keyframes import KeyframeMaker  # noqa: E402
from zipx_core.qa.embeddings import ColourEmbedder  # noqa: E402
from zipx_core.qa.gate import Gate, GateConfig  # noqa: E402
from zipx_core.qa.references import references_for_drama  # noqa: E402
from zipx_core.prompting import shot_requests  # noqa: E402
from zipx_core.script import load_drama  # noqa: E402
from zipx_core.storyboard import plan_episode  # noqa: E402
from zipx_core.studio import GenerationConfig, Studio, StudioConfig  # noqa: E402
from zipx_dagster.resources import RenderConfig  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "harbour_lights.fountain"
SIZE = (160, 90)
VIDEO = ("veo3", "kling", "seedance", "happyhorse")
STAGES = ("sheet", "plate", "keyframe", "video")


class DriftingProviders(FakeProviders):
    """The protocol server with drift injected into a share of every model's results."""

    def __init__(self, drift: float, seed: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.drift, self.rng = drift, random.Random(seed)

    def fault(self, provider: str, phase: str) -> Fault | None:
        scripted = super().fault(provider, phase)
        if scripted or phase != "outcome":
            return scripted
        with self.lock:
            return Fault(provider, "outcome", "drift") if self.rng.random() < self.drift else None


def studio(home: Path, fake: FakeProviders) -> Studio:
    """A fresh studio under `home` (a local store), the four models at the protocol server."""
    return Studio(StudioConfig.at(home, generation=GenerationConfig(
        gemini_api_key=KEYS["veo3"], kling_access_key=KLING_ACCESS, kling_secret_key=KLING_SECRET,
        ark_api_key=KEYS["seedance"], dashscope_api_key=KEYS["happyhorse"],
        base_urls={"veo3": f"{fake.url}/v1beta", "kling": fake.url, "seedance": fake.url, "happyhorse": fake.url},
        download_hosts={name: ["127.0.0.1"] for name in VIDEO}, allow_private_hosts=True, auto_approve_stills=True,
    )))


def one_episode(drift: float, keyframe_first: bool, episode: str) -> dict:
    """Sheets, (keyframes), clips and the gate for one episode on a fresh store."""
    script = load_drama(SAMPLE)
    bibles = extract_bibles(script, "harbour_lights")
    board = plan_episode(script, episode, bibles, "harbour_lights")
    with tempfile.TemporaryDirectory() as home, DriftingProviders(drift, width=SIZE[0], height=SIZE[1]) as fake:
        made = studio(Path(home), fake)
        store, paid = made.store, made.generation_settings()
        settings, embedder = RenderConfig(width=SIZE[0], height=SIZE[1]).settings(made.config.generation), ColourEmbedder()
        stills = made.still_source("harbour_lights")
        references = references_for_drama(script, bibles, store, *SIZE, stills=stills, auto_approve=True)
        keyframes = None
        if keyframe_first:
            requests = shot_requests(board, bibles, settings.width, settings.height, settings.fps)
            keyframes = KeyframeMaker(bibles, references, store, stills, embedder, GateConfig().thresholds).run(board, requests)
        shots = generate_shots(board, bibles, store, settings, generation=paid, models=made.video_models(),
                               keyframes=keyframes, references=references)
        retake = retake_function(board, store, settings, paid, made.video_models)
        report = Gate(bibles, references, store, embedder, "bench", settings, retake=retake, keyframes=keyframes,
                      hosted=True).run(board, shots)
        drifted = {task_id for task_id, task in fake.tasks.items() if task.outcome == "drift"}
        approved = [o for o in report.outcomes if o.status == "approved"]
        return {
            "cost": ledger_by_stage(store, "harbour_lights", episode),
            "keyframe_attempts": sum(k.attempts for k in keyframes.keyframes) if keyframes else 0,
            "video_attempts": len(shots.takes) + sum(v.attempt > 1 for v in report.verdicts),
            "review": len(report.awaiting_review),
            "approved": len(approved),
            "drift_left": sum(o.take.task_id in drifted for o in approved),
            "shots": len(board.shots),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drift", default="0,0.2,0.4")
    parser.add_argument("--episode", default="ep01")
    args = parser.parse_args()
    os.environ.setdefault("ZIPX_HOME", tempfile.mkdtemp())
    rows = []
    for drift in (float(d) for d in args.drift.split(",")):
        for mode, keyframe_first in (("keyframe-first", True), ("video-first", False)):
            rows.append((drift, mode, one_episode(drift, keyframe_first, args.episode)))
    shots = rows[0][2]["shots"]
    print(f"one episode ({args.episode}, {shots} shots) on hosted models at published prices, drift injected in every result")
    print(f"{'drift':>5}  {'mode':<14} {'$ total':>8} " + " ".join(f"{'$ ' + s:>10}" for s in STAGES)
          + f" {'keyframes':>9} {'clips':>6} {'approved':>8} {'review':>6} {'drift left':>10} {'$/approved':>10}")
    for drift, mode, r in rows:
        cost, total = r["cost"], sum(r["cost"].get(s, 0) for s in STAGES)
        per = f"{total / r['approved']:.3f}" if r["approved"] else "-"
        print(f"{drift:>5.0%}  {mode:<14} {total:>8.3f} " + " ".join(f"{cost.get(s, 0):>10.3f}" for s in STAGES)
              + f" {r['keyframe_attempts']:>9} {r['video_attempts']:>6} {r['approved']:>8} {r['review']:>6}"
              + f" {r['drift_left']:>10} {per:>10}")


if __name__ == "__main__":
    main()
