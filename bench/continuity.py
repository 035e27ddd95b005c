"""The quality gate against known failure rates, on the sample drama (both episodes).

  .venv/bin/python bench/continuity.py [--size 320x180]

For each failure mode injected at a known rate by the `local` renderer, prints:
- recall: injected (visible) failures the gate caught (rejected, graded or upscaled);
- false rejections: clean takes the gate rejected;
- drift left in the pool: approved takes that still show drift (the seed claims < 2%);
labelled with the embedder used. A drift that changes nothing visible in the frame (the
trousers in a close-up) is not counted as a failure: visible = the drifted take differs
from the clean take of the same request by more than 2/255 on average.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zipx_core.bible import extract_bibles  # noqa: E402
from zipx_core.generation import RenderSettings, generate_shots, render_take  # noqa: E402
from zipx_core.prompting import build_request  # noqa: E402
from zipx_core.policy import reseeded  # noqa: E402
from zipx_core.providers.local import FailureModes, LocalRenderer  # noqa: E402
from zipx_core.qa.embeddings import choose_embedder  # noqa: E402
from zipx_core.qa.frames import keyframes  # noqa: E402
from zipx_core.qa.gate import Gate  # noqa: E402
from zipx_core.qa.references import make_references  # noqa: E402
from zipx_core.script import load_drama  # noqa: E402
from zipx_core.storage import LocalArtifactStore  # noqa: E402
from zipx_core.storyboard import plan_episode  # noqa: E402

MODES = [("drift", 0.4), ("colour_cast", 0.3), ("blur", 0.3), ("low_resolution", 0.3), ("black_frames", 0.3), ("frozen", 0.3)]


def visible(store, injected_take, clean_take) -> bool:
    a, b = keyframes(store.path(injected_take.clip_uri)), keyframes(store.path(clean_take.clip_uri))
    if a[0].shape != b[0].shape:
        return True
    return max(np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a, b)) > 2.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="320x180")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    settings = RenderSettings(width=width, height=height)
    script = load_drama(REPO / "examples" / "harbour_lights.fountain")
    bibles = extract_bibles(script, "harbour_lights")
    boards = [plan_episode(script, e.key, bibles, "harbour_lights") for e in script.episodes]
    embedder, note = choose_embedder("auto")
    print(f"embedder: {embedder.name} ({note}); {sum(len(b.shots) for b in boards)} shots at {width}x{height}")
    with tempfile.TemporaryDirectory() as scratch:
        store = LocalArtifactStore(scratch)
        references = make_references(bibles, boards, store, width, height)
        clean = {t.shot_id: t for b in boards for t in generate_shots(b, bibles, store, settings).takes}

        def clean_take(shot, attempt):
            """The same request as that attempt (a regeneration changes the seed), rendered clean."""
            if attempt == 1:
                return clean[shot.shot_id]
            request = reseeded(build_request(shot, bibles, width, height), attempt)
            return render_take(request, LocalRenderer(), store, attempt)
        print(f"{'mode':<15}{'rate':>5}{'injected':>9}{'visible':>8}{'recall':>8}{'false rej.':>11}{'drift left':>11}{'review':>8}{'regens':>7}{'time':>7}")
        for mode, rate in MODES:
            renderer = LocalRenderer(failures=FailureModes(**{mode: rate}))
            gate = Gate(bibles, references, store, embedder, note, settings, renderer=renderer)
            started = time.perf_counter()
            counts = dict(injected=0, visible=0, caught=0, clean=0, rejected=0, approved=0, drift_left=0, review=0, regens=0)
            for board in boards:
                takes = generate_shots(board, bibles, store, settings, renderer=renderer)
                report = gate.run(board, takes)
                first = {v.shot_id: v for v in report.verdicts if v.attempt == 1}
                for take in takes.takes:
                    verdict = first[take.shot_id]
                    if take.injected_failure:
                        counts["injected"] += 1
                        if visible(store, take, clean[take.shot_id]):
                            counts["visible"] += 1
                            counts["caught"] += (not verdict.passed) or bool(verdict.fixed)
                    else:
                        counts["clean"] += 1
                        counts["rejected"] += not verdict.passed
                shots = {s.shot_id: s for s in board.shots}
                for outcome in report.outcomes:
                    counts["review"] += outcome.status == "review"
                    if outcome.status != "approved":
                        continue
                    counts["approved"] += 1
                    if outcome.take.injected_failure == "drift":
                        counts["drift_left"] += visible(store, outcome.take, clean_take(shots[outcome.shot_id], outcome.take.attempt))
                counts["regens"] += sum(v.attempt > 1 for v in report.verdicts)
            recall = counts["caught"] / max(1, counts["visible"])
            false_rejection = counts["rejected"] / max(1, counts["clean"])
            drift_left = counts["drift_left"] / max(1, counts["approved"])
            print(f"{mode:<15}{rate:>5.0%}{counts['injected']:>9}{counts['visible']:>8}{recall:>8.1%}{false_rejection:>11.1%}"
                  f"{drift_left:>11.1%}{counts['review']:>8}{counts['regens']:>7}{time.perf_counter() - started:>6.0f}s")


if __name__ == "__main__":
    main()
