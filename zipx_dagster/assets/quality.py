"""Reference frames (per drama) and the quality gate's approved pool (per episode)."""

import warnings

import dagster as dg

from zipx_core.generation import retake_function
from zipx_core.media import thumbnail_strip_png
from zipx_core.keyframes import KeyframeMaker, offline_setup
from zipx_core.lipsync import review_reasons, synced_takes
from zipx_core.models import (Bibles, CharacterBibles, KeyframeSet, ReferenceSet, SceneBibles, Script, ShotPlan, ShotsManifest,
                              Storyboard)
from zipx_core.prompting import with_keyframes
from zipx_core.qa.gate import Gate, GateConfig, GateReport
from zipx_core.qa.references import approve_still, references_for_drama
from zipx_core.records import Records
from zipx_core.stills import StillFailed
from zipx_core.storage import presigner
from zipx_core.qa.review import record_decisions, superseded_decisions
from zipx_core.storyboard.replans import current_ids
from zipx_dagster.gpu import QA_POOL, qa_op_tags
from zipx_dagster.metadata import markdown_table, png_markdown, verdicts_table
from zipx_dagster.room.links import room_link
from zipx_dagster.partitions import by_drama, drama_and_episode, drama_episode_partitions, drama_partitions
from zipx_dagster import resources
from zipx_dagster.assets import decisions
from zipx_dagster.resources import ArtifactStore, ClipModel, Generation, LocalFailures, RenderConfig

OWNERS = ["team:zipx"]


class ReferenceConfig(dg.Config):
    """Reference stills from the launchpad (the same as `zipx stills …`)."""

    relock: bool = False  # re-make and re-lock every reference: an explicit choice
    auto_approve: bool | None = None  # None: the best-scored offline; a person for hosted stills (or Generation's setting)
    approve: dict[str, int] = {}  # slot -> the candidate (1-based, as `zipx stills list` numbers them) a person chose


@dg.asset(
    partitions_def=drama_partitions,
    group_name="bibles",
    kinds={"python", "pillow"},
    owners=OWNERS,
    description="Reference stills: per character a sheet (a hosted image model: front close-up, three-quarter, full "
    "body on a neutral background, a full body per outfit; offline: close-up and medium in each place it appears) and "
    "per location an empty plate; several candidates each, scored; a person approves one (`zipx stills approve`, the "
    "launchpad, the review room) or, offline or when auto-approve is on, the best-scored is. Locked stills survive re-runs.",
)
def reference_frames(
    context: dg.AssetExecutionContext, config: ReferenceConfig, drama_script: Script, character_bible: CharacterBibles,
    scene_bible: SceneBibles, artifacts: ArtifactStore, render: RenderConfig, generation: Generation,
) -> dg.Output[ReferenceSet]:
    studio, drama = resources.studio(artifacts, generation), character_bible.drama
    store = studio.store
    _launchpad_approvals(studio.records, drama, config.approve)
    stills = studio.still_source(drama)
    auto = config.auto_approve if config.auto_approve is not None else (generation.auto_approve_stills or None)
    context.log.info(f"{drama}: stills from {stills.name}")
    try:
        references = references_for_drama(drama_script, Bibles.of(character_bible, scene_bible), store, *render.frame(generation),
                                          relock=config.relock, stills=stills, auto_approve=auto,
                                          candidates=generation.still_candidates)
    except StillFailed as error:
        raise dg.Failure(description=f"{drama}: {error}") from None
    return dg.Output(references, metadata=_references_metadata(store, references, config.relock))


def _launchpad_approvals(records: Records, drama: str, approve: dict[str, int]) -> None:
    if not approve:
        return
    slots = {s.slot: s for s in ReferenceSet.model_validate(records.references(drama).get() or {"drama": drama}).slots}
    for slot, number in approve.items():
        if slot not in slots or not 1 <= number <= len(slots[slot].candidates):
            raise dg.Failure(description=f"ReferenceConfig.approve: {drama} has no slot {slot!r} with a candidate {number} "
                             "(see `zipx stills list`)")
        approve_still(records.store, drama, slot, slots[slot].candidates[number - 1], "launchpad")


def _references_metadata(store, references: ReferenceSet, relocked: bool) -> dict:
    """Counts, cost, what awaits a person, and each slot's candidates as thumbnails."""
    waiting = [s.slot for s in references.awaiting_approval]
    rows = [[s.slot, s.source, s.approved_by or "awaiting a person", ", ".join(f"{k + 1}: {v}" for k, v in enumerate(s.scores)),
             png_markdown(thumbnail_strip_png([store.path(u).read_bytes() for u in s.candidates], height=48), s.slot)]
            for s in references.slots]
    return {
        "review_room": room_link(f"/drama/{references.drama}/cast"),
        "source": references.source,
        "characters": len(references.characters),
        "locations": len(references.locations),
        "stills": sum(map(len, references.characters.values())) + sum(map(len, references.locations.values())),
        "candidates": sum(len(s.candidates) for s in references.slots),
        "awaiting_approval": len(waiting),
        "awaiting_slots": ", ".join(waiting),
        "cost_usd": round(sum(s.cost_usd for s in references.slots), 4),
        "relocked": relocked,
        "slots": markdown_table(["slot", "source", "approved by", "scores", "candidates"], rows),
    }


class KeyframeConfig(dg.Config):
    video_first: bool = False  # this run opts out of keyframes: clips from the prompt and references, as before


@dg.asset(
    partitions_def=drama_episode_partitions,
    ins={"shot_plan": dg.AssetIn(),
         **{name: dg.AssetIn(partition_mapping=by_drama) for name in ("character_bible", "scene_bible", "reference_frames")}},
    output_required=False,
    group_name="episodes",
    kinds={"python", "pillow"},
    owners=OWNERS,
    # not on the GPU pool: it waits on an image model's API most of its time, and encodes a few stills per shot
    description="Keyframe-first: a still per shot composed by the image model from the locked stills of who and where "
    "is in it, judged for continuity (up to three attempts), then each clip's first frame. A shot with no passing "
    "keyframe goes video-first. Off with Generation.keyframe_first or this asset's config.",
)
def keyframes(
    context: dg.AssetExecutionContext, config: KeyframeConfig, shot_plan: ShotPlan, character_bible: CharacterBibles,
    scene_bible: SceneBibles, reference_frames: ReferenceSet, artifacts: ArtifactStore, render: RenderConfig,
    generation: Generation, clip: ClipModel,
):
    drama, episode = drama_and_episode(context)
    if config.video_first or not generation.keyframe_first:
        yield dg.Output(KeyframeSet(drama=drama, episode=episode, enabled=False), metadata={"enabled": False})
        return
    if reference_frames.awaiting_approval:
        raise dg.Failure(description=f"{drama}: {len(reference_frames.awaiting_approval)} reference stills await a person: "
                         f"`zipx stills list {drama}`, then `zipx stills approve {drama} SLOT N` and materialize reference_frames")
    studio, bibles = resources.studio(artifacts, generation, clip=clip), Bibles.of(character_bible, scene_bible)
    store, (embedder, _) = studio.store, studio.embedder()
    stills = studio.still_source(drama)
    maker = KeyframeMaker(bibles, reference_frames, store, stills, embedder, GateConfig.recorded(store, embedder.name).thresholds,
                          max_attempts=shot_plan.policy.max_attempts, setup=None if stills.hosted else offline_setup())
    made = maker.run(shot_plan.storyboard(), shot_plan.requests)
    yield dg.Output(made, metadata=_keyframes_metadata(store, made))


def _keyframes_metadata(store, made: KeyframeSet) -> dict:
    approved = [k for k in made.keyframes if k.uri]
    return {
        "review_room": room_link(f"/drama/{made.drama}/{made.episode}/storyboard"),
        "source": made.keyframes[0].source if made.keyframes else "",
        "approved": len(approved),
        "video_first": [k.shot_id for k in made.keyframes if not k.uri],
        "attempts": sum(k.attempts for k in made.keyframes),
        "cost_usd": round(sum(k.cost_usd for k in made.keyframes), 4),
        "keyframe_table": markdown_table(["shot", "attempts", "continuity", "$", "reason"],
                                         [[k.shot_id, k.attempts, k.continuity, f"{k.cost_usd:.3f}", k.reason] for k in made.keyframes]),
        "keyframes": png_markdown(thumbnail_strip_png([store.path(k.uri).read_bytes() for k in approved[:24]], height=60),
                                  "keyframes"),
    }


class ReviewConfig(dg.Config):
    """Review decisions from the launchpad (the same as `zipx review approve|regenerate`):
    shot ids to approve (their first take), and shot id -> note for one more generation."""

    approve: list[str] = []
    regenerate: dict[str, str] = {}
    reviewer: str = "launchpad"  # who decides: recorded with each decision above


AWAITING_REVIEW_TAG = "zipx/awaiting_review"  # on a run that left shots for a person: how many


def _checks() -> list[dg.AssetCheckSpec]:
    """The gate's checks, per (drama, episode) partition: each result names its episode."""
    with warnings.catch_warnings():  # a partitioned check is a preview in 1.13
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            dg.AssetCheckSpec("continuity_pass_rate", asset="approved_frames", partitions_def=drama_episode_partitions,
                              description="share of first takes that pass the whole gate"),
            dg.AssetCheckSpec("drift_left_in_pool", asset="approved_frames", blocking=True, partitions_def=drama_episode_partitions,
                              description="approved takes below their continuity threshold (must be none)"),
            dg.AssetCheckSpec("shots_awaiting_review", asset="approved_frames", partitions_def=drama_episode_partitions,
                              description="shots that failed three attempts and wait for a person (a warning while any do)"),
        ]


CHECKS = _checks()


@dg.asset(
    partitions_def=drama_episode_partitions,
    ins={
        "shot_plan": dg.AssetIn(), "shots": dg.AssetIn(), "keyframes": dg.AssetIn(),
        **{name: dg.AssetIn(partition_mapping=by_drama) for name in ("character_bible", "scene_bible", "reference_frames")},
    },
    deps=[decisions.review_decisions],  # a person's decisions are an input: the gate follows them
    output_required=False,
    check_specs=CHECKS,
    group_name="episodes",
    kinds={"python", "pytorch"},
    owners=OWNERS,
    pool=QA_POOL,
    op_tags=qa_op_tags(),
    description="The quality gate: continuity (CLIP, or the offline colour embedder) -> lighting (graded when close) "
    "-> resolution and artifacts (upscaled or discarded). Three attempts (the shot plan's policy), then human review; "
    "scenes that fail from the start are stopped and recorded for re-planning. A shot whose dialogue could not be put in sync "
    "(lip-sync or a natively voiced take's check, in `shots`) goes to review with the reason, whatever its verdict.",
)
def approved_frames(
    context: dg.AssetExecutionContext,
    config: ReviewConfig,
    shot_plan: ShotPlan, shots: ShotsManifest, keyframes: KeyframeSet,
    character_bible: CharacterBibles, scene_bible: SceneBibles, reference_frames: ReferenceSet,
    artifacts: ArtifactStore, render: RenderConfig, failures: LocalFailures, clip: ClipModel, generation: Generation,
):
    drama, episode = drama_and_episode(context)
    studio, timed = resources.studio(artifacts, generation, clip=clip, failures=failures), shot_plan.storyboard()
    store = studio.store
    if wrong := _not_planned(store, timed, [*config.approve, *config.regenerate]):
        raise dg.Failure(description=f"ReviewConfig: {wrong}; decide on the shots as they are planned now")
    embedder, note = studio.embedder()
    context.log.info(f"continuity embedder: {embedder.name} ({note})")
    # each round of retakes on new clients of every video model, `local` with the failures set up
    retake = retake_function(timed, store, render.settings(generation), studio.generation_settings(),
                             studio.video_models, reference_url=presigner(store))
    gate = Gate(Bibles.of(character_bible, scene_bible), reference_frames, store, embedder, note, render.settings(generation),
                config=GateConfig.recorded(store, embedder.name, shot_plan.policy), retake=retake,
                hosted=generation.hosted, must_review=review_reasons(store, drama, episode), synced=synced_takes(store, drama, episode))

    def progress(done: int, total: int, shot_id: str, elapsed: float) -> None:
        if done == total or done % 10 == 0:
            context.log.info(f"{drama} {episode}: gate {done} of {total} ({shot_id}), {elapsed:.1f}s elapsed")

    decided = record_decisions(store, drama, episode, config.approve, config.regenerate, config.reviewer)
    if decided:  # every decision this gate applies (launchpad, room or `zipx review`): the lineage shows them here
        decisions.reported(context, decisions.review_decisions,
                           {"decisions": {shot: {"decision": d.decision, "by": d.reviewer, "note": d.note} for shot, d in decided.items()}})
    report = gate.run(timed, shots, on_progress=progress, decisions=decided,
                      requests=with_keyframes(shot_plan.requests, keyframes))
    yield dg.Output(report, metadata=_gate_metadata(store, report))
    review = sorted(report.awaiting_review)
    if review:  # the run says so, not only the asset: the runs list filters on the tag
        context.instance.add_run_tags(context.run.run_id, {AWAITING_REVIEW_TAG: str(len(review))})
        context.log.warning(f"{drama} {episode}: {len(review)} shots await review: {', '.join(review)}")
    yield from _gate_checks(report)


def _not_planned(store, storyboard: Storyboard, shot_ids: list[str]) -> str:
    """What is wrong with launchpad decisions on shots the storyboard does not have (a re-plan renamed them, or a typo)."""
    planned, wrong = {s.shot_id for s in storyboard.shots}, []
    for shot_id in (s for s in shot_ids if s not in planned):
        now = current_ids(store, storyboard.drama, storyboard.episode, shot_id)
        wrong.append(f"{shot_id} was re-planned as {', '.join(now)}" if now != [shot_id] else f"no shot {shot_id}")
    return "; ".join(wrong)


def _gate_metadata(store, report: GateReport) -> dict:
    """The gate's figures, every shot's outcome with the reviewer's call, and decisions a re-plan set aside."""
    superseded = superseded_decisions(store, report.drama, report.episode)
    return {
        "review_room": room_link(f"/drama/{report.drama}/{report.episode}/review"),
        "embedder": f"{report.embedder}: {report.embedder_note}", **report.summary(),
        "reviewer_decisions": sum(bool(o.review_decision) for o in report.outcomes),
        "superseded_decisions": [f"{d.decision} {d.shot_id} by {d.reviewer or 'a reviewer'}" for d in superseded],
        "verdicts": verdicts_table(report),
    }


def _gate_checks(report: GateReport):
    """The three checks' results for this partition (Dagster records which one)."""
    pass_rate, below, review = round(report.first_attempt_pass_rate, 3), report.drift_in_pool(), sorted(report.awaiting_review)
    where = f"{report.drama} {report.episode}"
    yield dg.AssetCheckResult(check_name="continuity_pass_rate", passed=pass_rate >= report.policy.pass_rate_warning,
                              severity=dg.AssetCheckSeverity.WARN,
                              metadata={"pass_rate": pass_rate, "warns_below": report.policy.pass_rate_warning})
    yield dg.AssetCheckResult(check_name="drift_left_in_pool", passed=not below, metadata={"shots": below})
    yield dg.AssetCheckResult(
        check_name="shots_awaiting_review", passed=not review, severity=dg.AssetCheckSeverity.WARN,
        description=f"{where}: {len(review)} shots await a reviewer" if review else f"{where}: none await a reviewer",
        metadata={"count": len(review), "shots": ", ".join(review),
                  "review_room": room_link(f"/drama/{report.drama}/{report.episode}/review")},
    )
