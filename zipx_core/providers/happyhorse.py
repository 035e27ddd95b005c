"""HappyHorse on Alibaba Cloud DashScope video synthesis (Bearer key, `X-DashScope-Async:
enable`).

Checked on 2026-11-24 against the DashScope/Qwen Cloud HappyHorse reference: submit
answers `output.task_id` (valid 24 h); `output.task_status` PENDING, RUNNING,
SUCCEEDED, FAILED, CANCELED, UNKNOWN (expired); the video at `output.video_url`, kept
24 h; a refusal is FAILED with code DataInspectionFailed (or a 400 with that code).
Prompts over 5,000 characters are cut silently by the service: we cut them ourselves
and warn. Audio is always generated (replaced downstream). r2v takes 1–9 reference
images (URLs: a presigned store URL where the store can make one)."""

from __future__ import annotations

import logging

from zipx_core.providers.base import Capabilities, ContentPolicyRejected, HostedProvider, Job, TaskFailed, TaskState

log = logging.getLogger("zipx.providers")
PROMPT_LIMIT = 5000
POLICY_CODES = {"DataInspectionFailed", "DataInspection", "IPInfringementSuspect"}


class HappyHorseProvider(HostedProvider):
    name = "happyhorse"
    default_base_url = "https://dashscope-intl.aliyuncs.com"
    download_hosts = ("aliyuncs.com",)
    capabilities = Capabilities(durations_s=tuple(range(3, 16)), max_reference_images=9, first_frame=True,
                                native_audio=True, resolutions=("480P", "720P", "1080P"))

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}", "X-DashScope-Async": "enable"}

    def policy_rejection(self, status: int, body: dict) -> str | None:
        return body.get("code") if body.get("code") in POLICY_CODES else None

    def prompt(self, text: str, shot_id: str) -> str:
        if len(text) > PROMPT_LIMIT:
            log.warning("happyhorse: prompt of %s is %d characters; cut to the service's %d", shot_id, len(text), PROMPT_LIMIT)
            return text[:PROMPT_LIMIT]
        return text

    def body(self, job: Job) -> dict:
        request = job.request
        references = job.reference_urls[: self.capabilities.max_reference_images]
        variant = "r2v" if references else "t2v"
        return {
            "model": f"{job.model}-{variant}",
            "input": {"prompt": self.prompt(request.prompt, request.shot_id),
                      **({"media": [{"type": "reference_image", "url": url} for url in references]} if references else {})},
            "parameters": {"resolution": job.resolution, "ratio": job.aspect_ratio,
                           "duration": job.duration_s, "seed": request.seed, "watermark": False},
        }

    async def submit(self, job: Job) -> str:
        answer = await self.call("POST", "api/v1/services/aigc/video-generation/video-synthesis", self.body(job))
        return self.field(answer, "output", "task_id")

    async def poll(self, task_id: str) -> TaskState:
        answer = await self.call("GET", f"api/v1/tasks/{task_id}")
        status = self.field(answer, "output", "task_status")
        if status == "SUCCEEDED":
            return TaskState("succeeded", self.field(answer, "output", "video_url"), status)
        if status in ("PENDING", "RUNNING"):
            return TaskState("running", raw_status=status)
        output = answer["output"]
        if output.get("code") in POLICY_CODES:
            raise ContentPolicyRejected(self.name, f"task {task_id}: content refused: {output.get('code')}")
        reason = {"UNKNOWN": "expired or unknown"}.get(status, status.lower())
        raise TaskFailed(self.name, f"task {task_id} {reason}: {output.get('message', '')}".rstrip(": "))
