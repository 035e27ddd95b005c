"""Per (drama, episode) assets: storyboard -> shots -> episode.

A pair that the drama's script lacks yields no output (output_required=False), so the
steps after it are skipped rather than failed.
"""

from collections import Counter

import dagster as dg

from zipx_core.generation import generate_shots
from zipx_core.media import thumbnail_strip_png
from zipx_core.media.assembly import assemble_episode
from zipx_core.models import Bibles, CharacterBibles, EpisodeManifest, SceneBibles, Script, ShotsManifest, Storyboard
from zipx_core.storyboard import plan_episode
from zipx_dagster.metadata import markdown_table, png_markdown
from zipx_dagster.partitions import by_drama, drama_episode_partitions
from zipx_dagster.resources import ArtifactStore, RenderConfig

OWNERS = ["team:zipx"]
PER_DRAMA = {name: dg.AssetIn(partition_mapping=by_drama) for name in ("drama_script", "character_bible", "scene_bible")}


def _keys(context: dg.AssetExecutionContext) -> tuple[str, str]:
    keys = context.partition_key.keys_by_dimension
    return keys["drama"], keys["episode"]


def _bibles(drama: str, characters: CharacterBibles, scenes: SceneBibles) -> Bibles:
    return Bibles(drama=drama, characters=characters.characters, locations=scenes.locations)


@dg.asset(
    partitions_def=drama_episode_partitions,
    ins=PER_DRAMA,
    output_required=False,
    group_name="episodes",
    kinds={"python", "pydantic"},
    owners=OWNERS,
    description="The episode's shots: type, characters in frame, emotion, physics, duration and route, with stable ids.",
)
def storyboard(context: dg.AssetExecutionContext, drama_script: Script, character_bible: CharacterBibles, scene_bible: SceneBibles):
    drama, episode = _keys(context)
    board = plan_episode(drama_script, episode, _bibles(drama, character_bible, scene_bible), drama)
    if board is None:
        context.log.info(f"{drama} has no episode {episode}: nothing to plan")
        return
    yield dg.Output(
        board,
        metadata={
            "title": board.title,
            "shot_count": len(board.shots),
            "duration_s": round(board.duration_s, 2),
            "shot_types": dict(Counter(s.shot_type.value for s in board.shots)),
            "routes": dict(Counter(s.route for s in board.shots)),
            "shots": markdown_table(
                ["shot", "type", "in frame", "emotion", "physics", "route", "seconds"],
                [
                    [s.shot_id, s.shot_type.value, ", ".join(s.characters), s.emotional_intensity,
                     ", ".join(s.physics_elements), s.route, s.duration_s]
                    for s in board.shots
                ],
            ),
        },
    )


@dg.asset(
    partitions_def=drama_episode_partitions,
    ins={"storyboard": dg.AssetIn(), **{k: PER_DRAMA[k] for k in ("character_bible", "scene_bible")}},
    output_required=False,
    group_name="episodes",
    kinds={"python", "ffmpeg"},
    owners=OWNERS,
    description="One take per shot, generated with the bible entries in every request; finished requests are never repeated.",
)
def shots(
    context: dg.AssetExecutionContext,
    storyboard: Storyboard,
    character_bible: CharacterBibles,
    scene_bible: SceneBibles,
    artifacts: ArtifactStore,
    render: RenderConfig,
):
    drama, episode = _keys(context)
    store = artifacts.store()

    def progress(done: int, total: int, shot_id: str, elapsed: float) -> None:
        if done == total or done % 5 == 0:
            context.log.info(f"{drama} {episode}: shot {done} of {total} ({shot_id}), {elapsed:.1f}s elapsed")

    manifest = generate_shots(
        storyboard, _bibles(drama, character_bible, scene_bible), store, render.settings(), on_progress=progress
    )
    thumbnails = [store.path(t.thumbnail_uri).read_bytes() for t in manifest.takes if t.thumbnail_uri]
    yield dg.Output(
        manifest,
        metadata={
            "takes": len(manifest.takes),
            "frames": sum(t.frames for t in manifest.takes),
            "duration_s": round(sum(t.duration_s for t in manifest.takes), 2),
            "providers": dict(Counter(t.provider for t in manifest.takes)),
            "cost_usd": round(sum(t.cost_usd for t in manifest.takes), 4),
            "thumbnails": png_markdown(thumbnail_strip_png(thumbnails), "first shots"),
        },
    )


@dg.asset(
    partitions_def=drama_episode_partitions,
    output_required=False,
    group_name="episodes",
    kinds={"python", "ffmpeg", "mp4"},
    owners=OWNERS,
    description="The finished episode: an H.264 MP4 of the takes in storyboard order, faststart.",
)
def episode(context: dg.AssetExecutionContext, storyboard: Storyboard, shots: ShotsManifest, artifacts: ArtifactStore):
    store = artifacts.store()
    manifest = assemble_episode(storyboard, shots, store)
    yield dg.Output(
        manifest,
        metadata={
            "video": dg.MetadataValue.path(str(store.path(manifest.video_uri))),
            "duration_s": manifest.duration_s,
            "shot_count": manifest.shot_count,
            "resolution": f"{manifest.width}x{manifest.height}",
            "codec": manifest.codec,
            "join_method": manifest.join_method,
            "cost_usd": manifest.total_cost_usd,
        },
    )


def episode_mp4(manifest: EpisodeManifest, artifacts: ArtifactStore) -> str:
    return str(artifacts.store().path(manifest.video_uri))
