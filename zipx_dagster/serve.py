"""The UI as a studio runs it: dagster-webserver and dagster-daemon (sensors, schedules,
run queue) over one DAGSTER_HOME, and the review room beside them (zipx_dagster.room,
on loopback unless ZIPX_ROOM_TOKEN is set). `make dev` and the browser tests start it
the same way:

    python -m zipx_dagster.serve [--host 127.0.0.1] [--port 3000] [--workspace workspace.yaml]
                                 [--room-host 127.0.0.1] [--room-port PORT+1]

Stopping it (Ctrl-C or SIGTERM) stops all three; if one dies, the others are stopped too."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from zipx_dagster.instance import prepare_dagster_home


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)  # the venv's own, whatever PATH says


def _reachable(host: str) -> str:
    """Where this machine reaches a server bound to `host` (all addresses: loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zipx_dagster.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--workspace", default="workspace.yaml")
    parser.add_argument("--room-host", default="127.0.0.1", help="the review room's address (beyond loopback: ZIPX_ROOM_TOKEN)")
    parser.add_argument("--room-port", type=int, help="the review room's port (default: the UI's port + 1)")
    args = parser.parse_args(argv)
    args.room_port = args.room_port or args.port + 1
    workspace = Path(args.workspace).resolve()
    if not workspace.is_file():
        parser.error(f"{workspace}: no such workspace file")
    home = prepare_dagster_home()
    print(f"DAGSTER_HOME={home}; UI on http://{args.host}:{args.port}; review room on http://{args.room_host}:{args.room_port}",
          flush=True)
    # the assets' metadata links into the room; the room launches runs through the webserver
    env = {"ZIPX_ROOM_URL": f"http://{_reachable(args.room_host)}:{args.room_port}", **os.environ}
    processes = [
        subprocess.Popen([_tool("dagster-daemon"), "run", "-w", str(workspace)], env=env),
        subprocess.Popen([_tool("dagster-webserver"), "-w", str(workspace), "-h", args.host, "-p", str(args.port)], env=env),
        subprocess.Popen([sys.executable, "-m", "zipx_dagster.room", "--host", args.room_host, "--port", str(args.room_port),
                          "--dagster-url", f"http://{_reachable(args.host)}:{args.port}"], env=env),
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
