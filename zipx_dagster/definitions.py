"""The one Definitions object: assets by stage, jobs, resources with their defaults."""

import dagster as dg

from zipx_dagster.assets import drama, episode
from zipx_dagster.jobs import drama_job, episode_job
from zipx_dagster.resources import ArtifactStore, ManifestIOManager, RenderConfig, ScriptInbox, zipx_home

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([drama, episode]),
    jobs=[drama_job, episode_job],
    resources={
        "inbox": ScriptInbox(root=str(zipx_home() / "inbox")),
        "artifacts": ArtifactStore(root=str(zipx_home() / "artifacts")),
        "render": RenderConfig(),
        "io_manager": ManifestIOManager(root=str(zipx_home() / "manifests")),
    },
)
