"""The store's records, each kind declared once: its kind, how its name is built from its
parts, and what it holds.

A record is a small JSON object at `records/<kind>/<name>.json` on the artifact store
(zipx_core.storage). Code names a record through `Records`, never by spelling its kind
and key itself, so a writer and every reader (runs, CLI, review room) agree on where it is:

    records = Records(store)
    records.still_approvals(drama).get()
    records.review(drama, episode).put({...})
    records.image_tasks.names()        # every image task's request hash
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from zipx_core.naming import slug


# How a record's name is built from its parts: one function per shape of key.
def by_drama(drama: str) -> str:
    return drama


def by_episode(drama: str, episode: str) -> str:
    return f"{drama}__{episode}"


def by_hash(digest: str) -> str:
    """A request's hash: the record of one paid (or cached) call."""
    return digest


def by_slug(name: str) -> str:
    """A free name made a slug (an embedder's name: `open_clip:ViT-B-32` -> `open_clip_vit_b_32`)."""
    return slug(name)


@dataclass(frozen=True)
class Record:
    """One record on one store."""

    store: object  # zipx_core.storage.ArtifactStore
    kind: str
    name: str

    def get(self) -> dict | None:
        return self.store.get_record(self.kind, self.name)

    def put(self, value: dict) -> None:
        self.store.put_record(self.kind, self.name, value)

    def update(self, change: Callable[[dict | None], dict | None]) -> dict | None:
        """Read, change and write as one step for every writer (see the store's update_record)."""
        return self.store.update_record(self.kind, self.name, change)


@dataclass(frozen=True)
class KindOnStore:
    """A record kind on a store: call it with the key's parts for one record."""

    store: object
    kind: RecordKind

    def __call__(self, *parts: str) -> Record:
        return Record(self.store, self.kind.kind, self.kind.name(*parts))

    def names(self) -> list[str]:
        """The names of this kind's records, sorted."""
        return self.store.list_records(self.kind.kind)


@dataclass(frozen=True)
class RecordKind:
    """A kind of record: a class attribute of `Records`, bound to its store when read."""

    kind: str
    name: Callable[..., str]  # the record's name from its parts
    holds: str  # what it holds, for a person reading the store

    def __get__(self, records: Records | None, owner=None):
        return self if records is None else KindOnStore(records.store, self)


class Records:
    """Every kind of record ZipX keeps, on one store."""

    def __init__(self, store):
        self.store = store

    # generation: each paid call recorded before it is paid, each result once
    takes = RecordKind("takes", by_hash, "a finished request's Take (zipx_core.models.Take)")
    shot_takes = RecordKind("shot_takes", by_hash, "{request_hash}: the take a shot's request made at a quality")
    tasks = RecordKind("tasks", by_hash, "a hosted video submission: provider, model, shot_id, state, task_id")
    image_tasks = RecordKind("image_tasks", by_hash, "a hosted image submission: provider, model, label, state, task_id")
    stills = RecordKind("stills", by_hash, "a hosted still made once: uri, cost_usd, source, label")
    lipsync_tasks = RecordKind("lipsync_tasks", by_hash, "a lip-sync submission: state, task_id")
    speech = RecordKind("speech", by_hash, "a spoken line: uri, duration_s, engine, words, cost_usd")
    llm_answers = RecordKind("llm_answers", by_hash, "an LLM reading of a script chunk: model, reading")
    spend = RecordKind("spend", by_drama, "the drama's ledger: {charges: {key: {usd, stage, episode, ...}}}")
    # the drama's script, as the script-drop sensor published it from the inbox
    scripts = RecordKind("scripts", by_drama, "{uri, name}: the script's zip on the store and its file or folder name")
    # the drama's look and cast, as people and runs decided it
    references = RecordKind("references", by_drama, "the locked ReferenceSet (zipx_core.models.ReferenceSet)")
    reference_looks = RecordKind("reference_looks", by_drama, "the looks the references were locked from")
    still_approvals = RecordKind("still_approvals", by_drama, "slot -> {uri, by, at}: a person's choice of candidate")
    rerolls = RecordKind("rerolls", by_drama, "character id -> re-rolls asked for in the review room")
    cast_sheet = RecordKind("cast_sheet", by_drama, "a person's edits and approvals (zipx_core.bible.cast_sheet.CastRecord)")
    voices = RecordKind("voices", by_drama, "character id -> LockedVoice (zipx_core.bible.voices)")
    engine_voices = RecordKind("engine_voices", by_drama, "engine -> character id -> EngineVoice (zipx_core.bible.voices)")
    # per episode: what people and the gate decided
    review = RecordKind("review", by_episode, "shot id -> ReviewDecision (zipx_core.qa.review)")
    replans = RecordKind("replans", by_episode, "scene number -> times re-planned")
    renamed_shots = RecordKind("renamed_shots", by_episode, "an earlier shot id -> its ids after re-plans")
    lipsync = RecordKind("lipsync", by_episode, "the episode's LipSyncReport (zipx_core.lipsync)")
    # calibration
    thresholds = RecordKind("thresholds", by_slug, "an embedder's continuity Thresholds (zipx_core.qa.checks)")

    @classmethod
    def kinds(cls) -> dict[str, RecordKind]:
        """Every kind, by attribute name."""
        return {name: value for name, value in vars(cls).items() if isinstance(value, RecordKind)}
