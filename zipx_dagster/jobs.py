import dagster as dg

from zipx_dagster.partitions import drama_episode_partitions, drama_partitions

# A run has one partition key, so per-drama and per-episode assets run as two jobs.
drama_job = dg.define_asset_job(
    "drama_job",
    selection=dg.AssetSelection.groups("script", "bibles"),
    partitions_def=drama_partitions,
    description="Parse a drama's script and extract its bibles.",
)
episode_job = dg.define_asset_job(
    "episode_job",
    selection=dg.AssetSelection.groups("episodes"),
    partitions_def=drama_episode_partitions,
    description="Plan, generate and assemble one episode.",
)
