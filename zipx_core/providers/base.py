"""One interface for every video model: submit → poll → download, with declared
capabilities and a cost estimate. Hosted clients share the HTTP part here: timeouts,
retries with exponential backoff and jitter on 429, 5xx and timeouts (Retry-After
honoured), typed errors, and a download that is streamed, capped in size, limited to
an allow-list of hosts (redirects included) and checked to be a decodable video of the
asked duration. Keys are held by the client and never logged: errors carry the
provider, the path and the status, never headers."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import BaseModel

from zipx_core.media import MediaError, probe
from zipx_core.models import GenerationRequest

log = logging.getLogger("zipx.providers")

MAX_VIDEO_BYTES = 512 * 1024 * 1024
# One client per provider, its connections kept: at a limit of 100 every running job is
# polled on its own connection, and httpx's default (20 kept alive) would open and
# close (TLS handshake included) some 80 connections on every round of polls.
HTTP_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=256)
DURATION_TOLERANCE_S = 0.6  # providers round clip lengths to whole frames or seconds


def price_key(provider: str, model: str, resolution: str) -> str:
    """Seedance and HappyHorse price by resolution; the others by model alone."""
    return f"{model}@{resolution}" if provider in ("seedance", "happyhorse") else model


def cost(provider: str, model: str, resolution: str, seconds: float, prices: dict[str, float]) -> float:
    return round(prices.get(price_key(provider, model, resolution), 0.0) * seconds, 4)


def is_local(host: str) -> bool:
    """A loopback or private host: where plain HTTP is a local server, not a key in clear."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


class ProviderError(Exception):
    """A provider call that failed for good (after retries where they made sense)."""

    def __init__(self, provider: str, message: str, status: int | None = None):
        super().__init__(f"{provider}: {message}")
        self.provider, self.status = provider, status


class SubmissionUnknown(ProviderError):
    """A submission whose answer was lost after it was sent: the job may exist. Not
    retried, so nothing is paid for twice; the shot is reported for a person to check."""


# Failures where the request never left: safe to send again, even a submission.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class RequestRejected(ProviderError):
    """A 4xx other than 429: the request itself is wrong (or the key is); retrying cannot help."""


class ContentPolicyRejected(ProviderError):
    """The provider refused the content. A failed attempt of the shot, not a crash."""


class TaskFailed(ProviderError):
    """The job ran and failed, was cancelled, or expired at the provider."""


class DownloadRejected(ProviderError):
    """The result could not be accepted: foreign host, too large, truncated, or not the asked video."""


@dataclass(frozen=True)
class Capabilities:
    durations_s: tuple[int, ...]  # lengths a job may ask for
    max_reference_images: int
    first_frame: bool
    native_audio: bool
    resolutions: tuple[str, ...]

    def duration_for(self, shot_s: float) -> int | None:
        """The shortest length the model makes that holds the shot; the clip is cut to the shot later."""
        return next((d for d in sorted(self.durations_s) if d + 1e-6 >= shot_s), None)


@dataclass
class TaskState:
    status: str  # "running" | "succeeded"
    video_url: str | None = None
    raw_status: str = ""


@dataclass
class Job:
    """What the engine asks a provider for: the request, plus what the router settled."""

    request: GenerationRequest
    model: str
    duration_s: int
    resolution: str
    reference_images: list[bytes] = field(default_factory=list)  # PNG bytes of the locked stills
    reference_urls: list[str] = field(default_factory=list)  # the same stills where the store can serve URLs
    first_frame: bytes | None = None  # PNG of the shot's approved keyframe: the clip starts from it (keyframe-first)
    first_frame_url: str | None = None  # the same keyframe where the store can serve URLs
    key: str = ""  # the request's hash: unique per drama, shot, attempt and settings

    @property
    def aspect_ratio(self) -> str:
        return "16:9" if self.request.width >= self.request.height else "9:16"

    @property
    def first_frame_base64(self) -> str | None:
        return base64.b64encode(self.first_frame).decode() if self.first_frame else None

    @property
    def reference_base64(self) -> list[str]:
        """The reference stills as base64 text, for APIs that take images inline."""
        return [base64.b64encode(png).decode() for png in self.reference_images]


class RetryPolicy(BaseModel):
    attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    timeout_s: float = 60.0
    poll_interval_s: float = 15.0
    max_wait_s: float = 3600.0  # a job still running after this is given up on (its id stays saved)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay_s)
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)  # jitter: 50–100 % of the exponential step


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class VideoProvider:
    """The interface the engine uses for a hosted model: `hosted`, so it is submitted to,
    polled and fetched from. `local` (providers/local.py) is a video model too, priced and
    routed alike, but not hosted: the engine renders its takes in process."""

    hosted: ClassVar[bool] = True
    name: str
    capabilities: Capabilities

    def estimate_cost(self, job: Job) -> float:
        raise NotImplementedError

    async def submit(self, job: Job) -> str:
        """Starts the job; returns the provider's task id (saved by the caller at once)."""
        raise NotImplementedError

    async def poll(self, task_id: str) -> TaskState:
        raise NotImplementedError

    async def download(self, url: str, dest: Path, job: Job) -> None:
        raise NotImplementedError

    async def wait(self, task_id: str, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> TaskState:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


class HostedProvider(VideoProvider):
    """The HTTP half every hosted client shares. Subclasses build bodies and read answers."""

    default_base_url: str
    download_hosts: tuple[str, ...]  # where result videos may come from (suffix match)
    max_download_bytes = MAX_VIDEO_BYTES  # image clients cap their downloads lower

    def __init__(self, api_key: str, base_url: str | None = None, retry: RetryPolicy | None = None,
                 download_hosts: tuple[str, ...] | None = None, prices: dict[str, float] | None = None,
                 allow_private: bool = False):
        if not api_key:
            raise ValueError(f"{self.name}: no API key")
        self._key = api_key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.retry = retry or RetryPolicy()
        self.allowed_hosts = tuple(download_hosts or self.download_hosts)
        self.allow_private = allow_private  # loopback and private addresses: local test servers only
        self.prices = prices or {}
        self.client = httpx.AsyncClient(timeout=self.retry.timeout_s, follow_redirects=False, limits=HTTP_LIMITS)

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def estimate_cost(self, job: Job) -> float:
        return cost(self.name, job.model, job.resolution, job.duration_s, self.prices)

    def prepare(self, job: Job) -> Job:
        """The job as this model will take it (a model may need a longer clip for some options)."""
        return job

    def policy_rejection(self, status: int, body: dict) -> str | None:
        """The provider's way of saying 'content refused' on an error answer, or None."""
        return None

    async def aclose(self) -> None:
        await self.client.aclose()

    async def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One API call with retries on 429, 5xx, timeouts and broken connections."""
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        where = f"{method} {urlsplit(url).path}"
        for attempt in range(1, self.retry.attempts + 1):
            try:
                response = await self.client.request(method, url, json=body, headers=self.headers())
            except (httpx.TimeoutException, httpx.TransportError) as error:
                if method == "POST" and not isinstance(error, NOT_SENT):
                    # the job may have been created: submitting again could pay twice
                    raise SubmissionUnknown(self.name, f"{where}: {type(error).__name__} after sending; not retried") from None
                if attempt == self.retry.attempts:
                    raise ProviderError(self.name, f"{where}: {type(error).__name__} after {attempt} tries") from None
                await asyncio.sleep(self.retry.backoff(attempt))
                continue
            if response.status_code == 429 or response.status_code >= 500:
                if attempt == self.retry.attempts:
                    raise ProviderError(self.name, f"{where}: HTTP {response.status_code} after {attempt} tries", response.status_code)
                delay = self.retry.backoff(attempt, _retry_after(response))
                log.info("%s %s: HTTP %s, retrying in %.1fs", self.name, where, response.status_code, delay)
                await asyncio.sleep(delay)
                continue
            answer = self._json(response, where)
            if response.status_code >= 400:
                reason = self.policy_rejection(response.status_code, answer)
                if reason:
                    raise ContentPolicyRejected(self.name, f"{where}: content refused: {reason}", response.status_code)
                raise RequestRejected(self.name, f"{where}: HTTP {response.status_code}: {_message(answer)}", response.status_code)
            return answer
        raise AssertionError("unreachable")

    def _json(self, response: httpx.Response, where: str) -> dict:
        try:
            answer = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            if response.status_code >= 400:
                return {"message": response.text[:200]}
            raise ProviderError(self.name, f"{where}: HTTP {response.status_code} with a body that is not JSON", response.status_code) from None
        if not isinstance(answer, dict):
            raise ProviderError(self.name, f"{where}: expected a JSON object, got {type(answer).__name__}")
        return answer

    def field(self, answer: dict, *path: str | int):
        """answer[path…], or a ProviderError naming the missing field (malformed answers)."""
        value = answer
        for step in path:
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                raise ProviderError(self.name, f"malformed answer: no {'.'.join(map(str, path))}") from None
        return value

    async def wait(self, task_id: str, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> TaskState:
        waited = 0.0
        while True:
            state = await self.poll(task_id)
            if state.status == "succeeded":
                return state
            if waited >= self.retry.max_wait_s:
                raise TaskFailed(self.name, f"task {task_id} still {state.raw_status} after {waited:.0f}s")
            await sleep(self.retry.poll_interval_s)
            waited += self.retry.poll_interval_s

    def _host_allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        host = parts.hostname or ""
        return parts.scheme in ("https", "http") and any(host == h or host.endswith("." + h) for h in self.allowed_hosts)

    async def _check_address(self, url: str) -> None:
        """An allowed name must not lead inside: every address it resolves to must be
        public (no loopback, private, link-local or metadata address) unless allowed."""
        if self.allow_private:
            return
        host = urlsplit(url).hostname or ""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError:
            raise DownloadRejected(self.name, f"result host {host!r} does not resolve") from None
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%")[0])
            if not address.is_global:
                raise DownloadRejected(self.name, f"result host {host!r} resolves to a non-public address")

    async def download(self, url: str, dest: Path, job: Job) -> None:
        """Streams the result into `dest` (never keeping the URL: they expire), following
        redirects only within the allow-list, then checks it is the asked video."""
        try:
            await self._fetch(url, dest)
        except httpx.HTTPError as error:  # a connection cut mid-body, a timeout
            raise DownloadRejected(self.name, f"download broken off: {type(error).__name__}") from None
        try:
            info = await asyncio.to_thread(probe, dest)  # reads the file: not on the event loop
        except MediaError:
            raise DownloadRejected(self.name, "download: not a decodable video") from None
        if info.frames < 1 or abs(info.duration_s - job.duration_s) > DURATION_TOLERANCE_S:
            raise DownloadRejected(self.name, f"download: {info.duration_s:.2f}s of video, asked for {job.duration_s}s")

    async def _fetch(self, url: str, dest: Path) -> None:
        for _ in range(5):
            if not self._host_allowed(url):
                raise DownloadRejected(self.name, f"result host {urlsplit(url).hostname!r} is not allowed")
            await self._check_address(url)
            async with self.client.stream("GET", url, headers=self.download_headers(url)) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("location", ""))
                    continue
                if response.status_code != 200:
                    raise DownloadRejected(self.name, f"download: HTTP {response.status_code}", response.status_code)
                declared = int(response.headers.get("content-length") or 0)
                if declared > self.max_download_bytes:
                    raise DownloadRejected(self.name, f"download: {declared} bytes is over the {self.max_download_bytes} cap")
                size = 0
                with dest.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > self.max_download_bytes:
                            raise DownloadRejected(self.name, f"download: over the {self.max_download_bytes} byte cap")
                        out.write(chunk)
                if declared and size != declared:
                    raise DownloadRejected(self.name, f"download: truncated ({size} of {declared} bytes)")
                return
        raise DownloadRejected(self.name, "download: too many redirects")

    def download_headers(self, url: str) -> dict[str, str]:
        return {}  # result URLs are signed; the API key is not sent to them


def _message(answer: dict) -> str:
    for key in ("message", "msg", "error"):
        value = answer.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("code")
        if value:
            return str(value)[:300]
    return json.dumps(answer)[:300]
