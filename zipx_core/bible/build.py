"""A drama's bibles from its three sources, in order: the rules, an optional reader (the
LLM) that fills the same model, and the cast sheet a person edits, which overrides both.
The character_bible and scene_bible assets each call `build_bibles`."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from zipx_core.bible.cast_sheet import apply_cast_sheet, import_cast_sheet, load_cast_record
from zipx_core.bible.cues import character_cue_map
from zipx_core.bible.rules import extract_character_bibles, extract_scene_bibles
from zipx_core.bible.voices import load_voice_lock, save_voice_lock
from zipx_core.models import Bibles, Script

# (script, drama, the rules' bibles) -> the bibles the reader made of them
Reader = Callable[[Script, str, Bibles], Bibles]


def extract(script: Script, drama: str, store, reader: Reader | None = None) -> Bibles:
    """Rules (voices already given are kept), then the reader if there is one."""
    characters = extract_character_bibles(script, load_voice_lock(store, drama))
    bibles = Bibles(drama=drama, characters=characters, locations=extract_scene_bibles(script),
                    cue_map=character_cue_map(script, characters))
    return reader(script, drama, bibles) if reader else bibles


def llm_reader(client, store, budget) -> Reader:
    """The LLM reader as the build's reader: cached by content hash in the store, so the
    second bible asset and every re-materialization pay nothing; charged to `budget`."""
    from zipx_core.bible.llm_reader import read_bibles_with_llm

    def read(script: Script, drama: str, rules: Bibles) -> Bibles:
        return read_bibles_with_llm(script, rules, client, store, budget, load_voice_lock(store, drama))

    return read


def build_bibles(script: Script, drama: str, store, reader: Reader | None = None, sheet_yaml: str | None = None,
                 approve: Iterable[str] = (), origin: str = "cast_sheet_yaml") -> Bibles:
    """Extraction with the drama's cast sheet over it. A sheet (YAML) or approvals given
    here are imported first, exactly as `zipx cast import` does. The voices that result,
    the sheet's included, are locked for later runs."""
    extracted = extract(script, drama, store, reader)
    approve = list(approve)
    if (sheet_yaml and sheet_yaml.strip()) or approve:
        current = apply_cast_sheet(extracted, load_cast_record(store, drama))
        import_cast_sheet(store, drama, current, sheet_yaml, origin, approve)
    bibles = apply_cast_sheet(extracted, load_cast_record(store, drama))
    save_voice_lock(store, drama, bibles.characters)
    return bibles
