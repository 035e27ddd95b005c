"""What people and the failure-cluster sensor decide, as inputs in the lineage: a re-plan of
scenes changes the storyboard, a review decision changes the gate's approved pool.

Both are records on the store (zipx_core.records: `replans`, `review`), written by runs,
the review room and the CLI; here they are external assets (nothing materializes them in a
run), so the graph shows what the storyboard and the gate read beside their upstream
assets. The step that reads or writes one reports it (`reported`): the storyboard the
re-plans it made, the gate every decision it applied, whoever wrote it (launchpad, room or
`zipx review`), so the core never talks to Dagster; the room also reports its own at once."""

import dagster as dg

from zipx_dagster.partitions import drama_episode_partitions

OWNERS = ["team:zipx"]

replans = dg.AssetSpec(
    "replans", partitions_def=drama_episode_partitions, group_name="decisions", owners=OWNERS, kinds={"json"},
    description="Scenes re-planned and how often (the store's `replans` record): the failure-cluster sensor's "
    "re-plan runs (storyboard config `replan`) write it; the storyboard reads it, so every later plan keeps the re-plans.",
)
review_decisions = dg.AssetSpec(
    "review_decisions", partitions_def=drama_episode_partitions, group_name="decisions", owners=OWNERS, kinds={"json"},
    description="A person's decisions on shots: approve, or regenerate with a note (the store's `review` record), from the "
    "review room, `zipx review` or the launchpad (approved_frames config); the gate reads them.",
)
SPECS = [replans, review_decisions]


def reported(context: dg.AssetExecutionContext, spec: dg.AssetSpec, change: dict) -> None:
    """A materialization of `spec` for this step's partition: a step wrote it, `change` says what."""
    context.log_event(dg.AssetMaterialization(asset_key=spec.key, partition=context.partition_key,
                                              metadata={name: dg.MetadataValue.json(value) for name, value in change.items()}))
