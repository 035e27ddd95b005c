"""Where artifacts live. Content-addressed: a file's key is the SHA-256 of its bytes, so
the same clip is stored once and a manifest's URI pins exact bytes.

URIs are `zipx://{kind}/{aa}/{sha256}{suffix}`, relative to the store's root, so a
manifest stays valid when the root moves. The local store is the default; an S3 store
with the same interface is production's (see DESIGN.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

URI_PREFIX = "zipx://"
_KEY_RE = re.compile(r"^[a-z_]+/[0-9a-f]{2}/[0-9a-f]{64}(\.[a-z0-9]{1,8})?$")
_NAME_RE = re.compile(r"^[a-z0-9_]{1,80}$")


class StorageError(ValueError):
    pass


@dataclass(frozen=True)
class Artifact:
    uri: str
    sha256: str
    size: int


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LocalArtifactStore:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def scratch_dir(self) -> tempfile.TemporaryDirectory:
        """A temporary folder on the store's file system, so that finished files move
        into place with an atomic rename."""
        (self.root / "tmp").mkdir(exist_ok=True)
        return tempfile.TemporaryDirectory(dir=self.root / "tmp")

    def put_file(self, source: Path, kind: str, suffix: str) -> Artifact:
        """Moves `source` into the store; a reader never sees a half-written file."""
        if not _NAME_RE.match(kind) or not re.match(r"^(\.[a-z0-9]{1,8})?$", suffix):
            raise StorageError(f"bad artifact kind or suffix: {kind!r} {suffix!r}")
        sha = file_sha256(source)
        key = f"{kind}/{sha[:2]}/{sha}{suffix}"
        target = self.root / key
        size = source.stat().st_size
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.with_name(f".{target.name}.{os.getpid()}.partial")
            shutil.move(str(source), staging)
            os.replace(staging, target)
        return Artifact(uri=URI_PREFIX + key, sha256=sha, size=size)

    def path(self, uri: str) -> Path:
        if not uri.startswith(URI_PREFIX) or not _KEY_RE.match(uri[len(URI_PREFIX):]):
            raise StorageError(f"not an artifact URI of this store: {uri!r}")
        return self.root / uri[len(URI_PREFIX):]

    def exists(self, uri: str) -> bool:
        return self.path(uri).is_file()

    # Small JSON records (e.g. a finished request's take), keyed by a hash or a name.
    def _record_path(self, kind: str, name: str) -> Path:
        if not _NAME_RE.match(kind) or not _NAME_RE.match(name):
            raise StorageError(f"bad record name: {kind!r}/{name!r}")
        return self.root / "records" / kind / f"{name}.json"

    def get_record(self, kind: str, name: str) -> dict | None:
        path = self._record_path(kind, name)
        return json.loads(path.read_text()) if path.is_file() else None

    def put_record(self, kind: str, name: str, record: dict) -> None:
        path = self._record_path(kind, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{os.getpid()}.partial")
        staging.write_text(json.dumps(record, sort_keys=True))
        os.replace(staging, path)
