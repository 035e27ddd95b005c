"""Kling over its task API, authenticated with a JWT (HS256, signed with the secret key;
claims iss = access key, exp = now + 30 min, nbf = now - 5 s) made fresh per call.

Checked on 2026-11-24 against Kling's API documentation as quoted by open-source
clients: `duration` is the string "5" or "10"; `task_status` is submitted, processing,
succeed or failed; error code 1300/1301 (HTTP 400) is a content-policy refusal. There
is no seed: the attempt number does not change what Kling makes.

Checked on 2026-12-03 (Kling's image-to-video reference as mirrored in WHQ25/rawgenai
docs/research/kling): `image` on /v1/videos/image2video IS the first frame (base64
without a data: prefix, or a URL; >= 300 px, aspect 1:2.5 to 2.5:1). A job with a first
frame sends the keyframe there; without one, the first reference still goes there as
before (image2video takes one image, so other references cannot be sent)."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt

from zipx_core.providers.base import Capabilities, ContentPolicyRejected, HostedProvider, Job, TaskFailed, TaskState

POLICY_CODES = {1300, 1301}
PolicyCheck = Callable[[HostedProvider, str, str], Exception | None]


def refused_by_policy(client: HostedProvider, task_id: str, message: str) -> Exception | None:
    if any(word in message.lower() for word in ("risk", "policy", "sensitive")):
        return ContentPolicyRejected(client.name, f"task {task_id}: content refused: {message}")
    return None


def task_state(client: HostedProvider, task_id: str, answer: dict, results: str,
               refused: PolicyCheck = refused_by_policy) -> TaskState:
    """A Kling task poll's answer read the same way for every Kling API (videos, images,
    lip-sync): the first result's URL, still running, or the failure typed by `refused`."""
    status = client.field(answer, "data", "task_status")
    if status == "succeed":
        return TaskState("succeeded", client.field(answer, "data", "task_result", results, 0, "url"), status)
    if status in ("submitted", "processing"):
        return TaskState("running", raw_status=status)
    if status == "failed":
        message = answer["data"].get("task_status_msg") or "failed"
        raise refused(client, task_id, message) or TaskFailed(client.name, f"task {task_id} failed: {message}")
    raise TaskFailed(client.name, f"task {task_id}: unknown status {status!r}")


async def submit_task(client: HostedProvider, kind: str, route: str, body: dict) -> str:
    """One Kling task submitted (`kind`: videos or images); its id carries the route,
    which the poll's path needs."""
    answer = await client.call("POST", f"v1/{kind}/{route}", body)
    return f"{route}/{client.field(answer, 'data', 'task_id')}"


def jwt_token(access_key: str, secret_key: str, now: float | None = None) -> str:
    """Kling's API token, shared by every Kling client (video, lip-sync, images)."""
    now = int(now or time.time())
    return jwt.encode({"iss": access_key, "exp": now + 1800, "nbf": now - 5}, secret_key, algorithm="HS256",
                      headers={"typ": "JWT"})


class KlingProvider(HostedProvider):
    name = "kling"
    default_base_url = "https://api-beijing.klingai.com"
    download_hosts = ("klingai.com", "kuaishou.com", "kling.ai")
    capabilities = Capabilities(durations_s=(5, 10), max_reference_images=1, first_frame=True, native_audio=False,
                                resolutions=("720p", "1080p"))

    def __init__(self, access_key: str, secret_key: str, **kwargs):
        if not secret_key:
            raise ValueError("kling: no secret key")
        self._secret = secret_key
        super().__init__(access_key, **kwargs)

    def token(self, now: float | None = None) -> str:
        return jwt_token(self._key, self._secret, now)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def policy_rejection(self, status: int, body: dict) -> str | None:
        return body.get("message", "refused") if body.get("code") in POLICY_CODES else None

    @staticmethod
    def route(job: Job) -> str:
        return "image2video" if job.first_frame or job.reference_images else "text2video"

    def body(self, job: Job) -> dict:
        model, _, mode = job.model.partition(":")  # "kling-v2-6:pro"
        body = {
            "model_name": model,
            "prompt": job.request.prompt,
            "negative_prompt": job.request.negative_prompt,
            "cfg_scale": 0.5,
            "mode": mode or "std",
            "duration": str(job.duration_s),
            "aspect_ratio": job.aspect_ratio,
            "external_task_id": (job.key or job.request.shot_id)[:64],  # unique per account: one per request
        }
        if job.first_frame:  # image2video's `image` is the clip's first frame: the approved keyframe
            body["image"] = job.first_frame_base64
        elif job.reference_images:
            body["image"] = job.reference_base64[0]
        return body

    async def submit(self, job: Job) -> str:
        return await submit_task(self, "videos", self.route(job), self.body(job))

    async def poll(self, task_id: str) -> TaskState:
        return task_state(self, task_id, await self.call("GET", f"v1/videos/{task_id}"), "videos")
