"""Gemini's native image models ("Nano Banana") on the Gemini API: one synchronous
`POST {base}/models/{model}:generateContent`, key in `x-goog-api-key`, the image back
inline as base64.

Checked on 2026-12-03 against Google's generateContent reference (ai.google.dev/api,
as stored) and Google's own client libraries (googleapis php/kotlin/js GenAI types),
plus open-source callers of both models:
- `generationConfig.responseModalities: ["IMAGE"]` works on gemini-2.5-flash-image and
  gemini-3-pro-image-preview; only the retired gemini-2.0-flash image preview needed
  ["TEXT", "IMAGE"]. `generationConfig.imageConfig` has `aspectRatio` (1:1, 2:3, 3:2,
  3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9) and `imageSize` (1K default, 2K, 4K; Gemini 3
  Pro Image). `generationConfig.seed` is a documented field.
- Each reference is an `inlineData` {mimeType, data} part; a text part before it names
  it ("Reference image of ANNA:"), and the shot's prompt comes last.
- The answer: `candidates[0].content.parts[]`, the image in a part's `inlineData`;
  Gemini 3 Pro Image also returns interim "thought" images (parts with `thought: true`),
  which are skipped. A refused prompt has `promptFeedback.blockReason` (SAFETY, OTHER,
  BLOCKLIST, PROHIBITED_CONTENT, IMAGE_SAFETY) and no candidates; a withheld image has
  `finishReason` SAFETY, PROHIBITED_CONTENT, BLOCKLIST, SPII, RECITATION, IMAGE_SAFETY,
  IMAGE_PROHIBITED_CONTENT or IMAGE_RECITATION; NO_IMAGE / IMAGE_OTHER / OTHER is a
  failure that is not a refusal.
- References: 2.5 Flash Image works best with up to 3; 3 Pro Image takes up to 14
  (6 objects, 5 people). We send at most 3.
Not confirmed: that `seed` changes what the image models make (Google documents it for
generateContent in general), and Google's own page for the imageSize values per model
(a Google client library and resellers list them). There is no idempotency key: a lost
answer is SubmissionUnknown, never sent again."""

from __future__ import annotations

import base64
import binascii

from zipx_core.providers.base import ContentPolicyRejected, DownloadRejected, TaskFailed
from zipx_core.providers.images.base import ImageJob, ImageProvider, TaskSaver, checked_image

POLICY_FINISH = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY",
                 "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"}
IMAGE_SIZE = {"gemini-3-pro-image-preview": "2K"}  # priced as 1K on 3 Pro; 2.5 Flash makes 1K only


class GeminiImageProvider(ImageProvider):
    name = "gemini_image"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"
    download_hosts = ()  # the image comes inline: nothing is downloaded
    max_reference_images = 3

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key}

    def body(self, job: ImageJob) -> dict:
        parts: list[dict] = []
        for reference in job.references[: self.max_reference_images]:
            parts += [{"text": f"Reference image of {reference.name}:"},
                      {"inlineData": {"mimeType": "image/png", "data": reference.base64}}]
        prompt = f"{job.prompt}\nAvoid: {job.negative_prompt}" if job.negative_prompt else job.prompt
        parts.append({"text": prompt})
        image_config = {"aspectRatio": job.aspect_ratio}
        if job.model in IMAGE_SIZE:
            image_config["imageSize"] = IMAGE_SIZE[job.model]
        return {"contents": [{"role": "user", "parts": parts}],
                "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": image_config, "seed": job.seed}}

    async def generate(self, job: ImageJob, on_task_id: TaskSaver) -> bytes:
        answer = await self.call("POST", f"models/{job.model}:generateContent", self.body(job))
        return self.image(answer)

    def image(self, answer: dict) -> bytes:
        """The final image of an answer; a refusal or a missing image as typed errors."""
        blocked = (answer.get("promptFeedback") or {}).get("blockReason")
        if blocked:
            raise ContentPolicyRejected(self.name, f"content refused: prompt blocked ({blocked})")
        candidates = answer.get("candidates") or []
        if not candidates:
            raise TaskFailed(self.name, "no image: the answer has no candidates")
        finish = candidates[0].get("finishReason", "")
        if finish in POLICY_FINISH:
            raise ContentPolicyRejected(self.name, f"content refused: {finish}")
        parts = (candidates[0].get("content") or {}).get("parts") or []
        images = [part["inlineData"] for part in parts if "inlineData" in part and not part.get("thought")]
        if not images:
            said = " ".join(part.get("text", "") for part in parts)[:200]
            raise TaskFailed(self.name, f"no image ({finish or 'no finish reason'}){': ' + said if said else ''}")
        try:
            data = base64.b64decode(images[-1].get("data", ""), validate=True)
        except binascii.Error:
            raise DownloadRejected(self.name, "image: inline data is not base64") from None
        return checked_image(self.name, data)
