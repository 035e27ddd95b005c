"""Reference frames (per drama) and the quality gate's approved pool (per episode)."""

import dagster as dg

from zipx_core.audio import apply_speech_timing
from zipx_core.generation import retake_function
from zipx_core.media import thumbnail_strip_png
from zipx_core.models import Bibles, CharacterBibles, EpisodeAudio, ReferenceSet, SceneBibles, Script, ShotsManifest, Storyboard
from zipx_core.qa.gate import Gate, GateConfig
from zipx_core.qa.references import references_for_drama
from zipx_core.qa.review import record_decisions
from zipx_dagster.gpu import QA_POOL, qa_op_tags
from zipx_dagster.metadata import markdown_table, png_markdown
from zipx_dagster.partitions import by_drama, drama_and_episode, drama_episode_partitions, drama_partitions
from zipx_dagster.resources import ArtifactStore, ClipModel, Generation, LocalFailures, RenderConfig

OWNERS = ["team:zipx"]


class ReferenceConfig(dg.Config):
    relock: bool = False  # re-draw and re-lock every reference: an explicit choice


@dg.asset(
    partitions_def=drama_partitions,
    group_name="bibles",
    kinds={"python", "pillow"},
    owners=OWNERS,
    description="Reference stills per character (close-up and medium, default wardrobe, in each place it appears) "
    "and per location, scored, picked and locked: what continuity is checked against. Locked stills survive re-runs.",
)
def reference_frames(
    context: dg.AssetExecutionContext, config: ReferenceConfig, drama_script: Script, character_bible: CharacterBibles,
    scene_bible: SceneBibles, artifacts: ArtifactStore, render: RenderConfig,
) -> dg.Output[ReferenceSet]:
    store = artifacts.store()
    references = references_for_drama(drama_script, Bibles.of(character_bible, scene_bible), store, *render.frame(), relock=config.relock)
    stills = [store.path(uris[0]).read_bytes() for uris in [*references.characters.values(), *references.locations.values()]]
    return dg.Output(
        references,
        metadata={
            "characters": len(references.characters),
            "locations": len(references.locations),
            "stills": sum(map(len, references.characters.values())) + len(references.locations),
            "relocked": config.relock,
            "references": png_markdown(thumbnail_strip_png(stills, height=60), "reference stills"),
        },
    )


class ReviewConfig(dg.Config):
    """Review decisions from the launchpad (the same as `zipx review approve|regenerate`):
    shot ids to approve (their first take), and shot id -> note for one more generation."""

    approve: list[str] = []
    regenerate: dict[str, str] = {}


CHECKS = [
    dg.AssetCheckSpec("continuity_pass_rate", asset="approved_frames", description="share of first takes that pass the whole gate"),
    dg.AssetCheckSpec("drift_left_in_pool", asset="approved_frames", blocking=True,
                      description="approved takes below their continuity threshold (must be none)"),
    dg.AssetCheckSpec("shots_awaiting_review", asset="approved_frames", description="shots that failed three attempts"),
]


@dg.asset(
    partitions_def=drama_episode_partitions,
    ins={
        "storyboard": dg.AssetIn(), "episode_audio": dg.AssetIn(), "shots": dg.AssetIn(),
        **{name: dg.AssetIn(partition_mapping=by_drama) for name in ("character_bible", "scene_bible", "reference_frames")},
    },
    output_required=False,
    check_specs=CHECKS,
    group_name="episodes",
    kinds={"python", "pytorch"},
    owners=OWNERS,
    pool=QA_POOL,
    op_tags=qa_op_tags(),
    description="The quality gate: continuity (CLIP, or the offline colour embedder) -> lighting (graded when close) "
    "-> resolution and artifacts (upscaled or discarded). Three attempts, then human review; scenes that fail "
    "from the start are stopped and recorded for re-planning.",
)
def approved_frames(
    context: dg.AssetExecutionContext,
    config: ReviewConfig,
    storyboard: Storyboard, episode_audio: EpisodeAudio, shots: ShotsManifest,
    character_bible: CharacterBibles, scene_bible: SceneBibles, reference_frames: ReferenceSet,
    artifacts: ArtifactStore, render: RenderConfig, failures: LocalFailures, clip: ClipModel, generation: Generation,
):
    drama, episode = drama_and_episode(context)
    embedder, note = clip.load()
    context.log.info(f"continuity embedder: {embedder.name} ({note})")
    store, renderer = artifacts.store(), failures.renderer()
    timed = apply_speech_timing(storyboard, episode_audio)
    retake = retake_function(timed, store, render.settings(generation), generation.settings(),
                             renderer, generation.providers, reference_url=getattr(store, "presigned_url", None))
    gate = Gate(Bibles.of(character_bible, scene_bible), reference_frames, store, embedder, note, render.settings(generation),
                renderer=renderer, config=GateConfig.recorded(store, embedder.name), retake=retake)

    def progress(done: int, total: int, shot_id: str, elapsed: float) -> None:
        if done == total or done % 10 == 0:
            context.log.info(f"{drama} {episode}: gate {done} of {total} ({shot_id}), {elapsed:.1f}s elapsed")

    decisions = record_decisions(store, drama, episode, config.approve, config.regenerate)
    report = gate.run(timed, shots, on_progress=progress, decisions=decisions)
    summary, below, review = report.summary(), report.drift_in_pool(), sorted(report.awaiting_review)
    yield dg.Output(report, metadata={
        "embedder": f"{report.embedder}: {report.embedder_note}", **summary,
        "verdicts": markdown_table(["shot", "status", "attempts", "continuity", "fixed", "reason"], report.verdict_rows()),
    })
    pass_rate = summary["first_attempt_pass_rate"]
    yield dg.AssetCheckResult(check_name="continuity_pass_rate", passed=pass_rate >= 0.5, severity=dg.AssetCheckSeverity.WARN,
                              metadata={"pass_rate": pass_rate})
    yield dg.AssetCheckResult(check_name="drift_left_in_pool", passed=not below, metadata={"shots": below})
    yield dg.AssetCheckResult(check_name="shots_awaiting_review", passed=not review, severity=dg.AssetCheckSeverity.WARN,
                              metadata={"count": len(review), "shots": ", ".join(review)})
