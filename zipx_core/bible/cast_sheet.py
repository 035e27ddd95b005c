"""The cast sheet: a drama's bibles as a YAML file a person edits.

Export writes one block per character and per place with only the fields a person may
edit. Import validates the file (every error names the line and the field, e.g.
`characters.mary.appearance.gender: must be one of ...`) and stores, in the artifact
store's `cast_sheet` record of the drama, only what the person changed: an overlay on
extraction. Every later build applies it, so a re-extraction still updates the fields
nobody touched while the edits survive. Approving a character (or place) stores a
snapshot of its looks and voice (its look): a later extraction cannot change them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from zipx_core.models import Appearance, Bibles, CameraStyle, CharacterBible, LightingPalette, Outfit, SceneBible, VoiceProfile
from zipx_core.records import Records

FROM_SHEET = "cast sheet"


class CastSheetError(ValueError):
    """A cast sheet that cannot be used; the message names the file, line and field."""


def _hex(value: str) -> str:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise ValueError("must be a colour like #a4452a")
    return value.lower()


def _wardrobe_key(value: str) -> str:
    if not re.fullmatch(r"default|scene-[1-9][0-9]*", value):
        raise ValueError("an outfit is 'default' or 'scene-N' (the scene it is first worn in)")
    return value


Hex = Annotated[str, AfterValidator(_hex)]
Text = Annotated[str, Field(min_length=1)]


class _Edit(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppearanceEdit(_Edit):
    gender: Literal["female", "male", "unspecified"] | None = None
    age_range: Annotated[str, Field(pattern=r"^\d{1,3}(-\d{1,3})?$")] | None = None
    face_description: Text | None = None
    hair: Text | None = None
    hair_color: Hex | None = None
    skin_tone: Hex | None = None
    build: Literal["slight", "average", "broad", "tall"] | None = None


class OutfitEdit(_Edit):
    description: Text | None = None
    top_color: Hex | None = None
    bottom_color: Hex | None = None


class VoiceEdit(_Edit):
    voice_id: Text | None = None
    pitch: Annotated[int, Field(ge=0, le=99)] | None = None
    rate_wpm: Annotated[int, Field(ge=80, le=260)] | None = None
    style: Text | None = None
    engine: Text | None = None  # the voice's engine: espeak-ng, elevenlabs, openai, gemini


class CharacterEdit(_Edit):
    display_name: Text | None = None
    appearance: AppearanceEdit | None = None
    wardrobe: dict[Annotated[str, AfterValidator(_wardrobe_key)], OutfitEdit] | None = None
    voice: VoiceEdit | None = None
    emotional_range: list[Text] | None = None
    approved: bool | None = None


class PaletteEdit(_Edit):
    colour_temperature_k: Annotated[int, Field(ge=1000, le=12000)] | None = None
    key_color: Hex | None = None
    fill_color: Hex | None = None
    ambient_color: Hex | None = None
    mood: Text | None = None


class CameraEdit(_Edit):
    lens: Text | None = None
    movement: Literal["static", "slow_push", "pan", "handheld"] | None = None
    framing_notes: Text | None = None


class PlaceEdit(_Edit):
    lighting_palette: PaletteEdit | None = None
    camera_style: CameraEdit | None = None
    approved: bool | None = None


class CastSheet(_Edit):
    """The file a person edits. Every field may be left out: what is absent is unchanged."""

    drama: str | None = None
    characters: dict[str, CharacterEdit] = {}
    places: dict[str, PlaceEdit] = {}


class CastRecord(_Edit):
    """What the store keeps per drama: the person's changes (an overlay on extraction)
    and, per approved character or place, the snapshot its approval locked."""

    edits: CastSheet = CastSheet()
    locked: CastSheet = CastSheet()


# --- views: a bible as the fields of the sheet -------------------------------------------


def character_view(c: CharacterBible) -> dict:
    return {
        "display_name": c.display_name,
        "appearance": c.appearance.model_dump(),
        "wardrobe": {key: outfit.model_dump() for key, outfit in c.wardrobe.items()},
        "voice": c.voice_profile.model_dump(),
        "emotional_range": list(c.emotional_range),
    }


def place_view(s: SceneBible) -> dict:
    return {"lighting_palette": s.lighting_palette.model_dump(), "camera_style": s.camera_style.model_dump()}


def _leaves(tree: dict, prefix: tuple = ()) -> dict[tuple, object]:
    """Path -> value of every leaf (lists are leaves)."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_leaves(value, prefix + (key,)))
        else:
            out[prefix + (key,)] = value
    return out


def _merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merge(merged.get(key) or {}, value) if isinstance(value, dict) else value
    return merged


def _field_name(path: tuple) -> str:
    """The provenance / needs_review name of a sheet path: appearance fields by their own name."""
    return path[1] if path[0] == "appearance" else path[0]


def _edit_of(section: dict, entity_id: str) -> dict:
    edit = section.get(entity_id)
    return edit.model_dump(exclude_none=True, exclude={"approved"}) if edit else {}


# --- applying the record -------------------------------------------------------------------


def _apply_character(c: CharacterBible, record: CastRecord) -> CharacterBible:
    edits = _edit_of(record.edits.characters, c.character_id)
    locked = _edit_of(record.locked.characters, c.character_id)
    extracted = _leaves(character_view(c))
    view = _merge(_merge(character_view(c), locked), edits)
    changed = set(_leaves(edits)) | {p for p, v in _leaves(view).items() if extracted.get(p) != v}
    names = {_field_name(p) for p in changed}
    aliases = list(c.aliases)
    if view["display_name"] != c.display_name and c.display_name not in aliases:
        aliases.append(c.display_name)  # the script's cues still name the old name
    return c.model_copy(update={
        "display_name": view["display_name"],
        "aliases": aliases,
        "appearance": Appearance(**view["appearance"]),
        "wardrobe": {key: Outfit(**outfit) for key, outfit in view["wardrobe"].items()},
        "voice_profile": VoiceProfile(**view["voice"]),
        "emotional_range": view["emotional_range"],
        "provenance": {**c.provenance, **{name: FROM_SHEET for name in names}},
        "needs_review": [] if locked else [f for f in c.needs_review if f not in names and f.split(".")[-1] not in names],
        "approved": bool(locked),
    })


def _apply_place(s: SceneBible, record: CastRecord) -> SceneBible:
    edits = _edit_of(record.edits.places, s.location_id)
    locked = _edit_of(record.locked.places, s.location_id)
    extracted = _leaves(place_view(s))
    view = _merge(_merge(place_view(s), locked), edits)
    changed = set(_leaves(edits)) | {p for p, v in _leaves(view).items() if extracted.get(p) != v}
    return s.model_copy(update={
        "lighting_palette": LightingPalette(**view["lighting_palette"]),
        "camera_style": CameraStyle(**view["camera_style"]),
        "provenance": {**s.provenance, **{p[0]: FROM_SHEET for p in changed}},
        "approved": bool(locked),
    })


def apply_cast_sheet(bibles: Bibles, record: CastRecord) -> Bibles:
    """The bibles with the person's edits and approvals over extraction. Ids the script no
    longer has are left in the record (they return if the character does)."""
    return bibles.model_copy(update={
        "characters": [_apply_character(c, record) for c in bibles.characters],
        "locations": [_apply_place(s, record) for s in bibles.locations],
    })


def load_cast_record(store, drama: str) -> CastRecord:
    record = Records(store).cast_sheet(drama)
    raw = record.get()
    try:
        return CastRecord.model_validate(raw or {})
    except ValidationError as error:
        raise CastSheetError(f"the stored cast sheet of {drama} (record {record.kind}/{record.name}) is corrupt: "
                             f"{_messages(error, None, 'record')[0]}") from None


# --- reading and validating a sheet ---------------------------------------------------------


def _node_line(root, loc: tuple) -> int | None:
    """The 1-based line of the YAML node at `loc`, as near as the file has it."""
    node, line = root, None
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        match = next(((k, v) for k, v in node.value if k.value == str(key)), None)
        if match is None:
            break
        line, node = match[0].start_mark.line + 1, match[1]
    return line


def _message(error: dict) -> str:
    if error["type"] == "literal_error":
        return f"must be one of {error['ctx']['expected']}"
    if error["type"] == "extra_forbidden":
        return "not an editable field (see the comment at the top of an exported sheet)"
    if error["type"] == "string_pattern_mismatch" and error["loc"][-1] == "age_range":
        return "must be an age or an age range such as 31-37"
    return error["msg"].replace("Value error, ", "").replace("Input should be", "must be")


def _messages(error: ValidationError, root, origin: str) -> list[str]:
    out = []
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"] if part != "[key]")
        line = _node_line(root, loc) if root is not None else None
        where = f"{origin} line {line}" if line else origin
        out.append(f"{where}: {'.'.join(loc) or '(top)'}: {_message(item)}")
    return out


def parse_cast_sheet(text: str, origin: str = "cast sheet") -> CastSheet:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{origin} line {mark.line + 1}" if mark else origin
        raise CastSheetError(f"{where}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    if not isinstance(data, dict):
        raise CastSheetError(f"{origin}: a cast sheet is a mapping with 'characters' and 'places', not {type(data).__name__}")
    try:
        return CastSheet.model_validate(data)
    except ValidationError as error:
        raise CastSheetError("\n".join(_messages(error, root, origin))) from None


def _check_ids(sheet: CastSheet, current: Bibles, approve: Iterable[str], origin: str) -> None:
    characters = [c.character_id for c in current.characters]
    places = [s.location_id for s in current.locations]
    problems = []
    if sheet.drama and sheet.drama != current.drama:
        problems.append(f"{origin}: drama: this sheet is for {sheet.drama!r}, not {current.drama!r}")
    for section, known, ids in (("characters", characters, sheet.characters), ("places", places, sheet.places)):
        for unknown in sorted(set(ids) - set(known)):
            problems.append(f"{origin}: {section}.{unknown}: no such {section[:-1]} in {current.drama} "
                            f"(its {section}: {', '.join(known) or 'none'})")
    for unknown in sorted(set(approve) - set(characters) - set(places)):
        problems.append(f"approve: {unknown!r} is neither a character nor a place of {current.drama} "
                        f"(characters: {', '.join(characters)}; places: {', '.join(places)})")
    if problems:
        raise CastSheetError("\n".join(problems))


# --- importing: only what changed, and approvals ------------------------------------------


def _views(current: Bibles) -> dict[str, dict[str, dict]]:
    return {
        "characters": {c.character_id: character_view(c) for c in current.characters},
        "places": {s.location_id: place_view(s) for s in current.locations},
    }


def _nest(leaves: dict[tuple, object]) -> dict:
    tree: dict = {}
    for path, value in leaves.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def _record_changes(record: CastRecord, sheet: CastSheet, views: dict) -> dict[str, list[str]]:
    """Adds to the record's edits the sheet's fields that differ from the bibles as they
    stand; fields left as exported stay unrecorded and keep following extraction."""
    changed = {}
    for section in ("characters", "places"):
        stored = getattr(record.edits, section)
        for entity_id, edit in getattr(sheet, section).items():
            current = _leaves(views[section][entity_id])
            new = _leaves(edit.model_dump(exclude_none=True, exclude={"approved"}))
            diff = {path: value for path, value in new.items() if current.get(path) != value}
            if diff:
                stored[entity_id] = type(edit).model_validate(_merge(_edit_of(stored, entity_id), _nest(diff)))
                changed[f"{section}.{entity_id}"] = sorted(".".join(path) for path in diff)
    return changed


def _record_approvals(record: CastRecord, sheet: CastSheet, approve: set[str], views: dict) -> dict[str, bool]:
    """Approves (snapshot locked) or releases what the sheet or `approve` names, and
    refreshes every approved snapshot with the edits just made."""
    decided = {}
    for section, model in (("characters", CharacterEdit), ("places", PlaceEdit)):
        locked, edits = getattr(record.locked, section), getattr(record.edits, section)
        wanted = {eid: e.approved for eid, e in getattr(sheet, section).items() if e.approved is not None}
        wanted.update({eid: True for eid in approve if eid in views[section]})
        for entity_id, yes in wanted.items():
            if yes != (entity_id in locked):
                decided[entity_id] = yes
            if not yes:
                locked.pop(entity_id, None)
        for entity_id in [eid for eid, yes in wanted.items() if yes] + list(locked):
            if entity_id in views[section]:
                locked[entity_id] = model.model_validate(_merge(views[section][entity_id], _edit_of(edits, entity_id)))
    return decided


def _check_applies(current: Bibles, record: CastRecord, origin: str) -> None:
    """A combination that no bible can hold (a new outfit with one colour only) is refused."""
    problems = []
    for section, apply, entities, id_of in (
        ("characters", _apply_character, current.characters, lambda c: c.character_id),
        ("places", _apply_place, current.locations, lambda s: s.location_id),
    ):
        for entity in entities:
            try:
                apply(entity, record)
            except ValidationError as error:
                item = error.errors()[0]
                hint = " (a new outfit needs description, top_color and bottom_color)" if item["type"] == "missing" else ""
                problems.append(f"{origin}: {section}.{id_of(entity)}: {item['loc'][-1] if item['loc'] else ''}: "
                                f"{_message(item)}{hint}")
    if problems:
        raise CastSheetError("\n".join(problems))


def import_cast_sheet(store, drama: str, current: Bibles, text: str | None, origin: str = "cast sheet",
                      approve: Iterable[str] = ()) -> dict:
    """Validates a sheet against the drama's bibles as they stand (`current`: extraction
    with the sheet so far) and records what the person changed and approved. Returns
    {"changed": {"characters.mary": [fields]}, "approved": {id: True|False}}."""
    sheet = parse_cast_sheet(text, origin) if text and text.strip() else CastSheet()
    approve = set(approve)
    _check_ids(sheet, current, approve, origin)
    views, summary = _views(current), {}

    def change(raw: dict | None) -> dict:
        record = CastRecord.model_validate(raw or {})
        summary["changed"] = _record_changes(record, sheet, views)
        summary["approved"] = _record_approvals(record, sheet, approve, views)
        _check_applies(current, record, origin)
        return record.model_dump(mode="json", exclude_none=True)

    Records(store).cast_sheet(drama).update(change)
    return summary


# --- exporting and showing ------------------------------------------------------------------

HEADER = """\
# ZipX cast sheet of {drama}. Edit it, then `zipx cast import {drama} FILE` (or paste it into the
# launchpad of character_bible as cast_sheet_yaml). What you change overrides extraction from
# then on; what you leave as it is keeps following the script. Delete any block or field you
# do not want to touch. Fields:
#   display_name
#   appearance: gender (female | male | unspecified), age_range (e.g. 31-37), face_description,
#     hair, hair_color and skin_tone (#rrggbb), build (slight | average | broad | tall)
#   wardrobe: 'default' and 'scene-N' (worn from scene N on): description, top_color, bottom_color
#   voice: voice_id (e.g. the espeak-ng voice en-us+f3), pitch (0-99), rate_wpm (80-260), style,
#     engine (espeak-ng, or elevenlabs / openai / gemini with one of that engine's voice ids)
#   emotional_range: a list of emotions
#   places: lighting_palette (colour_temperature_k, key_color, fill_color, ambient_color, mood),
#     camera_style (lens, movement: static | slow_push | pan | handheld, framing_notes)
#   approved: true locks a character's looks and voice (a place's look) against later
#     extraction; false releases it. Changing an approved one re-draws only what shows it.
"""


def _block(entity_id: str, view: dict, comment: str) -> list[str]:
    dumped = yaml.safe_dump({entity_id: view}, sort_keys=False, allow_unicode=True, width=100)
    return [f"  # {comment}"] + [f"  {line}" for line in dumped.splitlines()]


def _character_note(c: CharacterBible) -> str:
    note = f"{c.display_name}: {c.cue_count} cues"
    from_sheet = sorted(k for k, v in c.provenance.items() if v == FROM_SHEET)
    if from_sheet:
        note += f"; from the cast sheet: {', '.join(from_sheet)}"
    if c.needs_review:
        note += f"; NEEDS REVIEW: {', '.join(c.needs_review)}"
    return note


def export_cast_sheet(bibles: Bibles) -> str:
    lines = [HEADER.format(drama=bibles.drama).rstrip(), f"drama: {bibles.drama}", "characters:" + ("" if bibles.characters else " {}")]
    for c in bibles.characters:
        lines += _block(c.character_id, {**character_view(c), "approved": c.approved}, _character_note(c))
    lines.append("places:" + ("" if bibles.locations else " {}"))
    for s in bibles.locations:
        lines += _block(s.location_id, {**place_view(s), "approved": s.approved}, f"{s.name} [{s.int_ext}]")
    return "\n".join(lines) + "\n"


def _shown(c: CharacterBible, field: str, value: str) -> str:
    return f"{field}: ? — set it" if field in c.needs_review else f"{field}: {value}"


def show_cast(bibles: Bibles) -> str:
    lines = [f"Cast of {bibles.drama} ({len(bibles.characters)} characters, {len(bibles.locations)} places)", "Characters:"]
    for c in bibles.characters:
        a, v = c.appearance, c.voice_profile
        lines.append(f"  {c.display_name} ({c.character_id}){'  [approved: looks and voice locked]' if c.approved else ''}")
        lines.append("    " + "; ".join([_shown(c, "gender", a.gender), _shown(c, "age_range", a.age_range),
                                        _shown(c, "hair", f"{a.hair} {a.hair_color}"), _shown(c, "build", a.build)]))
        lines.append("    " + _shown(c, "voice", f"{v.voice_id} pitch {v.pitch} rate {v.rate_wpm} wpm, {v.style}"))
        others = [f for f in c.needs_review if f not in ("gender", "age_range", "hair", "build", "voice")]
        lines += [f"    {field}: ? — set it" for field in others]
        from_sheet = sorted(k for k, val in c.provenance.items() if val == FROM_SHEET)
        if from_sheet:
            lines.append(f"    from the cast sheet: {', '.join(from_sheet)}")
    lines.append("Places:")
    for s in bibles.locations:
        light, camera = s.lighting_palette, s.camera_style
        lines.append(f"  {s.name} ({s.location_id}) [{s.int_ext}]: {light.mood}, {light.colour_temperature_k}K; "
                     f"{camera.lens} {camera.movement}{'  [approved: look locked]' if s.approved else ''}")
    return "\n".join(lines)


def load_manifest_bibles(manifests, drama: str) -> Bibles:
    """The drama's bibles as its last character_bible and scene_bible runs wrote them,
    read through `manifests` (a zipx_core.manifests.ManifestReader over the runs' store)."""
    from zipx_core.manifests import ManifestError

    parts = []
    for asset in ("character_bible", "scene_bible"):
        try:
            part = manifests.load(asset, drama)
        except ManifestError as error:
            raise CastSheetError(str(error)) from None
        if part is None:
            raise CastSheetError(f"no materialized bibles for drama {drama!r}: {manifests.location(asset, drama)} does not exist; "
                                 "materialize character_bible and scene_bible for it first")
        parts.append(part)
    return Bibles.of(*parts)
