"""python -m zipx_dagster.room [--host 127.0.0.1] [--port 3001] [--dagster-url http://127.0.0.1:3000]

The room over ZIPX_HOME's manifests and the artifact store the runs use (S3 when
ZIPX_S3_BUCKET is set). Any address but loopback needs ZIPX_ROOM_TOKEN (read from the
environment only: a command-line argument would show in `ps`)."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from zipx_core.manifests import ManifestReader
from zipx_dagster.resources import artifact_store_from_env, generation_from_env, zipx_home
from zipx_dagster.room.app import Room, create_app
from zipx_dagster.room.launcher import DagsterLauncher
from zipx_dagster.room.security import RoomRefused


def build_app(host: str, dagster_url: str):
    home = zipx_home()
    generation = generation_from_env()  # the budgets the runs are held to, as the code location builds them
    store = artifact_store_from_env(home).store()  # manifests and media from the store the runs use
    room = Room(reader=ManifestReader(store), store=store,
                launcher=DagsterLauncher(dagster_url), budget_episode_usd=generation.budget_episode_usd,
                budget_drama_usd=generation.budget_drama_usd)
    return create_app(room, host=host, token=os.environ.get("ZIPX_ROOM_TOKEN") or None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zipx_dagster.room", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    parser.add_argument("--dagster-url", default="http://127.0.0.1:3000", help="the webserver whose GraphQL API launches runs")
    args = parser.parse_args(argv)
    try:
        app = build_app(args.host, args.dagster_url)
    except RoomRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"review room on http://{args.host}:{args.port} (runs launched through {args.dagster_url})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
