"""`zipx`: the core stages from the command line, without Dagster.

  zipx parse FILE [--json]        the parsed Script (a summary, or JSON)
  zipx bible FILE [--json]        character and scene bibles
  zipx storyboard FILE [--episode ep01] [--quality balanced] [--without PROVIDER ...] [--json]
                                  each shot's route, estimated cost and why it goes there
  zipx run FILE ... [--music FILE] [--vertical] [--home DIR]
                                  the drama through the Dagster jobs, as `python -m zipx_dagster.demo`
  zipx calibrate FILE [--store DIR | --home DIR]   continuity thresholds at the equal error rate
  zipx review list | approve D E SHOT [--by NAME] | regenerate D E SHOT --note "..." [--by NAME]
                                  shots awaiting a person; decisions recorded with who, when, why
  zipx tasks list | unknown | release HASH
                                  hosted tasks (video and image); submissions whose answer was lost,
                                  released once a person has checked the provider's console
  zipx cast export DRAMA [--out FILE] | import DRAMA FILE [--approve ID ...] | show DRAMA
                                  the cast sheet: the bibles as a YAML file a person edits
  zipx stills list DRAMA | approve DRAMA SLOT CANDIDATE [--by NAME] | reroll DRAMA CHARACTER_ID
                                  reference still slots: their scored candidates, a person's choice
review, tasks, cast, stills and calibrate act on the store the runs use (zipx_core.studio,
built as the Dagster resources are): --home's (else $ZIPX_HOME, else ./.zipx), or S3 when
ZIPX_S3_BUCKET is set.
A bad script, or a request refused, exits with status 2 and says why.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from zipx_core.bible import extract_bibles
from zipx_core.bible.cast_sheet import CastSheetError
from zipx_core.manifests import ManifestError
from zipx_core import room_data
from zipx_core.naming import slug
from zipx_core.room_data import RoomError
from zipx_core.routing import FALLBACKS, Quality
from zipx_core.script import ScriptError, load_drama
from zipx_core.storage import StorageError
from zipx_core.storyboard import plan_episode
from zipx_core.studio import Studio, zipx_home


class CliError(ValueError):
    """A request the CLI refuses; the message says why (exit status 2)."""


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


# Why the seed's policy (zipx_core.routing.route_shot) sends a shot to each provider.
def _route_reason(shot, route, quality) -> str:
    """The policy's reason for the intended provider, and where the shot falls back to
    (at what cost) and why, when it does."""
    from zipx_core.providers import CAPABILITIES
    from zipx_core.routing import all_on, policy_route

    reason = policy_route(shot)[1]
    if route.provider != route.intended:
        cost = f" (${all_on(route.provider, shot, quality, CAPABILITIES):.3f})" if route.provider in CAPABILITIES else ""
        reason += f"; renders on {route.provider}{cost}: {route.reason}"
    return reason


def _board_lines(board, quality, available: set[str]) -> list[str]:
    """The episode's shots, each with its route, model, estimated cost and reason."""
    from zipx_core.providers import CAPABILITIES
    from zipx_core.routing import all_on, plan_route

    routes = [plan_route(s, quality, CAPABILITIES, available) for s in board.shots]
    estimated = sum(r.estimated_cost_usd for r in routes)
    all_veo = sum(all_on("veo3", s, quality, CAPABILITIES) for s in board.shots)
    lines = [f"{board.episode}  {board.title}: {len(board.shots)} shots, {board.duration_s:.1f}s; "
             f"estimated ${estimated:.2f} at {quality.value} (all on Veo 3: ${all_veo:.2f})"]
    for s, route in zip(board.shots, routes):
        lines.append(f"  {s.shot_id}  {s.shot_type.value:<3} {s.duration_s:>5.2f}s  {route.intended:<10} "
                     f"{route.intended_model:<30} ${route.estimated_cost_usd:>6.3f}  {', '.join(s.characters) or '-'}: "
                     f"{_route_reason(s, route, quality)}")
    return lines


def _storyboard(args) -> str:
    from zipx_core.providers import HOSTED

    script, drama, bibles = _drama(args.file)
    keys = [args.episode] if args.episode else [e.key for e in script.episodes]
    boards = [plan_episode(script, key, bibles, drama) for key in keys]
    if any(b is None for b in boards):
        raise SystemExit(f"error: {args.file}: no episode {args.episode}; it has {[e.key for e in script.episodes]}")
    if args.json:
        return json.dumps([b.model_dump(mode="json") for b in boards], indent=2)
    available = set(HOSTED) - set(args.without or [])
    lines = [] if not args.without else [f"as if {', '.join(sorted(args.without))} had no key or were down"]
    for board in boards:
        lines += _board_lines(board, Quality(args.quality), available)
    return "\n".join(lines)


def _calibrate(args) -> str:
    from zipx_core.generation import RenderSettings, generate_shots
    from zipx_core.qa.calibrate import calibrate
    from zipx_core.qa.embeddings import choose_embedder
    from zipx_core.records import Records
    from zipx_core.storage import LocalArtifactStore

    script, drama, bibles = _drama(args.file)
    store = LocalArtifactStore(args.store) if args.store else _runs_studio(args).store  # where the gate reads them
    embedder, note = choose_embedder(args.embedder)
    settings = RenderSettings(width=args.width, height=args.height)
    boards = [plan_episode(script, episode.key, bibles, drama) for episode in script.episodes]
    everything = boards[0].model_copy(update={"shots": [s for b in boards for s in b.shots]})
    takes = generate_shots(everything, bibles, store, settings)  # clean takes: the approved frames
    thresholds, report = calibrate(everything, takes, bibles, store, embedder, args.width, args.height)
    Records(store).thresholds(embedder.name).put(thresholds.model_dump(mode="json"))
    lines = [f"embedder: {embedder.name} ({note}); thresholds recorded in {args.store or 'the store the runs use'}"]
    for shot_type, row in report.items():
        lines.append(
            f"{shot_type:<4} threshold {row['threshold']:.3f} {'(used)' if row['used'] else '(kept the default: no separation)'}  "
            f"EER {row['equal_error_rate']:.3f}  same {row['same_mean']:.3f} vs other {row['other_mean']:.3f}  pairs {row['pairs']}"
        )
    return "\n".join(lines)


HOME_HELP = ("ZipX home (default $ZIPX_HOME or .zipx): its manifests and artifact store "
             "(on S3 when ZIPX_S3_BUCKET is set, as for the runs)")


def _home(args) -> Path:
    """--home, else $ZIPX_HOME, else ./.zipx (as the Dagster side resolves it)."""
    return Path(args.home).resolve() if getattr(args, "home", None) else zipx_home()


def _default_reviewer() -> str:
    """$USER, else the login name the system knows: who decides, unless --by says."""
    try:
        return os.environ.get("USER") or getpass.getuser()
    except OSError:  # no name for this user id (a bare container): --by is needed
        return ""


def _runs_studio(args) -> Studio:
    """The Studio the runs use, from the same environment (S3 when ZIPX_S3_BUCKET is set, else --home's store)."""
    return Studio.from_env(_home(args))


def _no_zipx_data(args, store) -> CliError:
    """The error for a home or bucket that holds no drama: most often the wrong one."""
    if getattr(store, "bucket", None):
        where = f"s3://{store.bucket}/{store.prefix + '/' if store.prefix else ''}manifests/"
        return CliError(f"no ZipX data on {where} (no drama manifests): are ZIPX_S3_BUCKET and ZIPX_S3_PREFIX the runs'?")
    return CliError(f"no ZipX data in {_home(args)} (no drama manifests under {store.objects_root / 'manifests'}): "
                    "give the home the runs use with --home or $ZIPX_HOME")


def _review_list(reader, store) -> str:
    """Each shot awaiting review, with a decision recorded since the last gate run if there is one."""
    from zipx_core.qa.review import awaiting_review, load_decisions

    rows, decisions = awaiting_review(reader), {}
    lines = []
    for r in rows:
        key = (r["drama"], r["episode"])
        decisions.setdefault(key, load_decisions(store, *key))
        decided = decisions[key].get(r["shot_id"])
        pending = decided and decided.decided_at != r["reviewed_at"]  # given, not yet applied by approved_frames
        lines.append(f"{r['drama']} {r['episode']} {r['shot_id']}: {r['reason']}" + (
            f"\n    {decided.decision} recorded by {decided.reviewer or 'someone'} at {decided.decided_at}: "
            "re-materialize approved_frames to apply it" if pending else ""))
    return "\n".join(lines) if lines else "no shots awaiting review"


def _review(args) -> str:
    """Shots awaiting a person, and their decisions, on the store the runs use; a home
    or bucket with no drama in it is an error, not an empty list."""
    studio = _runs_studio(args)
    store, reader = studio.store, studio.manifests
    if not reader.dramas():
        raise _no_zipx_data(args, store)
    if args.action == "list":
        return _review_list(reader, store)
    if not (args.drama and args.episode and args.shot):
        raise CliError(f"review {args.action} takes DRAMA EPISODE SHOT (see `zipx review list`)")
    if not (args.by or "").strip():
        raise CliError("say who decides: --by NAME (a decision is recorded with the reviewer's name)")
    made = room_data.decide(reader, store, args.drama, args.episode, args.shot, args.action, args.by, args.note or "")
    return (f"{args.action} recorded for {args.drama} {args.episode} {args.shot} by {made.reviewer}; "
            "re-materialize approved_frames to apply it")


# The records of hosted submissions (zipx_core.records.Records): what each is, and its field naming the thing made.
TASK_KINDS = {"tasks": ("video", "shot_id"), "image_tasks": ("image", "label")}


def _task_records(records) -> list[tuple[str, str, dict]]:
    """(record kind, request hash, record) of every hosted submission recorded, video and image."""
    return [(kind, digest, getattr(records, kind)(digest).get() or {})
            for kind in TASK_KINDS for digest in getattr(records, kind).names()]


def _age(submitted_at: float | None) -> str:
    if not submitted_at:
        return "-"
    seconds = max(0, time.time() - submitted_at)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _tasks_list(records: list[tuple[str, str, dict]]) -> str:
    """Every recorded hosted task, newest first; hashes as `zipx tasks release` takes them (a unique prefix)."""
    states = Counter(r.get("state", "?") for _, _, r in records)
    lines = [f"{len(records)} hosted tasks: " + ", ".join(f"{n} {state}" for state, n in sorted(states.items()))]
    for kind, digest, r in sorted(records, key=lambda t: -(t[2].get("submitted_at") or 0)):
        what, named_by = TASK_KINDS[kind]
        lines.append(f"  {digest[:12]}  {what:<5} {r.get('state', '?'):<10} {r.get('provider', '?'):<10} "
                     f"{r.get('model', '?'):<30} {r.get(named_by) or '-':<18} {r.get('task_id') or '-'}  {_age(r.get('submitted_at'))}")
    if states["submitting"]:
        lines.append(f"{states['submitting']} sent with the answer lost: check the provider's console, then `zipx tasks release HASH`")
    return "\n".join(lines)


def _tasks_release(records, unknown: list[tuple[str, str, dict]], wanted: str | None) -> str:
    """Marks a lost submission not sent, in whichever record kind holds it, so the next run sends it again."""
    digests = {d for _, d, _ in unknown if wanted and len(wanted) >= 8 and d.startswith(wanted)}
    if len(digests) != 1:
        problem = "matches more than one" if digests else "is not a"
        raise CliError(f"{wanted!r} {problem} submission with an unknown outcome (see `zipx tasks unknown`; "
                       "give the hash, or its first 8 characters or more)")
    digest, said = digests.pop(), []
    for kind, d, record in unknown:
        if d == digest:
            getattr(records, kind)(d).put({**record, "state": "not_sent", "released_by_hand": True})
            said.append(f"{record.get(TASK_KINDS[kind][1]) or '?'} (on {record.get('provider', '?')})")
    return f"released {digest}: the next run sends {', '.join(said)} again"


def _tasks(args) -> str:
    """Hosted submissions, video and image, on the store the runs use (S3 when
    ZIPX_S3_BUCKET is set). One whose answer was lost (the job may exist at the provider)
    is never re-sent by ZipX until a person has checked the provider's console and released it."""
    studio = _runs_studio(args)
    records = _task_records(studio.records)
    if not records and not studio.manifests.dramas():
        raise _no_zipx_data(args, studio.store)
    unknown = [t for t in records if t[2].get("state") == "submitting"]
    if args.action == "list":
        return _tasks_list(records) if records else "no hosted tasks recorded (every take so far was rendered offline)"
    if args.action == "unknown":
        if not unknown:
            return "no submissions with an unknown outcome"
        return "\n".join(f"{digest}  {TASK_KINDS[kind][0]:<5} {r.get('provider')} {r.get('model')} {r.get(TASK_KINDS[kind][1])}"
                         for kind, digest, r in unknown)
    return _tasks_release(studio.records, unknown, args.hash)


def _run(args) -> int:
    """The drama through the Dagster jobs: `python -m zipx_dagster.demo` in its own process
    (the core never imports the framework; it prints as it goes)."""
    env = {**os.environ, **({"ZIPX_HOME": str(Path(args.home).resolve())} if args.home else {})}
    argv = [*args.files, *(["--music", args.music] if args.music else []), *(["--vertical"] if args.vertical else [])]
    return subprocess.call([sys.executable, "-m", "zipx_dagster.demo", *argv], env=env)


def _cast(args) -> str:
    """The cast sheet of a drama whose bibles are materialized, on the store the runs use
    (--home's, or S3 when ZIPX_S3_BUCKET is set)."""
    from zipx_core.bible.cast_sheet import apply_cast_sheet, export_cast_sheet, import_cast_sheet, load_cast_record, load_manifest_bibles, show_cast
    from zipx_core.bible.voices import engine_voice_lines

    studio = _runs_studio(args)
    store = studio.store
    materialized = load_manifest_bibles(studio.manifests, args.drama)
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
    cast.add_argument("--home", help=HOME_HELP)
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
    studio = _runs_studio(args)
    store, reader = studio.store, studio.manifests
    if args.action == "list":
        return _stills_list(reader, store, args.drama)
    if args.action == "reroll":
        if not args.target:
            raise RoomError("stills reroll takes DRAMA CHARACTER_ID")
        roll = room_data.reroll(reader, store, args.drama, args.target)
        return f"{args.target}: re-roll {roll} recorded; to draw new candidates, {_materialize_hint(args.drama)}"
    if not (args.target and args.candidate):
        raise RoomError("stills approve takes DRAMA SLOT CANDIDATE (its number as `zipx stills list` shows it, or its URI)")
    if not (args.by or "").strip():
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
    stills.add_argument("--by", metavar="NAME", default=_default_reviewer(), help="approve: who chooses (default $USER)")
    stills.add_argument("--home", help=HOME_HELP)
    stills.set_defaults(handler=_stills)


def _add_stages(commands) -> None:
    for name, handler, help_text in (
        ("parse", _parse, "parse a script (file, or folder of one file per episode)"),
        ("bible", _bible, "extract character and scene bibles"),
        ("storyboard", _storyboard, "plan the shots: each one's route, estimated cost and why"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("file")
        command.add_argument("--json", action="store_true", help="print JSON instead of a summary")
        if name == "storyboard":
            command.add_argument("--episode", help="only this episode, e.g. ep01")
            command.add_argument("--quality", default="balanced", choices=[q.value for q in Quality],
                                 help="the quality dial the routes and costs are for")
            command.add_argument("--without", action="append", metavar="PROVIDER", choices=sorted(FALLBACKS),
                                 help="route as if this hosted model had no key or were down (repeatable)")
        command.set_defaults(handler=handler)
    calibrate = commands.add_parser("calibrate", help="set continuity thresholds from approved frames (equal error rate)")
    calibrate.add_argument("file")
    calibrate.add_argument("--store", help="a local artifact store to render into and record thresholds in "
                                           "(default: the store the runs use, so their gate reads them)")
    calibrate.add_argument("--home", help=HOME_HELP)
    calibrate.add_argument("--embedder", default="auto", choices=["auto", "clip", "colour"])
    calibrate.add_argument("--width", type=int, default=640)
    calibrate.add_argument("--height", type=int, default=360)
    calibrate.set_defaults(handler=_calibrate)


def _add_review_and_tasks(commands) -> None:
    review = commands.add_parser("review", help="shots awaiting human review: list, approve, regenerate")
    review.add_argument("action", choices=["list", "approve", "regenerate"])
    review.add_argument("drama", nargs="?")
    review.add_argument("episode", nargs="?")
    review.add_argument("shot", nargs="?")
    review.add_argument("--note", help="why; regenerate: what the reviewer wants changed (required)")
    review.add_argument("--by", metavar="NAME", default=_default_reviewer(), help="who decides (default $USER)")
    review.add_argument("--home", help=HOME_HELP)
    review.set_defaults(handler=_review)
    tasks = commands.add_parser("tasks", help="hosted tasks: list them all, those whose answer was lost, release one once checked")
    tasks.add_argument("action", choices=["list", "unknown", "release"])
    tasks.add_argument("hash", nargs="?", help="release: the request hash (or its first 8+ characters)")
    tasks.add_argument("--home", help=HOME_HELP)
    tasks.set_defaults(handler=_tasks)


def _add_run(commands) -> None:
    run = commands.add_parser("run", help="make the drama through the Dagster jobs (what `python -m zipx_dagster.demo` does)")
    run.add_argument("files", nargs="+", metavar="FILE", help="a script (file, or folder of one file per episode)")
    run.add_argument("--music", help="a music file to lay under every episode's dialogue")
    run.add_argument("--vertical", action="store_true", help="9:16 episodes for phones (as the drama <name>_vertical)")
    run.add_argument("--home", help="ZipX home for the run (default $ZIPX_HOME or .zipx)")
    run.set_defaults(handler=_run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zipx", description="ZipX: screenplay to short drama")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_stages(commands)
    _add_review_and_tasks(commands)
    _add_run(commands)
    _add_cast(commands)
    _add_stills(commands)
    args = parser.parse_args(argv)
    try:
        said = args.handler(args)
    except (CliError, CastSheetError, RoomError, ManifestError, StorageError, ScriptError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if isinstance(said, int):  # a command that printed as it went (zipx run) gives its exit status
        return said
    print(said)
    return 0


if __name__ == "__main__":
    sys.exit(main())
