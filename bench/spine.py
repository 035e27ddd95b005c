"""Spine benchmark: every figure and ratio taken side by side in one run.

  python bench/spine.py            (or: make bench)
  python bench/spine.py --planning (section 1 alone)

1. script -> storyboard, stage by stage, for a 35-scene episode (target < 1 s; the seed
   took ~240 s) and beside it a feature-length drama (The Last Birthday Card nine times
   over, characters renamed: about 8,000 lines and 430 scenes; target < 1 s for all of it)
2. the local renderer's speed as a multiple of real time at the demo's resolution
3. assembly as a multiple of real time, stream copy next to a re-encode (target >= 50x)
4. the demo through Dagster / the same core calls made directly (target <= 1.2)
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

from zipx_core.audio import voice_episode  # noqa: E402
from zipx_core.bible import extract_bibles, extract_scene_bibles  # noqa: E402
from zipx_core.media.timeline import build_timeline, export_timeline  # noqa: E402
from zipx_core.keyframes import KeyframeMaker, offline_setup  # noqa: E402
from zipx_core.prompting import with_keyframes  # noqa: E402
from zipx_core.qa.checks import Thresholds  # noqa: E402
from zipx_core.qa.embeddings import choose_embedder  # noqa: E402
from zipx_core.qa.gate import Gate  # noqa: E402
from zipx_core.qa.references import references_for_drama  # noqa: E402
from zipx_core.generation import RenderSettings, generate_shots  # noqa: E402
from zipx_core.media import concat_clips  # noqa: E402
from zipx_core.media.assembly import assemble_episode  # noqa: E402
from zipx_core.script import load_drama, parse_text  # noqa: E402
from zipx_core.stills import LocalStills  # noqa: E402
from zipx_core.storage import LocalArtifactStore  # noqa: E402
from zipx_core.storyboard import plan_episode  # noqa: E402
from zipx_core.storyboard.shot_plan import plan_shots  # noqa: E402
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


# The named speakers of The Last Birthday Card, and the names they take in copies 2 to 9.
CAST = ("SCOTT", "BAXTER", "NAK", "BILLUPS", "NANCY")
NEW_NAMES = ("Owen Maya Felix Iris Hugo Nora Caleb Vera Milo Lena Ezra Tess Jonah Ruth Silas Cora Abel Edith Rhys June "
             "Oscar Greta Simon Alice Victor Hazel Tobias Clara Leon Mabel Arthur Stella Jasper Olive Walter Daisy "
             "Gideon Flora Ivan Pearl").split()


def feature_script(copies: int = 9) -> str:
    """The Last Birthday Card `copies` times over, each copy's acts its own episodes and
    its named characters renamed (cues, action, possessives), so that the cast grows as a
    feature's does. Nine copies: about 8,000 lines and 430 scenes, against the 8,459
    lines and 209 scenes of the feature in issue 16 (more scenes: a harder case)."""
    text = (CORPUS / "The-Last-Birthday-Card.fountain").read_text(encoding="utf-8-sig")
    title_page, body = text.split("\n\n", 1)
    parts = [title_page, body]
    for copy in range(1, copies):
        part = body
        for index, name in enumerate(CAST):
            new = NEW_NAMES[((copy - 1) * len(CAST) + index) % len(NEW_NAMES)]
            part = re.sub(rf"\b{name}\b", new.upper(), part)
            part = re.sub(rf"\b{name.title()}\b", new, part)
        parts.append(part)
    return "\n\n".join(parts)


def planning_stages(text: str, runs: int) -> tuple[dict[str, float], dict[str, float], tuple]:
    """Seconds per stage, text to every episode's storyboard: the first run's and the
    median of the others. The character bible is extract_bibles less the scene bible,
    so that the figure holds however the bible splits its work."""
    stages: dict[str, list[float]] = {"parse": [], "character bible": [], "scene bible": [], "storyboards": []}
    for _ in range(runs):
        started = time.perf_counter()
        script = parse_text(text, "drama.fountain")
        parsed = time.perf_counter()
        extract_scene_bibles(script)
        scene_bible = time.perf_counter() - parsed
        bibles = extract_bibles(script, "drama")
        bibles_done = time.perf_counter()
        boards = [plan_episode(script, episode.key, bibles, "drama") for episode in script.episodes]
        stages["parse"].append(parsed - started)
        stages["scene bible"].append(scene_bible)
        stages["character bible"].append(bibles_done - parsed - 2 * scene_bible)
        stages["storyboards"].append(time.perf_counter() - bibles_done)
    first = {name: times[0] for name, times in stages.items()}
    median = {name: statistics.median(times[1:]) for name, times in stages.items()}
    size = (len(text.splitlines()), len(script.scenes), len(script.episodes), len(bibles.characters), sum(len(b.shots) for b in boards))
    return first, median, size


def bench_planning() -> None:
    # the feature first: its first run is this process's first, as in a fresh step process
    # (lexicons load on first use)
    rows = [("feature", *planning_stages(feature_script(), 6)), ("35-scene episode", *planning_stages(thirty_five_scene_episode(), 8))]
    names = list(rows[0][2])
    print("1. script -> storyboard in process, seconds (median of the runs after the first; target < 1 s)")
    print(f"   {'script':<17} {'lines':>6} {'scenes':>6} {'eps':>4} {'chars':>5} {'shots':>5} "
          + " ".join(f"{n:>15}" for n in names) + f" {'total':>7} {'first run':>9} {'char share':>10}")
    for label, first, median, (lines, scenes, episodes, characters, shots) in rows:
        total = sum(median.values())
        print(f"   {label:<17} {lines:>6} {scenes:>6} {episodes:>4} {characters:>5} {shots:>5} "
              + " ".join(f"{median[n]:>15.3f}" for n in names)
              + f" {total:>7.3f} {sum(first.values()):>9.3f} {median['character bible'] / total:>10.0%}")
    feature_total = sum(rows[0][2].values())
    episode_total = sum(rows[1][2].values())
    print(f"   feature: {feature_total:.3f} s, {feature_total / 1.0:.2f} of the 1 s target; "
          f"35-scene episode {episode_total * 1000:.0f} ms, the seed's ~240 s / {240 / episode_total:,.0f}")


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
    """The demo's work as plain core calls: no Dagster. Keyframe-first, as the demo's
    episode runs are (Generation.keyframe_first): a still per shot drawn and judged, each
    clip started from it, the gate judging against the same requests."""
    script = load_drama(SAMPLE)
    bibles = extract_bibles(script, "harbour_lights")
    store = LocalArtifactStore(home / "artifacts")
    references = references_for_drama(script, bibles, store, DEMO.width, DEMO.height)
    embedder, note = choose_embedder("auto")
    for episode in script.episodes:
        board = plan_episode(script, episode.key, bibles, "harbour_lights")
        audio = voice_episode(board, bibles, store)
        plan = plan_shots(board, audio, bibles, DEMO, references)
        timed = plan.storyboard()
        maker = KeyframeMaker(bibles, references, store, LocalStills(store), embedder, Thresholds(),
                              max_attempts=plan.policy.max_attempts, setup=offline_setup())
        requests = with_keyframes(plan.requests, maker.run(timed, plan.requests))
        takes = generate_shots(timed, bibles, store, DEMO, requests=requests)
        report = Gate(bibles, references, store, embedder, note, DEMO).run(timed, takes, requests=requests)
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
          f"ratio {through / direct:.2f} (target <= 1.2)")


def bench_memory(work: Path) -> None:
    env = {**os.environ, "ZIPX_HOME": str(work / "memory"), "DAGSTER_HOME": str(work / "memory" / "dagster_home")}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zipx_dagster.demo"], cwd=REPO, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"5. demo as a user runs it: {wall:.1f}s wall; peak memory {peak_mib:.0f} MiB (largest process)")


def main() -> None:
    print(f"ZipX spine benchmark, {os.cpu_count()} cores")
    bench_planning()
    if sys.argv[1:] == ["--planning"]:  # section 1 alone: seconds instead of minutes
        return
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        bench_render_and_assembly(work)
        bench_overhead(work)
        bench_memory(work)


if __name__ == "__main__":
    main()
