"""Spine benchmark: every figure and ratio taken side by side in one run.

  python bench/spine.py            (or: make bench)

1. script -> storyboard for a 35-scene episode (target < 1 s; the seed took ~240 s)
2. the local renderer's speed as a multiple of real time at the demo's resolution
3. assembly as a multiple of real time, stream copy next to a re-encode (target >= 50x)
4. the demo through Dagster / the same core calls made directly (target <= 1.3)
5. peak memory of the demo (the largest process, ffmpeg children included)
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import dagster as dg  # noqa: E402

from zipx_core.audio import apply_speech_timing, voice_episode  # noqa: E402
from zipx_core.bible import extract_bibles  # noqa: E402
from zipx_core.media.timeline import build_timeline, export_timeline  # noqa: E402
from zipx_core.qa.embeddings import choose_embedder  # noqa: E402
from zipx_core.qa.gate import Gate  # noqa: E402
from zipx_core.qa.references import references_for_drama  # noqa: E402
from zipx_core.generation import RenderSettings, generate_shots  # noqa: E402
from zipx_core.media import concat_clips  # noqa: E402
from zipx_core.media.assembly import assemble_episode  # noqa: E402
from zipx_core.script import load_drama, parse_text  # noqa: E402
from zipx_core.storage import LocalArtifactStore  # noqa: E402
from zipx_core.storyboard import plan_episode  # noqa: E402
from zipx_dagster.definitions import build_definitions  # noqa: E402
from zipx_dagster.demo import SAMPLE, run_drama  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "screenplays"
DEMO = RenderSettings()


def thirty_five_scene_episode() -> str:
    """The Last Birthday Card (48 scenes, 134 cues) cut to its first 35 scenes, as one episode."""
    text = (CORPUS / "The-Last-Birthday-Card.fountain").read_text(encoding="utf-8-sig")
    text = re.sub(r"(?m)^#.*$", "", text)  # one episode
    script = parse_text(text, "birthday.fountain")
    cut_line = script.scenes[35].line
    return "\n".join(text.splitlines()[: cut_line - 1])


def bench_planning() -> None:
    text = thirty_five_scene_episode()
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        script = parse_text(text, "birthday.fountain")
        bibles = extract_bibles(script, "birthday")
        board = plan_episode(script, "ep01", bibles, "birthday")
        timings.append(time.perf_counter() - started)
    best = statistics.median(timings)
    print(f"1. script -> storyboard, {len(script.scenes)} scenes, {len(board.shots)} shots: "
          f"{best * 1000:.1f} ms (median of 7); target 1 s: {best / 1.0:.4f} of it; seed ~240 s: {240 / best:,.0f}x faster")


def bench_render_and_assembly(work: Path) -> None:
    script = load_drama(SAMPLE)
    bibles = extract_bibles(script, "harbour_lights")
    board = plan_episode(script, "ep01", bibles, "harbour_lights")
    store = LocalArtifactStore(work / "render-store")
    one_worker = RenderSettings(width=DEMO.width, height=DEMO.height, workers=1)
    started = time.perf_counter()
    takes = generate_shots(board, bibles, store, one_worker)
    serial = time.perf_counter() - started
    video_s = sum(t.duration_s for t in takes.takes)
    store2 = LocalArtifactStore(work / "render-store-2")
    started = time.perf_counter()
    generate_shots(board, bibles, store2, DEMO)
    parallel = time.perf_counter() - started
    print(f"2. local renderer at {DEMO.width}x{DEMO.height}, {len(takes.takes)} shots, {video_s:.1f}s of video: "
          f"{video_s / serial:.1f}x real time on 1 worker, {video_s / parallel:.1f}x on {DEMO.workers} workers")

    clips = [store.path(t.clip_uri) for t in takes.takes]
    copy_times, encode_times = [], []
    for _ in range(3):
        started = time.perf_counter()
        assemble_episode(board, takes, store)
        copy_times.append(time.perf_counter() - started)
    # the same clips forced through a re-encode (what a needless re-encode would cost)
    mixed = clips[:-1] + [work / "odd.mp4"]
    subprocess.run([_ffmpeg(), "-y", "-loglevel", "error", "-i", str(clips[-1]), "-vf", "scale=638:360", str(mixed[-1])], check=True)
    started = time.perf_counter()
    assert concat_clips(mixed, work / "reencoded.mp4") == "reencode"
    encode_times.append(time.perf_counter() - started)
    copy_x = video_s / statistics.median(copy_times)
    encode_x = video_s / encode_times[0]
    print(f"3. assembly of {video_s:.1f}s: stream copy {copy_x:.0f}x real time (target >= 50x); "
          f"re-encode {encode_x:.1f}x; copy is {copy_x / encode_x:.0f}x faster")


def _ffmpeg() -> str:
    from zipx_core.media import ffmpeg_exe

    return ffmpeg_exe()


def direct_demo(home: Path) -> None:
    """The demo's work as plain core calls: no Dagster."""
    script = load_drama(SAMPLE)
    bibles = extract_bibles(script, "harbour_lights")
    store = LocalArtifactStore(home / "artifacts")
    references = references_for_drama(script, bibles, store, DEMO.width, DEMO.height)
    embedder, note = choose_embedder("auto")
    for episode in script.episodes:
        board = plan_episode(script, episode.key, bibles, "harbour_lights")
        audio = voice_episode(board, bibles, store)
        timed = apply_speech_timing(board, audio)
        takes = generate_shots(timed, bibles, store, DEMO)
        report = Gate(bibles, references, store, embedder, note, DEMO).run(timed, takes)
        pool = report.pool()
        assemble_episode(timed, pool, store, audio)
        export_timeline(build_timeline(timed, pool, store, audio, report.awaiting_review), store)


def dagster_demo(home: Path) -> None:
    (home / "dagster_home").mkdir(parents=True)
    with dg.instance_for_test(temp_dir=str(home / "dagster_home")) as instance:
        run_drama(instance, SAMPLE, build_definitions(home), home)


def bench_overhead(work: Path) -> None:
    timings: dict[str, list[float]] = {"direct": [], "dagster": []}
    for round_number in range(2):  # alternate, so neither side always runs on a warm cache
        for name, run in (("direct", direct_demo), ("dagster", dagster_demo)):
            home = work / f"{name}-{round_number}"
            started = time.perf_counter()
            run(home)
            timings[name].append(time.perf_counter() - started)
    direct, through = min(timings["direct"]), min(timings["dagster"])
    print(f"4. demo wall time: direct core calls {direct:.1f}s, through Dagster {through:.1f}s; "
          f"ratio {through / direct:.2f} (target <= 1.3)")


def bench_memory(work: Path) -> None:
    env = {**os.environ, "ZIPX_HOME": str(work / "memory"), "DAGSTER_HOME": str(work / "memory" / "dagster_home")}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zipx_dagster.demo"], cwd=REPO, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"5. demo as a user runs it: {wall:.1f}s wall; peak memory {peak_mib:.0f} MiB (largest process)")


def main() -> None:
    print(f"ZipX spine benchmark, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        bench_planning()
        bench_render_and_assembly(work)
        bench_overhead(work)
        bench_memory(work)


if __name__ == "__main__":
    main()
