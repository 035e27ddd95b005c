"""`zipx`: the core stages from the command line, without Dagster.

  zipx parse FILE [--json]        the parsed Script (a summary, or JSON)
  zipx bible FILE [--json]        character and scene bibles
  zipx storyboard FILE [--episode ep01] [--json]
A bad script exits with status 2 and the ScriptError's file, line and reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from zipx_core.bible import extract_bibles
from zipx_core.naming import slug
from zipx_core.script import ScriptError, load_drama
from zipx_core.storyboard import plan_episode


def _parse(args) -> str:
    script = load_drama(args.file)
    if args.json:
        return script.model_dump_json(indent=2)
    lines = [f"{script.title} ({script.source}): {len(script.episodes)} episode(s), {len(script.scenes)} scene(s)"]
    for episode in script.episodes:
        lines.append(f"  {episode.key}  {episode.title}  (line {episode.line})")
        for scene in episode.scenes:
            counts = Counter(e.type for e in scene.elements)
            lines.append(
                f"    {scene.number:>3}  {scene.heading}  (line {scene.line}; "
                f"{counts['character']} cues, {counts['dialogue']} dialogue, {counts['action']} action)"
            )
    return "\n".join(lines)


def _bible(args) -> str:
    bibles = extract_bibles(load_drama(args.file), slug(Path(args.file).stem))
    if args.json:
        return bibles.model_dump_json(indent=2)
    lines = ["Characters:"]
    for c in bibles.characters:
        a = c.appearance
        aka = f" (also {', '.join(c.aliases)})" if c.aliases else ""
        lines.append(f"  {c.display_name}{aka}: {a.gender}, {a.age_range}, {a.hair} hair, {a.build}; voice {c.voice_profile.voice_id}; {c.cue_count} cues")
    lines.append("Locations:")
    for s in bibles.locations:
        lines.append(f"  {s.name} [{s.int_ext}]: {s.lighting_palette.mood}, {s.lighting_palette.colour_temperature_k}K; {s.camera_style.lens} {s.camera_style.movement}")
    return "\n".join(lines)


def _storyboard(args) -> str:
    script = load_drama(args.file)
    drama = slug(Path(args.file).stem)
    bibles = extract_bibles(script, drama)
    keys = [args.episode] if args.episode else [e.key for e in script.episodes]
    boards = [plan_episode(script, key, bibles, drama) for key in keys]
    if any(b is None for b in boards):
        raise SystemExit(f"error: {args.file}: no episode {args.episode}; it has {[e.key for e in script.episodes]}")
    if args.json:
        return json.dumps([b.model_dump(mode="json") for b in boards], indent=2)
    lines = []
    for board in boards:
        lines.append(f"{board.episode}  {board.title}: {len(board.shots)} shots, {board.duration_s:.1f}s")
        for s in board.shots:
            lines.append(f"  {s.shot_id}  {s.shot_type.value:<3} {s.duration_s:>5.2f}s  {s.route:<10} {', '.join(s.characters)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zipx", description="ZipX: screenplay to short drama")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler, help_text in (
        ("parse", _parse, "parse a script (file, or folder of one file per episode)"),
        ("bible", _bible, "extract character and scene bibles"),
        ("storyboard", _storyboard, "plan the shots"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("file")
        command.add_argument("--json", action="store_true", help="print JSON instead of a summary")
        if name == "storyboard":
            command.add_argument("--episode", help="only this episode, e.g. ep01")
        command.set_defaults(handler=handler)
    args = parser.parse_args(argv)
    try:
        print(args.handler(args))
    except ScriptError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
