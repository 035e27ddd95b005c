"""Scripts on the artifact store. The inbox is a folder on the machine the script-drop
sensor runs on; a run's steps may run anywhere (a Celery worker, a Kubernetes pod), so
they read the script the sensor published to the store, never the inbox.

A script (one file, or a folder of episode files) and the music beside it (the inbox's
naming, zipx_core.audio.music) are published as one zip, content-addressed, named by the
drama's `scripts` record with the script's own name, so a copy parses exactly as the
inbox's file did (the same `source`, the same line numbers).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from zipx_core.audio.music import MUSIC_SUFFIXES
from zipx_core.naming import slug
from zipx_core.records import Records
from zipx_core.script.drama import SCRIPT_SUFFIXES


def bundle_files(script: Path) -> list[Path]:
    """The script's files, then the music files beside it named for its drama."""
    files = [script] if script.is_file() else sorted(
        p for p in script.iterdir() if p.is_file() and p.suffix.lower() in SCRIPT_SUFFIXES)
    drama = slug(script.stem)
    music = [p for p in sorted(script.parent.iterdir()) if p.is_file() and p.suffix.lower() in MUSIC_SUFFIXES
             and drama in (slug(p.stem), slug(p.stem.rpartition(".")[0]))]
    return files + music


def publish_script(store, drama: str, script: Path) -> str:
    """Puts the script at `script` (and its music) on the store as the drama's; returns the bundle's URI."""
    with store.scratch_dir() as scratch:
        bundle = Path(scratch) / "script.zip"
        with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in bundle_files(script):
                # a fixed timestamp: the same files are the same bytes, so the same artifact
                info = zipfile.ZipInfo(file.relative_to(script.parent).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(info, file.read_bytes(), zipfile.ZIP_DEFLATED)
        uri = store.put_file(bundle, "scripts", ".zip").uri
    record = Records(store).scripts(drama)
    if record.get() != {"uri": uri, "name": script.name}:
        record.put({"uri": uri, "name": script.name})
    return uri


def fetch_script(store, drama: str, folder: Path) -> Path:
    """The drama's published script, unpacked under `folder` with its music beside it."""
    published = Records(store).scripts(drama).get()
    if published is None:
        raise FileNotFoundError(f"no script for drama {drama!r} on the artifact store: drop it into the inbox, "
                                "where the script-drop sensor publishes it (or run `zipx run FILE`)")
    with zipfile.ZipFile(store.path(published["uri"])) as archive:
        for name in archive.namelist():
            if Path(name).is_absolute() or ".." in Path(name).parts:
                raise ValueError(f"the script bundle of {drama!r} names a file outside its folder: {name!r}")
        archive.extractall(folder)
    return folder / published["name"]


def current_script(store, drama: str, dropped: Path | None, folder: Path) -> Path:
    """The drama's script as a run reads it, unpacked under `folder`. Where this machine
    holds the inbox (`dropped`: a laptop, the sensor's machine) its file is published
    first, so an edit or a music file dropped since the last publish counts."""
    if dropped:
        publish_script(store, drama, dropped)
    return fetch_script(store, drama, folder)
