"""A generation request from a shot and the bibles. Every request carries the bible
entries of everyone in frame and of the place: video models are stateless, so the
state rides along in every call."""

from zipx_core.models import (Bibles, CharacterBible, FigureSpec, GenerationRequest, KeyframeSet, Outfit, ReferenceSet, SceneBible,
                             Shot, ShotType, Storyboard)
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
# The line native_dialogue_lines ends a one-speaker shot with: it is what marks a request
# as natively voiced (see speaks_natively), so it travels with retakes and corrections.
ONE_SPEAKER = "One speaker: only "


def dialogue_speaker(shot: Shot) -> str | None:
    """The one character who speaks in the shot, or None (no lines, or several speakers)."""
    speakers = {line.character_id for line in shot.dialogue}
    return speakers.pop() if len(speakers) == 1 else None


def _name(bibles: Bibles, character_id: str) -> str:
    known = any(c.character_id == character_id for c in bibles.characters)
    return bibles.character(character_id).display_name if known else character_id


def native_dialogue_lines(shot: Shot, bibles: Bibles) -> list[str]:
    """For models that make sound: the speaker says the lines on screen, one speaker per
    clip, and everyone else keeps their mouth closed (models otherwise put the words on
    the most prominent face). A shot with several speakers keeps the plain form."""
    speaker = dialogue_speaker(shot)
    if speaker is None:
        return [f'{_name(bibles, line.character_id)} says: "{line.text}"' for line in shot.dialogue]
    name = _name(bibles, speaker)
    manners = [(line.parenthetical or "").strip().strip("()").strip() for line in shot.dialogue]  # "(crying)" as written
    parts = [f'{name} speaks, lips in sync with the words{f" ({manner})" if manner else ""}: "{line.text}"'
             for line, manner in zip(shot.dialogue, manners)]
    others = [_name(bibles, c) for c in shot.characters if c != speaker]
    parts.append(f"{ONE_SPEAKER}{name} talks" + (f"; {', '.join(others)} keep their mouths closed." if others else "."))
    return parts


def speaks_natively(request: GenerationRequest) -> bool:
    """Whether the request asks the model to speak its lines itself (native dialogue: one
    speaker, the drama's setting on). Its prompt says so, and the prompt is what the request
    hash, the gate's corrections and every provider see; a model that makes sound is then
    asked for it, and its clip keeps that sound for the episode."""
    return any(line.startswith(ONE_SPEAKER) for line in request.prompt.splitlines())


def compose_prompt(shot: Shot, bibles: Bibles, native_dialogue: bool = False) -> str:
    place = bibles.location(shot.location_id)
    light = place.lighting_palette
    parts = [
        f"{SHOT_NAMES[shot.shot_type]}. {place.name} ({place.int_ext.lower()}, {shot.time_of_day.lower()}).",
        f"Lighting: {light.mood}, {light.colour_temperature_k}K, key {light.key_color}, fill {light.fill_color}.",
        f"Camera: {place.camera_style.lens} lens, {place.camera_style.movement.replace('_', ' ')}; {place.camera_style.framing_notes}.",
    ]
    for character_id in shot.characters:
        c = bibles.character(character_id)
        parts.append(describe(c, c.outfit_for(shot.scene_number), c.age_for(shot.scene_number)))
    parts.append(f"Action: {shot.action}")
    if native_dialogue:
        parts.extend(native_dialogue_lines(shot, bibles))
    else:
        parts.extend(f'{_name(bibles, line.character_id)} says: "{line.text}"' for line in shot.dialogue)
    parts.append(f"Emotional intensity {shot.emotional_intensity:.2f}.")
    return "\n".join(parts)


def describe(character: CharacterBible, outfit: Outfit, age: str | None = None) -> str:
    """The bible entry of a character as words: who, looks, and what they wear."""
    a = character.appearance
    return (f"{character.display_name}: {a.gender if a.gender != 'unspecified' else 'person'}, age {age or a.age_range}, "
            f"{a.face_description}; {a.hair} hair ({a.hair_color}), {a.build} build, skin {a.skin_tone}; "
            f"wearing {outfit.description} ({outfit.top_color} top, {outfit.bottom_color} bottom).")


def sheet_prompt(character: CharacterBible, outfit: Outfit, view: str) -> str:
    """One view of a character sheet for an image model: the person alone, nothing else."""
    return (f"Character reference photo, {view}. Plain light-grey studio background, soft even light, "
            f"photorealistic, sharp focus, no text.\n{describe(character, outfit)}")


def plate_prompt(place: SceneBible) -> str:
    """An empty plate of a location in its lighting set-up: the place with nobody in it."""
    light, camera = place.lighting_palette, place.camera_style
    return (f"Location plate, wide establishing view, no people. {place.name} ({place.int_ext.lower()}, "
            f"{(place.times_of_day or ['day'])[0].lower()}).\nLighting: {light.mood}, {light.colour_temperature_k}K, "
            f"key {light.key_color}, fill {light.fill_color}, ambient {light.ambient_color}. Camera: {camera.lens} lens.")


def keyframe_prompt(request_prompt: str, names: list[str]) -> str:
    """A shot's first frame, composed from the reference images given with it."""
    who = f" {', '.join(names)} must look exactly like their reference images." if names else ""
    return f"First frame of this shot, a still photograph.{who} Same place and light as the location plate.\n{request_prompt}"


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


def build_request(shot: Shot, bibles: Bibles, width: int, height: int, fps: int = 24,
                  native_dialogue: bool = False) -> GenerationRequest:
    """`native_dialogue`: the drama lets a model that makes sound speak the lines (see native_dialogue_lines)."""
    place = bibles.location(shot.location_id)
    figures = [
        figure_spec(bibles.character(c), bibles.character(c).outfit_for(shot.scene_number), speaking=c == shot.speaker,
                    scene_number=shot.scene_number)
        for c in shot.characters
    ]
    return GenerationRequest(
        shot_id=shot.shot_id,
        location_id=shot.location_id,
        prompt=compose_prompt(shot, bibles, native_dialogue),
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


def planned_requests(storyboard: Storyboard, bibles: Bibles, width: int, height: int, fps: int = 24,
                     references: ReferenceSet | None = None, native_dialogue: bool = False) -> list[GenerationRequest]:
    """Each shot's request before its keyframe is known (the shot plan holds these). With
    the locked stills given, each shot carries those of who is in it (for
    reference-to-video models). `native_dialogue`: the drama lets a model that makes sound
    speak each one-speaker shot's lines."""
    requests = []
    for shot in storyboard.shots:
        request = build_request(shot, bibles, width, height, fps, native_dialogue)
        stills = [u for c in shot.characters for u in references.characters.get(c, [])[:2]] if references else []
        requests.append(request.model_copy(update={"reference_frames": stills}) if stills else request)
    return requests


def with_keyframes(requests: list[GenerationRequest], keyframes: KeyframeSet | None) -> list[GenerationRequest]:
    """Keyframe-first: each shot with an approved keyframe starts its clip from it (models
    that take a first frame drop the references); the others are left as they are."""
    if keyframes is None:
        return list(requests)
    return [r.model_copy(update={"keyframe_uri": k}) if (k := keyframes.uri_of(r.shot_id)) else r for r in requests]


def shot_requests(storyboard: Storyboard, bibles: Bibles, width: int, height: int, fps: int = 24,
                  keyframes: KeyframeSet | None = None, references: ReferenceSet | None = None,
                  native_dialogue: bool = False) -> list[GenerationRequest]:
    """Each shot's generation request, keyframe included: what the shot plan holds, for
    callers without one (the CLI, benches). Generation and the gate must use the same
    requests: their request hashes must agree."""
    return with_keyframes(planned_requests(storyboard, bibles, width, height, fps, references, native_dialogue), keyframes)
