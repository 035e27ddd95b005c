"""`make demo`: the sample drama through the Dagster assets, offline, embedded defaults.

It uses the same Definitions and DAGSTER_HOME as `make dev`, so its runs appear in
the UI. Usage: python -m zipx_dagster.demo [--vertical] [SCRIPT ...]
`--vertical` renders 9:16 episodes for phones, as the drama `<name>_vertical`, beside
the 16:9 ones.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

import dagster as dg

from zipx_core.naming import slug
from zipx_core.script import ScriptError, load_drama
from zipx_dagster.definitions import defs
from zipx_dagster.instance import prepare_dagster_home
from zipx_dagster.partitions import drama_episode_key, drama_partitions, episode_partitions
from zipx_dagster.resources import studio_from_definitions, zipx_home

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "harbour_lights.fountain"
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
VERTICAL_RUN = {"resources": {"render": {"config": {"aspect": "portrait"}}}}  # 9:16; the dial picks its size


def register_drama(instance: dg.DagsterInstance, script: Path, inbox: Path, name: str | None = None) -> tuple[str, list[str]]:
    """Copies a script into the inbox (as `name` when given) and adds its drama and episode partition keys."""
    parsed = load_drama(script)
    drama = slug(name or script.stem)
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / (f"{name}{script.suffix}" if name else script.name)
    if script.is_dir():
        shutil.copytree(script, target, dirs_exist_ok=True)
    else:
        shutil.copyfile(script, target)
    episodes = [e.key for e in parsed.episodes]
    instance.add_dynamic_partitions(drama_partitions.name, [drama])
    instance.add_dynamic_partitions(episode_partitions.name, episodes)
    return drama, episodes


def _check(result: dg.ExecuteInProcessResult, what: str) -> None:
    if not result.success:
        raise SystemExit(f"{what} failed; see the run in the UI (make dev) or the log above")


def run_drama(instance: dg.DagsterInstance, script: Path, definitions: dg.Definitions = defs, home: Path | None = None,
              music: Path | None = None, vertical: bool = False) -> list[Path]:
    """Registers and materializes every episode of a drama, over `music` when given (the
    episode asset's `music` config: for these runs only), in 9:16 as `<name>_vertical`
    when `vertical`; returns the episode files."""
    episode_config = {"ops": {"episode": {"config": {"music": str(music.resolve())}}}} if music else {}
    run_config = QUIET_RUN | (VERTICAL_RUN if vertical else {})
    home = home or zipx_home()
    started = time.monotonic()
    store = studio_from_definitions(definitions, home).store  # the store the runs write to
    drama, episodes = register_drama(instance, script, home / "inbox", f"{script.stem}_vertical" if vertical else None)
    print(f"[{time.monotonic() - started:6.1f}s] {drama}: {len(episodes)} episodes ({', '.join(episodes)})", flush=True)
    _check(definitions.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key=drama, run_config=run_config), "drama_job")
    print(f"[{time.monotonic() - started:6.1f}s] {drama}: script parsed, bibles extracted", flush=True)
    outputs = []
    for episode in episodes:
        print(f"[{time.monotonic() - started:6.1f}s] {drama} {episode}: generating shots ...", flush=True)
        result = definitions.resolve_job_def("episode_job").execute_in_process(
            instance=instance, partition_key=drama_episode_key(drama, episode), run_config=run_config | episode_config
        )
        _check(result, f"episode_job {drama}/{episode}")
        manifest = result.output_for_node("episode")
        costs = next(m.metadata for m in result.asset_materializations_for_node("shots"))
        print(
            f"[{time.monotonic() - started:6.1f}s] {drama} {episode}: routes {costs['routes'].value}, "
            f"rendered on {costs['providers'].value}; estimated ${costs['estimated_cost_usd'].value:.2f} "
            f"(all on Veo 3: ${costs['all_veo3_cost_usd'].value:.2f}, saving {costs['saving_vs_all_veo3'].value:.0%}), "
            f"actual ${costs['cost_usd'].value:.2f}",
            flush=True,
        )
        video = store.path(manifest.video_uri)
        friendly = home / "episodes" / drama / f"{episode}.mp4"
        friendly.parent.mkdir(parents=True, exist_ok=True)
        friendly.unlink(missing_ok=True)
        friendly.symlink_to(video)
        outputs.append(friendly)
        for suffix, uri in (("srt", manifest.subtitles_srt_uri), ("otio", manifest.timeline.otio_uri)):
            beside = friendly.with_suffix(f".{suffix}")
            beside.unlink(missing_ok=True)
            beside.symlink_to(store.path(uri))
        print(
            f"[{time.monotonic() - started:6.1f}s] {drama} {episode}: {manifest.shot_count} shots, "
            f"{manifest.width}x{manifest.height}, {manifest.duration_s:.1f}s, {len(manifest.timeline.exports) + 1} timeline formats, "
            f"{manifest.loudness_lufs} LUFS -> {friendly}",
            flush=True,
        )
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scripts", nargs="*", type=Path, default=[SAMPLE])
    parser.add_argument("--music", type=Path, help="a music file to lay under every episode's dialogue (none by default)")
    parser.add_argument("--vertical", action="store_true", help="9:16 episodes for phones (as the drama <name>_vertical)")
    args = parser.parse_args(argv)
    logging.getLogger("dagster").setLevel(logging.INFO)
    prepare_dagster_home()
    try:
        with dg.DagsterInstance.get() as instance:
            for script in args.scripts:
                for path in run_drama(instance, script, music=args.music, vertical=args.vertical):
                    print(f"EPISODE {path}")
    except ScriptError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
