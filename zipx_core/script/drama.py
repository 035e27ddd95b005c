"""A drama is one script file, or a folder with one script file per episode
(Fountain, plain text or Final Draft, mixed as they come)."""

from pathlib import Path

from zipx_core.models import Script
from zipx_core.script.errors import ScriptError
from zipx_core.script.parser import parse_script, renumber

SCRIPT_SUFFIXES = (".fountain", ".spmd", ".txt", ".fdx")


def load_drama(path: str | Path) -> Script:
    path = Path(path)
    if not path.exists():
        raise ScriptError(str(path), None, "no such file or folder")
    if path.is_file():
        return parse_script(path)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in SCRIPT_SUFFIXES)
    if not files:
        raise ScriptError(str(path), None, f"folder holds no script ({', '.join(SCRIPT_SUFFIXES)})")
    parts = [parse_script(f) for f in files]
    episodes = []
    for part in parts:
        for episode in part.episodes:
            episode.title = part.title if len(part.episodes) == 1 else episode.title
            episodes.append(episode)
    renumber(episodes)
    return Script(source=path.name, title=parts[0].title, title_page=parts[0].title_page, episodes=episodes)
