"""A real HTTP server on 127.0.0.1 that speaks the four video models' documented
protocols (Veo 3 on the Gemini API, Kling, Seedance on ModelArk, HappyHorse on
DashScope): submit, poll, download. It checks each request's auth and shape, counts
submissions, and can be scripted to fail: 429 with Retry-After, 500s, malformed JSON,
content-policy refusals, failed and expired jobs, slow jobs, truncated videos, a
redirect to a foreign host, a video of the wrong length.

It also speaks the OpenAI-compatible chat completions protocol (the LLM reader):
`POST /v1/chat/completions` answering with `llm_reply(request body)` as the JSON
content, with usage; scripted to fail at the HTTP level (phase "chat": 429, 500,
malformed, policy, hang, drop) or in the answer (phase "answer": not_json, schema,
fenced, refusal, length). A wrong key gets OpenAI's 401, which echoes the key.

And the three hosted speech protocols (tts.py's `speech_answer`): ElevenLabs
(`POST /v1/text-to-speech/{voice}[/with-timestamps]`, `GET /v1/voices`), the
OpenAI-compatible `POST /v1/audio/speech`, and Gemini TTS (`generateContent` on a model
whose name has "tts"). Each line is a tone as long as its text; scripted to fail at the
HTTP level (phase "speech": 429, 500, malformed, policy, hang, drop) or in the audio
(phase "audio": bad_audio). Requests are kept in `tts_requests`.

And Kling's lip-sync pair (provider "kling_lipsync", Kling's JWT): `POST
/v1/videos/identify-face` answers at once with a session and `lipsync_faces`;
`POST /v1/videos/advanced-lip-sync` makes a task polled at `GET
/v1/videos/advanced-lip-sync/{id}`, whose result is `lipsync_video_s` long. Faults: phase
"identify" (429, 500, no_face: no faces, no_human: Kling's 400), "submit" (429, 500,
policy, drop), "outcome" (failed, no_face, and the download kinds).

And the four hosted image protocols (providers "gemini_image", "seedream", "kling_image",
"wan_image", with the keys of the video provider of the same vendor account): Gemini's
`generateContent` and Seedream's `images/generations` answer at once; Kling
(`/v1/images/generations`, `/v1/images/multi-image2image`) and DashScope
(`text2image`/`image2image` image-synthesis, polled at `/api/v1/tasks/{id}`, told apart
from HappyHorse's tasks by their id) make tasks. Faults as for video: phase "submit"
(429, 500, malformed, policy, hang, drop), "poll" (async ones), "outcome" (failed,
expired, policy, drift, and the download kinds foreign, gone, truncated, corrupt: bytes
that are not an image). Each accepted request is in `image_requests` and `submissions`.
The pictures are PNGs of width x height: a request with reference images gets its first
reference resized to the frame, one without a simple picture (a block on a gradient)
coloured by a hash of its prompt; both with mild seed noise; outcome "drift" inverts it.

A video request with a first frame (Veo `image`, Kling image2video `image`, Seedance
`role: first_frame`, HappyHorse i2v `first_frame`) gets a clip whose frames are that
image at width x height slowly brightening and darkening; outcome "drift" inverts them.

Sound, as the models make it: Veo on the Gemini API and HappyHorse always return clips
with sound (Veo on Vertex when `generateAudio` is true), Seedance when `generate_audio`
is true (its sound models only: 1.5 pro, 2.0), Kling never. The sound speaks the
prompt's quoted dialogue (`says: "…"`, `… with the words: "…"`), each line a tone as long
as `tone` makes it (as the speech engines here do), from 0.3 s in, 0.25 s apart; silence
without lines. Outcome faults: "mute" (the sound is silent) and "slow_speech" (a second
more of speech than the line)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import itertools
import json
import re
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import numpy as np
from PIL import Image, UnidentifiedImageError

from zipx_core.media import encode_frames, ffmpeg_exe

KEYS = {"veo3": "veo-key", "seedance": "ark-key", "happyhorse": "dash-key", "llm": "llm-key",
        "elevenlabs": "xi-key", "openai_tts": "tts-key", "gemini_tts": "gemini-tts-key"}
KLING_ACCESS, KLING_SECRET = "kling-access-key", "kling-secret-key-of-at-least-32-bytes"
IMAGE_PROVIDERS = ("gemini_image", "seedream", "kling_image", "wan_image")
KEYS.update(gemini_image=KEYS["veo3"], seedream=KEYS["seedance"], wan_image=KEYS["happyhorse"])  # same vendor accounts


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the standard library's 5 resets connections under a burst of submissions
    daemon_threads = True


@dataclass
class Fault:
    provider: str  # veo3 | kling | seedance | happyhorse | an image provider | llm | * (any)
    phase: str  # submit | poll | download | outcome; for llm: chat | answer
    kind: str  # 429 | 500 | malformed | policy | hang | drop | failed | expired | truncated | corrupt | gone | foreign
    # | wrong_length | drift; in an llm answer: not_json | schema | fenced | refusal | length
    retry_after: float | None = None  # for 429; for hang, how long the server sits on the request


@dataclass
class FakeTask:
    provider: str
    duration_s: float
    ready_at: float
    outcome: str | None = None  # a Fault kind for the poll/download phase
    polls: int = 0
    reported_done: bool = False
    first_frame: bytes | None = None  # the still a clip starts from
    speech: tuple[str, ...] | None = None  # the lines its sound speaks; None: a silent clip
    image: bytes | None = None  # the picture an image task made (PNG)
    route: str = ""  # where an image task must be polled (Kling: generations | multi-image2image)


@dataclass
class FakeProviders:
    job_seconds: float = 0.0  # how long a job "renders"
    width: int = 64
    height: int = 36
    faults: list[Fault] = field(default_factory=list)
    submissions: list[tuple[str, dict]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    max_running: int = 0  # most jobs submitted and not yet reported done at one time
    llm_reply: Callable[[dict], dict] | None = None  # chat request body -> the JSON the model answers
    llm_requests: list[dict] = field(default_factory=list)  # chat requests answered (faults aside)
    tts_requests: list[tuple[str, str, dict, dict]] = field(default_factory=list)  # (provider, path, query, body) answered
    image_requests: list[tuple[str, dict]] = field(default_factory=list)  # (provider, body) of accepted image requests
    lipsync_faces: list[dict] = field(default_factory=lambda: [{"face_id": "0", "start_time": 0, "end_time": 60000}])
    lipsync_video_s: float = 5.0  # how long the synced clip Kling returns is
    lipsync_sessions: dict[str, str] = field(default_factory=dict)  # session id -> the video URL identified

    def __post_init__(self):
        self.tasks: dict[str, FakeTask] = {}
        self.job_of_submission: list[str] = []
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.videos: dict[tuple, bytes] = {}
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def fault(self, provider: str, phase: str) -> Fault | None:
        with self.lock:
            for i, f in enumerate(self.faults):
                if f.phase == phase and f.provider in (provider, "*"):
                    return self.faults.pop(i)
        return None

    def video(self, seconds: float, first_frame: bytes | None = None, drift: bool = False,
              speech: tuple[str, ...] | None = None, sound: str | None = None) -> bytes:
        """A clip: a grey ramp, or its first frame with a mild change per frame; inverted when it drifts.
        With `speech`, a sound track speaking those lines (`sound`: mute | slow_speech bends it)."""
        key = (seconds, hashlib.sha1(first_frame).hexdigest() if first_frame else None, drift, speech, sound)
        with self.lock:
            if key not in self.videos:
                path = Path(f"/tmp/zipx-fake-{seconds}-{self.width}x{self.height}-{key[1]}-{threading.get_ident()}.mp4")
                start = _picture(first_frame, self.width, self.height)
                frames = (_frame(start, i, self.width, self.height, drift) for i in range(round(seconds * 24)))
                encode_frames(frames, path, self.width, self.height, 24)
                if speech is not None:
                    _add_sound(path, _speech_track(speech, seconds, sound))
                self.videos[key] = path.read_bytes()
                path.unlink()
            return self.videos[key]

    def image(self, prompt: str, seed: int, references: list[str], drift: bool = False) -> bytes:
        """A PNG of the frame: the first readable reference resized, or, without one, a block on a
        gradient in three colours from a hash of the prompt; shifted a little by the seed. Each channel is
        kept mid-dark or mid-bright: inverting it always shows, and video coding keeps its hue
        (the gate's colour embedder reads chromaticity, which is unstable near black)."""
        pictures = (_picture(_image_bytes(reference), self.width, self.height) for reference in references)
        picture = next((p for p in pictures if p is not None), None)
        if picture is None:
            digest = np.frombuffer(hashlib.sha256(prompt.encode()).digest()[:9], dtype=np.uint8).reshape(3, 3)
            c1, c2, c3 = np.where(digest & 1, 160 + digest % 60, 40 + digest % 60).astype(float)
            across, down = np.linspace(0, 1, self.width)[None, :, None], np.linspace(0, 1, self.height // 2)[:, None, None]
            picture = np.broadcast_to(c1 + (c2 - c1) * across, (self.height, self.width, 3)).copy()
            block = np.s_[self.height // 4: self.height // 4 + self.height // 2, self.width // 3: -self.width // 3]
            picture[block] = c3 + (c1 - c3) * down
        # the seed shifts each channel a little, evenly: a per-pixel noise would be detail
        # video coding smooths away, and the gate would read the clip as blurred
        shift = np.random.default_rng(seed).integers(-2, 3, 3)
        pixels = np.clip(picture + shift, 0, 255).astype(np.uint8)
        return _png(255 - pixels if drift else pixels)

    def new_task(self, provider: str, body: dict, duration_s: float, first_frame: bytes | None = None,
                 route: str = "", done: bool = False, speech: tuple[str, ...] | None = None) -> str:
        """A job made from an accepted submission (counted in `submissions`, with its task id beside it)."""
        outcome = self.fault(provider, "outcome")
        task_id = f"{provider}-task-{next(self.ids)}"
        with self.lock:
            self.submissions.append((provider, body))
            self.job_of_submission.append(task_id)
            self.tasks[task_id] = FakeTask(provider, duration_s, time.monotonic() + self.job_seconds,
                                           outcome.kind if outcome else None, reported_done=done, first_frame=first_frame,
                                           route=route, speech=speech)
            self.max_running = max(self.max_running, sum(not t.reported_done for t in self.tasks.values()))
        return task_id

    def new_image(self, provider: str, body: dict, ask: tuple[str, int, list[str]], route: str = "",
                  done: bool = False) -> str:
        """An image task from an accepted request (prompt, seed, references): its picture made at once."""
        with self.lock:
            self.image_requests.append((provider, body))
        task_id = self.new_task(provider, body, 0, route=route, done=done)
        task = self.tasks[task_id]
        task.image = self.image(*ask, drift=task.outcome == "drift")
        return task_id


def _image_bytes(ref: str | None) -> bytes | None:
    """A request's image (data URI, URL or bare base64) as bytes; None when it cannot be read."""
    if not ref:
        return None
    try:
        if ref.startswith(("http://", "https://")):
            with urllib.request.urlopen(ref, timeout=5) as response:
                return response.read()
        return base64.b64decode(ref.split(",", 1)[1] if ref.startswith("data:") else ref, validate=True)
    except (OSError, ValueError, binascii.Error):
        return None


def _picture(data: bytes | None, width: int, height: int) -> np.ndarray | None:
    """An image resized to the frame as an RGB array; None when there is none or it is no image."""
    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB").resize((width, height)), dtype=np.float64)
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _frame(start: np.ndarray | None, i: int, width: int, height: int, drift: bool) -> np.ndarray:
    """Frame i of a clip: the grey ramp without a first frame, else the first frame slowly
    brightening and darkening (moving enough not to look frozen, too slowly to flicker)."""
    if start is None:
        pixels = np.full((height, width, 3), (i * 3) % 255, dtype=np.uint8)
    else:
        pixels = np.clip(start + 6 * np.sin(2 * np.pi * i / 48), 0, 255).astype(np.uint8)
    return 255 - pixels if drift else pixels


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _check_auth(provider: str, headers) -> bool:
    if provider in TTS_AUTH:
        name, value = TTS_AUTH[provider]
        return headers.get(name) == value
    auth = headers.get("Authorization", "")
    if provider == "llm":
        return auth == f"Bearer {KEYS['llm']}"
    if provider in ("veo3", "gemini_image"):
        return headers.get("x-goog-api-key") == KEYS[provider]
    if provider in ("kling", "kling_image"):
        try:
            claims = jwt.decode(auth.removeprefix("Bearer "), KLING_SECRET, algorithms=["HS256"])
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == KLING_ACCESS and claims["exp"] - claims["nbf"] == 1805
    if provider in ("happyhorse", "wan_image") and headers.get("X-DashScope-Async") != "enable":
        return False
    return auth == f"Bearer {KEYS[provider]}"


def _provider_of(path: str) -> str | None:
    if path in ("/v1/videos/identify-face", "/v1/videos/advanced-lip-sync") or path.startswith("/v1/videos/advanced-lip-sync/"):
        return "kling_lipsync"
    if path.startswith("/v1/text-to-speech/") or path == "/v1/voices":
        return "elevenlabs"
    if path.endswith("/audio/speech"):
        return "openai_tts"
    if path.startswith("/v1beta/models/") and path.endswith(":generateContent"):
        return "gemini_tts" if "tts" in path else "gemini_image"
    if path.endswith("/chat/completions"):
        return "llm"
    if path.startswith("/v1beta/"):
        return "veo3"
    if path.startswith("/v1/videos/"):
        return "kling"
    if path.startswith("/v1/images/"):
        return "kling_image"
    if path.startswith("/api/v3/contents/generations/tasks"):
        return "seedance"
    if path == "/api/v3/images/generations":
        return "seedream"
    if path.endswith("/image-synthesis") or path.startswith("/api/v1/tasks/wan_image-"):
        return "wan_image"  # DashScope's task route is shared with HappyHorse: the task id tells them apart
    if path.startswith("/api/v1/"):
        return "happyhorse"
    return None


POLICY_ANSWERS = {
    "veo3": (400, {"error": {"code": 400, "message": "blocked", "status": "INVALID_ARGUMENT"}}),
    "kling": (400, {"code": 1301, "message": "content security policy"}),
    "seedance": (400, {"error": {"code": "InputTextSensitiveContentDetected", "message": "sensitive"}}),
    "happyhorse": (400, {"code": "DataInspectionFailed", "message": "inappropriate content"}),
    "llm": (400, {"error": {"message": "Your request was rejected by our safety system.", "type": "invalid_request_error",
                            "param": None, "code": "content_policy_violation"}}),
    "openai_tts": (400, {"error": {"message": "Your request was rejected by our safety system.",
                                   "type": "invalid_request_error", "param": None, "code": "content_policy_violation"}}),
    "gemini_tts": (200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}),
}
POLICY_ANSWERS.update(kling_lipsync=POLICY_ANSWERS["kling"], kling_image=POLICY_ANSWERS["kling"],
                      wan_image=POLICY_ANSWERS["happyhorse"], seedream=POLICY_ANSWERS["seedance"],
                      gemini_image=(200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}))


def _handler(fake: FakeProviders):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def send(self, status: int, body, headers: dict | None = None, kind: str = "video/mp4"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if not isinstance(body, bytes) else kind)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def scripted(self, provider: str, phase: str) -> bool:
            fault = fake.fault(provider, phase)
            if not fault:
                return False
            if fault.kind == "hang":  # past the client's timeout, then carry on as if nothing happened
                time.sleep(fault.retry_after or 2)
                return False
            if fault.kind == "429":
                self.send(429, {"message": "rate limited"}, {"Retry-After": str(fault.retry_after or 0)})
            elif fault.kind == "500":
                self.send(500, {"message": "internal error"})
            elif fault.kind == "malformed":
                self.send(200, b"{not json", {"Content-Type": "application/json"})
            elif fault.kind == "policy":
                self.send(*POLICY_ANSWERS[provider])
            elif fault.kind == "drop":  # the connection closes with no answer at all
                self.close_connection = True
            return True

        def do_POST(self):
            path = urlsplit(self.path).path
            provider = _provider_of(path)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if provider is None:
                return self.send(404, {"message": "no such route"})
            if provider == "llm":
                return self.chat(body)
            if provider in TTS_AUTH:
                return self.tts(provider, path, body)
            if provider == "kling_lipsync":
                return self.lipsync(path, body)
            fake.counts[f"{provider}:submit"] += 1
            if not _check_auth(provider, self.headers):
                return self.send(401, {"code": 1000, "message": "authentication failed"})
            if self.scripted(provider, "submit"):
                return
            if provider in IMAGE_PROVIDERS:
                return self.image_submit(provider, path, body)
            if provider == "happyhorse" and len(body["input"]["prompt"]) > 5000:
                return self.send(400, {"code": "InvalidParameter", "message": "prompt too long"})
            duration, first_frame = _video_ask(provider, path, body)
            task = fake.new_task(provider, body, duration, _image_bytes(first_frame), speech=_sound_ask(provider, body))
            if provider == "veo3":
                return self.send(200, {"name": f"models/veo/operations/{task}"})
            if provider == "kling":
                return self.send(200, {"code": 0, "message": "SUCCEED", "data": {"task_id": task, "task_status": "submitted"}})
            if provider == "seedance":
                return self.send(200, {"id": task})
            return self.send(200, {"request_id": "r", "output": {"task_id": task, "task_status": "PENDING"}})

        def image_submit(self, provider: str, path: str, body: dict):
            ask = IMAGE_ASKS[provider](path, body)
            route = path.rsplit("/", 1)[-1] if provider == "kling_image" else ""  # Kling polls under the submit route
            task_id = fake.new_image(provider, body, ask, route, done=provider in ("gemini_image", "seedream"))
            task = fake.tasks[task_id]
            if provider == "gemini_image":
                return self.send(200, _gemini_answer(path, task))
            if provider == "seedream":
                return self.send(200, _seedream_answer(fake, task_id, task, body["response_format"]))
            if provider == "kling_image":
                data = {"task_id": task_id, "task_status": "submitted",
                        "task_info": {"external_task_id": body.get("external_task_id")}}
                return self.send(200, {"code": 0, "message": "SUCCEED", "data": data})
            return self.send(200, {"request_id": "r", "output": {"task_id": task_id, "task_status": "PENDING"}})

        def chat(self, body: dict):
            fake.counts["llm:chat"] += 1
            if not _check_auth("llm", self.headers):
                given = self.headers.get("Authorization", "").removeprefix("Bearer ")
                return self.send(401, {"error": {"message": f"Incorrect API key provided: {given}.",
                                                 "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}})
            if self.scripted("llm", "chat"):
                return
            assert body["model"] and body["messages"][0]["role"] == "system", body
            form = body["response_format"]
            assert form["type"] == "json_object" or (form["json_schema"]["strict"] is True
                                                     and form["json_schema"]["schema"]["type"] == "object"), form
            with fake.lock:
                fake.llm_requests.append(body)
            reading = fake.llm_reply(body) if fake.llm_reply else {"characters": [], "locations": []}
            fault = fake.fault("llm", "answer")
            self.send(200, _chat_answer(body, json.dumps(reading), fault.kind if fault else None))

        def tts(self, provider: str, path: str, body: dict):
            fake.counts[f"{provider}:speech"] += 1
            if not _check_auth(provider, self.headers):
                return self.send(*_tts_refusal(provider, self.headers.get(TTS_AUTH[provider][0], "")))
            if self.scripted(provider, "speech"):
                return
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            status, data, kind = speech_answer(provider, path, query, body, fake.fault(provider, "audio"))
            if status == 200:
                with fake.lock:
                    fake.tts_requests.append((provider, path, query, body))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path = urlsplit(self.path).path
            if path.startswith("/files/"):
                return self.download(path)
            provider = _provider_of(path)
            if provider is None:
                return self.send(404, {"message": "no such route"})
            if provider == "elevenlabs":
                fake.counts["elevenlabs:voices"] += 1
                if not _check_auth(provider, self.headers):
                    return self.send(*_tts_refusal(provider, self.headers.get("xi-api-key", "")))
                return self.send(200, {"voices": ELEVEN_VOICES})
            if provider == "kling_lipsync":
                return self.lipsync_poll(path)
            fake.counts[f"{provider}:poll"] += 1
            if not _check_auth(provider, self.headers):
                return self.send(401, {"message": "authentication failed"})
            if self.scripted(provider, "poll"):
                return
            task_id = path.rsplit("/", 1)[-1]
            task = fake.tasks.get(task_id)
            if task is None or task.provider != provider or (task.route and f"/{task.route}/" not in path):
                return self.send(404, {"message": f"no task {task_id}"})
            task.polls += 1
            running = time.monotonic() < task.ready_at
            outcome = None if running else task.outcome
            task.reported_done = task.reported_done or not running
            if provider in IMAGE_PROVIDERS:
                image = f"{fake.url}/files/images/{task_id}.png"
                return self.send(200, _image_poll_answer(provider, task_id, running, outcome, image))
            return self.send(200, _poll_answer(provider, task_id, running, outcome, f"{fake.url}/files/{task_id}.mp4"))

        def download(self, path: str):
            image = path.startswith("/files/images/")
            task_id = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            task = fake.tasks.get(task_id)
            if task is None:
                return self.send(404, {"message": "expired"})
            fake.counts[f"{task.provider}:download"] += 1
            if task.outcome == "foreign":
                self.send_response(302)
                self.send_header("Location", "https://downloads.evil.example/stolen.mp4")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if task.outcome == "gone":  # the signed URL expired
                return self.send(403, {"message": "Request has expired"})
            if image:
                data = NOT_AN_IMAGE if task.outcome == "corrupt" else task.image
            else:
                seconds = task.duration_s + (3 if task.outcome == "wrong_length" else 0)
                sound = task.outcome if task.outcome in ("mute", "slow_speech") else None
                data = fake.video(seconds, task.first_frame, task.outcome == "drift", task.speech, sound)
                data = bytes((b * 7 + 13) % 256 for b in data) if task.outcome == "corrupt" else data
            kind = "image/png" if image else "video/mp4"
            if task.outcome == "truncated":
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return
            self.send(200, data, kind=kind)

        def lipsync(self, path: str, body: dict):
            phase = "identify" if path.endswith("/identify-face") else "submit"
            fake.counts[f"kling_lipsync:{phase}"] += 1
            if not _check_auth("kling", self.headers):
                return self.send(401, {"code": 1000, "message": "authentication failed"})
            fault = fake.fault("kling_lipsync", phase)
            if phase == "identify":
                assert bool(body.get("video_url")) != bool(body.get("video_id")), body
                if fault and fault.kind == "no_human":
                    return self.send(400, {"code": 1201, "message": "there is no human in the video"})
                if fault and fault.kind != "no_face":
                    fake.faults.insert(0, fault)  # the HTTP-level kinds, answered as for every provider
                    if self.scripted("kling_lipsync", "identify"):
                        return
                session = f"session-{next(fake.ids)}"
                fake.lipsync_sessions[session] = body.get("video_url") or body["video_id"]
                faces = [] if fault and fault.kind == "no_face" else fake.lipsync_faces
                return self.send(200, {"code": 0, "message": "SUCCEED", "data": {
                    "session_id": session, "final_unit_deduction": "1", "face_data": faces}})
            if fault:
                fake.faults.insert(0, fault)
                if self.scripted("kling_lipsync", "submit"):
                    return
            assert body["session_id"] in fake.lipsync_sessions, body["session_id"]
            (choice,) = body["face_choose"]  # one person per task
            assert choice["face_id"] in {f["face_id"] for f in fake.lipsync_faces}, choice
            assert base64.b64decode(choice["sound_file"])[:4] == b"RIFF", "sound_file: base64 WAV"
            assert choice["sound_end_time"] - choice["sound_start_time"] >= 2000, choice
            assert len(body["external_task_id"]) <= 64
            task = fake.new_task("kling_lipsync", body, fake.lipsync_video_s)
            return self.send(200, {"code": 0, "message": "SUCCEED", "data": {"task_id": task, "task_status": "submitted"}})

        def lipsync_poll(self, path: str):
            fake.counts["kling_lipsync:poll"] += 1
            if not _check_auth("kling", self.headers):
                return self.send(401, {"message": "authentication failed"})
            if self.scripted("kling_lipsync", "poll"):
                return
            task_id = path.rsplit("/", 1)[-1]
            task = fake.tasks.get(task_id)
            if task is None:
                return self.send(404, {"code": 1203, "message": f"no task {task_id}"})
            running = time.monotonic() < task.ready_at
            task.reported_done = task.reported_done or not running
            data = {"task_id": task_id, "task_status": "processing" if running else "succeed"}
            if not running and task.outcome in ("failed", "no_face"):
                data.update(task_status="failed", task_status_msg="no face detected" if task.outcome == "no_face" else "render error")
            elif not running:
                data["task_result"] = {"videos": [{"id": "v", "url": f"{fake.url}/files/{task_id}.mp4",
                                                   "duration": str(task.duration_s)}]}
            return self.send(200, {"code": 0, "message": "SUCCEED", "data": data})

    return Handler


def _video_ask(provider: str, path: str, body: dict) -> tuple[float, str | None]:
    """A video request's length and the picture its clip starts from (as sent: the first
    frame, else the first reference image, whose subject a reference-to-video model puts
    in the clip), its documented shape checked."""
    if provider == "veo3":
        assert path.endswith(":predictLongRunning"), path
        instance = body["instances"][0]
        assert not ("image" in instance and "referenceImages" in instance), "Veo: image and references are exclusive"
        start = instance.get("image") or next((r["image"] for r in instance.get("referenceImages", [])), {})
        return body["parameters"]["durationSeconds"], start.get("bytesBase64Encoded")
    if provider == "kling":
        assert body["duration"] in ("5", "10"), body["duration"]
        assert path.endswith("/image2video") == ("image" in body), path
        assert not body.get("image", "").startswith("data:"), "Kling: base64 without a data: prefix"
        return int(body["duration"]), body.get("image")
    if provider == "seedance":
        assert body["content"][0]["type"] == "text"
        roles = [item.get("role") for item in body["content"][1:]]
        assert "first_frame" not in roles or roles == ["first_frame"], roles  # not mixed with references
        first = [item["image_url"]["url"] for item in body["content"] if item.get("role") in ("first_frame", "reference_image")]
        return body["duration"], first[0] if first else None
    assert body["model"].startswith("happyhorse-") and "prompt" in body["input"], body
    media = body["input"].get("media", [])
    if body["model"].endswith("-i2v"):
        assert [m["type"] for m in media] == ["first_frame"] and "ratio" not in body["parameters"], body
    return body["parameters"]["duration"], next((m["url"] for m in media if m["type"] in ("first_frame", "reference_image")), None)


SEEDANCE_SOUND_MODELS = ("seedance-1-5-pro", "dreamina-seedance-2")
SPOKEN = re.compile(r'(?:says|with the words(?: \([^)]*\))?): "([^"]*)"')


def _sound_ask(provider: str, body: dict) -> tuple[str, ...] | None:
    """The lines a video request's clip speaks, when the model makes sound for it; None: a silent clip."""
    if provider == "veo3":
        makes_sound = body["parameters"].get("generateAudio", True)  # the Gemini API always makes sound
        prompt = body["instances"][0]["prompt"]
    elif provider == "happyhorse":
        assert not {"audio", "generate_audio", "audio_url"} & set(body["parameters"]), body  # no sound option
        makes_sound, prompt = True, body["input"]["prompt"]
    elif provider == "seedance":
        makes_sound, prompt = body.get("generate_audio", False), body["content"][0]["text"]
        assert "generate_audio" not in body or body["model"].startswith(SEEDANCE_SOUND_MODELS), body["model"]
    else:
        return None
    return tuple(SPOKEN.findall(prompt)) if makes_sound else None


def _speech_track(lines: tuple[str, ...], seconds: float, sound: str | None, rate: int = 24000) -> bytes:
    """A WAV of `seconds`: each line a tone (as long as `tone` makes it) from 0.3 s, 0.25 s apart."""
    track, at = np.zeros(round(seconds * rate), dtype=np.int16), 0.3
    for i, line in enumerate(lines if sound != "mute" else ()):
        said = np.frombuffer(tone(line + " " * (17 if sound == "slow_speech" and i == 0 else 0), "native"), dtype="<i2")
        start = round(at * rate)
        track[start:start + len(said)] = said[: max(0, len(track) - start)]
        at += len(said) / rate + 0.25
    return _wav(track.tobytes(), rate)


def _add_sound(video: Path, wav: bytes) -> None:
    """`video` with the WAV as its AAC sound (the picture copied)."""
    sound, out = video.with_suffix(".wav"), video.with_suffix(".sound.mp4")
    sound.write_bytes(wav)
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(video), "-i", str(sound), "-map", "0:v", "-map", "1:a",
                    "-c:v", "copy", "-c:a", "aac", "-b:a", "96k", str(out)], check=True)
    out.replace(video)
    sound.unlink()


def _poll_answer(provider: str, task_id: str, running: bool, outcome: str | None, video: str) -> dict:
    if provider == "veo3":
        if running:
            return {"name": f"models/veo/operations/{task_id}", "done": False}
        if outcome == "failed":
            return {"name": task_id, "done": True, "error": {"code": 13, "message": "internal"}}
        if outcome == "policy":
            return {"name": task_id, "done": True, "response": {"generateVideoResponse": {
                "raiMediaFilteredCount": 1, "raiMediaFilteredReasons": ["celebrity likeness"]}}}
        return {"name": task_id, "done": True,
                "response": {"generateVideoResponse": {"generatedSamples": [{"video": {"uri": video}}]}}}
    if provider == "kling":
        status = "processing" if running else {"failed": "failed", "policy": "failed"}.get(outcome, "succeed")
        data = {"task_id": task_id, "task_status": status}
        if status == "failed":
            data["task_status_msg"] = "risk control: content policy" if outcome == "policy" else "render error"
        if status == "succeed":
            data["task_result"] = {"videos": [{"id": "v", "url": video, "duration": "5"}]}
        return {"code": 0, "data": data}
    if provider == "seedance":
        if running:
            return {"id": task_id, "status": "running"}
        if outcome in ("failed", "expired", "policy"):
            code = "OutputVideoSensitiveContentDetected" if outcome == "policy" else "InternalError"
            return {"id": task_id, "status": "failed" if outcome != "expired" else "expired",
                    "error": {"code": code, "message": outcome}}
        return {"id": task_id, "status": "succeeded", "content": {"video_url": video}}
    return _dashscope_task(task_id, running, outcome, {"video_url": video}, {"duration": 5})


def _dashscope_task(task_id: str, running: bool, outcome: str | None, result: dict, usage: dict) -> dict:
    """DashScope's task answer, shared by HappyHorse video and Wan images."""
    if running:
        return {"output": {"task_id": task_id, "task_status": "RUNNING"}}
    if outcome == "expired":
        return {"output": {"task_id": task_id, "task_status": "UNKNOWN"}}
    if outcome in ("failed", "policy"):
        code = "DataInspectionFailed" if outcome == "policy" else "InternalError"
        return {"output": {"task_id": task_id, "task_status": "FAILED", "code": code, "message": outcome}}
    return {"output": {"task_id": task_id, "task_status": "SUCCEEDED", **result}, "usage": usage}


# --- hosted images ------------------------------------------------------------------------------

NOT_AN_IMAGE = b"<html>this is not an image</html>" * 20
GEMINI_RATIOS = {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
KLING_RATIOS = {"16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9"}
SEEDREAM_MIN_PIXELS = {"seedream-4-0": 1280 * 720, "seedream-4-5": 2560 * 1440}


def _gemini_ask(path: str, body: dict) -> tuple[str, int, list[str]]:
    """(prompt, seed, references) of an image request, its documented shape checked."""
    config = body["generationConfig"]
    assert config["responseModalities"] == ["IMAGE"], config
    assert config["imageConfig"]["aspectRatio"] in GEMINI_RATIOS, config
    parts = body["contents"][0]["parts"]
    assert parts[-1].get("text"), "the shot's prompt comes last"
    references = []
    for i, part in enumerate(parts):
        if "inlineData" in part:
            assert i > 0 and parts[i - 1].get("text", "").strip(), "each reference is named by a text part before it"
            references.append(part["inlineData"]["data"])
    return parts[-1]["text"], config.get("seed", 0), references


def _seedream_ask(path: str, body: dict) -> tuple[str, int, list[str]]:
    family = next(f for f in SEEDREAM_MIN_PIXELS if body["model"].startswith(f))
    width, height = map(int, body["size"].split("x"))
    assert SEEDREAM_MIN_PIXELS[family] <= width * height <= 4096 * 4096 and 1 / 16 <= width / height <= 16, body["size"]
    assert body["watermark"] is False and body["sequential_image_generation"] == "disabled", body
    assert body["response_format"] in ("url", "b64_json") and "seed" not in body, body  # 4.x takes no seed
    images = body.get("image") or []
    return body["prompt"], 0, [images] if isinstance(images, str) else images


def _kling_image_ask(path: str, body: dict) -> tuple[str, int, list[str]]:
    assert body["n"] == 1 and body["aspect_ratio"] in KLING_RATIOS and len(body["prompt"]) <= 2500, body
    assert len(body.get("external_task_id", "")) <= 64
    if path.endswith("/multi-image2image"):
        assert body["model_name"] in ("kling-v2", "kling-v2-1") and 1 <= len(body["subject_image_list"]) <= 4, body
        references = [subject["subject_image"] for subject in body["subject_image_list"]]
    else:
        assert path.endswith("/generations"), path
        references = [body["image"]] if "image" in body else []
        if references:  # one still as a subject or face reference: kling-v1-5 only, no negative prompt
            assert body["model_name"] == "kling-v1-5" and body["image_reference"] in ("subject", "face"), body
            assert "negative_prompt" not in body and 0 <= body["human_fidelity"] <= 1, body
    assert not any(r.startswith("data:") for r in references), "Kling: base64 without a data: prefix"
    return body["prompt"], 0, references


def _wan_ask(path: str, body: dict) -> tuple[str, int, list[str]]:
    parameters, images = body["parameters"], body["input"].get("images", [])
    width, height = map(int, parameters["size"].split("*"))
    assert parameters["n"] == 1 and parameters["watermark"] is False and 1 / 4 <= width / height <= 4, parameters
    if path.endswith("/image2image/image-synthesis"):
        assert "-i2i-" in body["model"] and 1 <= len(images) <= 3 and 768 * 768 <= width * height <= 1280 * 1280, body
    else:
        assert path.endswith("/text2image/image-synthesis") and "-t2i-" in body["model"] and not images, body
        assert 768 * 768 <= width * height <= 1440 * 1440, parameters
    return body["input"]["prompt"], parameters.get("seed", 0), images


IMAGE_ASKS = {"gemini_image": _gemini_ask, "seedream": _seedream_ask, "kling_image": _kling_image_ask,
              "wan_image": _wan_ask}


def _gemini_answer(path: str, task: FakeTask) -> dict:
    """generateContent's answer: the image inline, or the outcome's refusal or failure."""
    if task.outcome == "policy":
        return {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "IMAGE_SAFETY"}]}
    if task.outcome in ("failed", "expired"):
        parts = [{"text": "I can't draw that."}]
        return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "NO_IMAGE"}]}
    data = NOT_AN_IMAGE if task.outcome == "corrupt" else task.image
    parts = [{"inlineData": {"mimeType": "image/png", "data": base64.b64encode(data).decode()}}]
    if "3-pro-image" in path:  # Gemini 3 Pro Image thinks with interim images first
        thought = base64.b64encode(_png(255 - np.asarray(Image.open(io.BytesIO(task.image))))).decode()
        parts = [{"text": "Composing the frame.", "thought": True},
                 {"inlineData": {"mimeType": "image/png", "data": thought}, "thought": True}, *parts]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
            "usageMetadata": {"candidatesTokenCount": 1290}}


def _seedream_answer(fake: FakeProviders, task_id: str, task: FakeTask, response_format: str) -> dict:
    if task.outcome in ("policy", "failed", "expired"):
        code = "OutputImageSensitiveContentDetected" if task.outcome == "policy" else "InternalServiceError"
        image = {"error": {"code": code, "message": task.outcome}}
    elif response_format == "b64_json":
        image = {"b64_json": base64.b64encode(NOT_AN_IMAGE if task.outcome == "corrupt" else task.image).decode()}
    else:
        image = {"url": f"{fake.url}/files/images/{task_id}.png"}
    return {"model": "seedream", "created": int(time.time()), "data": [{**image, "size": f"{fake.width}x{fake.height}"}],
            "usage": {"generated_images": 0 if "error" in image else 1}}


def _image_poll_answer(provider: str, task_id: str, running: bool, outcome: str | None, url: str) -> dict:
    if provider == "kling_image":
        status = "processing" if running else "failed" if outcome in ("failed", "policy", "expired") else "succeed"
        data = {"task_id": task_id, "task_status": status}
        if status == "failed":
            data["task_status_msg"] = "risk control: content policy" if outcome == "policy" else "render error"
        if status == "succeed":
            data["task_result"] = {"images": [{"index": 0, "url": url}]}
        return {"code": 0, "message": "SUCCEED", "data": data}
    result = {"results": [{"url": url}], "task_metrics": {"TOTAL": 1, "SUCCEEDED": 1, "FAILED": 0}}
    return _dashscope_task(task_id, running, outcome, result, {"image_count": 1})


def _chat_answer(body: dict, content: str, fault: str | None) -> dict:
    """A chat.completion object, bent by an answer fault."""
    message: dict = {"role": "assistant", "content": content, "refusal": None}
    finish = "stop"
    if fault == "not_json":
        message["content"] = "Here is the cast you asked for: Scott is tall."
    elif fault == "schema":
        message["content"] = json.dumps({"characters": [{"cue": "SCOTT"}], "locations": []})
    elif fault == "fenced":
        message["content"] = f"```json\n{content}\n```"
    elif fault == "refusal":
        message.update(content=None, refusal="I can't help with that request.")
    elif fault == "length":
        message["content"], finish = content[: len(content) // 2], "length"
    prompt_tokens = len(json.dumps(body["messages"])) // 4
    completion_tokens = len(message["content"] or message["refusal"]) // 4 + 1
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


# --- hosted speech ------------------------------------------------------------------------------

TTS_AUTH = {"elevenlabs": ("xi-api-key", KEYS["elevenlabs"]), "openai_tts": ("Authorization", f"Bearer {KEYS['openai_tts']}"),
            "gemini_tts": ("x-goog-api-key", KEYS["gemini_tts"])}
ELEVEN_VOICES = [
    {"voice_id": f"el{sex[0]}{age[0]}", "name": f"{sex.title()} {age}", "category": "premade", "description": None,
     "labels": {"gender": sex, "age": age, "accent": "american", "description": mood, "use_case": "narration"}}
    for sex, age, mood in [("female", "young", "bright"), ("female", "middle_aged", "warm"), ("female", "old", "raspy"),
                           ("male", "young", "energetic"), ("male", "middle_aged", "deep"), ("male", "old", "gravelly")]
] + [{"voice_id": "elneutral", "name": "River", "category": "premade", "labels": {"accent": "american", "description": "calm"}}]
GEMINI_NAMES = {"Zephyr", "Puck", "Charon", "Kore", "Fenrir", "Leda", "Orus", "Aoede", "Callirrhoe", "Autonoe", "Enceladus",
                "Iapetus", "Umbriel", "Algieba", "Despina", "Erinome", "Algenib", "Rasalgethi", "Laomedeia", "Achernar",
                "Alnilam", "Schedar", "Gacrux", "Pulcherrima", "Achird", "Zubenelgenubi", "Vindemiatrix", "Sadachbia",
                "Sadaltager", "Sulafat"}
TTS_RATE = 24000


def tone(text: str, voice: str, rate: int = TTS_RATE) -> bytes:
    """A line's 'speech': a tone as long as its text (60 ms a character), pitched by voice."""
    seconds = 0.2 + 0.06 * len(text)
    hz = 110 + sum(map(ord, voice)) % 200
    t = np.arange(round(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()


def _wav(pcm: bytes, rate: int) -> bytes:
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def _tts_refusal(provider: str, given: str) -> tuple[int, dict]:
    """A wrong key, answered as each service does (two of them echo what was sent)."""
    given = given.removeprefix("Bearer ")
    if provider == "elevenlabs":
        return 401, {"detail": {"status": "invalid_api_key", "message": f"Invalid API key: {given}"}}
    if provider == "openai_tts":
        return 401, {"error": {"message": f"Incorrect API key provided: {given}.", "type": "invalid_request_error",
                               "param": None, "code": "invalid_api_key"}}
    return 400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                           "status": "INVALID_ARGUMENT"}}


def speech_answer(provider: str, path: str, query: dict, body: dict, fault) -> tuple[int, bytes, str]:
    """(status, body, content type) for an accepted speech request, bent by an audio fault."""
    bad = fault is not None and fault.kind == "bad_audio"
    if provider == "elevenlabs":
        return _eleven(path, query, body, bad)
    if provider == "openai_tts":
        assert body["model"] and body["input"] and body["response_format"] in ("wav", "pcm"), body
        assert body["model"] in ("tts-1", "tts-1-hd") or body.get("instructions"), body
        pcm = tone(body["input"], body["voice"])
        data = (b"RIFF\x00\x00" if bad else b"") + (_wav(pcm, TTS_RATE) if body["response_format"] == "wav" else pcm)
        return 200, data, "audio/wav" if body["response_format"] == "wav" else "audio/pcm"
    config = body["generationConfig"]
    assert config["responseModalities"] == ["AUDIO"], config
    voice = config["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"]
    if voice not in GEMINI_NAMES:
        return 400, json.dumps({"error": {"code": 400, "message": f"voice {voice} not found"}}).encode(), "application/json"
    prompt = body["contents"][0]["parts"][0]["text"]
    pcm = tone(prompt.split(": ", 1)[-1], voice)
    data = "bm90IGF1ZGlv!!" if bad else base64.b64encode(pcm).decode()
    answer = {"candidates": [{"content": {"role": "model", "parts": [
        {"inlineData": {"mimeType": f"audio/L16;codec=pcm;rate={TTS_RATE}", "data": data}}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": len(prompt) // 4 + 1, "candidatesTokenCount": len(pcm) // 2 * 32 // TTS_RATE}}
    return 200, json.dumps(answer).encode(), "application/json"


def _eleven(path: str, query: dict, body: dict, bad: bool) -> tuple[int, bytes, str]:
    voice = path.removeprefix("/v1/text-to-speech/").removesuffix("/with-timestamps")
    if voice not in {v["voice_id"] for v in ELEVEN_VOICES}:
        missing = {"detail": {"status": "voice_not_found", "message": f"no voice {voice}"}}
        return 404, json.dumps(missing).encode(), "application/json"
    assert query.get("output_format", "").startswith("pcm_"), query
    settings = body["voice_settings"]
    assert body["text"] and body["model_id"] and 0 <= settings["stability"] <= 1 and 0 <= settings["style"] <= 1, body
    rate = int(query["output_format"].removeprefix("pcm_"))
    pcm = tone(body["text"], voice, rate)
    pcm = pcm[:-1] if bad else pcm  # an odd byte count is no 16-bit audio
    if not path.endswith("/with-timestamps"):
        return 200, pcm, "audio/pcm"
    text, step = body["text"], 0.06
    alignment = {"characters": list(text), "character_start_times_seconds": [0.1 + i * step for i in range(len(text))],
                 "character_end_times_seconds": [0.1 + (i + 1) * step for i in range(len(text))]}
    answer = {"audio_base64": base64.b64encode(pcm).decode(), "alignment": alignment, "normalized_alignment": alignment}
    return 200, json.dumps(answer).encode(), "application/json"
