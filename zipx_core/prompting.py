"""A generation request from a shot and the bibles. Every request carries the bible
entries of everyone in frame and of the place: video models are stateless, so the
state rides along in every call."""

from zipx_core.models import Bibles, CharacterBible, FigureSpec, GenerationRequest, Outfit, Shot, ShotType
from zipx_core.naming import stable_hash

SHOT_NAMES = {
    ShotType.ECU: "Extreme close-up",
    ShotType.CU: "Close-up",
    ShotType.MCU: "Medium close-up",
    ShotType.MS: "Medium shot",
    ShotType.LS: "Long shot",
    ShotType.ELS: "Extreme long shot",
}
NEGATIVE_PROMPT = "text, watermark, extra limbs, distorted face, changing clothes, changing hair colour"


def compose_prompt(shot: Shot, bibles: Bibles) -> str:
    place = bibles.location(shot.location_id)
    light = place.lighting_palette
    parts = [
        f"{SHOT_NAMES[shot.shot_type]}. {place.name} ({place.int_ext.lower()}, {shot.time_of_day.lower()}).",
        f"Lighting: {light.mood}, {light.colour_temperature_k}K, key {light.key_color}, fill {light.fill_color}.",
        f"Camera: {place.camera_style.lens} lens, {place.camera_style.movement.replace('_', ' ')}; {place.camera_style.framing_notes}.",
    ]
    for character_id in shot.characters:
        c = bibles.character(character_id)
        a = c.appearance
        outfit = c.outfit_for(shot.scene_number)
        parts.append(
            f"{c.display_name}: {a.gender if a.gender != 'unspecified' else 'person'}, age {c.age_for(shot.scene_number)}, "
            f"{a.face_description}; {a.hair} hair ({a.hair_color}), {a.build} build, skin {a.skin_tone}; "
            f"wearing {outfit.description} ({outfit.top_color} top, {outfit.bottom_color} bottom)."
        )
    parts.append(f"Action: {shot.action}")
    for line in shot.dialogue:
        speaker = bibles.character(line.character_id).display_name if any(
            c.character_id == line.character_id for c in bibles.characters
        ) else line.character_id
        parts.append(f'{speaker} says: "{line.text}"')
    parts.append(f"Emotional intensity {shot.emotional_intensity:.2f}.")
    return "\n".join(parts)


def figure_spec(character: CharacterBible, outfit: Outfit, speaking: bool = False, scene_number: int | None = None) -> FigureSpec:
    """What a renderer draws of a character: its bible's appearance in one outfit, at its
    age in the scene (a flashback shows the younger person)."""
    return FigureSpec(
        character_id=character.character_id,
        skin_tone=character.appearance.skin_tone,
        hair_color=character.appearance.hair_color,
        hair_style=character.appearance.hair.split()[-1],
        top_color=outfit.top_color,
        bottom_color=outfit.bottom_color,
        build=character.appearance.build,
        age_range=character.appearance.age_range if scene_number is None else character.age_for(scene_number),
        speaking=speaking,
    )


def build_request(shot: Shot, bibles: Bibles, width: int, height: int, fps: int = 24) -> GenerationRequest:
    place = bibles.location(shot.location_id)
    figures = [
        figure_spec(bibles.character(c), bibles.character(c).outfit_for(shot.scene_number), speaking=c == shot.speaker,
                    scene_number=shot.scene_number)
        for c in shot.characters
    ]
    return GenerationRequest(
        shot_id=shot.shot_id,
        location_id=shot.location_id,
        prompt=compose_prompt(shot, bibles),
        negative_prompt=NEGATIVE_PROMPT,
        shot_type=shot.shot_type,
        duration_s=shot.duration_s,
        fps=fps,
        width=width,
        height=height,
        seed=stable_hash(shot.shot_id) % 2**31,
        palette=place.lighting_palette,
        camera_movement=place.camera_style.movement,
        figures=figures,
        is_exterior=place.int_ext == "EXT",
        reference_frames=[uri for cid in shot.characters for uri in bibles.character(cid).reference_frames],
    )
