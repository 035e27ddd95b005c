"""Seedance on BytePlus ModelArk content-generation tasks (Bearer key).

Checked on 2026-11-24 against ModelArk's video generation API documentation (and the
Bifrost and TanStack adapters that follow it): `status` is queued, running,
succeeded, failed, cancelled or expired; a refusal comes back as a failed task whose
`error.code` names sensitive content. Billed by output tokens = width × height × fps ×
seconds / 1024, so the price table holds dollars per second at each resolution.

Checked on 2026-12-03 against ModelArk's video generation tutorial (Chinese edition, as
mirrored in WHQ25/rawgenai docs/research/seed/video): a first frame is a content item
`{"type": "image_url", "image_url": {"url": ...}, "role": "first_frame"}`;
seedance-1-0-pro does first-frame (and first+last-frame) generation, while reference
images (`role: reference_image`, 1-4) belong to seedance-1-0-lite-i2v only.

Sound, checked on 2026-12-03 (ModelArk's own page was not in reach; resellers that mirror
its parameter table: Ace Data, 302.AI, Novita, Azerion, and the byteplus-py SDK):
`generate_audio` (boolean) makes sound with the video on seedance-1-5-pro (251215) and
the Seedance 2.0 models, is ignored by the others (1.0 pro, which the router uses, is
silent), and defaults to true on 1.5 pro (a paid extra: about twice the silent price per
token, 302.AI's table). So it is sent to the sound models only, true for a natively voiced
request and false otherwise. Reference audio (`audio_url` content) is a Seedance 2.0 input
only; 1.0 and 1.5 pro take text and images, so no voice sample is sent."""

from __future__ import annotations

from zipx_core.prompting import speaks_natively
from zipx_core.providers.base import Capabilities, ContentPolicyRejected, HostedProvider, Job, TaskFailed, TaskState

SOUND_MODELS = ("seedance-1-5-pro", "dreamina-seedance-2")  # those that take generate_audio (model id prefixes)


def _is_policy(code: str) -> bool:
    return "sensitive" in code.lower() or "policy" in code.lower()


class SeedanceProvider(HostedProvider):
    name = "seedance"
    default_base_url = "https://ark.ap-southeast.bytepluses.com"
    download_hosts = ("bytepluses.com", "byteplus.com", "volces.com", "tos-ap-southeast-1.bytepluses.com")
    capabilities = Capabilities(durations_s=tuple(range(2, 13)), max_reference_images=4, first_frame=True,
                                native_audio=False, resolutions=("480p", "720p", "1080p"))

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def policy_rejection(self, status: int, body: dict) -> str | None:
        code = str((body.get("error") or {}).get("code", ""))
        return code if _is_policy(code) else None

    def images(self, job: Job) -> list[dict]:
        """The content's image items. First-frame and reference-image generation are separate
        modes (seedance-1-0-pro takes no reference images at all): a first frame wins."""
        if job.first_frame:
            url = job.first_frame_url or f"data:image/png;base64,{job.first_frame_base64}"
            return [{"type": "image_url", "image_url": {"url": url}, "role": "first_frame"}]
        images = job.reference_urls or [f"data:image/png;base64,{image}" for image in job.reference_base64]
        return [{"type": "image_url", "image_url": {"url": url}, "role": "reference_image"}
                for url in images[: self.capabilities.max_reference_images]]

    def audio(self, job: Job) -> dict:
        """The sound option, for the models that make sound: on for a natively voiced request."""
        return {"generate_audio": speaks_natively(job.request)} if job.model.startswith(SOUND_MODELS) else {}

    def body(self, job: Job) -> dict:
        request = job.request
        content: list[dict] = [{"type": "text", "text": request.prompt}, *self.images(job)]
        return {
            "model": job.model,
            "content": content,
            "resolution": job.resolution,
            "ratio": job.aspect_ratio,
            "duration": job.duration_s,
            "seed": request.seed,
            **self.audio(job),
        }

    async def submit(self, job: Job) -> str:
        return self.field(await self.call("POST", "api/v3/contents/generations/tasks", self.body(job)), "id")

    async def poll(self, task_id: str) -> TaskState:
        answer = await self.call("GET", f"api/v3/contents/generations/tasks/{task_id}")
        status = self.field(answer, "status")
        if status == "succeeded":
            return TaskState("succeeded", self.field(answer, "content", "video_url"), status)
        if status in ("queued", "running"):
            return TaskState("running", raw_status=status)
        if status in ("failed", "cancelled", "expired"):
            error = answer.get("error") or {}
            if _is_policy(str(error.get("code", ""))):
                raise ContentPolicyRejected(self.name, f"task {task_id}: content refused: {error.get('code')}")
            raise TaskFailed(self.name, f"task {task_id} {status}: {error.get('message', '')}".rstrip(": "))
        raise TaskFailed(self.name, f"task {task_id}: unknown status {status!r}")
