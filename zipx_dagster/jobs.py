import dagster as dg

# A run has one partition key, so per-drama and per-episode assets run as two jobs
# (their partitioning is inferred from the selected assets).
drama_job = dg.define_asset_job(
    "drama_job",
    selection=dg.AssetSelection.groups("script", "bibles"),
    description="Parse a drama's script, extract its bibles and lock its reference stills.",
)
episode_job = dg.define_asset_job(
    "episode_job",
    selection=dg.AssetSelection.groups("episodes"),
    description="Plan, voice, generate, gate and assemble one episode.",
)
