"""Per (drama, episode) assets: storyboard -> episode_audio -> shot_plan -> shots -> episode (keyframes and
the gate, in quality.py, read the shot plan too).

Speech comes before video: its measured length sets each shot's duration, so a shot is
generated once, at the length its lines need.

A pair that the drama's script lacks yields no output (output_required=False), so the
steps after it are skipped rather than failed.
"""

from collections import Counter
from pathlib import Path

import dagster as dg
from pydantic import Field, create_model

from zipx_core.audio import voice_episode
from zipx_core.audio.music import find_music, score_episode
from zipx_core.script.published import current_script
from zipx_core.generation import cost_summary, generate_shots, ledger_by_stage
from zipx_core.lipsync import LipSyncSettings, cannot_lip_sync, lip_sync_shots
from zipx_core.media import thumbnail_strip_png
from zipx_core.media.assembly import assemble_episode
from zipx_core.media.timeline import build_timeline, export_timeline
from zipx_core.models import (Bibles, CharacterBibles, EpisodeAudio, EpisodeManifest, KeyframeSet, ReferenceSet, SceneBibles,
                              Script, ShotPlan, Storyboard)
from zipx_core.policy import QualityPolicy
from zipx_core.prompting import with_keyframes
from zipx_core.qa.gate import GateReport
from zipx_core.storyboard import plan_episode
from zipx_core.storyboard.planner import episode_renames
from zipx_core.storyboard.replans import record_renames, record_replans
from zipx_core.storyboard.shot_plan import plan_shots
from zipx_core.storage import presigner
from zipx_dagster.metadata import cost_rollup, markdown_table, png_markdown, table
from zipx_dagster.partitions import by_drama, drama_and_episode, drama_episode_partitions
from zipx_dagster.room.links import room_link
from zipx_dagster import resources
from zipx_dagster.assets import decisions
from zipx_dagster.resources import ArtifactStore, Generation, LocalFailures, RenderConfig, ScriptInbox, TextToSpeech

OWNERS = ["team:zipx"]
PER_DRAMA = {name: dg.AssetIn(partition_mapping=by_drama) for name in ("drama_script", "character_bible", "scene_bible")}


class StoryboardConfig(dg.Config):
    replan: list[int] = []  # scene numbers to plan again (the failure-cluster sensor sets this)


@dg.asset(
    partitions_def=drama_episode_partitions,
    ins=PER_DRAMA,
    deps=[decisions.replans],  # re-plans are an input: every later plan keeps them
    output_required=False,
    group_name="episodes",
    kinds={"python", "pydantic"},
    owners=OWNERS,
    description="The episode's shots: type, characters in frame, emotion, physics, duration and route, with stable ids. "
    "A re-planned scene's shots are new requests with new ids; `renamed_shots` (and the store) map each old id to them, "
    "and review decisions follow.",
)
def storyboard(
    context: dg.AssetExecutionContext, config: StoryboardConfig, drama_script: Script, character_bible: CharacterBibles,
    scene_bible: SceneBibles, artifacts: ArtifactStore,
):
    drama, episode = drama_and_episode(context)
    store, bibles = resources.studio(artifacts).store, Bibles.of(character_bible, scene_bible)
    replans = record_replans(store, drama, episode, config.replan)
    if config.replan:
        decisions.reported(context, decisions.replans, {"replanned": config.replan, "times": replans})
    board = plan_episode(drama_script, episode, bibles, drama, replans=replans)
    if board is None:
        context.log.info(f"{drama} has no episode {episode}: nothing to plan")
        return
    renamed = episode_renames(drama_script, episode, bibles, replans)
    record_renames(store, drama, episode, renamed)  # decisions and links on the old ids follow it
    yield dg.Output(board, metadata=_storyboard_metadata(board, replans, renamed))


SHOT_COLUMNS = {"shot": "string", "scene": "int", "type": "string", "in frame": "string", "emotion": "float",
                "physics": "string", "route": "string", "seconds": "float"}


def _storyboard_metadata(board: Storyboard, replans: dict[int, int], renamed: dict[str, list[str]]) -> dict:
    """Counts, every shot as a sortable table, and which ids the re-planned shots replaced."""
    return {
        "review_room": room_link(f"/drama/{board.drama}/{board.episode}/storyboard"),
        "title": board.title,
        "shot_count": len(board.shots),
        "duration_s": round(board.duration_s, 2),
        "shot_types": dict(Counter(s.shot_type.value for s in board.shots)),
        "routes": dict(Counter(s.route for s in board.shots)),
        "replanned_scenes": {str(k): v for k, v in replans.items()},
        "shots": table(SHOT_COLUMNS, [[s.shot_id, s.scene_number, s.shot_type.value, s.characters, s.emotional_intensity,
                                       s.physics_elements, s.route, s.duration_s] for s in board.shots]),
        "renamed_shots": table({"earlier id": "string", "now": "string"},
                               [[old, new] for old, new in sorted(renamed.items())],
                               notes={"earlier id": "an id a re-plan retired; decisions and links on it follow to `now`"}),
    }


@dg.asset(
    partitions_def=drama_episode_partitions,
    ins={"storyboard": dg.AssetIn(), "character_bible": PER_DRAMA["character_bible"]},
    output_required=False,
    group_name="episodes",
    kinds={"python", "espeak", "ffmpeg"},
    owners=OWNERS,
    description="Every dialogue line spoken in its character's voice (eSpeak NG offline; ElevenLabs, "
    "OpenAI-compatible or Gemini TTS when set up), shot timing that follows the speech, "
    "one track normalised to EBU R128, and SRT/WebVTT subtitles.",
)
def episode_audio(
    context: dg.AssetExecutionContext, storyboard: Storyboard, character_bible: CharacterBibles,
    artifacts: ArtifactStore, render: RenderConfig, speech: TextToSpeech, generation: Generation,
):
    studio = resources.studio(artifacts, generation, speech)
    engine = studio.speech_engine()
    audio = voice_episode(storyboard, Bibles.of(character_bible), studio.store, fps=render.fps, engine=engine,
                          generation=studio.generation_settings())
    paid = {line.speech_uri: line.cost_usd for line in audio.lines}
    yield dg.Output(
        audio,
        metadata={
            "engine": audio.engine,
            "model": engine.model,
            "speech_cost_usd": round(sum(paid.values()), 4),
            "lines": len(audio.lines),
            "duration_s": round(audio.duration_s, 2),
            "loudness_lufs": audio.loudness_lufs,
            "voices": dict(Counter(f"{line.character_id} ({line.voice_id})" for line in audio.lines)),
            "lines_table": markdown_table(
                ["shot", "who", "voice", "start", "seconds", "line"],
                [[l.shot_id, l.character_id, l.voice_id, l.start_s, l.duration_s, l.text] for l in audio.lines],
            ),
        },
    )


# zipx_core.policy.QualityPolicy as Dagster run config: the same fields, defaults and reasons (the launchpad shows them)
PolicyConfig = create_model("PolicyConfig", __base__=dg.Config, __doc__=QualityPolicy.__doc__,
                            **{name: (field.annotation, field) for name, field in QualityPolicy.model_fields.items()})


class ShotPlanConfig(dg.Config):
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="the quality loop's numbers for this episode: "
                                 "keyframe and take attempts, early abort, failure clusters, re-plans, the pass-rate warning")


@dg.asset(
    partitions_def=drama_episode_partitions,
    ins={"storyboard": dg.AssetIn(), "episode_audio": dg.AssetIn(),
         **{name: dg.AssetIn(partition_mapping=by_drama) for name in ("character_bible", "scene_bible", "reference_frames")}},
    output_required=False,
    group_name="episodes",
    kinds={"python", "pydantic"},
    owners=OWNERS,
    description="The timed shot plan: each shot as long as its speech, with its generation request (bible entries, "
    "frame, locked stills, native dialogue when on) and the request's hash, and the quality policy (config `policy`) "
    "keyframes, the gate and re-plans are held to. Built once: keyframes, shots, the gate and the episode read it, "
    "so their requests and hashes cannot disagree.",
)
def shot_plan(
    context: dg.AssetExecutionContext, config: ShotPlanConfig, storyboard: Storyboard, episode_audio: EpisodeAudio,
    character_bible: CharacterBibles, scene_bible: SceneBibles, reference_frames: ReferenceSet, render: RenderConfig,
    generation: Generation,
):
    plan = plan_shots(storyboard, episode_audio, Bibles.of(character_bible, scene_bible), render.settings(generation),
                      reference_frames, generation.native_dialogue, QualityPolicy(**config.policy.model_dump()))
    yield dg.Output(plan, metadata=_plan_metadata(plan, generation.native_dialogue))


def _plan_metadata(plan: ShotPlan, native_dialogue: bool) -> dict:
    first = plan.shots[0].request if plan.shots else None
    return {
        "policy": plan.policy.model_dump(),
        "shot_count": len(plan.shots),
        "duration_s": round(sum(p.shot.duration_s for p in plan.shots), 2),
        "frame": f"{first.width}x{first.height}@{first.fps}" if first else "",
        "native_dialogue": native_dialogue,
        "requests": table({"shot": "string", "route": "string", "seconds": "float", "stills": "int", "request hash": "string"},
                          [[p.shot.shot_id, p.shot.route, p.shot.duration_s, len(p.request.reference_frames), p.request_hash[:16]]
                           for p in plan.shots]),
    }


@dg.asset(
    partitions_def=drama_episode_partitions,
    ins={"shot_plan": dg.AssetIn(), "episode_audio": dg.AssetIn(), "keyframes": dg.AssetIn()},
    output_required=False,
    group_name="episodes",
    kinds={"python", "ffmpeg"},
    owners=OWNERS,
    description="One take per shot, as long as its speech, generated with the bible entries in every request; "
    "finished requests are never repeated. Dialogue in sync: with Generation.native_dialogue a model that makes sound "
    "speaks one-speaker shots' lines (its speech length is checked); with Generation.lip_sync silent hosted dialogue "
    "takes are lip-synced by Kling; a shot that cannot be put in sync goes to review with the reason.",
)
def shots(
    context: dg.AssetExecutionContext,
    shot_plan: ShotPlan,
    episode_audio: EpisodeAudio,
    keyframes: KeyframeSet,
    artifacts: ArtifactStore,
    render: RenderConfig,
    failures: LocalFailures,
    generation: Generation,
):
    drama, episode = drama_and_episode(context)
    studio, frame = resources.studio(artifacts, generation, failures=failures), render.settings(generation)
    store = studio.store
    presigned_url = presigner(store)  # S3 only: hosted models fetch references and clips by URL
    if generation.lip_sync and (problem := cannot_lip_sync(
            frame.width, frame.height, bool(generation.kling_access_key and generation.kling_secret_key), bool(presigned_url))):
        raise dg.Failure(description=f"{drama} {episode}: {problem}")  # before anything is paid for
    models = studio.video_models()
    hosted = sorted(name for name, model in models.items() if model.hosted)
    context.log.info(f"{drama} {episode}: quality {generation.quality.value}; hosted models with keys: "
                     f"{', '.join(hosted) or 'none (every shot renders on local, routes still costed)'}")

    def progress(done: int, total: int, shot_id: str, elapsed: float) -> None:
        if done == total or done % 5 == 0:
            context.log.info(f"{drama} {episode}: shot {done} of {total} ({shot_id}), {elapsed:.1f}s elapsed")

    timed, settings = shot_plan.storyboard(), studio.generation_settings()
    manifest = generate_shots(timed, None, store, frame, on_progress=progress, generation=settings, models=models,
                              reference_url=presigned_url, requests=with_keyframes(shot_plan.requests, keyframes))
    if manifest.failed:
        # everything made is in the store (takes, task ids, charges): a re-run pays for none of it again
        raise dg.Failure(
            description=f"{drama} {episode}: {len(manifest.failed)} of {len(timed.shots)} shots have no take; "
            + "; ".join(f"{shot}: {why}" for shot, why in sorted(manifest.failed.items())[:10]),
            metadata={"failed": dg.MetadataValue.json(manifest.failed), "made": len(manifest.takes)},
        )
    # voiced takes checked, silent hosted dialogue takes lip-synced (when on); what is not in sync goes to review.
    # Run every time: the report it stores is what the gate holds shots back by, and must be this run's
    manifest, sync = lip_sync_shots(timed, episode_audio, manifest, store, generation.lip_syncer if generation.lip_sync else None,
                                    settings, LipSyncSettings(tolerance_s=generation.lip_sync_tolerance_s),
                                    video_url=presigned_url)
    counts = dict(Counter(r.status for r in sync.results))
    context.log.info(f"{drama} {episode}: dialogue sync {counts}; to review: {sync.review() or 'none'}")
    yield dg.Output(manifest, metadata={**_shots_metadata(drama, episode, timed, manifest, store, settings),
                                        "dialogue_sync": counts, "dialogue_to_review": sync.review()})


def _shots_metadata(drama: str, episode: str, timed: Storyboard, manifest, store, settings) -> dict:
    """The takes, their routes and costs, and a strip of first frames, for the UI."""
    costs = cost_summary(timed, manifest, settings)
    thumbnails = [store.path(t.thumbnail_uri).read_bytes() for t in manifest.takes if t.thumbnail_uri]
    return {
        "cost_by_stage_usd": ledger_by_stage(store, drama, episode),
        "review_room": room_link(f"/drama/{drama}/{episode}/storyboard"),
        "takes": len(manifest.takes),
        "frames": sum(t.frames for t in manifest.takes),
        "duration_s": round(sum(t.duration_s for t in manifest.takes), 2),
        "quality": settings.quality.value,
        "providers": costs["shots_by_provider"],
        "routes": costs["shots_by_route"],
        "cost_usd": costs["actual_cost_usd"],
        "estimated_cost_usd": costs["estimated_cost_usd"],
        "all_veo3_cost_usd": costs["all_veo3_cost_usd"],
        "saving_vs_all_veo3": dg.MetadataValue.float(costs["saving_vs_all_veo3"]),
        "route_table": markdown_table(
            ["shot", "route", "provider", "model", "estimated $", "actual $"],
            [[t.shot_id, t.intended_provider or t.provider, t.provider, t.model, f"{t.estimated_cost_usd:.3f}", f"{t.cost_usd:.3f}"]
             for t in manifest.takes],
        ),
        "thumbnails": png_markdown(thumbnail_strip_png(thumbnails), "first shots"),
    }


class EpisodeConfig(dg.Config):
    burn_subtitles: bool = False
    music: str | None = Field(
        None, description="A music bed for this episode: a path on the machine that runs the step, or a zipx:// "
        "artifact URI. Wins over a music file in the inbox; none by default.",
    )


def _music_bed(store, config: EpisodeConfig, inbox: ScriptInbox, drama: str, episode_audio: EpisodeAudio, log):
    """The episode's music: config's, else a music file published beside the script (none by default)."""
    episode = episode_audio.episode
    with store.scratch_dir() as scratch:
        source = config.music
        if not source:
            script = current_script(store, drama, inbox.find(drama), Path(scratch))
            source = find_music(script.parent, drama, episode)
        log.info(f"music bed: {source or 'none'}")
        if not source:
            return None
        if config.music:
            return score_episode(episode_audio, store, str(source), "EpisodeConfig.music")
        music = score_episode(episode_audio, store, str(source), "inbox music file")
        return music.model_copy(update={"source": f"inbox: {source.name}"})  # not the scratch copy's path


@dg.asset(
    partitions_def=drama_episode_partitions,
    output_required=False,
    group_name="episodes",
    kinds={"python", "ffmpeg", "mp4"},
    owners=OWNERS,
    description="The finished episode: H.264/AAC MP4 (faststart) of the approved takes in storyboard order (shots "
    "awaiting review use their best take, marked in the timeline) with the dialogue track, SRT/WebVTT subtitles, "
    "and an editable timeline (OTIO, FCP 7 XML, EDL). Music, none by default: a file beside the script in the inbox "
    "named like it scores every episode (`Harbour Lights.mp3`), one with the episode key scores one episode "
    "(`Harbour Lights.ep02.mp3`), and config `music` (a path or zipx:// URI) wins over both. The music is looped or "
    "trimmed to the episode, ducked under the lines, mixed at the same loudness target, and its stem and the "
    "dialogue stem are kept beside the episode.",
)
def episode(
    context: dg.AssetExecutionContext,
    config: EpisodeConfig,
    shot_plan: ShotPlan,
    approved_frames: GateReport,
    episode_audio: EpisodeAudio,
    artifacts: ArtifactStore,
    render: RenderConfig,
    inbox: ScriptInbox,
    generation: Generation,
):
    store = resources.studio(artifacts).store
    timed = shot_plan.storyboard()
    pool = approved_frames.pool()  # approved takes, and the best take of each shot awaiting review
    drama, episode = drama_and_episode(context)
    music = _music_bed(store, config, inbox, drama, episode_audio, context.log)
    manifest = assemble_episode(timed, pool, store, episode_audio, burn_subtitles=config.burn_subtitles, music=music)
    manifest.awaiting_review = sorted(approved_frames.awaiting_review)
    manifest.timeline = export_timeline(
        build_timeline(timed, pool, store, episode_audio, approved_frames.awaiting_review, fps=render.fps), store,
        music=store.path(music.stem_uri) if music else None,  # the bed as it sits in the mix, for the CapCut draft
    )
    yield dg.Output(
        manifest,
        metadata={
            "review_room": room_link(f"/drama/{drama}/{episode}"),
            "video": dg.MetadataValue.path(str(store.path(manifest.video_uri))),
            "duration_s": manifest.duration_s,
            "shot_count": manifest.shot_count,
            "resolution": f"{manifest.width}x{manifest.height}",
            "codec": f"{manifest.codec}/{manifest.audio_codec}",
            "loudness_lufs": manifest.loudness_lufs,
            "join_method": manifest.join_method,
            "subtitles": dg.MetadataValue.path(str(store.path(manifest.subtitles_srt_uri))),
            "timeline": dg.MetadataValue.path(str(store.path(manifest.timeline.otio_uri))),
            "files": table(FILE_COLUMNS, [[kind, str(store.path(uri)), uri] for kind, uri in _episode_files(manifest)]),
            "timeline_failures": manifest.timeline.failures,
            "awaiting_review": len(manifest.awaiting_review),
            "music": music.source if music else "none",
            "music_ducking_db": music.ducking_db if music else None,
            **cost_rollup(store, drama, episode, generation.budget_episode_usd, generation.budget_drama_usd),
        },
    )


FILE_COLUMNS = {"file": "string", "path": "string", "uri": "string"}


def _episode_files(manifest: EpisodeManifest) -> list[tuple[str, str]]:
    """(what, artifact URI) of everything the episode delivers: the video, subtitles, every
    timeline export and the stems."""
    files = [("video", manifest.video_uri), ("subtitles srt", manifest.subtitles_srt_uri),
             ("subtitles vtt", manifest.subtitles_vtt_uri), ("timeline otio", manifest.timeline.otio_uri)]
    files += [(f"timeline {name}", uri) for name, uri in sorted(manifest.timeline.exports.items())]
    files += [(f"stem {name}", uri) for name, uri in sorted(manifest.stems.items())]
    return [(kind, uri) for kind, uri in files if uri]
