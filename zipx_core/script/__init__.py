from zipx_core.script.errors import ScriptError
from zipx_core.script.parser import parse_heading, parse_script, parse_text, split_cue
from zipx_core.script.fdx import parse_fdx_text
from zipx_core.script.drama import load_drama

__all__ = ["ScriptError", "load_drama", "parse_fdx_text", "parse_heading", "parse_script", "parse_text", "split_cue"]
