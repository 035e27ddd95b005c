"""What the hosted speech clients share: the Speech they return (int16 mono and its sample
rate, as eSpeak NG gives), the delivery of a line (parenthetical, intensity, the voice's
description), dated prices, and the HTTP half.

The HTTP half follows the LLM client (providers/llm.py), since a speech call is, like a
chat call, answered at once and not a job that could be made twice: retries on 408, 409,
429, 5xx, timeouts and dropped connections with Retry-After honoured; a send whose answer
was lost may have been billed and is counted, so the ledger charges it. A 4xx other
than 429 is a typed error without retries. Answers are read streamed and capped in size,
only from the configured API host (no redirects followed), and must decode to audio.
The key is held by the client, sent only in its header and never logged; any echo of it
in an error body is masked. A key never travels over plain HTTP except to a local server.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import math
import re
import wave
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpx
import numpy as np
from pydantic import BaseModel, Field

from zipx_core.models import CatalogueVoice, VoiceProfile, WordTiming
from zipx_core.providers.base import NOT_SENT, ContentPolicyRejected, ProviderError, RequestRejected, RetryPolicy, _retry_after, is_local

log = logging.getLogger("zipx.providers.speech")

MAX_AUDIO_BYTES = 64 * 1024 * 1024  # about 20 minutes of 24 kHz PCM: far more than a line
MAX_LINE_S = 120.0  # longer "speech" for one line is a broken answer, not a line
SAMPLE_RATES = range(8000, 48001)


@dataclass(frozen=True)
class Speech:
    samples: np.ndarray  # int16, mono
    sample_rate: int
    words: tuple[WordTiming, ...] = ()  # where the engine reports word timing

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class Spoken:
    """A line's speech and what making it cost (its estimate unless the answer says more)."""

    speech: Speech
    cost_usd: float = 0.0


@dataclass(frozen=True)
class Delivery:
    """How a line is said: the script's parenthetical, the shot's emotional intensity
    (0..1) and the character's voice description from the bible."""

    parenthetical: str | None = None
    intensity: float = 0.0
    style: str = "neutral"

    @property
    def manner(self) -> str:
        """The parenthetical as words: '(whispering)' -> 'whispering'."""
        return re.sub(r"\s+", " ", (self.parenthetical or "").strip("() \t\n")).strip()

    def level(self) -> float:
        """Intensity nudged by the parenthetical: shouting raises it, whispering lowers it."""
        words = set(re.findall(r"[a-z]+", self.manner.lower()))
        shift = 0.25 * bool(words & LOUD) - 0.25 * bool(words & QUIET)
        return round(min(1.0, max(0.0, self.intensity + shift)), 2)

    def intensity_words(self) -> str:
        level = self.level()
        return "calm and restrained" if level < 0.3 else "with clear feeling" if level < 0.7 else "with intense emotion"


LOUD = {"shouting", "shouts", "yelling", "yells", "screaming", "screams", "furious", "angry", "angrily", "frantic"}
QUIET = {"whispering", "whispers", "whisper", "quietly", "softly", "gently", "calmly", "murmuring", "under"}


class BadAudio(ProviderError):
    """The answer came (and was probably billed) but held no usable audio."""


class SpeechConfigError(ValueError):
    """The engine is set up wrongly (no price, a key over plain HTTP...): nothing was sent."""


class SpeechPrice(BaseModel):
    """What speech costs, with where and when the figure was read. Character-priced
    engines (ElevenLabs, OpenAI) use the first; Gemini bills tokens (32 audio tokens a
    second, per a Google reply on its forum)."""

    usd_per_million_chars: float = Field(0.0, ge=0)
    input_usd_per_million_tokens: float = Field(0.0, ge=0)
    output_usd_per_million_tokens: float = Field(0.0, ge=0)
    as_of: str
    source: str


class SpeechSettings(BaseModel):
    """One hosted engine's set-up. `price` None: the dated default for the model, and an
    engine with neither is refused (a run must not spend without a record)."""

    base_url: str | None = None
    model: str | None = None
    price: SpeechPrice | None = None
    voices: list[CatalogueVoice] = Field([], description="the catalogue, over the engine's own (self-hosted servers)")
    concurrency: int = Field(4, ge=1, le=32, description="lines in flight at once")
    timestamps: bool = Field(True, description="ElevenLabs: ask for character timing (word timing of the lines)")
    output_format: str | None = Field(None, description="None: the engine's PCM default")
    allow_http: bool = Field(False, description="plain HTTP to a non-local host (the key would travel in clear)")
    retry: RetryPolicy = RetryPolicy(timeout_s=120.0)


@dataclass
class Answer:
    status: int
    content: bytes
    content_type: str
    retry_after: float | None = None
    lost: int = 0  # sends before this one whose answer never came back (maybe billed)


class HostedSpeech:
    """The base of the hosted engines. Subclasses name themselves, build the request,
    read the answer and list their voices."""

    name = "hosted"
    hosted = True
    default_base_url = ""
    default_model = ""
    default_prices: dict[str, SpeechPrice] = {}  # model -> its dated price

    def __init__(self, api_key: str | None, settings: SpeechSettings | None = None):
        self.api_key = api_key or ""  # self-hosted servers may need none
        self.settings = settings or SpeechSettings()
        self.base_url = (self.settings.base_url or self.default_base_url).rstrip("/")
        self.model = self.settings.model or self.default_model
        self.concurrency = self.settings.concurrency
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise SpeechConfigError(f"{self.name}: base_url must be an http(s) URL, got {self.base_url!r}")
        if parts.scheme == "http" and not (self.settings.allow_http or is_local(parts.hostname)):
            raise SpeechConfigError(f"{self.name}: plain HTTP to {parts.hostname} would send the key in clear; use https")
        self.prices()  # no price, no engine
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r})"

    def prices(self) -> SpeechPrice:
        price = self.settings.price or self.default_prices.get(self.model)
        if price is None:
            raise SpeechConfigError(f"{self.name}: no price for model {self.model!r}: set one (0 for your own server)")
        return price

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def request(self, text: str, voice: VoiceProfile, delivery: Delivery) -> dict:
        """The request body (and whatever else shapes the audio): the cache key hashes it."""
        raise NotImplementedError

    async def speak(self, text: str, voice: VoiceProfile, delivery: Delivery) -> Spoken:
        raise NotImplementedError

    def estimate_cost(self, text: str, voice: VoiceProfile, delivery: Delivery) -> float:
        """Character-priced: what the sent text costs (subclasses billed otherwise override)."""
        return round(len(self.sent_text(text, delivery)) * self.prices().usd_per_million_chars / 1e6, 6)

    def sent_text(self, text: str, delivery: Delivery) -> str:
        return text

    def cost(self, estimate: float, answer: Answer, usage: dict | None = None) -> float:
        return round(estimate * (1 + answer.lost), 6)

    async def catalogue(self) -> list[CatalogueVoice]:
        return list(self.settings.voices)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        # made on first use, inside the event loop that uses it (an httpx client belongs to its loop)
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.settings.retry.timeout_s, follow_redirects=False)
        return self._client

    def url(self, path: str, **query: str) -> str:
        url = f"{self.base_url}/{path.lstrip('/')}"
        return url + ("?" + "&".join(f"{k}={quote(v)}" for k, v in query.items()) if query else "")

    def mask(self, text: str) -> str:
        return text.replace(self.api_key, "***") if self.api_key else text

    async def send(self, method: str, url: str, body: dict | None = None) -> Answer:
        """One call with retries on 408, 409, 429, 5xx, timeouts and dropped connections."""
        retry, where, lost = self.settings.retry, f"{method} {urlsplit(url).path}", 0
        for attempt in range(1, retry.attempts + 1):
            last = attempt == retry.attempts
            try:
                answer = await self._once(method, url, body)
            except (httpx.TimeoutException, httpx.TransportError) as error:
                lost += method == "POST" and not isinstance(error, NOT_SENT)
                if last:
                    raise ProviderError(self.name, f"{where}: {type(error).__name__} after {attempt} tries") from None
                await asyncio.sleep(retry.backoff(attempt))
                continue
            if answer.status in (408, 409, 429) or answer.status >= 500:
                if last:
                    raise ProviderError(self.name, f"{where}: HTTP {answer.status} after {attempt} tries", answer.status)
                delay = retry.backoff(attempt, answer.retry_after)
                log.info("%s %s: HTTP %s, retrying in %.1fs", self.name, where, answer.status, delay)
                await asyncio.sleep(delay)
                continue
            if answer.status >= 300:
                self.reject(answer, where)
            answer.lost = lost
            return answer
        raise AssertionError("unreachable")

    async def _once(self, method: str, url: str, body: dict | None) -> Answer:
        async with self._http().stream(method, url, json=body, headers=self.headers()) as response:
            declared = int(response.headers.get("content-length") or 0)
            if declared > MAX_AUDIO_BYTES:
                raise BadAudio(self.name, f"answer of {declared} bytes is over the {MAX_AUDIO_BYTES} cap")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_AUDIO_BYTES:
                    raise BadAudio(self.name, f"answer over the {MAX_AUDIO_BYTES} byte cap")
                chunks.append(chunk)
            return Answer(response.status_code, b"".join(chunks), response.headers.get("content-type", ""),
                          _retry_after(response))

    def reject(self, answer: Answer, where: str) -> None:
        """A 4xx (or a redirect, never followed): refused content or a wrong request or key."""
        body = self.json_of(answer, where, strict=False)
        message = self.mask(error_message(body) if body else answer.content[:200].decode(errors="replace"))
        if self.policy_refusal(answer.status, body or {}):
            raise ContentPolicyRejected(self.name, f"{where}: content refused: {message}", answer.status)
        raise RequestRejected(self.name, f"{where}: HTTP {answer.status}: {message}", answer.status)

    def policy_refusal(self, status: int, body: dict) -> bool:
        return False

    def json_of(self, answer: Answer, where: str, strict: bool = True) -> dict | None:
        try:
            body = json.loads(answer.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            if strict:
                raise BadAudio(self.name, f"{where}: HTTP {answer.status} with a body that is not a JSON object")
            return None
        return body

    # --- audio ---------------------------------------------------------------------------

    def pcm(self, data: bytes, rate: int) -> Speech:
        """Raw signed 16-bit little-endian mono samples."""
        if rate not in SAMPLE_RATES:
            raise BadAudio(self.name, f"sample rate {rate} Hz is not a speech rate")
        if not data or len(data) % 2:
            raise BadAudio(self.name, f"{len(data)} bytes is not 16-bit PCM audio")
        speech = Speech(np.frombuffer(data, dtype="<i2").astype(np.int16), rate)
        if speech.duration_s > MAX_LINE_S:
            raise BadAudio(self.name, f"{speech.duration_s:.0f}s of audio for one line")
        return speech

    def b64(self, text: object) -> bytes:
        try:
            return base64.b64decode(text, validate=True) if isinstance(text, str) else b""
        except ValueError:
            raise BadAudio(self.name, "the audio is not valid base64") from None

    def wav(self, data: bytes) -> Speech:
        """A WAV file of 16-bit mono PCM. A streamed WAV's header may give its data size as
        unknown (0xFFFFFFFF): what follows the header is the audio."""
        if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
            raise BadAudio(self.name, "the answer is not a WAV file")
        try:
            with wave.open(io.BytesIO(data), "rb") as source:
                if source.getsampwidth() != 2 or source.getnchannels() != 1:
                    raise BadAudio(self.name, f"WAV of {source.getnchannels()} channels at {8 * source.getsampwidth()} bits")
                rate = source.getframerate()
                frames = source.readframes(source.getnframes())
        except (wave.Error, EOFError):
            raise BadAudio(self.name, "the WAV file does not decode") from None
        return self.pcm(frames[: len(frames) // 2 * 2], rate)


def error_message(body: dict) -> str:
    """The message of an error body: OpenAI and Gemini {"error": {"message"}}, ElevenLabs {"detail": ...}."""
    for key in ("error", "detail", "message", "msg"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("status") or value.get("code")
        if value:
            return str(value)[:300]
    return json.dumps(body)[:300]


def words_from_characters(characters: list, starts: list, ends: list) -> tuple[WordTiming, ...]:
    """Word timing from per-character timing (ElevenLabs' alignment); bracketed audio tags
    such as [whispering] are instructions, not words."""
    words, current, start, end = [], "", 0.0, 0.0
    for char, char_start, char_end in zip(characters, starts, ends):
        if str(char).isspace():
            if current:
                words.append((current, start, end))
            current = ""
            continue
        if not current:
            start = float(char_start)
        current, end = current + str(char), float(char_end)
    if current:
        words.append((current, start, end))
    spoken, in_tag = [], False
    for word, word_start, word_end in words:
        opens = word.startswith("[")
        if not (in_tag or opens):
            spoken.append(WordTiming(text=word, start_s=round(word_start, 3), end_s=round(word_end, 3)))
        in_tag = (in_tag or opens) and not word.endswith("]")
    return tuple(spoken)


def tokens(chars: int, per_token: float = 3.0) -> int:
    """Text tokens for an estimate: low characters per token on purpose, so it errs high."""
    return math.ceil(chars / per_token)
