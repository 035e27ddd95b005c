"""The demo's memory: peak resident memory of its largest process (ffmpeg and speech
children included), for the sample drama (2 episodes) and the same drama made twice as
long (4 episodes), beside the 500 MiB target: flat in the number of episodes. With
--overhead, also the demo's wall time through Dagster over the same core calls made
directly (bench/spine.py's measure; target <= 1.2).

  .venv/bin/python bench/demo_memory.py [--overhead]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "harbour_lights.fountain"
TARGET_MIB = 500
# run in a child so that its own RUSAGE_CHILDREN holds this demo's processes only
PEAK = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); " \
       "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"


def longer_drama(folder: Path) -> Path:
    """The sample with its episodes told twice, numbered on: four episodes."""
    text = SAMPLE.read_text()
    first = text.index("# Episode 1")
    body = text[first:]
    again = re.sub(r"# Episode (\d+)", lambda m: f"# Episode {int(m.group(1)) + 2}", body)
    path = folder / "harbour_lights_long.fountain"
    path.write_text(text + "\n\n" + again)
    return path


def demo_peak(script: Path, home: Path) -> tuple[float, float]:
    """(peak MiB of the largest process, wall seconds) of `python -m zipx_dagster.demo SCRIPT`."""
    env = {**os.environ, "ZIPX_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home")}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "zipx_dagster.demo", str(script)],
                         cwd=REPO, env=env, check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1]) / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--overhead", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for name, script in (("2 episodes", SAMPLE), ("4 episodes", longer_drama(work))):
            peak, wall = demo_peak(script, work / name.replace(" ", "-"))
            print(f"demo, {name}: peak {peak:.0f} MiB in its largest process (target <= {TARGET_MIB} MiB: "
                  f"{peak / TARGET_MIB:.2f} of it), {wall:.0f}s wall")
        if args.overhead:
            sys.path.insert(0, str(REPO / "bench"))
            from spine import bench_overhead

            bench_overhead(work)


if __name__ == "__main__":
    main()
