"""The local Dagster instance: DAGSTER_HOME under ZIPX_HOME unless set, with a
dagster.yaml that turns off telemetry and the first-visit dialog (it covers the UI)."""

import os
from pathlib import Path

import dagster as dg

from zipx_dagster.resources import zipx_home

LOCAL_DAGSTER_YAML = """\
# Written by zipx_dagster.instance for a laptop: SQLite storage under this folder.
# Production uses deploy/dagster.yaml (Postgres).
telemetry:
  enabled: false
nux:
  enabled: false
"""


def prepare_dagster_home() -> Path:
    """The folder, its dagster.yaml, and its storage made once here: on a fresh folder the
    webserver, its code server and the daemon would otherwise each create and stamp the
    SQLite schedule storage at once, and the loser fails ('more than one head present')."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(zipx_home() / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_DAGSTER_YAML)
    with dg.DagsterInstance.get():
        pass
    return home


if __name__ == "__main__":
    print(prepare_dagster_home())
