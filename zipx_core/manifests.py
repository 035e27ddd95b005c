"""The assets' manifests: one format and one layout, on the artifact store.

Each is a JSON object `{"model": "zipx_core.module:Class", "data": {...}}` at the store
key `manifests/<asset>/<drama>.json` (per drama) or `manifests/<asset>/<drama>/<episode>.json`
(per episode): on S3 in the bucket (under its prefix), on a laptop's local store in
ZIPX_HOME/manifests. Runs write and read them through zipx_dagster's ManifestIOManager,
the review room and the CLI through `ManifestReader`; both go through the functions here.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

from pydantic import BaseModel, ValidationError

from zipx_core.storage import LocalArtifactStore

_NAME = re.compile(r"^[a-z0-9_]{1,80}$")  # asset, drama and episode keys as manifests are named (slugs)
PREFIX = "manifests/"


class ManifestError(ValueError):
    pass


def manifest_key(asset: str, drama: str, episode: str | None = None) -> str:
    """The store key of a manifest; names that are not slugs are refused."""
    for name in (asset, drama, episode or "x"):
        if not _NAME.match(name):
            raise ManifestError(f"not a manifest name: {name!r}")
    return f"{PREFIX}{asset}/{drama}/{episode}.json" if episode else f"{PREFIX}{asset}/{drama}.json"


def dump_manifest(value: BaseModel) -> bytes:
    if not isinstance(value, BaseModel):
        raise TypeError(f"expected a pydantic manifest, got {type(value).__name__}")
    model = f"{type(value).__module__}:{type(value).__name__}"
    return json.dumps({"model": model, "data": value.model_dump(mode="json")}).encode()


def _model(where: str, name: str) -> type[BaseModel]:
    """The pydantic class a manifest names: only zipx_core's own, never an arbitrary import."""
    module_name, _, class_name = name.partition(":")
    if not (module_name == "zipx_core" or module_name.startswith("zipx_core.")):
        raise ManifestError(f"{where}: manifest model {name!r} is not a zipx_core model")
    model = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ManifestError(f"{where}: unknown manifest model {name!r}")
    return model


def parse_manifest(body: bytes, where: str, asset: str) -> BaseModel:
    """A manifest's model from its bytes; a corrupt one names where it is and what to redo."""
    try:
        envelope = json.loads(body)
        return _model(where, envelope.get("model", "")).model_validate(envelope["data"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError, ValidationError) as error:
        detail = str(error).splitlines()[0][:300]
        raise ManifestError(f"{where}: corrupt manifest ({type(error).__name__}: {detail}); "
                            f"re-materialize {asset} for this partition") from None


class ManifestReader:
    """The manifests on a store (local or S3: anything with read_object, write_object,
    list_objects and object_location), or, given a path, in that local folder (keys
    `<asset>/<drama>[/<episode>].json` under it)."""

    def __init__(self, store):
        if isinstance(store, (str, Path)):
            store, self.prefix = LocalArtifactStore(store), ""
        else:
            self.prefix = PREFIX
        self.store = store

    def _key(self, asset: str, drama: str, episode: str | None) -> str:
        return self.prefix + manifest_key(asset, drama, episode).removeprefix(PREFIX)

    def location(self, asset: str, drama: str, episode: str | None = None) -> str:
        """Where the manifest is: a path, or an s3:// URL (for messages)."""
        return self.store.object_location(self._key(asset, drama, episode))

    def load(self, asset: str, drama: str, episode: str | None = None) -> BaseModel | None:
        """The asset's manifest for a drama (or drama and episode); None if not materialized."""
        body = self.store.read_object(self._key(asset, drama, episode))
        return None if body is None else parse_manifest(body, self.location(asset, drama, episode), asset)

    def save(self, asset: str, drama: str, episode: str | None, value: BaseModel) -> str:
        """Writes the manifest whole (a reader sees the old one or the new one); returns where."""
        self.store.write_object(self._key(asset, drama, episode), dump_manifest(value))
        return self.location(asset, drama, episode)

    def partitions(self, asset: str) -> list[tuple[str, str | None]]:
        """(drama, episode) of every manifest of the asset; episode None for per-drama ones."""
        found = []
        for key in self.store.list_objects(f"{self.prefix}{asset}/"):
            parts = key[len(self.prefix) + len(asset) + 1:].removesuffix(".json").split("/")
            if all(_NAME.match(p) for p in parts) and len(parts) in (1, 2):
                found.append((parts[0], parts[1] if len(parts) == 2 else None))
        return found

    def dramas(self) -> list[str]:
        return sorted(drama for drama, episode in self.partitions("drama_script") if episode is None)

    def episodes(self, drama: str) -> list[str]:
        """The drama's planned episodes (those with a storyboard)."""
        manifest_key("storyboard", drama)  # a bad name is refused
        return sorted(e for d, e in self.partitions("storyboard") if d == drama and e)
