"""HappyHorse on Alibaba Cloud DashScope video synthesis (Bearer key, `X-DashScope-Async:
enable`).

Checked on 2026-11-24 against the DashScope/Qwen Cloud HappyHorse reference: submit
answers `output.task_id` (valid 24 h); `output.task_status` PENDING, RUNNING,
SUCCEEDED, FAILED, CANCELED, UNKNOWN (expired); the video at `output.video_url`, kept
24 h; a refusal is FAILED with code DataInspectionFailed (or a 400 with that code).
Prompts over 5,000 characters are cut silently by the service: we cut them ourselves
and warn. Audio is always generated (replaced downstream). r2v takes 1–9 reference
images (URLs: a presigned store URL where the store can make one).

Checked on 2026-12-03 against Alibaba's "HappyHorse image-to-video (first frame) API
reference" (alibabacloud.com, Qwen Cloud docs): model `happyhorse-1.0-i2v`, the same
video-synthesis route, `input.media` = exactly one `{"type": "first_frame", "url"}`, no
`ratio` (the clip follows the image). `happyhorse-1.1-i2v` is named by a reseller
(GMI Cloud), not seen on Alibaba's page. The url may be a data:image/png;base64 URI
according to resellers quoting the parameter table (vtrix, SeaArt); Alibaba's own
excerpt shows only a public URL, so a presigned URL is sent when the store has one.

Sound, checked on 2026-12-03 (resellers quoting DashScope's table: APIYI, Cloudsway,
ModelStream): there is no sound parameter (every clip has sound: dialogue, effects,
music) and no audio input: `input.media[].type` is first_frame, reference_image or video
(i2v says "no audio-driven support"). So nothing is sent for sound and no voice sample
can go with a request; the conform keeps the clip's sound for a natively voiced request
and drops it otherwise."""

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

    def media(self, job: Job) -> tuple[str, list[dict]]:
        """The model variant and its media: i2v takes exactly one first frame (so a keyframe
        wins over references), r2v 1-9 reference images by URL, t2v none."""
        if job.first_frame:
            url = job.first_frame_url or f"data:image/png;base64,{job.first_frame_base64}"
            return "i2v", [{"type": "first_frame", "url": url}]
        references = job.reference_urls[: self.capabilities.max_reference_images]
        return ("r2v" if references else "t2v"), [{"type": "reference_image", "url": url} for url in references]

    def body(self, job: Job) -> dict:
        request = job.request
        variant, media = self.media(job)
        parameters = {"resolution": job.resolution, "ratio": job.aspect_ratio, "duration": job.duration_s,
                      "seed": request.seed, "watermark": False}
        if variant == "i2v":
            del parameters["ratio"]  # i2v takes no ratio: the clip has its first frame's aspect
        return {
            "model": f"{job.model}-{variant}",
            "input": {"prompt": self.prompt(request.prompt, request.shot_id), **({"media": media} if media else {})},
            "parameters": parameters,
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
