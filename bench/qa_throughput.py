"""QA throughput: frames per second through the gate's continuity check, side by side
in one run with (a) a seed-style loop (one frame at a time, references re-encoded at
every check) and (b) the bare encoder on the same batch.

  .venv/bin/python bench/qa_throughput.py [--clip-random]

--clip-random also times open_clip ViT-B-32 with random weights on this machine's CPU:
speed only (its embeddings mean nothing); on a GPU with weights the gate uses fp16.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zipx_core.bible import extract_bibles  # noqa: E402
from zipx_core.prompting import build_request  # noqa: E402
from zipx_core.providers import LocalRenderer  # noqa: E402
from zipx_core.qa.embeddings import ClipConfig, ClipEmbedder, ColourEmbedder  # noqa: E402
from zipx_core.qa.gate import setup_stills  # noqa: E402
from zipx_core.script import load_drama  # noqa: E402
from zipx_core.storyboard import plan_episode  # noqa: E402


def workload(width=320, height=180):
    script = load_drama(REPO / "examples" / "harbour_lights.fountain")
    bibles = extract_bibles(script, "harbour_lights")
    shots = [s for e in script.episodes for s in plan_episode(script, e.key, bibles, "harbour_lights").shots]
    renderer = LocalRenderer()
    checks = []  # (3 keyframes, the shot's reference stills)
    for shot in shots:
        request = build_request(shot, bibles, width, height)
        stills = setup_stills(request, renderer)
        frame = np.asarray(renderer.still(request))
        checks.append(([frame, frame, frame], stills, request.location_id + shot.shot_type.value + ",".join(shot.characters)))
    return checks


def gate_style(embedder, checks) -> float:
    cache, started = {}, time.perf_counter()
    frames = [f for keys, _, _ in checks for f in keys]
    encoded = embedder.encode(frames)  # one batch
    for index, (keys, stills, setup) in enumerate(checks):
        refs = _cached(cache, embedder, setup, stills)
        (encoded[index * 3 : index * 3 + 3] @ refs.T).max(axis=1).min()
    return len(frames) / (time.perf_counter() - started)


def _cached(cache: dict, embedder, setup, stills):
    """As the gate does: each set-up's references encoded once."""
    if setup not in cache:
        cache[setup] = embedder.encode(stills)
    return cache[setup]


def seed_style(embedder, checks) -> float:
    started, frames = time.perf_counter(), 0
    for keys, stills, _ in checks:
        for frame in keys:
            refs = embedder.encode(stills)  # re-encoded at every check
            (embedder.encode([frame]) @ refs.T).max()
            frames += 1
    return frames / (time.perf_counter() - started)


def bare(embedder, checks) -> float:
    frames = [f for keys, _, _ in checks for f in keys]
    started = time.perf_counter()
    embedder.encode(frames)
    return len(frames) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clip-random", action="store_true")
    args = parser.parse_args()
    checks = workload()
    embedders = [ColourEmbedder()]
    if args.clip_random:
        clip = ClipEmbedder(ClipConfig(pretrained=None, allow_random_init=True, batch_size=32))
        clip.encode([checks[0][0][0]])  # load once, outside the timings
        embedders.append(clip)
    print(f"{len(checks)} shots, 3 keyframes each, 320x180")
    for embedder in embedders:
        seed, gate, encoder = seed_style(embedder, checks), gate_style(embedder, checks), bare(embedder, checks)
        print(f"{embedder.name}: gate {gate:.0f} frames/s, seed-style loop {seed:.0f} frames/s, bare encoder {encoder:.0f} frames/s; "
              f"gate / seed = {gate / seed:.1f}x, gate / bare encoder = {gate / encoder:.2f}")


if __name__ == "__main__":
    main()
