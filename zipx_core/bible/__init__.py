from zipx_core.bible.rules import extract_bibles, extract_character_bibles, extract_scene_bibles

__all__ = ["extract_bibles", "extract_character_bibles", "extract_scene_bibles"]
