"""Load: a drama of 6 episodes × hundreds of shots (24 scenes: 298 each) through
Dagster against the four hosted models' protocols (tests/providers_server.py on 127.0.0.1, every job a few
seconds), the six episode runs at once, as the daemon's run launcher would start them:
one process per run over one DAGSTER_HOME.

Instance storage: by default the laptop's, SQLite (DagsterSqliteStorage under
DAGSTER_HOME), because it is the one that can lock: six processes writing events at
once is its worst case. `--storage postgres` runs the same load on production's
(deploy/dagster.yaml over a PostgreSQL server started for the run, as the tests do).
Prints the wall time, shots made, peak memory (largest run process, and this process
with the protocol server), any "database is locked" line and any other database error.

    .venv/bin/python bench/load.py [--episodes 6] [--scenes 24] [--job-seconds 3] [--storage sqlite|postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.spine import CORPUS  # noqa: E402
from tests.providers_server import KEYS, KLING_ACCESS, KLING_SECRET, FakeProviders  # noqa: E402

def fake_generation(url: str):
    """The four models at the protocol server, keys from the environment as the code location
    reads them (zipx_core.studio); stills approved automatically (nobody reviews a load test);
    a generous account: the fake's limits are not what is measured here."""
    import dagster as dg

    from zipx_core.studio import generation_env
    from zipx_dagster.resources import Generation

    hosts = {name: ["127.0.0.1"] for name in ("veo3", "kling", "seedance", "happyhorse")}
    return Generation(
        **generation_env(dg.EnvVar),
        base_urls={"veo3": url + "/v1beta", "kling": url, "seedance": url, "happyhorse": url},
        download_hosts=hosts, allow_private_hosts=True, auto_approve_stills=True,
        concurrency={name: 50 for name in hosts}, submissions_per_minute={name: 0 for name in hosts})


RUN = """
import json, resource, sys
import dagster as dg
from pathlib import Path
from zipx_dagster.definitions import build_definitions
from zipx_dagster.partitions import drama_episode_key
from zipx_dagster.resources import RenderConfig
from bench.load import fake_generation

home, url, episode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
generation = fake_generation(url)
defs = build_definitions(home, RenderConfig(width=128, height=72), generation=generation)
job = defs.resolve_job_def("episode_job").get_subset(asset_selection={dg.AssetKey(name) for name in ("storyboard", "episode_audio", "shot_plan", "keyframes", "shots")})
result = job.execute_in_process(instance=dg.DagsterInstance.get(), partition_key=drama_episode_key("load", episode), raise_on_error=False)
takes = result.output_for_node("shots").takes if result.success else []
print(json.dumps({"episode": episode, "success": result.success, "takes": len(takes),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def drama_folder(work: Path, episodes: int, scenes: int) -> Path:
    """The Last Birthday Card's first `scenes` scenes, once per episode file."""
    text = (CORPUS / "The-Last-Birthday-Card.fountain").read_text(encoding="utf-8-sig")
    text = re.sub(r"(?m)^#.*$", "", text)
    headings = [m.start() for m in re.finditer(r"(?m)^(INT|EXT)[. ]", text)]
    cut = text[: headings[scenes]] if scenes < len(headings) else text
    folder = work / "load"
    folder.mkdir()
    for n in range(1, episodes + 1):
        (folder / f"ep{n:02d}.fountain").write_text(cut)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--job-seconds", type=float, default=3.0)
    parser.add_argument("--storage", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    import dagster as dg

    from zipx_dagster.definitions import build_definitions
    from zipx_dagster.demo import register_drama
    from zipx_dagster.resources import RenderConfig

    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        fake = stack.enter_context(FakeProviders(job_seconds=args.job_seconds, width=128, height=72))
        home = work / "home"
        env = {**os.environ, "ZIPX_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
               "GEMINI_API_KEY": KEYS["veo3"], "KLING_ACCESS_KEY": KLING_ACCESS, "KLING_SECRET_KEY": KLING_SECRET,
               "ARK_API_KEY": KEYS["seedance"], "DASHSCOPE_API_KEY": KEYS["happyhorse"]}
        (home / "dagster_home").mkdir(parents=True)
        if args.storage == "postgres":
            from tests.pgserver import PostgresServer

            postgres = PostgresServer().start()
            stack.callback(postgres.stop)
            env.update(postgres.environ())
            shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster_home" / "dagster.yaml")
        os.environ.update(env)
        instance = dg.DagsterInstance.get()
        drama, episodes = register_drama(instance, drama_folder(work, args.episodes, args.scenes), home / "inbox")
        defs = build_definitions(home, RenderConfig(width=128, height=72), generation=fake_generation(fake.url))
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key=drama).success
        started = time.monotonic()
        runs = [subprocess.Popen([sys.executable, "-c", RUN, str(home), fake.url, episode], cwd=REPO, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for episode in episodes]
        outputs = [run.communicate()[0] for run in runs]
        wall = time.monotonic() - started
        import json

        results = [json.loads(line) for out in outputs for line in out.splitlines() if line.startswith('{"episode"')]
        lines = [line for out in outputs for line in out.splitlines()]
        locked = [line for line in lines if "database is locked" in line]
        database_errors = [line for line in lines if "OperationalError" in line or "deadlock detected" in line]
        storage = type(instance.event_log_storage).__name__
        print(f"{len(episodes)} episode runs at once, {args.storage} instance storage ({storage}), jobs of {args.job_seconds:.0f} s")
        for r in results:
            print(f"  {r['episode']}: success={r['success']} takes={r['takes']} peak {r['peak_mb']:.0f} MB")
        print(f"shots made: {sum(r['takes'] for r in results)}; submissions: {len(fake.submissions)}; wall {wall:.0f} s")
        print(f"peak memory: largest run {max(r['peak_mb'] for r in results):.0f} MB; "
              f"this process with the server {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        print(f"'database is locked' lines: {len(locked)}; other database errors: {len(database_errors)}")
        if len(results) != len(episodes) or not all(r["success"] for r in results):
            print("".join(o[-3000:] for o in outputs))
            sys.exit(1)


if __name__ == "__main__":
    main()
