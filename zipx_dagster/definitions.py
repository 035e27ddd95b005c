"""The one Definitions object: assets by stage, jobs, resources with their defaults."""

from pathlib import Path

import dagster as dg

from zipx_dagster.assets import drama, episode
from zipx_dagster.jobs import drama_job, episode_job
from zipx_dagster.resources import ArtifactStore, ManifestIOManager, RenderConfig, ScriptInbox, zipx_home


def build_definitions(home: Path, render: RenderConfig | None = None) -> dg.Definitions:
    """Everything under one ZIPX_HOME: the inbox, the artifact store and the manifests."""
    return dg.Definitions(
        assets=dg.load_assets_from_modules([drama, episode]),
        jobs=[drama_job, episode_job],
        resources={
            "inbox": ScriptInbox(root=str(home / "inbox")),
            "artifacts": ArtifactStore(root=str(home / "artifacts")),
            "render": render or RenderConfig(),
            "io_manager": ManifestIOManager(root=str(home / "manifests")),
        },
    )


defs = build_definitions(zipx_home())
