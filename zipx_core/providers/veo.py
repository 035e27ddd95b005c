"""Veo 3 on the Gemini API (long-running operations).

Checked on 2026-11-24 against Google's Veo documentation (Gemini API video generation
and the Vertex AI model card for veo-3.0-generate-001): clip lengths are 4, 6 or 8 s;
reference images (at most 3, `referenceType: asset`) and 1080p need 8 s; an answer
whose samples were all withheld by the safety filters carries
`raiMediaFilteredCount`/`raiMediaFilteredReasons` instead of a video.

Checked on 2026-12-03: the first frame is `instances[0].image` {bytesBase64Encoded,
mimeType} (the Developer API's Veo wire as modelled by the gproxy-protocol crate);
`image` (and `lastFrame`) cannot be combined with `referenceImages` (the
mutual-exclusion table in receptron/mulmocast-cli#1312 and #1313). Not found on Google's
own pages: that exclusion rule in Google's words, and whether an image-to-video job may
be 4 or 6 s (we keep the asked length).

Checked on 2026-12-03: `generateAudio` is a Vertex AI parameter (Vertex's Veo reference);
the Gemini API refuses it (Google's own Gen AI SDKs raise "generateAudio parameter is not
supported in Gemini API" before sending, googleapis/js-genai#1017) and Veo 3 there always
makes sound. So it is sent on Vertex only: true for a natively voiced request, false
otherwise. On the Gemini API every clip comes with sound, which the conform drops unless
the request is natively voiced. Veo takes no audio input: no voice sample can be sent."""

from __future__ import annotations

from dataclasses import replace

from zipx_core.prompting import speaks_natively
from zipx_core.providers.base import Capabilities, ContentPolicyRejected, HostedProvider, Job, TaskFailed, TaskState

VERTEX_HOST = "aiplatform.googleapis.com"


class VeoProvider(HostedProvider):
    name = "veo3"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"
    download_hosts = ("generativelanguage.googleapis.com", "storage.googleapis.com", "googleusercontent.com")
    capabilities = Capabilities(durations_s=(4, 6, 8), max_reference_images=3, first_frame=True, native_audio=True,
                                resolutions=("720p", "1080p"))

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key}

    def download_headers(self, url: str) -> dict[str, str]:
        # Gemini's file URIs are served by the API host and need the key; nothing else gets it
        return self.headers() if url.startswith(self.base_url) else {}

    def prepare(self, job: Job) -> Job:
        if (job.reference_images and not job.first_frame) or job.resolution == "1080p":
            return replace(job, duration_s=8)  # the API takes reference images and 1080p at 8 s only
        return job

    def audio(self, job: Job) -> dict:
        """The sound option: on Vertex only (see above), on for a natively voiced request."""
        return {"generateAudio": speaks_natively(job.request)} if VERTEX_HOST in self.base_url else {}

    def body(self, job: Job) -> dict:
        request = job.request
        instance: dict = {"prompt": request.prompt}
        if job.first_frame:
            # `image` and `referenceImages` are mutually exclusive: the keyframe wins, the
            # references are dropped (the keyframe was made from them)
            instance["image"] = {"bytesBase64Encoded": job.first_frame_base64, "mimeType": "image/png"}
        elif job.reference_images:
            instance["referenceImages"] = [
                {"image": {"bytesBase64Encoded": image, "mimeType": "image/png"}, "referenceType": "asset"}
                for image in job.reference_base64[: self.capabilities.max_reference_images]
            ]
        return {
            "instances": [instance],
            "parameters": {
                "aspectRatio": job.aspect_ratio,
                "durationSeconds": job.duration_s,
                "resolution": job.resolution,
                "negativePrompt": request.negative_prompt,
                **self.audio(job),
            },
        }

    async def submit(self, job: Job) -> str:
        answer = await self.call("POST", f"models/{job.model}:predictLongRunning", self.body(job))
        return self.field(answer, "name")

    async def poll(self, task_id: str) -> TaskState:
        answer = await self.call("GET", task_id)
        if not answer.get("done"):
            return TaskState("running", raw_status="running")
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {"message": str(answer["error"])}
            raise TaskFailed(self.name, f"operation {task_id} failed: {error.get('message', error)}")
        response = self.field(answer, "response", "generateVideoResponse")
        samples = response.get("generatedSamples") or []
        if not samples:
            if response.get("raiMediaFilteredCount"):
                reasons = "; ".join(response.get("raiMediaFilteredReasons") or []) or "filtered"
                raise ContentPolicyRejected(self.name, f"operation {task_id}: content refused: {reasons}")
            raise TaskFailed(self.name, f"operation {task_id} finished without a video")
        return TaskState("succeeded", video_url=self.field(samples[0], "video", "uri"), raw_status="done")
