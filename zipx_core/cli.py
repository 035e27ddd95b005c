"""`zipx`: the core stages from the command line, without Dagster.

  zipx parse FILE [--json]        the parsed Script (a summary, or JSON)
  zipx bible FILE [--json]        character and scene bibles
  zipx storyboard FILE [--episode ep01] [--json]
  zipx calibrate FILE [--store DIR]   continuity thresholds at the equal error rate
  zipx review list | approve D E SHOT | regenerate D E SHOT --note "..."
  zipx tasks unknown | release HASH   submissions whose answer was lost; release one once checked
  zipx cast export DRAMA [--out FILE] | import DRAMA FILE [--approve ID ...] | show DRAMA
                                  the cast sheet: the bibles as a YAML file a person edits
  zipx stills list DRAMA | approve DRAMA SLOT CANDIDATE [--by NAME] | reroll DRAMA CHARACTER_ID
                                  reference still slots: their scored candidates, a person's choice
A bad script exits with status 2 and the ScriptError's file, line and reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from zipx_core.bible import extract_bibles
from zipx_core.bible.cast_sheet import CastSheetError
from zipx_core.manifests import ManifestError
from zipx_core import room_data
from zipx_core.naming import slug
from zipx_core.room_data import RoomError
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


def _drama(file: str):
    """The script, its drama key and its bibles."""
    script = load_drama(file)
    drama = slug(Path(file).stem)
    return script, drama, extract_bibles(script, drama)


def _bible(args) -> str:
    _, _, bibles = _drama(args.file)
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
    script, drama, bibles = _drama(args.file)
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


def _calibrate(args) -> str:
    from zipx_core.generation import RenderSettings, generate_shots
    from zipx_core.qa.calibrate import calibrate
    from zipx_core.qa.embeddings import choose_embedder
    from zipx_core.storage import LocalArtifactStore

    script, drama, bibles = _drama(args.file)
    store = LocalArtifactStore(args.store)
    embedder, note = choose_embedder(args.embedder)
    settings = RenderSettings(width=args.width, height=args.height)
    boards = [plan_episode(script, episode.key, bibles, drama) for episode in script.episodes]
    everything = boards[0].model_copy(update={"shots": [s for b in boards for s in b.shots]})
    takes = generate_shots(everything, bibles, store, settings)  # clean takes: the approved frames
    thresholds, report = calibrate(everything, takes, bibles, store, embedder, args.width, args.height)
    store.put_record("thresholds", slug(embedder.name), thresholds.model_dump(mode="json"))
    lines = [f"embedder: {embedder.name} ({note}); thresholds recorded in {args.store}"]
    for shot_type, row in report.items():
        lines.append(
            f"{shot_type:<4} threshold {row['threshold']:.3f} {'(used)' if row['used'] else '(kept the default: no separation)'}  "
            f"EER {row['equal_error_rate']:.3f}  same {row['same_mean']:.3f} vs other {row['other_mean']:.3f}  pairs {row['pairs']}"
        )
    return "\n".join(lines)


def _home(args) -> Path:
    """--home, else $ZIPX_HOME, else ./.zipx (as the Dagster side resolves it)."""
    return Path(args.home or os.environ.get("ZIPX_HOME", ".zipx"))


def _review(args) -> str:
    from zipx_core.models import Take
    from zipx_core.qa.review import ReviewDecision, awaiting_review, save_decision
    from zipx_core.storage import LocalArtifactStore

    home = _home(args)
    rows = awaiting_review(home / "manifests")
    if args.action == "list":
        if not rows:
            return "no shots awaiting review"
        return "\n".join(f"{r['drama']} {r['episode']} {r['shot_id']}: {r['reason']}" for r in rows)
    if not (args.drama and args.episode and args.shot):
        raise SystemExit("error: approve and regenerate take DRAMA EPISODE SHOT")
    row = next((r for r in rows if (r["drama"], r["episode"], r["shot_id"]) == (args.drama, args.episode, args.shot)), None)
    if row is None:
        raise SystemExit(f"error: {args.drama} {args.episode} {args.shot} is not awaiting review (see `zipx review list`)")
    take = Take.model_validate(row["take"]) if args.action == "approve" else None
    decision = ReviewDecision(shot_id=args.shot, decision=args.action, take=take, note=args.note or "")
    save_decision(LocalArtifactStore(home / "artifacts"), args.drama, args.episode, decision)
    return f"{args.action} recorded for {args.drama} {args.episode} {args.shot}; re-materialize approved_frames to apply it"


def _tasks(args) -> str:
    """Submissions sent whose answer was lost (the job may exist at the provider): never
    re-sent by ZipX until a person has checked the provider's console and released it.
    On the store the runs use (S3 when ZIPX_S3_BUCKET is set)."""
    from zipx_core.storage import store_from_env

    store = store_from_env(_home(args))
    records = {name: store.get_record("tasks", name) for name in store.list_records("tasks")}
    unknown = {name: r for name, r in records.items() if r and r.get("state") == "submitting"}
    if args.action == "unknown":
        if not unknown:
            return "no submissions with an unknown outcome"
        return "\n".join(f"{digest}  {r['provider']} {r['model']} {r['shot_id']}" for digest, r in unknown.items())
    if args.hash not in unknown:
        raise SystemExit(f"error: {args.hash!r} is not a submission with an unknown outcome (see `zipx tasks unknown`)")
    store.put_record("tasks", args.hash, {**unknown[args.hash], "state": "not_sent", "released_by_hand": True})
    return f"released {args.hash}: the next run sends {unknown[args.hash]['shot_id']} again (on {unknown[args.hash]['provider']})"


def _cast(args) -> str:
    """The cast sheet of a drama whose bibles are materialized, on the store the runs use
    (--home's, or S3 when ZIPX_S3_BUCKET is set)."""
    from zipx_core.bible.cast_sheet import apply_cast_sheet, export_cast_sheet, import_cast_sheet, load_cast_record, load_manifest_bibles, show_cast
    from zipx_core.bible.voices import engine_voice_lines
    from zipx_core.manifests import ManifestReader
    from zipx_core.storage import store_from_env

    store = store_from_env(_home(args))
    materialized = load_manifest_bibles(ManifestReader(store), args.drama)
    current = apply_cast_sheet(materialized, load_cast_record(store, args.drama))  # imports not yet materialized too
    pending = "" if current == materialized else "\n(cast sheet edits not materialized yet: re-materialize character_bible and scene_bible)"
    if args.action == "show":
        hosted = engine_voice_lines(store, args.drama)  # voices a hosted speech engine was given, locked
        return show_cast(current) + "".join(f"\n  {line}" for line in ["Hosted voices:", *hosted] if hosted) + pending
    if args.action == "export":
        text, out = export_cast_sheet(current), args.out or args.file
        if not out:
            return text.rstrip("\n")
        Path(out).write_text(text)
        return f"wrote the cast sheet of {args.drama} to {out}: edit it, then `zipx cast import {args.drama} {out}`"
    if not args.file:
        raise SystemExit("error: cast import takes DRAMA FILE")
    path = Path(args.file)
    if not path.is_file():
        raise SystemExit(f"error: {path}: no such file")
    summary = import_cast_sheet(store, args.drama, current, path.read_text(), str(path), args.approve or [])
    changes = [f"  {entity}: {', '.join(fields)}" for entity, fields in summary["changed"].items()]
    decided = [f"  {eid}: {'approved' if yes else 'approval released'}" for eid, yes in summary["approved"].items()]
    if not changes + decided:
        return f"{path}: nothing changed"
    return "\n".join([f"imported {path} into {args.drama}:", *changes, *decided,
                      "re-materialize character_bible and scene_bible (and what follows) to apply it"])


def _add_cast(commands) -> None:
    cast = commands.add_parser("cast", help="the cast sheet: export the bibles to YAML, import a person's edits, show the cast")
    cast.add_argument("action", choices=["export", "import", "show"])
    cast.add_argument("drama", help="the drama key, e.g. harbour_lights")
    cast.add_argument("file", nargs="?", help="import: the edited sheet; export: where to write it (else stdout)")
    cast.add_argument("--out", help="export: the file to write")
    cast.add_argument("--approve", action="append", metavar="ID", help="import: approve this character or place too (repeatable)")
    cast.add_argument("--home", help="ZipX home (default $ZIPX_HOME or .zipx): its manifests and artifact store "
                      "(on S3 when ZIPX_S3_BUCKET is set, as for the runs)")
    cast.set_defaults(handler=_cast)


def _still_lines(view: dict) -> list[str]:
    """A slot and its candidates, numbered as `zipx stills approve` takes them."""
    slot, chosen = view["slot"], view["chosen"]
    cost = f", ${slot.cost_usd:.2f}" if slot.cost_usd else ""
    lines = [f"{slot.slot}  ({slot.source}{cost})" + ("" if slot.approved or chosen else "  awaiting a person")]
    for c in view["candidates"]:
        mark = f"✓ approved by {slot.approved_by or 'someone'}" if c["approved"] else ""
        if c["chosen"]:
            mark = f"chosen by {chosen.get('by', 'someone')}: locked by the next reference_frames run"
        lines.append(f"  {c['index']:>2}  {c['score']:>7.3f}  {c['uri']}  {mark}".rstrip())
    return lines


def _materialize_hint(drama: str) -> str:
    return (f"materialize reference_frames for {drama} (the review room or the Dagster UI, or "
            f"`dagster asset materialize -m zipx_dagster.definitions --select reference_frames --partition {drama}`)")


def _stills_list(reader, store, drama: str) -> str:
    references = room_data.reference_set(reader, store, drama)
    if not references.slots:
        raise RoomError(f"{drama}: its reference stills were locked before still slots were kept; "
                        f"{_materialize_hint(drama)} to draw them as slots")
    slots = room_data.still_slots(references, store, drama)
    lines = [f"{drama}: {len(references.slots)} still slots ({references.source})"]
    for view in slots["slots"]:
        lines += _still_lines(view)
    waiting, chosen = len(slots["awaiting"]), len(slots["chosen"])
    lines.append(f"{waiting} of {len(references.slots)} slots await a person"
                 + (f" (`zipx stills approve {drama} SLOT N --by NAME`)" if waiting else "")
                 + (f"; {chosen} chosen, locked by the next reference_frames run" if chosen else ""))
    return "\n".join(lines)


def _stills(args) -> str:
    """Reference still slots on the store the runs use (--home's, or S3 when ZIPX_S3_BUCKET
    is set): list them, approve a candidate (locked by the next reference_frames run),
    re-roll a character. The same functions as the review room's."""
    from zipx_core.manifests import ManifestReader
    from zipx_core.storage import store_from_env

    store = store_from_env(_home(args))
    reader = ManifestReader(store)
    if args.action == "list":
        return _stills_list(reader, store, args.drama)
    if args.action == "reroll":
        if not args.target:
            raise RoomError("stills reroll takes DRAMA CHARACTER_ID")
        roll = room_data.reroll(reader, store, args.drama, args.target)
        return f"{args.target}: re-roll {roll} recorded; to draw new candidates, {_materialize_hint(args.drama)}"
    if not (args.target and args.candidate):
        raise RoomError("stills approve takes DRAMA SLOT CANDIDATE (its number as `zipx stills list` shows it, or its URI)")
    if not args.by.strip():
        raise RoomError("say who approves: --by NAME")
    slot, uri = room_data.approve_candidate(reader, store, args.drama, args.target, args.candidate, args.by)
    return (f"{slot.slot}: {uri} chosen by {args.by.strip()}\n"
            f"the next reference_frames run for {args.drama} locks it: {_materialize_hint(args.drama)}")


def _add_stills(commands) -> None:
    stills = commands.add_parser("stills", help="reference still slots: list candidates, approve one, re-roll a character")
    stills.add_argument("action", choices=["list", "approve", "reroll"])
    stills.add_argument("drama", help="the drama key, e.g. harbour_lights")
    stills.add_argument("target", nargs="?", metavar="SLOT|CHARACTER_ID",
                        help="approve: the SLOT (e.g. anna/front-close-up/default); reroll: the CHARACTER_ID")
    stills.add_argument("candidate", nargs="?", metavar="CANDIDATE", help="approve: the candidate's number as listed (from 1), or its URI")
    stills.add_argument("--by", metavar="NAME", default=os.environ.get("USER", ""), help="approve: who chooses (default $USER)")
    stills.add_argument("--home", help="ZipX home (default $ZIPX_HOME or .zipx): its manifests and artifact store "
                        "(on S3 when ZIPX_S3_BUCKET is set, as for the runs)")
    stills.set_defaults(handler=_stills)


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
    calibrate = commands.add_parser("calibrate", help="set continuity thresholds from approved frames (equal error rate)")
    calibrate.add_argument("file")
    calibrate.add_argument("--store", default=".zipx/artifacts", help="artifact store to render into and record thresholds in")
    calibrate.add_argument("--embedder", default="auto", choices=["auto", "clip", "colour"])
    calibrate.add_argument("--width", type=int, default=640)
    calibrate.add_argument("--height", type=int, default=360)
    calibrate.set_defaults(handler=_calibrate)
    review = commands.add_parser("review", help="shots awaiting human review: list, approve, regenerate")
    review.add_argument("action", choices=["list", "approve", "regenerate"])
    review.add_argument("drama", nargs="?")
    review.add_argument("episode", nargs="?")
    review.add_argument("shot", nargs="?")
    review.add_argument("--note", help="regenerate: what the reviewer wants changed")
    review.add_argument("--home", help="ZipX home (default $ZIPX_HOME or .zipx); decisions go to its artifact store")
    review.set_defaults(handler=_review)
    tasks = commands.add_parser("tasks", help="submissions whose answer was lost: list them, release one once checked")
    tasks.add_argument("action", choices=["unknown", "release"])
    tasks.add_argument("hash", nargs="?", help="release: the request hash `zipx tasks unknown` shows")
    tasks.add_argument("--home", help="ZipX home (default $ZIPX_HOME or .zipx)")
    tasks.set_defaults(handler=_tasks)
    _add_cast(commands)
    _add_stills(commands)
    args = parser.parse_args(argv)
    try:
        print(args.handler(args))
    except (CastSheetError, RoomError, ManifestError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ScriptError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
