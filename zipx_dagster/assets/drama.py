"""Per-drama assets: the parsed script and the two bibles."""

from collections import Counter
from pathlib import Path

import dagster as dg

from zipx_core.bible.build import build_bibles, llm_reader
from zipx_core.bible.cast_sheet import FROM_SHEET, CastSheetError
from zipx_core.models import Bibles, CharacterBibles, SceneBibles, Script
from zipx_core.script import load_drama
from zipx_core.script.published import current_script
from zipx_dagster.metadata import markdown_table
from zipx_dagster.partitions import drama_partitions
from zipx_core.generation import Budget, BudgetExceeded
from zipx_core.providers import ProviderError
from zipx_core.providers.llm import LLMConfigError
from zipx_dagster.room.links import room_link
from zipx_dagster import resources
from zipx_dagster.resources import ArtifactStore, Generation, LLMReader, ScriptInbox

OWNERS = ["team:zipx"]


@dg.asset(
    partitions_def=drama_partitions,
    group_name="script",
    kinds={"python", "fountain", "fdx"},
    owners=OWNERS,
    description="The screenplay parsed into episodes, scenes and elements, each with its source line.",
)
def drama_script(context: dg.AssetExecutionContext, inbox: ScriptInbox, artifacts: ArtifactStore) -> dg.Output[Script]:
    drama, store = context.partition_key, resources.studio(artifacts).store
    with store.scratch_dir() as scratch:
        script = load_drama(current_script(store, drama, inbox.find(drama), Path(scratch)))
    elements = Counter(e.type for scene in script.scenes for e in scene.elements)
    return dg.Output(
        script,
        metadata={
            "review_room": room_link(f"/drama/{context.partition_key}"),
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


class CastSheetConfig(dg.Config):
    """Cast sheet edits from the launchpad, the same as `zipx cast import` / `--approve`."""

    cast_sheet_yaml: str | None = None  # a cast sheet (YAML from `zipx cast export`), whole or only the blocks you changed
    approve: list[str] = []  # character or place ids to approve: their looks and voice are locked


def _bibles(context: dg.AssetExecutionContext, config: CastSheetConfig, script: Script, artifacts: ArtifactStore,
            llm: LLMReader, generation: Generation) -> Bibles:
    """The drama's bibles (rules, the LLM reader when set up), the launchpad's cast sheet
    and approvals imported first."""
    studio, drama = resources.studio(artifacts, generation, llm=llm), context.partition_key
    store = studio.store
    try:
        client = studio.llm_client()
        reader = llm_reader(client, store, Budget(store, drama, "bibles", studio.generation_settings())) if client else None
        return build_bibles(script, drama, store, reader=reader, sheet_yaml=config.cast_sheet_yaml,
                            approve=config.approve, origin="run config cast_sheet_yaml")
    except CastSheetError as error:
        raise dg.Failure(description=f"the cast sheet was refused, nothing of it applied:\n{error}") from None
    except (ProviderError, BudgetExceeded, LLMConfigError) as error:
        raise dg.Failure(description=f"the LLM reader ({llm.model} at {llm.base_url}) failed: {error}") from None


def _from_sheet(provenance: dict[str, str]) -> str:
    return ", ".join(sorted(field for field, source in provenance.items() if source == FROM_SHEET))


@dg.asset(
    partitions_def=drama_partitions,
    group_name="bibles",
    kinds={"python", "pydantic"},
    owners=OWNERS,
    description="One bible per speaking character: appearance, wardrobe per scene, voice (locked once given), "
    "emotional range. Rules, then the LLM reader if set up, then the cast sheet a person edits (and approves), "
    "which overrides both.",
)
def character_bible(
    context: dg.AssetExecutionContext, config: CastSheetConfig, drama_script: Script, artifacts: ArtifactStore,
    llm: LLMReader, generation: Generation,
) -> dg.Output[CharacterBibles]:
    bibles = _bibles(context, config, drama_script, artifacts, llm, generation)
    characters = bibles.characters
    return dg.Output(
        CharacterBibles(drama=bibles.drama, characters=characters, cue_map=bibles.cue_map),
        metadata={
            "review_room": room_link(f"/drama/{context.partition_key}"),
            "characters": len(characters),
            "approved": [c.character_id for c in characters if c.approved],
            "field_sources": dict(Counter(source for c in characters for source in c.provenance.values())),
            "read_by": f"rules + LLM {llm.model}" if llm.enabled else "rules",
            "needs_review": {c.character_id: c.needs_review for c in characters if c.needs_review},
            "cast": markdown_table(
                ["id", "name", "gender", "age", "hair", "voice", "cues", "approved", "from cast sheet", "needs review"],
                [
                    [c.character_id, c.display_name, c.appearance.gender, c.appearance.age_range, c.appearance.hair,
                     c.voice_profile.voice_id, c.cue_count, "yes" if c.approved else "", _from_sheet(c.provenance),
                     ", ".join(c.needs_review)]
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
    description="One bible per location: lighting palette, camera style; the cast sheet's edits and approvals over "
    "extraction.",
)
def scene_bible(
    context: dg.AssetExecutionContext, config: CastSheetConfig, drama_script: Script, artifacts: ArtifactStore,
    llm: LLMReader, generation: Generation,
) -> dg.Output[SceneBibles]:
    locations = _bibles(context, config, drama_script, artifacts, llm, generation).locations
    return dg.Output(
        SceneBibles(drama=context.partition_key, locations=locations),
        metadata={
            "review_room": room_link(f"/drama/{context.partition_key}"),
            "locations": len(locations),
            "approved": [s.location_id for s in locations if s.approved],
            "places": markdown_table(
                ["id", "name", "int/ext", "light", "camera", "approved", "from cast sheet"],
                [
                    [s.location_id, s.name, s.int_ext, f"{s.lighting_palette.mood} {s.lighting_palette.colour_temperature_k}K",
                     f"{s.camera_style.lens} {s.camera_style.movement}", "yes" if s.approved else "", _from_sheet(s.provenance)]
                    for s in locations
                ],
            ),
        },
    )
