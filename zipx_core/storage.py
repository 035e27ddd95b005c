"""Where artifacts live. Content-addressed: a file's key is the SHA-256 of its bytes, so
the same clip is stored once and a manifest's URI pins exact bytes.

URIs are `zipx://{kind}/{aa}/{sha256}{suffix}`, relative to the store, never a local
path: a manifest stays valid when the root moves, or when the files move to S3. The
local store is the laptop default; `S3ArtifactStore` (same interface, over boto3) is
production's, for AWS S3 or any S3-compatible server.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import os
import random
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel

URI_PREFIX = "zipx://"
_KEY_RE = re.compile(r"^[a-z_]+/[0-9a-f]{2}/[0-9a-f]{64}(\.[a-z0-9]{1,8})?$")
_NAME_RE = re.compile(r"^[a-z0-9_]{1,80}$")
# named JSON objects that change (the assets' manifests): slug folders and a slug name
_OBJECT_RE = re.compile(r"^([a-z0-9_]{1,80}/){0,4}[a-z0-9_]{1,80}\.json$")
_PREFIX_RE = re.compile(r"^([a-z0-9_]{1,80}/){0,4}$")
# S3's answers to a conditional write when another writer won; AWS gives NoSuchKey for
# If-Match on a key deleted since it was read
CONDITION_LOST = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409")


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


def _key(kind: str, sha: str, suffix: str) -> str:
    if not _NAME_RE.match(kind) or not re.match(r"^(\.[a-z0-9]{1,8})?$", suffix):
        raise StorageError(f"bad artifact kind or suffix: {kind!r} {suffix!r}")
    return f"{kind}/{sha[:2]}/{sha}{suffix}"


def uri_key(uri: str) -> str:
    """The store-relative key of an artifact URI; anything else (a path, '..') is refused."""
    if not uri.startswith(URI_PREFIX) or not _KEY_RE.match(uri[len(URI_PREFIX):]):
        raise StorageError(f"not an artifact URI of this store: {uri!r}")
    return uri[len(URI_PREFIX):]


def record_key(kind: str, name: str) -> str:
    if not _NAME_RE.match(kind) or not _NAME_RE.match(name):
        raise StorageError(f"bad record name: {kind!r}/{name!r}")
    return f"records/{kind}/{name}.json"


def object_key(key: str, prefix: bool = False) -> str:
    """A named object's key (`manifests/episode/lab/ep01.json`), or a prefix of keys
    (`manifests/episode/`); anything else (a path, '..', upper case) is refused."""
    if not (_PREFIX_RE if prefix else _OBJECT_RE).match(key):
        raise StorageError(f"not an object {'prefix' if prefix else 'key'} of this store: {key!r}")
    return key


def _staging(path: Path) -> Path:
    """Where a file is written before its atomic rename to `path`: one name per process and
    thread, so writers never share one (the last rename wins) and readers never see it."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@runtime_checkable
class ArtifactStore(Protocol):
    """What every store does, on a laptop's disk or on S3: content-addressed files,
    small JSON records (zipx_core.records names them), and named objects (manifests)."""

    def scratch_dir(self) -> tempfile.TemporaryDirectory: ...
    def put_file(self, source: Path, kind: str, suffix: str) -> Artifact: ...
    def path(self, uri: str) -> Path: ...
    def location(self, uri: str) -> str: ...
    def exists(self, uri: str) -> bool: ...
    def get_record(self, kind: str, name: str) -> dict | None: ...
    def put_record(self, kind: str, name: str, record: dict) -> None: ...
    def list_records(self, kind: str) -> list[str]: ...
    def update_record(self, kind: str, name: str, change: Callable[[dict | None], dict | None]) -> dict | None: ...
    def object_location(self, key: str) -> str: ...
    def read_object(self, key: str) -> bytes | None: ...
    def write_object(self, key: str, body: bytes) -> None: ...
    def list_objects(self, prefix: str) -> list[str]: ...


@runtime_checkable
class PresignedURLs(Protocol):
    """An optional capability (S3 has it, a local folder has not): time-limited URLs
    that hosted models fetch reference frames and clips from."""

    def presigned_url(self, uri: str, expires_s: int = 3600) -> str: ...


def presigner(store) -> Callable[[str], str] | None:
    """The store's URL maker when it has one, else None (providers then get the bytes inline)."""
    return store.presigned_url if isinstance(store, PresignedURLs) else None


class LocalArtifactStore:
    """`root` holds the artifacts and records; named objects (the manifests) live under
    `objects_root`, by default the same folder. A laptop keeps them in ZIPX_HOME, so the
    manifests are in ZIPX_HOME/manifests. Nothing is created until something is written."""

    def __init__(self, root: str | Path, objects_root: str | Path | None = None):
        self.root = Path(root).resolve()
        self.objects_root = Path(objects_root).resolve() if objects_root else self.root

    def scratch_dir(self) -> tempfile.TemporaryDirectory:
        """A temporary folder on the store's file system, so that finished files move
        into place with an atomic rename."""
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(dir=self.root / "tmp")

    def put_file(self, source: Path, kind: str, suffix: str) -> Artifact:
        """Moves `source` into the store; a reader never sees a half-written file."""
        sha = file_sha256(source)
        key = _key(kind, sha, suffix)
        target = self.root / key
        size = source.stat().st_size
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = _staging(target)
            shutil.move(str(source), staging)
            os.replace(staging, target)
        return Artifact(uri=URI_PREFIX + key, sha256=sha, size=size)

    def path(self, uri: str) -> Path:
        return self.root / uri_key(uri)

    def location(self, uri: str) -> str:
        """Where the artifact lives, as a URL anyone reading this store can follow."""
        return self.path(uri).as_uri()

    def exists(self, uri: str) -> bool:
        return self.path(uri).is_file()

    # Small JSON records (e.g. a finished request's take), keyed by a hash or a name.
    def _record_path(self, kind: str, name: str) -> Path:
        return self.root / record_key(kind, name)

    def get_record(self, kind: str, name: str) -> dict | None:
        path = self._record_path(kind, name)
        return json.loads(path.read_text()) if path.is_file() else None

    def put_record(self, kind: str, name: str, record: dict) -> None:
        path = self._record_path(kind, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = _staging(path)
        staging.write_text(json.dumps(record, sort_keys=True))
        os.replace(staging, path)

    def list_records(self, kind: str) -> list[str]:
        """The names of the records of one kind, sorted."""
        folder = self.root / record_key(kind, "x").rsplit("/", 1)[0]
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def update_record(self, kind: str, name: str, change: Callable[[dict | None], dict | None]) -> dict | None:
        """Read, change and write a record as one step for every process that shares this
        folder (a file lock). `change` gets the record (None if there is none) and returns
        the new one, or None to leave it as it is; the record as it stands is returned."""
        record_key(kind, name)  # a bad name is refused before it names a lock file
        with _file_lock(self.root / "locks" / f"{kind}-{name}.lock"):
            record = self.get_record(kind, name)
            changed = change(copy.deepcopy(record))
            if changed is None:
                return record
            self.put_record(kind, name, changed)
            return changed

    # Named objects that change (the manifests): whole or not at all, read by key.
    def object_location(self, key: str) -> str:
        return str(self.objects_root / object_key(key))

    def read_object(self, key: str) -> bytes | None:
        path = self.objects_root / object_key(key)
        return path.read_bytes() if path.is_file() else None

    def write_object(self, key: str, body: bytes) -> None:
        path = self.objects_root / object_key(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = _staging(path)
        staging.write_bytes(body)
        os.replace(staging, path)

    def list_objects(self, prefix: str) -> list[str]:
        """The keys under `prefix`, at any depth, sorted."""
        folder = self.objects_root / object_key(prefix, prefix=True)
        found = folder.rglob("*.json") if folder.is_dir() else []
        keys = (p.relative_to(self.objects_root).as_posix() for p in found if not p.name.startswith("."))
        return sorted(k for k in keys if _OBJECT_RE.match(k))


class S3ArtifactStore:
    """The same store on S3. Objects appear whole or not at all (a PUT, or a multipart
    upload, becomes visible only when complete), and each carries its SHA-256, checked
    when it is fetched. Reads go through a local cache, itself content-addressed, so a
    file is downloaded once per machine."""

    MULTIPART_BYTES = 8 * 1024 * 1024

    def __init__(self, client, bucket: str, prefix: str = "", cache_root: str | Path = ".zipx/s3-cache"):
        from boto3.s3.transfer import TransferConfig

        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")
        self._conditional_writes_checked = False
        self.cache = LocalArtifactStore(cache_root)
        self.transfer = TransferConfig(multipart_threshold=self.MULTIPART_BYTES, multipart_chunksize=self.MULTIPART_BYTES)

    def _object(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, action: str, key: str, error: Exception) -> StorageError:
        from botocore.exceptions import ClientError

        code = error.response["Error"].get("Code", "?") if isinstance(error, ClientError) else type(error).__name__
        # the message names the bucket and key, never the credentials
        return StorageError(f"S3 {action} s3://{self.bucket}/{self._object(key)} failed: {code}")

    def scratch_dir(self) -> tempfile.TemporaryDirectory:
        return self.cache.scratch_dir()

    def put_file(self, source: Path, kind: str, suffix: str, callback=None) -> Artifact:
        sha = file_sha256(source)
        key = _key(kind, sha, suffix)
        size = source.stat().st_size
        if not self._exists(key):
            try:
                self.client.upload_file(
                    str(source), self.bucket, self._object(key),
                    ExtraArgs={"Metadata": {"sha256": sha}}, Config=self.transfer, Callback=callback,
                )
            except Exception as error:
                raise self._fail("upload", key, error) from None
        source.unlink(missing_ok=True)
        return Artifact(uri=URI_PREFIX + key, sha256=sha, size=size)

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object(key))
            return True
        except ClientError as error:
            if error.response["Error"].get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail("head", key, error) from None

    def location(self, uri: str) -> str:
        """Where the artifact lives (s3://bucket/key): not the path of this machine's cached copy."""
        return f"s3://{self.bucket}/{self._object(uri_key(uri))}"

    def exists(self, uri: str) -> bool:
        return self._exists(uri_key(uri))

    def path(self, uri: str) -> Path:
        """A local copy of the artifact, streamed from S3 on first use and checked."""
        key = uri_key(uri)
        local = self.cache.path(uri)
        if local.is_file():
            return local
        local.parent.mkdir(parents=True, exist_ok=True)
        staging = _staging(local)
        try:
            self.client.download_file(self.bucket, self._object(key), str(staging), Config=self.transfer)
        except Exception as error:
            staging.unlink(missing_ok=True)
            raise self._fail("download", key, error) from None
        if file_sha256(staging) != key.split("/")[2].split(".")[0]:
            staging.unlink()
            raise StorageError(f"s3://{self.bucket}/{self._object(key)}: content does not match its hash")
        os.replace(staging, local)
        return local

    def presigned_url(self, uri: str, expires_s: int = 3600) -> str:
        """A time-limited GET URL, for providers that fetch reference frames themselves."""
        key = uri_key(uri)
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._object(key)}, ExpiresIn=expires_s
        )

    def update_record(self, kind: str, name: str, change: Callable[[dict | None], dict | None],
                      attempts: int = 100) -> dict | None:
        """`LocalArtifactStore.update_record` for writers on any number of machines, by
        compare-and-swap: the write is conditional on the ETag that was read (If-Match),
        or on there being no record yet (If-None-Match: *), and another writer's win
        means read again and redo the change. The server must honour conditional writes
        (AWS S3, MinIO and SeaweedFS do); that is checked once, not assumed."""
        from botocore.exceptions import ClientError

        key = record_key(kind, name)
        self._check_conditional_writes()
        for attempt in range(attempts):
            try:
                found = self.client.get_object(Bucket=self.bucket, Key=self._object(key))
                record, condition = json.loads(found["Body"].read()), {"IfMatch": found["ETag"]}
            except self.client.exceptions.NoSuchKey:
                record, condition = None, {"IfNoneMatch": "*"}
            except Exception as error:
                raise self._fail("get", key, error) from None
            changed = change(copy.deepcopy(record))
            if changed is None:
                return record
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._object(key),
                                       Body=json.dumps(changed, sort_keys=True).encode(), **condition)
                return changed
            except ClientError as error:
                if error.response["Error"].get("Code") not in CONDITION_LOST:
                    raise self._fail("put", key, error) from None
            except Exception as error:
                raise self._fail("put", key, error) from None
            time.sleep(random.uniform(0, 0.01 * min(attempt + 1, 20)))  # another writer won: back off, read again
        raise StorageError(f"s3://{self.bucket}/{self._object(key)}: still contended after {attempts} attempts")

    def _check_conditional_writes(self) -> None:
        """A server that ignores If-None-Match would let two machines' updates overwrite
        each other in silence: refuse it, once per store, before the first update."""
        from botocore.exceptions import ClientError

        if self._conditional_writes_checked:
            return
        probe = f"records/probe/{uuid.uuid4().hex}.json"
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._object(probe), Body=b"{}", IfNoneMatch="*")
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._object(probe), Body=b"{}", IfNoneMatch="*")
                honoured = False
            except ClientError as error:
                if error.response["Error"].get("Code") not in CONDITION_LOST:
                    raise
                honoured = True
            self.client.delete_object(Bucket=self.bucket, Key=self._object(probe))
        except Exception as error:
            raise self._fail("conditional put", probe, error) from None
        if not honoured:
            raise StorageError(f"the S3 server of s3://{self.bucket} ignores conditional writes (If-None-Match), so "
                               "runs on several machines could overwrite each other's budget charges; use a server "
                               "that honours them (AWS S3, MinIO, SeaweedFS)")
        self._conditional_writes_checked = True

    def get_record(self, kind: str, name: str) -> dict | None:
        key = record_key(kind, name)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._object(key))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        except Exception as error:
            raise self._fail("get", key, error) from None
        return json.loads(body)

    def put_record(self, kind: str, name: str, record: dict) -> None:
        key = record_key(kind, name)
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._object(key), Body=json.dumps(record, sort_keys=True).encode())
        except Exception as error:
            raise self._fail("put", key, error) from None

    def list_records(self, kind: str) -> list[str]:
        """The names of the records of one kind, sorted."""
        folder = self._object(record_key(kind, "x").rsplit("/", 1)[0] + "/")
        names = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
                names += [item["Key"][len(folder):].removesuffix(".json") for item in page.get("Contents", [])]
        except Exception as error:
            raise self._fail("list", kind, error) from None
        return sorted(n for n in names if "/" not in n)

    # Named objects that change (the manifests): one PUT each, so whole or not at all;
    # never cached, so every machine reads the latest.
    def object_location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object(object_key(key))}"

    def read_object(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._object(object_key(key)))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        except Exception as error:
            raise self._fail("get", key, error) from None

    def write_object(self, key: str, body: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._object(object_key(key)), Body=body)
        except Exception as error:
            raise self._fail("put", key, error) from None

    def list_objects(self, prefix: str) -> list[str]:
        """The keys under `prefix`, at any depth, sorted."""
        start, keys = self._object(object_key(prefix, prefix=True)), []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
                keys += [item["Key"][len(self._object("")):] for item in page.get("Contents", [])]
        except Exception as error:
            raise self._fail("list", prefix, error) from None
        return sorted(k for k in keys if _OBJECT_RE.match(k))


def s3_client(endpoint_url: str | None = None, region: str = "us-east-1", access_key_id: str | None = None,
              secret_access_key: str | None = None):
    """boto3's S3 client as ZipX uses it. Credentials left None come from boto3's own
    chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint_url, region_name=region,
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
        config=Config(
            signature_version="s3v4",  # presigned URLs too (SigV2 is refused by AWS and by S3-compatible servers)
            s3={"addressing_style": "path"} if endpoint_url else {},
            retries={"mode": "standard"},
        ),
    )


class StoreConfig(BaseModel):
    """Where the store is: a local folder (`root`), or S3 (any S3-compatible server) when
    `s3_bucket` is set, `root` then being the local read cache. Credentials left None come
    from boto3's own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, a role)."""

    root: str
    objects_root: str | None = None  # a local store's manifests: <objects_root>/manifests (default: under root)
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    def open(self) -> LocalArtifactStore | S3ArtifactStore:
        return open_store(self.root, self.objects_root, self.s3_bucket, self.s3_prefix, self.s3_endpoint_url,
                          self.s3_region, self.aws_access_key_id, self.aws_secret_access_key)


def store_settings(home: Path) -> dict:
    """Where the runs keep artifacts and manifests, from the environment (no secrets):
    ZIPX_S3_BUCKET switches to S3 (with ZIPX_S3_PREFIX, and ZIPX_S3_ENDPOINT_URL for MinIO
    and the like), the local folder `home/s3-cache` then being the read cache; without it,
    `home/artifacts` and the manifests in `home/manifests`. zipx_core.studio reads the
    environment through this, so runs, CLI and review room act on the same store."""
    bucket = os.environ.get("ZIPX_S3_BUCKET")
    if not bucket:
        return {"root": str(home / "artifacts"), "objects_root": str(home)}
    return {"root": str(home / "s3-cache"), "s3_bucket": bucket, "s3_prefix": os.environ.get("ZIPX_S3_PREFIX", ""),
            "s3_endpoint_url": os.environ.get("ZIPX_S3_ENDPOINT_URL") or None}


def open_store(root: str, objects_root: str | None = None, s3_bucket: str | None = None, s3_prefix: str = "",
               s3_endpoint_url: str | None = None, s3_region: str = "us-east-1", access_key_id: str | None = None,
               secret_access_key: str | None = None) -> LocalArtifactStore | S3ArtifactStore:
    """The store `StoreConfig` describes."""
    if not s3_bucket:
        return LocalArtifactStore(root, objects_root)
    client = s3_client(s3_endpoint_url, s3_region, access_key_id, secret_access_key)
    return S3ArtifactStore(client, s3_bucket, s3_prefix, cache_root=root)


def store_from_env(home: Path) -> LocalArtifactStore | S3ArtifactStore:
    """The store the runs use, outside Dagster: the same as `Studio.from_env(home).store`."""
    return StoreConfig(**store_settings(home)).open()
