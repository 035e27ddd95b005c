"""Partitions: one key per drama (script), one per episode (ep01, ep02 ...).

Dagster takes the cross product of the two, so a short drama has (drama, episode)
pairs that its script lacks (Dagster has no sparse multi-partitions, #10796): those
yield no output, and nothing in ZipX requests them.
"""

import warnings

import dagster as dg

drama_partitions = dg.DynamicPartitionsDefinition(name="drama")
episode_partitions = dg.DynamicPartitionsDefinition(name="episode")
drama_episode_partitions = dg.MultiPartitionsDefinition({"drama": drama_partitions, "episode": episode_partitions})

# Per-episode assets read per-drama ones through the drama dimension.
with warnings.catch_warnings():  # beta in 1.13, and the documented way to do this
    warnings.simplefilter("ignore", dg.BetaWarning)
    by_drama = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="drama")


def drama_and_episode(context: dg.AssetExecutionContext) -> tuple[str, str]:
    keys = context.partition_key.keys_by_dimension
    return keys["drama"], keys["episode"]


def drama_episode_key(drama: str, episode: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"drama": drama, "episode": episode})
