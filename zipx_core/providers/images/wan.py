"""Wan image models on Alibaba Cloud DashScope (Model Studio), asynchronous: Bearer key
(the HappyHorse account), header `X-DashScope-Async: enable`, a task polled at
`GET {base}/api/v1/tasks/{task_id}`.

Checked on 2026-12-03 against Alibaba's "Wan text-to-image V2 API reference" and
"Image editing - Wan2.5" (alibabacloud.com) and the Qwen Cloud API reference
(docs.qwencloud.com: "Wan v2 - Retrieve image result", "Wan 2.5 - Edit an image"):
- text to image: `POST /api/v1/services/aigc/text2image/image-synthesis` {model
  (wan2.5-t2i-preview, wan2.2-t2i-flash/plus, ...), input {prompt, negative_prompt},
  parameters {size "W*H", n, seed, prompt_extend, watermark}}; wan2.5 takes any size of
  total pixels in [768*768, 1440*1440] and aspect in [1:4, 4:1] (2.2 and older: each
  side 512-1440, so only 2.5 is used here).
- with references: `POST /api/v1/services/aigc/image2image/image-synthesis` {model
  wan2.5-i2i-preview, input {prompt, images: 1-3 (public URL or data:{mime};base64,...),
  negative_prompt}, parameters {size, n, seed, watermark}}; its size range is
  [768*768, 1280*1280] (the Comfy Router's copy of the schema), and without `size` the
  image takes the last input's aspect, so we always send one.
- submit answers `output.task_id` (valid 24 h) and `task_status`; statuses PENDING,
  RUNNING, SUCCEEDED, FAILED, CANCELED, UNKNOWN (task expired); images at
  `output.results[].url` (kept 24 h); a result that failed alone carries `code`.
- `prompt_extend` (default true) rewrites the prompt with an LLM: off, our prompts name
  the cast's features on purpose.
Not confirmed on Alibaba's pages: the refusal codes for images (we treat
DataInspectionFailed / IPInfringementSuspect as for HappyHorse), the prompt length
limits (copies disagree: 800 or 2000 characters; the service cuts silently), the
per-image price (images/__init__.py gives a reseller's), and any idempotency key
(none documented: a lost answer is SubmissionUnknown). Qwen-Image models answer on the
synchronous multimodal-generation route instead and are not used here."""

from __future__ import annotations

from zipx_core.providers.base import ContentPolicyRejected, TaskFailed, TaskState
from zipx_core.providers.happyhorse import POLICY_CODES, HappyHorseProvider
from zipx_core.providers.images.base import AsyncImageProvider, ImageJob, fitted_size

EDIT_MODEL = "wan2.5-i2i-preview"  # the image-editing model a job with references goes to
PIXELS = {"text2image": (768 * 768, 1440 * 1440), "image2image": (768 * 768, 1280 * 1280)}


class WanImageProvider(AsyncImageProvider):
    name = "wan_image"
    default_base_url = HappyHorseProvider.default_base_url
    download_hosts = HappyHorseProvider.download_hosts
    max_reference_images = 3

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}", "X-DashScope-Async": "enable"}

    def policy_rejection(self, status: int, body: dict) -> str | None:
        return body.get("code") if body.get("code") in POLICY_CODES else None

    def estimate_cost(self, job: ImageJob) -> float:  # type: ignore[override]
        return round(self.prices.get(self.model_for(job), 0.0), 4)

    @staticmethod
    def route(job: ImageJob) -> str:
        return "image2image" if job.references else "text2image"

    def model_for(self, job: ImageJob) -> str:
        """The dial names a text-to-image model; references need the editing model."""
        return EDIT_MODEL if job.references and "-i2i-" not in job.model else job.model

    def body(self, job: ImageJob) -> dict:
        route = self.route(job)
        width, height = fitted_size(job.width, job.height, *PIXELS[route])
        prompt = {"prompt": job.prompt, **({"negative_prompt": job.negative_prompt} if job.negative_prompt else {})}
        images = [reference.url or reference.data_uri for reference in job.references[: self.max_reference_images]]
        return {"model": self.model_for(job),
                "input": {**prompt, **({"images": images} if images else {})},
                "parameters": {"size": f"{width}*{height}", "n": 1, "seed": job.seed, "prompt_extend": False,
                               "watermark": False}}

    async def submit_image(self, job: ImageJob) -> str:
        answer = await self.call("POST", f"api/v1/services/aigc/{self.route(job)}/image-synthesis", self.body(job))
        return self.field(answer, "output", "task_id")

    async def poll(self, task_id: str) -> TaskState:
        answer = await self.call("GET", f"api/v1/tasks/{task_id}")
        output = self.field(answer, "output")
        status = self.field(output, "task_status")
        if status in ("PENDING", "RUNNING"):
            return TaskState("running", raw_status=status)
        results = output.get("results") or []
        url = next((result["url"] for result in results if result.get("url")), None)
        if status == "SUCCEEDED" and url:
            return TaskState("succeeded", url, status)
        code = output.get("code") or next((result["code"] for result in results if result.get("code")), None)
        if code in POLICY_CODES:
            raise ContentPolicyRejected(self.name, f"task {task_id}: content refused: {code}")
        reason = {"UNKNOWN": "expired or unknown", "SUCCEEDED": "succeeded without an image"}.get(status, status.lower())
        detail = " ".join(filter(None, (code, output.get("message"))))
        raise TaskFailed(self.name, f"task {task_id} {reason}" + (f": {detail}" if detail else ""))
