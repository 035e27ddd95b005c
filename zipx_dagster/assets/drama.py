"""Per-drama assets: the parsed script and the two bibles."""

from collections import Counter

import dagster as dg

from zipx_core.bible import extract_character_bibles, extract_scene_bibles
from zipx_core.bible.voices import load_voice_lock, save_voice_lock
from zipx_core.models import CharacterBibles, SceneBibles, Script
from zipx_core.script import load_drama
from zipx_dagster.metadata import markdown_table
from zipx_dagster.partitions import drama_partitions
from zipx_dagster.resources import ArtifactStore, ScriptInbox

OWNERS = ["team:zipx"]


@dg.asset(
    partitions_def=drama_partitions,
    group_name="script",
    kinds={"python", "fountain"},
    owners=OWNERS,
    description="The screenplay parsed into episodes, scenes and elements, each with its source line.",
)
def drama_script(context: dg.AssetExecutionContext, inbox: ScriptInbox) -> dg.Output[Script]:
    script = load_drama(inbox.script_path(context.partition_key))
    elements = Counter(e.type for scene in script.scenes for e in scene.elements)
    return dg.Output(
        script,
        metadata={
            "title": script.title,
            "source": script.source,
            "episodes": len(script.episodes),
            "episode_keys": [e.key for e in script.episodes],
            "scenes": len(script.scenes),
            "dialogue_lines": elements["dialogue"],
            "episode_table": markdown_table(
                ["episode", "title", "scenes", "line"],
                [[e.key, e.title, len(e.scenes), e.line] for e in script.episodes],
            ),
        },
    )


@dg.asset(
    partitions_def=drama_partitions,
    group_name="bibles",
    kinds={"python", "pydantic"},
    owners=OWNERS,
    description="One bible per speaking character: appearance, wardrobe per scene, voice (locked once given), "
    "emotional range, reference frames.",
)
def character_bible(
    context: dg.AssetExecutionContext, drama_script: Script, artifacts: ArtifactStore
) -> dg.Output[CharacterBibles]:
    store, drama = artifacts.store(), context.partition_key
    characters = extract_character_bibles(drama_script, load_voice_lock(store, drama))
    save_voice_lock(store, drama, characters)
    return dg.Output(
        CharacterBibles(drama=context.partition_key, characters=characters),
        metadata={
            "characters": len(characters),
            "cast": markdown_table(
                ["id", "name", "aliases", "age", "hair", "voice", "cues"],
                [
                    [c.character_id, c.display_name, ", ".join(c.aliases), c.appearance.age_range,
                     c.appearance.hair, c.voice_profile.voice_id, c.cue_count]
                    for c in characters
                ],
            ),
        },
    )


@dg.asset(
    partitions_def=drama_partitions,
    group_name="bibles",
    kinds={"python", "pydantic"},
    owners=OWNERS,
    description="One bible per location: lighting palette, camera style, approved frames.",
)
def scene_bible(context: dg.AssetExecutionContext, drama_script: Script) -> dg.Output[SceneBibles]:
    locations = extract_scene_bibles(drama_script)
    return dg.Output(
        SceneBibles(drama=context.partition_key, locations=locations),
        metadata={
            "locations": len(locations),
            "places": markdown_table(
                ["id", "name", "int/ext", "light", "camera"],
                [
                    [s.location_id, s.name, s.int_ext, f"{s.lighting_palette.mood} {s.lighting_palette.colour_temperature_k}K",
                     f"{s.camera_style.lens} {s.camera_style.movement}"]
                    for s in locations
                ],
            ),
        },
    )
