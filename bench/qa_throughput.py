"""QA throughput: the gate judging a round of takes (decoding, set-up references,
continuity, lighting, artifacts), side by side in one run with
(a) the bare encoder on the very images the gate encoded (keyframes, and the references
    of each set-up it met: ten stills per set-up, plus the locked stills), and
(b) a seed-style loop: one take at a time, decoded frame by frame, each keyframe encoded
    alone against references re-encoded at every check.

  .venv/bin/python bench/qa_throughput.py [--clip-random] [--size 320x180]

Throughput is keyframes judged per second (three per take). A second round over the same
takes shows a retake round, whose set-ups are known: there the encoder has only the
keyframes to do, and decoding is most of the work; a third, over a quarter of them, a
retake round of the size a round's failures make. --clip-random also times open_clip
ViT-B-32 with random weights on this machine's CPU, on fewer takes: speed only (its
embeddings mean nothing).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zipx_core.bible import extract_bibles  # noqa: E402
from zipx_core.generation import RenderSettings, generate_shots  # noqa: E402
from zipx_core.prompting import build_request  # noqa: E402
from zipx_core.qa import checks  # noqa: E402
from zipx_core.qa.checks import ReferenceStats, Sampled, Thresholds  # noqa: E402
from zipx_core.qa.embeddings import ClipConfig, ClipEmbedder, ColourEmbedder  # noqa: E402
from zipx_core.qa.frames import all_frames  # noqa: E402
from zipx_core.qa.judge import Judge, setup_key, setup_stills  # noqa: E402
from zipx_core.qa.references import load_rgb, make_references  # noqa: E402
from zipx_core.providers import LocalRenderer  # noqa: E402
from zipx_core.script import load_drama  # noqa: E402
from zipx_core.storage import LocalArtifactStore  # noqa: E402
from zipx_core.storyboard import plan_episode  # noqa: E402


class Recording:
    """The embedder, keeping what it was given: the bare encoder then runs on the same images."""

    def __init__(self, embedder):
        self.embedder, self.name, self.calibrated, self.images = embedder, embedder.name, embedder.calibrated, []

    def encode(self, frames):
        self.images += frames
        return self.embedder.encode(frames)


def workload(store, settings: RenderSettings):
    """Both episodes of the sample, rendered clean; (take, request) per shot."""
    script = load_drama(REPO / "examples" / "harbour_lights.fountain")
    bibles = extract_bibles(script, "harbour_lights")
    boards = [plan_episode(script, e.key, bibles, "harbour_lights") for e in script.episodes]
    references = make_references(bibles, boards, store, settings.width, settings.height)
    batch = []
    for board in boards:
        takes = {t.shot_id: t for t in generate_shots(board, bibles, store, settings).takes}
        batch += [(takes[s.shot_id], build_request(s, bibles, settings.width, settings.height, settings.fps)) for s in board.shots]
    return references, batch


def gate_rounds(embedder, references, store, settings, rounds: list[list]) -> list[float]:
    """Seconds of each round, one judge throughout as the gate keeps one: the first round
    meets every set-up (its inspecting process starts within the timing), the retake
    rounds after it know them all."""
    seconds, judge = [], Judge(references, store, embedder, settings, Thresholds())
    for takes in rounds:
        started = time.perf_counter()
        judge(takes)
        seconds.append(time.perf_counter() - started)
    judge.close()
    return seconds


def encoded_images(embedder, references, store, settings, rounds: list[list]) -> list[list]:
    """The images each round gives the encoder: the same rounds again, untimed."""
    recording, images = Recording(embedder), []
    judge = Judge(references, store, recording, settings, Thresholds())
    for takes in rounds:
        start = len(recording.images)
        judge(takes)
        images.append(recording.images[start:])
    judge.close()
    return images


def bare_encoder(embedder, images: list) -> float:
    started = time.perf_counter()
    embedder.encode(images)
    return time.perf_counter() - started


def seed_loop(embedder, references, store, batch, stills: dict) -> list[float]:
    """Seconds per take in the seed's loop, generously: set-up stills drawn once (`stills`,
    kept between rounds), checks vectorised as now."""
    clean, seconds = LocalRenderer(), []
    for take, request in batch:
        started = time.perf_counter()
        key = setup_key(request)
        if key not in stills:
            stills[key] = setup_stills(request, clean)
        uris = [u for f in request.figures for u in references.characters.get(f.character_id, [])]
        locked = [load_rgb(store, u) for u in uris or references.locations.get(request.location_id, [])]
        frames = all_frames(store.path(take.clip_uri))  # a new scaler per frame, every frame in memory
        sampled = Sampled.of(frames, Thresholds().black_luma)
        keys = sampled.stack(checks.key_indices(sampled.means, Thresholds().black_luma))
        for frame in keys:
            refs = embedder.encode(stills[key] + locked)  # re-encoded at every check
            (embedder.encode([frame]) @ refs.T).max()
        reference = ReferenceStats.of(stills[key][0])
        checks.lighting(keys, reference)
        checks.artifacts(sampled, reference, Thresholds())
        seconds.append(time.perf_counter() - started)
    return seconds


def seed_rounds(embedder, references, store, batch, small: int) -> list[float]:
    """The seed loop's seconds for the rounds `measure` times: a take's time is its own,
    so a small retake round is its first takes' share of the full one."""
    stills = {}
    first = seed_loop(embedder, references, store, batch, stills)
    retake = seed_loop(embedder, references, store, batch, stills)
    return [sum(first), sum(retake), sum(retake[:small])]


def measure(embedder, references, store, settings, batch, repeats: int) -> None:
    """Round 1 (every set-up new), a retake round of the same takes (set-ups known), and a
    retake round of a quarter of them (a round's failures), each beside its targets."""
    small = max(1, len(batch) // 4)
    rounds = [batch, batch, batch[:small]]
    names = ["round 1 (set-ups new)", "retake round (set-ups known)", f"small retake round ({small} takes)"]
    gates = [gate_rounds(embedder, references, store, settings, rounds) for _ in range(repeats)]
    images = encoded_images(embedder, references, store, settings, rounds)
    bares = [[bare_encoder(embedder, round_images) for round_images in images] for _ in range(repeats)]
    seeds = [seed_rounds(embedder, references, store, batch, small) for _ in range(repeats)]
    print(f"{embedder.name}, {len(batch)} takes ({3 * len(batch)} keyframes), best of {repeats}:")
    for index, (name, takes) in enumerate(zip(names, rounds)):
        gate, bare, seed = (min(run[index] for run in runs) for runs in (gates, bares, seeds))
        keyframes = 3 * len(takes)
        print(f"  {name}: gate {keyframes / gate:.1f} keyframes/s in {gate:.2f}s, the bare encoder on the same "
              f"{len(images[index])} images {bare:.2f}s: gate / bare encoder = {bare / gate:.2f} (target >= 0.8); "
              f"seed-style loop {keyframes / seed:.1f} keyframes/s: gate / seed = {seed / gate:.1f}x (target >= 5)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clip-random", action="store_true")
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    settings = RenderSettings(width=width, height=height)
    with tempfile.TemporaryDirectory() as scratch:
        store = LocalArtifactStore(scratch)
        references, batch = workload(store, settings)
        print(f"QA throughput at {width}x{height}, {len({setup_key(r) for _, r in batch})} set-ups in {len(batch)} takes")
        measure(ColourEmbedder(), references, store, settings, batch, args.repeats)
        if args.clip_random:
            clip = ClipEmbedder(ClipConfig(pretrained=None, allow_random_init=True, batch_size=32))
            clip.encode([load_rgb(store, next(iter(references.locations.values()))[0])])  # load once, outside the timings
            measure(clip, references, store, settings, batch[:12], 1)


if __name__ == "__main__":
    main()
