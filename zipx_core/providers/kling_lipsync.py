"""Kling's audio-driven lip-sync: a silent clip and a line's speech in, the same clip
with the speaker's mouth moving to the speech out. Same JWT auth, retries, typed errors
and allow-listed download as the Kling video client (it is one, with other routes).

The protocol, checked on 2026-12-03 with the search tool against Kling's API reference
("Lip-Sync" page of the Kling developer docs, Kling 3.0 era, as mirrored publicly) and
resellers quoting it:
- `POST /v1/videos/identify-face` `{video_id | video_url}` (one of the two) answers at
  once with `data.session_id` and `data.face_data[{face_id, face_image, start_time,
  end_time}]` (milliseconds). Billed (`final_unit_deduction`). An empty `face_data` is
  "no face found": we raise LipSyncRefused.
- `POST /v1/videos/advanced-lip-sync` `{session_id, face_choose: [{face_id, sound_file
  (base64 or URL) | audio_id, sound_start_time, sound_end_time, sound_insert_time,
  sound_volume, original_audio_volume}], external_task_id, callback_url}` answers
  `data.task_id`, `task_status`. One face per task ("currently only supports one person").
- Video: .mp4/.mov, <= 100 MB, 2-60 s, "only 720p and 1080p, with both width and height
  between 512px and 2160px" (identify-face's video_url, as three resellers quote Kling's
  table, rechecked 2026-12-03). Audio: mp3/wav/m4a/aac, <= 5 MB, 2-60 s (a shorter line
  is padded with silence to 2 s).
- Poll `GET /v1/videos/advanced-lip-sync/{task_id}`: `task_status` submitted,
  processing, succeed, failed; `task_result.videos[0].{id, url, duration}`.

Not confirmed in Kling's own text: the poll path (resellers give it; Kling's page shows
only the create call), the error code for "no face" (a reseller quotes the message
"there is no human in the video"; we match face/human in a 4xx message), the session's
lifetime (a reseller says 24 h), and the price (none found on Kling's pages; the price
is configuration). The older one-step `POST /v1/videos/lip-sync` `{input: {video_id |
video_url, mode: audio2video, audio_type: file|url, audio_file | audio_url}}` is not
used: Kling's current reference documents the two-step pair above."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from zipx_core.providers.base import ProviderError, RequestRejected, TaskFailed, TaskState
from zipx_core.providers.kling import KlingProvider, task_state

MIN_AUDIO_S = 2.0  # Kling refuses sound shorter than this
MAX_AUDIO_BYTES = 5 * 1024 * 1024


class LipSyncRefused(ProviderError):
    """Kling would not sync this clip (no face found, no usable face, refused input):
    the shot goes to review with this reason; trying again cannot help."""


@dataclass(frozen=True)
class Face:
    face_id: str
    start_s: float  # where the face is visible in the clip
    end_s: float


@dataclass
class LipSyncJob:
    key: str  # the request hash: external_task_id, unique per account
    session_id: str
    face_id: str
    audio_wav: bytes  # the speech, already padded to MIN_AUDIO_S
    audio_s: float
    insert_s: float  # where the speech starts in the clip
    duration_s: float  # the clip's length: what the result must be (download checks it)


class KlingLipSync(KlingProvider):
    name = "kling_lipsync"

    async def identify(self, video_url: str) -> tuple[str, list[Face]]:
        """The session id and the faces Kling found in the clip; LipSyncRefused if none."""
        try:
            answer = await self.call("POST", "v1/videos/identify-face", {"video_url": video_url})
        except RequestRejected as error:
            if any(word in str(error).lower() for word in ("face", "human")):
                raise LipSyncRefused(self.name, f"no face found: {error}", error.status) from None
            raise
        session = self.field(answer, "data", "session_id")
        faces = [Face(str(f["face_id"]), f.get("start_time", 0) / 1000, f.get("end_time", 0) / 1000)
                 for f in answer["data"].get("face_data") or []]
        if not faces:
            raise LipSyncRefused(self.name, "no face found in the clip")
        return session, faces

    def body(self, job: LipSyncJob) -> dict:
        if len(job.audio_wav) > MAX_AUDIO_BYTES:
            raise LipSyncRefused(self.name, f"speech is {len(job.audio_wav)} bytes, over Kling's 5 MB")
        return {
            "session_id": job.session_id,
            "face_choose": [{
                "face_id": job.face_id,
                "sound_file": base64.b64encode(job.audio_wav).decode(),
                "sound_start_time": 0,
                "sound_end_time": round(job.audio_s * 1000),
                "sound_insert_time": round(job.insert_s * 1000),
                "sound_volume": 1,
                "original_audio_volume": 0,  # the clip is silent; the episode's mix carries the speech
            }],
            "external_task_id": job.key[:64],
        }

    async def submit(self, job: LipSyncJob) -> str:
        answer = await self.call("POST", "v1/videos/advanced-lip-sync", self.body(job))
        return str(self.field(answer, "data", "task_id"))

    async def poll(self, task_id: str) -> TaskState:
        answer = await self.call("GET", f"v1/videos/advanced-lip-sync/{task_id}")
        return task_state(self, task_id, answer, "videos", refused=_no_face)


def _no_face(client, task_id: str, message: str) -> Exception | None:
    """A lip-sync task refused for want of a face is the clip's fault, not a retry's."""
    if any(word in message.lower() for word in ("face", "human")):
        return LipSyncRefused(client.name, f"task {task_id}: {message}")
    return None
