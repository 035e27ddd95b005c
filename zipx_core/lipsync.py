"""The dialogue sync pass over an episode's takes. A natively voiced take (native
dialogue: the model spoke the line, and the clip kept its sound) is checked: its speech
must be as long as the line's. A silent hosted take of a close or medium shot with
dialogue is sent to Kling's lip-sync with its lines' speech (the same speech the
episode's mix plays), and the synced clip replaces the take (when lip-sync is on).

It fails loudly, never silently out of sync: a shot it cannot sync (no face found,
several faces and no telling which speaks, lines from two speakers, speech whose length
disagrees with its line, a clip Kling cannot take, a result of the wrong length) keeps
its take and gets a LipSyncResult with status "review" and the reason; the gate reads
them with `review_reasons`, and with `synced_takes` sends a retake of a shot that was in
sync to review too (see the report record below). `cannot_lip_sync` says, before
anything is paid for, why lip-sync cannot run on an episode at all.

Paid work follows the house rules: the request hash (clip + speech + settings) names
the synced take, so it is made once; the lip-sync task id is saved before the first
poll ("lipsync_tasks"), so a re-run resumes instead of paying again; every call is
charged to the episode's ledger before it is made, and the budget can stop it."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from zipx_core.audio.dialogue import read_wav
from zipx_core.audio.sync import decode_audio
from zipx_core.generation import Budget, BudgetExceeded, GenerationSettings, _cached, _store_take
from zipx_core.media import MediaError, probe
from zipx_core.media.ffmpeg import Conform, conform_clips
from zipx_core.models import EpisodeAudio, ShotsManifest, ShotType, SpokenLine, Storyboard, Take
from zipx_core.providers import CAPABILITIES, ProviderError, SubmissionUnknown
from zipx_core.providers.kling_lipsync import MIN_AUDIO_S, Face, KlingLipSync, LipSyncJob, LipSyncRefused
from zipx_core.records import Records



class LipSyncSettings(BaseModel):
    """Which shots are synced and how strict the check is. Prices: Kling's pages gave
    none on 2026-12-03; these are placeholders to be set from the account's bill."""

    shot_types: list[ShotType] = [ShotType.CU, ShotType.MCU, ShotType.MS]  # a mouth big enough to read
    tolerance_s: float = Field(0.2, gt=0, description="most a length may disagree before the shot goes to review: "
                               "about 5 frames at 24 fps, where viewers notice speech leading or lagging lips")
    price_per_second_usd: float = Field(0.03, ge=0, description="placeholder, unconfirmed (2026-12-03)")
    identify_usd: float = Field(0.005, ge=0, description="identify-face call; placeholder, unconfirmed (2026-12-03)")
    # Kling's identify-face takes "only 720p and 1080p, with both width and height between 512px and 2160px"
    # (its API reference as mirrored by resellers, checked 2026-12-03)
    short_sides_px: list[int] = Field([720, 1080], description="720p or 1080p: the clip's shorter side")
    min_side_px: int = 512
    max_side_px: int = 2160
    min_clip_s: float = Field(2.0, description="Kling: clips of 2-60 s")
    concurrency: int = Field(5, ge=1)
    speech_floor_db: float = Field(30.0, gt=0, description="a natively voiced clip's speech: its 20 ms frames within this "
                                   "many dB of the loudest (and over -60 dBFS)")


class LipSyncResult(BaseModel):
    shot_id: str
    status: Literal["synced", "voiced", "review", "skipped"]  # voiced: natively voiced, its speech checked
    reason: str = ""
    request_hash: str = ""
    task_id: str | None = None
    cost_usd: float = 0.0


class LipSyncReport(BaseModel):
    drama: str
    episode: str
    results: list[LipSyncResult]

    def review(self) -> dict[str, str]:
        """shot_id -> why it is not in sync: for the gate to send to review."""
        return {r.shot_id: r.reason for r in self.results if r.status == "review"}

    def in_sync(self) -> dict[str, str]:
        """shot_id -> the request hash of its take whose dialogue is in sync (synced or voiced)."""
        return {r.shot_id: r.request_hash for r in self.results if r.status in ("synced", "voiced")}


class NeedsReview(Exception):
    """A shot that cannot be synced; its message is the reason a person reads."""


def _report(store, drama: str, episode: str) -> LipSyncReport:
    record = Records(store).lipsync(drama, episode).get()  # the episode's LipSyncReport
    return LipSyncReport.model_validate(record) if record else LipSyncReport(drama=drama, episode=episode, results=[])


def review_reasons(store, drama: str, episode: str) -> dict[str, str]:
    """For the gate: the shots of the episode the sync pass sent to review, with why."""
    return _report(store, drama, episode).review()


def synced_takes(store, drama: str, episode: str) -> dict[str, str]:
    """For the gate: shot_id -> the request hash of the take whose dialogue is in sync (a
    retake of the shot is not: lip-sync and the voice check ran on this take only)."""
    return _report(store, drama, episode).in_sync()


def cannot_lip_sync(width: int, height: int, has_keys: bool, can_give_urls: bool,
                    settings: LipSyncSettings = LipSyncSettings()) -> str | None:
    """Why lip-sync cannot run on this episode at all, said before anything is paid for
    (else every dialogue shot would end in review for the same reason); None when it can."""
    if not has_keys:
        return "lip_sync is on but Kling's keys are not set (KLING_ACCESS_KEY, KLING_SECRET_KEY); set them or turn lip_sync off"
    if not can_give_urls:
        return ("lip_sync is on but the artifact store is a local folder: Kling's lip-sync fetches each clip by URL, which "
                "only an S3 store gives (presigned). Set ZIPX_S3_BUCKET (ArtifactStore.s3_bucket) or turn lip_sync off")
    if problem := frame_problem(width, height, settings):
        return (f"lip_sync is on but the episode's frame is {width}x{height}: {problem} (its API reference, checked "
                "2026-12-03). Use the balanced or premium quality (1280x720, 1920x1080, or 9:16), or turn lip_sync off")
    return None


def frame_problem(width: int, height: int, settings: LipSyncSettings) -> str | None:
    """Why Kling's lip-sync would refuse clips of this size, or None."""
    short, long = sorted((width, height))
    if short in settings.short_sides_px and settings.min_side_px <= short and long <= settings.max_side_px:
        return None
    return (f"Kling's lip-sync takes {' or '.join(f'{p}p' for p in settings.short_sides_px)} clips with sides of "
            f"{settings.min_side_px}-{settings.max_side_px} px")


def skip_reason(shot, take: Take, lines: list[SpokenLine], settings: LipSyncSettings) -> str | None:
    """Why a shot is not for lip-sync, or None when it is."""
    if not lines:
        return "no dialogue"
    if shot.shot_type not in settings.shot_types:
        return f"{shot.shot_type.value} shot: the mouth is too small to sync"
    if take.provider not in CAPABILITIES:
        return f"{take.provider} take: lip-sync is for hosted takes only"
    return None


def heard_speech(clip: Path, floor_db: float, frame_s: float = 0.02) -> tuple[float, float] | None:
    """Where a clip's own sound speaks: from its first to its last 20 ms frame within
    `floor_db` of the loudest frame (and over -60 dBFS); None when it is silent."""
    samples, rate = decode_audio(clip)
    size = max(1, round(rate * frame_s))
    frames = np.asarray(samples[: len(samples) // size * size], dtype=np.float64).reshape(-1, size)
    if not len(frames):
        return None
    rms = np.sqrt((frames ** 2).mean(axis=1))
    loud = np.flatnonzero(rms >= max(rms.max() * 10 ** (-floor_db / 20), 1e-3))
    return (loud[0] * size / rate, (loud[-1] + 1) * size / rate) if len(loud) else None


def voiced_result(shot_id: str, take: Take, lines: list[SpokenLine], offsets: list[float], store,
                  settings: LipSyncSettings) -> LipSyncResult:
    """A natively voiced take against its lines: the model's speech must last as long as
    the lines do in the episode's timing (which the shot's length and subtitles follow)."""
    timed = max(o + line.duration_s for o, line in zip(offsets, lines)) - min(offsets)
    said = f"line {lines[0].source_line}" if len(lines) == 1 else f"lines {lines[0].source_line}-{lines[-1].source_line}"
    heard = heard_speech(store.path(take.clip_uri), settings.speech_floor_db)
    if heard is None:
        reason = f"native dialogue: {take.provider}'s clip is silent; {said} runs {timed:.2f}s"
    elif abs(heard[1] - heard[0] - timed) > settings.tolerance_s:
        reason = (f"native dialogue: {take.provider} speaks for {heard[1] - heard[0]:.2f}s ({heard[0]:.2f}-{heard[1]:.2f}s "
                  f"in the clip), {said} was timed at {timed:.2f}s")
    else:
        return LipSyncResult(shot_id=shot_id, status="voiced", request_hash=take.request_hash,
                             reason=f"{take.provider} speaks {heard[0]:.2f}-{heard[1]:.2f}s")
    return LipSyncResult(shot_id=shot_id, status="review", reason=reason, request_hash=take.request_hash)


def speech_track(lines: list[SpokenLine], offsets: list[float], store, clip_s: float,
                 tolerance_s: float) -> tuple[bytes, float, float, tuple[float, float]]:
    """One WAV of the shot's lines at their places, padded to Kling's 2 s minimum:
    (wav bytes, its length, where it goes in the clip, (speech start, speech end) in the clip)."""
    speeches = []
    for line in lines:
        speech = read_wav(store.path(line.speech_uri))
        if abs(speech.duration_s - line.duration_s) > tolerance_s:
            raise NeedsReview(f"line {line.source_line}: speech is {speech.duration_s:.2f}s, the line was timed "
                              f"at {line.duration_s:.2f}s")
        speeches.append(speech)
    rate = speeches[0].sample_rate
    start, end = offsets[0], max(o + s.duration_s for o, s in zip(offsets, speeches))
    if end > clip_s + tolerance_s:
        raise NeedsReview(f"speech runs to {end:.2f}s, the clip is {clip_s:.2f}s")
    length = max(end - start, MIN_AUDIO_S)
    insert = max(0.0, min(start, clip_s - length))  # a short line late in the clip: its padding goes before it
    track = np.zeros(round(length * rate), dtype=np.int32)
    for offset, speech in zip(offsets, speeches):
        samples = speech.samples if speech.sample_rate == rate else np.interp(
            np.arange(round(speech.duration_s * rate)) * speech.sample_rate / rate, np.arange(len(speech.samples)),
            speech.samples)
        at = round((offset - insert) * rate)
        track[at:at + len(samples)] += np.asarray(samples, dtype=np.int32)[: len(track) - at]
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.clip(track, -32768, 32767).astype("<i2").tobytes())
    return out.getvalue(), len(track) / rate, insert, (start, end)


def choose_face(faces: list[Face], speech: tuple[float, float], in_frame: int, speaker: str, tolerance_s: float) -> Face:
    """The face to sync: the only one, or review. Kling's faces carry no names, so with
    several people in frame we cannot tell the speaker's face from the others'."""
    start, end = speech
    seen = [f for f in faces if f.start_s < end and f.end_s > start]
    if len(seen) > 1 and in_frame > 1:
        raise NeedsReview(f"{len(seen)} faces found and {in_frame} people in frame: cannot tell which is {speaker}")
    if not seen:
        raise NeedsReview("no face visible while the line is spoken")
    face = max(seen, key=lambda f: min(f.end_s, end) - max(f.start_s, start))
    if face.start_s > start + tolerance_s or face.end_s < end - tolerance_s:
        raise NeedsReview(f"the face is visible {face.start_s:.2f}-{face.end_s:.2f}s, the speech runs {start:.2f}-{end:.2f}s")
    return face


def _request_hash(take: Take, wav: bytes, insert: float, settings: LipSyncSettings) -> str:
    payload = json.dumps({"lipsync": "kling-advanced-lip-sync", "clip": take.clip_sha256, "insert_s": round(insert, 3),
                          "speech": hashlib.sha256(wav).hexdigest(), "tolerance_s": settings.tolerance_s}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class LipSyncPass:
    """`client`: Kling's lip-sync, or None when lip-sync is off (voiced takes are still checked)."""

    def __init__(self, store, client: KlingLipSync | None, budget: Budget, settings: LipSyncSettings,
                 video_url: Callable[[str], str] | None, sleep=asyncio.sleep):
        self.store, self.client, self.budget, self.settings = store, client, budget, settings
        self.video_url, self.sleep = video_url, sleep
        self.slots = asyncio.Semaphore(settings.concurrency)

    def voiced(self, take: Take) -> bool:
        """Whether the take kept its own sound: a natively voiced clip (every other clip is silent)."""
        return probe(self.store.path(take.clip_uri)).has_audio

    async def shot(self, shot, take: Take, lines: list[SpokenLine], offsets: list[float]) -> tuple[LipSyncResult, Take]:
        if lines and await asyncio.to_thread(self.voiced, take):
            return await asyncio.to_thread(voiced_result, shot.shot_id, take, lines, offsets, self.store, self.settings), take
        skip = skip_reason(shot, take, lines, self.settings) or (None if self.client else "lip-sync is off")
        if skip:
            return LipSyncResult(shot_id=shot.shot_id, status="skipped", reason=skip), take
        try:
            return await self._sync(shot, take, lines, offsets)
        except (NeedsReview, LipSyncRefused, BudgetExceeded, ProviderError, MediaError) as error:
            return LipSyncResult(shot_id=shot.shot_id, status="review", reason=f"lip-sync: {error}"), take

    async def _sync(self, shot, take: Take, lines, offsets) -> tuple[LipSyncResult, Take]:
        speakers = sorted({line.character_id for line in lines})
        if len(speakers) > 1:
            raise NeedsReview(f"lines from {', '.join(speakers)}: Kling syncs one face per clip")
        info = await asyncio.to_thread(probe, self.store.path(take.clip_uri))
        if problem := frame_problem(info.width, info.height, self.settings):
            raise NeedsReview(f"clip is {info.width}x{info.height}; {problem}")
        if take.duration_s < self.settings.min_clip_s:
            raise NeedsReview(f"clip is {take.duration_s:.2f}s; Kling needs at least {self.settings.min_clip_s:.0f}s")
        wav, audio_s, insert, speech = speech_track(lines, offsets, self.store, take.duration_s, self.settings.tolerance_s)
        digest = _request_hash(take, wav, insert, self.settings)
        cost = round(self.settings.identify_usd + self.settings.price_per_second_usd * take.duration_s, 4)
        made = await asyncio.to_thread(_cached, self.store, digest)
        if made:
            return LipSyncResult(shot_id=shot.shot_id, status="synced", request_hash=digest, task_id=made.task_id,
                                 cost_usd=cost), made
        if self.video_url is None:
            raise NeedsReview("the artifact store cannot give Kling a URL for the clip (a local store)")
        async with self.slots:
            task_id = await self._task(shot.shot_id, take, digest, wav, audio_s, insert, speech, len(shot.characters),
                                       speakers[0])
            state = await self.client.wait(task_id, self.sleep)
        job_s = LipSyncJob(digest, "", "", b"", 0, 0, take.duration_s)
        with self.store.scratch_dir() as scratch:
            raw, clip = Path(scratch) / "synced.mp4", Path(scratch) / "clip.mp4"
            await self.client.download(state.video_url, raw, job_s)
            got = (await asyncio.to_thread(probe, raw)).duration_s
            if abs(got - take.duration_s) > self.settings.tolerance_s:
                raise NeedsReview(f"synced clip is {got:.2f}s, the take is {take.duration_s:.2f}s")
            (error,) = await asyncio.to_thread(conform_clips, [Conform(raw, clip, take.duration_s)], info.width, info.height,
                                               round(float(info.fps)))
            if error:
                raise error
            fields = take.model_dump(include={"shot_id", "attempt", "provider", "seed", "intended_provider",
                                              "estimated_cost_usd"})
            fields.update(model=f"{take.model}+lipsync", cost_usd=round(take.cost_usd + cost, 4), task_id=task_id)
            synced = await asyncio.to_thread(_store_take, self.store, clip, Path(scratch), fields, digest)
        return LipSyncResult(shot_id=shot.shot_id, status="synced", request_hash=digest, task_id=task_id, cost_usd=cost), synced

    async def _task(self, shot_id: str, take: Take, digest: str, wav: bytes, audio_s: float, insert: float,
                    speech: tuple[float, float], in_frame: int, speaker: str) -> str:
        """The lip-sync task's id: an earlier run's, or a new one (identified, charged, saved before polling)."""
        task = Records(self.store).lipsync_tasks(digest)
        record = await asyncio.to_thread(task.get) or {}
        if record.get("task_id"):
            return record["task_id"]
        if record.get("state") == "submitting":
            raise SubmissionUnknown(self.client.name, f"an earlier lip-sync of {shot_id} was sent and its answer lost; "
                                    "not sent again: check Kling's console")
        await self.budget.charge(digest + ":identify", self.settings.identify_usd, shot_id, stage="lip-sync")
        session, faces = await self.client.identify(self.video_url(take.clip_uri))
        face = choose_face(faces, speech, in_frame, speaker, self.settings.tolerance_s)
        await self.budget.charge(digest, round(self.settings.price_per_second_usd * take.duration_s, 4), shot_id, stage="lip-sync")
        record = {"shot_id": shot_id, "state": "submitting", "session_id": session, "face_id": face.face_id}
        await asyncio.to_thread(task.put, record)
        job = LipSyncJob(digest, session, face.face_id, wav, audio_s, insert, take.duration_s)
        try:
            task_id = await self.client.submit(job)
        except SubmissionUnknown:
            raise
        except ProviderError:  # refused or never delivered: nothing made, nothing to pay
            await asyncio.to_thread(task.put, {**record, "state": "not_sent"})
            await self.budget.refund(digest)
            raise
        await asyncio.to_thread(task.put, {**record, "state": "submitted", "task_id": task_id})
        return task_id


def shot_offsets(storyboard: Storyboard, audio: EpisodeAudio) -> dict[str, float]:
    """Where each shot starts in the episode (the speech-timed lengths, in order)."""
    starts, at = {}, 0.0
    for shot in storyboard.shots:
        starts[shot.shot_id] = at
        at += audio.shot_durations.get(shot.shot_id, shot.duration_s)
    return starts


async def lip_sync_episode(storyboard: Storyboard, audio: EpisodeAudio, manifest: ShotsManifest, store,
                           client: KlingLipSync | None, generation: GenerationSettings,
                           settings: LipSyncSettings = LipSyncSettings(), video_url: Callable[[str], str] | None = None,
                           sleep=asyncio.sleep) -> tuple[ShotsManifest, LipSyncReport]:
    """Every take of the episode through the pass, at once (bounded); the manifest with
    synced takes in place, and the report (also stored for the gate: a run with lip-sync
    off and no voiced takes stores one that holds nothing back)."""
    budget = Budget(store, storyboard.drama, storyboard.episode, generation)
    sync = LipSyncPass(store, client, budget, settings, video_url, sleep)
    shots, starts = {s.shot_id: s for s in storyboard.shots}, shot_offsets(storyboard, audio)

    def lines_of(shot_id: str) -> list[SpokenLine]:
        return [line for line in audio.lines if line.shot_id == shot_id]

    done = await asyncio.gather(*(
        sync.shot(shots[t.shot_id], t, lines_of(t.shot_id), [line.start_s - starts[t.shot_id] for line in lines_of(t.shot_id)])
        for t in manifest.takes))
    report = LipSyncReport(drama=storyboard.drama, episode=storyboard.episode, results=[r for r, _ in done])
    await asyncio.to_thread(Records(store).lipsync(storyboard.drama, storyboard.episode).put, report.model_dump(mode="json"))
    return manifest.model_copy(update={"takes": [t for _, t in done]}), report


def lip_sync_shots(storyboard: Storyboard, audio: EpisodeAudio, manifest: ShotsManifest, store,
                   make_client: Callable[[], KlingLipSync] | None, generation: GenerationSettings,
                   settings: LipSyncSettings = LipSyncSettings(), video_url=None) -> tuple[ShotsManifest, LipSyncReport]:
    """The synchronous entry point (the `shots` asset). `make_client` None: lip-sync is off."""

    async def run():
        client = make_client() if make_client else None
        try:
            return await lip_sync_episode(storyboard, audio, manifest, store, client, generation, settings, video_url)
        finally:
            if client:
                await client.aclose()

    return asyncio.run(run())
