"""Seedream on BytePlus ModelArk: one synchronous `POST {base}/api/v3/images/generations`
(Bearer key, the same ModelArk account as Seedance), the image back as a URL (kept
24 h) or inline base64.

Checked on 2026-12-03 against ModelArk's "Image generation API" reference page
(docs.byteplus.com/en/docs/ModelArk/1541523, as quoted whole in
anongecko/seedream-studio references/) and BytePlus's billing page:
- models `seedream-4-0-250828` and `seedream-4-5-251128`; `image` is one string or a
  list (URL or `data:image/png;base64,...`, lowercase format), up to 14 references on
  4.0/4.5 (an older 4.0 page says 10: we send at most 10);
- `size` "WxH": total pixels within [1280x720 = 921,600, 4096x4096] on 4.0 and
  [2560x1440 = 3,686,400, 4096x4096] on 4.5, aspect within [1/16, 16]: we send the
  job's aspect at the smallest area the model takes;
- `response_format` url (default, link valid 24 h) or b64_json; the output is JPEG;
  `watermark` defaults to true (we send false); `sequential_image_generation`
  "disabled" makes one image;
- `seed` is taken only by seedream-3.0-t2i and seededit-3.0-i2i: 4.x gets none, so
  the attempt's seed does not change what Seedream makes; there is no negative prompt;
- an error is `error.{code, message}`, and a single image that failed carries
  `data[].error`; sensitive-content codes (…SensitiveContentDetected) are refusals.
Not confirmed: the exact list of ModelArk's sensitive-content error codes (its
error-code page was not stored; we match "sensitive"/"policy" as the Seedance client
does), and any idempotency key (none is documented: a lost answer is SubmissionUnknown)."""

from __future__ import annotations

import base64
import binascii

from zipx_core.providers.base import ContentPolicyRejected, DownloadRejected, ProviderError, TaskFailed
from zipx_core.providers.images.base import ImageJob, ImageProvider, TaskSaver, checked_image, fitted_size
from zipx_core.providers.seedance import SeedanceProvider, _is_policy

MAX_PIXELS = 4096 * 4096
MIN_PIXELS = {"seedream-4-5": 2560 * 1440, "seedream-4-0": 1280 * 720}  # by model family


def min_pixels(model: str) -> int:
    return next((pixels for family, pixels in MIN_PIXELS.items() if model.startswith(family)), MIN_PIXELS["seedream-4-5"])


class SeedreamProvider(ImageProvider):
    name = "seedream"
    default_base_url = "https://ark.ap-southeast.bytepluses.com"
    download_hosts = SeedanceProvider.download_hosts
    max_reference_images = 10
    response_format = "url"  # or "b64_json": the image inline, nothing to download

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def policy_rejection(self, status: int, body: dict) -> str | None:
        code = str((body.get("error") or {}).get("code", ""))
        return code if _is_policy(code) else None

    def body(self, job: ImageJob) -> dict:
        width, height = fitted_size(job.width, job.height, min_pixels(job.model), MAX_PIXELS)
        body = {"model": job.model, "prompt": job.prompt, "size": f"{width}x{height}",
                "response_format": self.response_format, "watermark": False, "sequential_image_generation": "disabled"}
        images = [reference.url or reference.data_uri for reference in job.references[: self.max_reference_images]]
        if images:
            body["image"] = images[0] if len(images) == 1 else images
        return body

    async def generate(self, job: ImageJob, on_task_id: TaskSaver) -> bytes:
        answer = await self.call("POST", "api/v3/images/generations", self.body(job))
        image = self.field(answer, "data", 0)
        if not isinstance(image, dict):
            raise ProviderError(self.name, "malformed answer: data[0] is not an object")
        error = image.get("error")
        if error:
            code = str(error.get("code", ""))
            if _is_policy(code):
                raise ContentPolicyRejected(self.name, f"content refused: {code}")
            raise TaskFailed(self.name, f"no image: {code} {error.get('message', '')}".rstrip())
        if image.get("b64_json"):
            return self.decoded(image["b64_json"])
        return await self.fetch_image(self.field(answer, "data", 0, "url"))

    def decoded(self, text: str) -> bytes:
        try:
            return checked_image(self.name, base64.b64decode(text, validate=True))
        except binascii.Error:
            raise DownloadRejected(self.name, "image: b64_json is not base64") from None
