"""The UI as a studio runs it: dagster-webserver and dagster-daemon (sensors, schedules,
run queue) as two processes over one DAGSTER_HOME. `make dev` and the browser test
start it the same way:

    python -m zipx_dagster.serve [--host 127.0.0.1] [--port 3000] [--workspace workspace.yaml]

Stopping it (Ctrl-C or SIGTERM) stops both; if either dies, the other is stopped too."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from zipx_dagster.instance import prepare_dagster_home


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)  # the venv's own, whatever PATH says


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zipx_dagster.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--workspace", default="workspace.yaml")
    args = parser.parse_args(argv)
    workspace = Path(args.workspace).resolve()
    if not workspace.is_file():
        parser.error(f"{workspace}: no such workspace file")
    home = prepare_dagster_home()
    print(f"DAGSTER_HOME={home}; UI on http://{args.host}:{args.port}", flush=True)
    processes = [
        subprocess.Popen([_tool("dagster-daemon"), "run", "-w", str(workspace)]),
        subprocess.Popen([_tool("dagster-webserver"), "-w", str(workspace), "-h", args.host, "-p", str(args.port)]),
    ]

    def stop(*_):
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop()
    return max(process.returncode or 0 for process in processes)


if __name__ == "__main__":
    sys.exit(main())
