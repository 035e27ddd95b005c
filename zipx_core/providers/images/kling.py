"""Kling's image models over its task API, with the video client's JWT (same account).

Checked on 2026-12-03 against Kling's API reference ("Image generation", "Multi-image
to image" and the capability map, as mirrored in WHQ25/rawgenai docs/research/kling,
and reseller copies: Qiniu, 302.ai, apifox):
- `POST /v1/images/generations` {model_name (kling-v1, kling-v1-5, kling-v2,
  kling-v2-new, kling-v2-1), prompt (<= 2500 chars), negative_prompt (not with an
  image), image (base64 without a data: prefix, or URL), image_reference (subject |
  face, kling-v1-5 only), image_fidelity (0-1, default 0.5), human_fidelity (0-1,
  default 0.45, subject only), n (1-9), aspect_ratio (16:9, 9:16, 1:1, 4:3, 3:4, 3:2,
  2:3, 21:9), external_task_id (unique per account), callback_url}; poll
  `GET /v1/images/generations/{task_id}`.
- Several references need the separate `POST /v1/images/multi-image2image`
  {model_name kling-v2 | kling-v2-1, prompt, subject_image_list: 1-4
  [{subject_image}], scene_image, style_image, n, aspect_ratio, external_task_id};
  poll `GET /v1/images/multi-image2image/{task_id}`. On kling-v2/v2-1 a single `image`
  on /generations is a restyle of that image, not a reference: so v2.x with any
  references goes to multi-image2image, kling-v1-5 with one goes to /generations as a
  subject reference.
- `task_status` submitted, processing, succeed, failed (`task_status_msg`); the result
  `data.task_result.images[].url` (kept 30 days); code 1300/1301 is a refusal.
Not confirmed: which failure messages mean "content refused" (we look for risk, policy,
sensitive, as the video client does), and the per-image price on Kling's own pages
(the table in images/__init__.py comes from a reseller). All references go in as
subjects: Kling's `scene_image` would suit a location plate, but a reference carries
no kind."""

from __future__ import annotations

import logging

from zipx_core.providers.base import TaskState
from zipx_core.providers.images.base import AsyncImageProvider, ImageJob
from zipx_core.providers.kling import POLICY_CODES, KlingProvider, jwt_token, submit_task, task_state

log = logging.getLogger("zipx.providers")
PROMPT_LIMIT = 2500
SUBJECT_MODELS = ("kling-v1-5",)  # take one reference as `image_reference: subject` on /generations


class KlingImageProvider(AsyncImageProvider):
    name = "kling_image"
    default_base_url = KlingProvider.default_base_url
    download_hosts = KlingProvider.download_hosts
    max_reference_images = 4

    def __init__(self, access_key: str, secret_key: str, **kwargs):
        if not secret_key:
            raise ValueError("kling_image: no secret key")
        self._secret = secret_key
        super().__init__(access_key, **kwargs)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {jwt_token(self._key, self._secret)}"}

    def policy_rejection(self, status: int, body: dict) -> str | None:
        return body.get("message", "refused") if body.get("code") in POLICY_CODES else None

    def estimate_cost(self, job: ImageJob) -> float:  # type: ignore[override]
        """Kling prices an image made from references higher than one from text alone."""
        key = f"{job.model}@references" if job.references else job.model
        return round(self.prices.get(key, 0.0), 4)

    @staticmethod
    def route(job: ImageJob) -> str:
        return "multi-image2image" if job.references and job.model not in SUBJECT_MODELS else "generations"

    def body(self, job: ImageJob) -> dict:
        if len(job.prompt) > PROMPT_LIMIT:
            log.warning("kling_image: a prompt of %d characters cut to Kling's %d", len(job.prompt), PROMPT_LIMIT)
        body = {"model_name": job.model, "prompt": job.prompt[:PROMPT_LIMIT], "n": 1, "aspect_ratio": job.aspect_ratio}
        if job.key:
            body["external_task_id"] = job.key[:64]  # unique per account: a resent ask is refused, not paid twice
        images = [reference.url or reference.base64 for reference in job.references[: self.max_reference_images]]
        if self.route(job) == "multi-image2image":
            return {**body, "subject_image_list": [{"subject_image": image} for image in images]}
        if images:  # kling-v1-5: one still as a subject reference
            return {**body, "image": images[0], "image_reference": "subject", "image_fidelity": 0.5, "human_fidelity": 0.45}
        return {**body, "negative_prompt": job.negative_prompt[:PROMPT_LIMIT]}

    async def submit_image(self, job: ImageJob) -> str:
        return await submit_task(self, "images", self.route(job), self.body(job))

    async def poll(self, task_id: str) -> TaskState:
        return task_state(self, task_id, await self.call("GET", f"v1/images/{task_id}"), "images")
