"""One client for the OpenAI-compatible chat completions protocol, asking for JSON that
follows a JSON schema. The same request serves OpenAI, Gemini's OpenAI-compatible
endpoint, vLLM, Ollama and llama.cpp's server; only the base URL, model and key change.

Checked on 2026-12-03 with the search tool:
- OpenAI (the openai-python SDK's types, generated from OpenAI's OpenAPI spec; OpenAI's
  own pages were not in the index): `POST {base_url}/chat/completions` with
  `Authorization: Bearer <key>`; `response_format: {type: "json_schema", json_schema:
  {name, strict, schema}}` (name a-z, A-Z, 0-9, _ and -, at most 64); the answer's
  `choices[0].message.content` (a string or null), `choices[0].message.refusal`,
  `choices[0].finish_reason` (stop, length, content_filter, tool_calls), and
  `usage.prompt_tokens` / `usage.completion_tokens`. The SDK retries 408, 409, 429 and
  5xx, honours `retry-after-ms` then `retry-after`, and retries timeouts of POSTs too.
  `max_tokens` is deprecated for `max_completion_tokens` (third-party pages).
- Gemini (ai.google.dev/gemini-api/docs/openai and /api/compatibility): base URL
  `https://generativelanguage.googleapis.com/v1beta/openai/`, the Gemini key as a
  Bearer token; the request takes `response_format` (ResponseFormat with a schema),
  `maxTokens` and `maxCompletionTokens`.
- vLLM (docs.vllm.ai, OpenAI-compatible server) and Ollama (its openai.md; v0.5+
  honours `json_schema`, Ollama Cloud accepts but does not enforce it, per pydantic-ai's
  docs) speak the same route.
Not confirmed: the error body's exact shape (`{"error": {"message", "type", "param",
"code"}}` is seen in third-party pages and OpenAI-compatible servers only); whether
Gemini's endpoint honours `strict`, sends `refusal` or a Retry-After on 429; that
llama.cpp's server takes `max_completion_tokens`; and today's prices (see
DEFAULT_LLM_PRICES: dated, from third-party summaries; override them).

A call whose answer was lost after it was sent may have been billed: it is retried
(the answer is not a job that could be made twice), and the reader charges it at the
estimate. The key is held by the client and never logged; errors carry the path and
the status, and any echo of the key in an error body is masked."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, Field

from zipx_core.providers.base import (
    NOT_SENT,
    ContentPolicyRejected,
    ProviderError,
    RequestRejected,
    RetryPolicy,
    _message,
    _retry_after,
    is_local,
)

log = logging.getLogger("zipx.providers.llm")
POLICY_CODES = {"content_policy_violation", "content_filter"}


class LLMPrice(BaseModel):
    """US dollars per million tokens, with where and when the figure was read."""

    input_usd_per_million: float = Field(ge=0)
    output_usd_per_million: float = Field(ge=0)
    as_of: str
    source: str


DEFAULT_LLM_PRICES: dict[str, LLMPrice] = {
    "gpt-4.1-mini": LLMPrice(input_usd_per_million=0.40, output_usd_per_million=1.60, as_of="2026-03",
                             source="OpenAI price page as summarised by deploybase.ai (3P)"),
    "gpt-4o-mini": LLMPrice(input_usd_per_million=0.15, output_usd_per_million=0.60, as_of="2026-03",
                            source="OpenAI price page as summarised by deploybase.ai (3P)"),
    "gemini-2.5-flash": LLMPrice(input_usd_per_million=0.30, output_usd_per_million=2.50, as_of="2025",
                                 source="Gemini API price list as remembered; not confirmed on 2026-12-03"),
}


class LLMConfigError(ValueError):
    """The reader is set up wrongly (no price, a key over plain HTTP...): nothing was sent."""


class LLMSettings(BaseModel):
    """How the reader talks to the model. Off unless a resource builds a client from it."""

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4.1-mini"
    max_tokens: int = Field(8192, ge=256, description="the answer's cap; also what the estimate assumes")
    max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"
    response_format: Literal["json_schema", "json_object"] = Field(
        "json_schema", description="json_object (the schema then rides in the prompt) for servers without json_schema")
    temperature: float | None = Field(None, description="None: not sent (reasoning models refuse other values)")
    chunk_chars: int = Field(24000, ge=1000, description="script characters per request; whole scenes only")
    schema_attempts: int = Field(3, ge=1, le=6, description="answers that fail the schema before the reader gives up")
    chars_per_token: float = Field(3.0, gt=0, description="for the estimate; low on purpose, so it errs high")
    price: LLMPrice | None = Field(None, description="None: DEFAULT_LLM_PRICES[model]; 0 and 0 for your own server")
    allow_http: bool = Field(False, description="plain HTTP to a non-local host (a key would travel in clear)")
    retry: RetryPolicy = RetryPolicy(timeout_s=180.0)

    def prices(self) -> LLMPrice:
        price = self.price or DEFAULT_LLM_PRICES.get(self.model)
        if price is None:
            raise LLMConfigError(f"llm: no price for model {self.model!r}: set the price (0 and 0 for a self-hosted server)")
        return price


@dataclass
class Completion:
    content: str | None
    refusal: str | None
    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None
    lost: int = 0  # sends before this one whose answer never came back (maybe billed)


class LLMClient:
    name = "llm"

    def __init__(self, settings: LLMSettings, api_key: str | None = None):
        parts = urlsplit(settings.base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise LLMConfigError(f"llm: base_url must be an http(s) URL, got {settings.base_url!r}")
        if parts.scheme == "http" and not (settings.allow_http or is_local(parts.hostname)):
            raise LLMConfigError(f"llm: plain HTTP to {parts.hostname} would send the key in clear; use https or allow_http")
        settings.prices()  # no price, no reader: a run must not spend without a record
        self.settings = settings
        self._key = api_key or ""  # local servers (Ollama, llama.cpp) may need none
        self.url = settings.base_url.rstrip("/") + "/chat/completions"

    def __repr__(self) -> str:  # never the key
        return f"LLMClient(base_url={self.settings.base_url!r}, model={self.settings.model!r})"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"} if self._key else {}

    def body(self, messages: list[dict], schema: dict, name: str = "script_reading") -> dict:
        s = self.settings
        body: dict = {"model": s.model, "messages": messages, s.max_tokens_field: s.max_tokens}
        if s.response_format == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}
        else:
            body["response_format"] = {"type": "json_object"}
        if s.temperature is not None:
            body["temperature"] = s.temperature
        return body

    def estimate(self, body: dict) -> float:
        """The most a call can cost: the prompt's characters as tokens plus the full answer cap."""
        price = self.settings.prices()
        prompt = math.ceil(len(json.dumps(body["messages"], ensure_ascii=False)) / self.settings.chars_per_token)
        if body["response_format"]["type"] == "json_schema":
            prompt += math.ceil(len(json.dumps(body["response_format"])) / self.settings.chars_per_token)
        usd = (prompt * price.input_usd_per_million + self.settings.max_tokens * price.output_usd_per_million) / 1e6
        return round(usd, 6)

    def cost(self, completion: Completion, estimate: float) -> float:
        """What the call cost by its own usage, plus lost sends at the estimate. A server
        that reports no usage is charged the estimate."""
        if completion.prompt_tokens is None or completion.completion_tokens is None:
            actual = estimate
        else:
            price = self.settings.prices()
            actual = (completion.prompt_tokens * price.input_usd_per_million
                      + completion.completion_tokens * price.output_usd_per_million) / 1e6
        return round(actual + completion.lost * estimate, 6)

    def _mask(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    async def complete(self, body: dict) -> Completion:
        answer, lost = await self._post(body)
        try:
            choice = answer["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise ProviderError(self.name, "malformed answer: no choices[0].message") from None
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        return Completion(content=message.get("content"), refusal=message.get("refusal"),
                          finish_reason=str(choice.get("finish_reason") or ""),
                          prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
                          lost=lost)

    async def _post(self, body: dict) -> tuple[dict, int]:
        """One call with retries on 429, 5xx, timeouts, dropped connections and answers
        that are not JSON; Retry-After honoured. Returns the answer and the lost sends."""
        retry, where, lost = self.settings.retry, "POST /chat/completions", 0
        async with httpx.AsyncClient(timeout=retry.timeout_s, follow_redirects=False) as http:
            for attempt in range(1, retry.attempts + 1):
                last = attempt == retry.attempts
                try:
                    response = await http.post(self.url, json=body, headers=self.headers())
                except (httpx.TimeoutException, httpx.TransportError) as error:
                    lost += not isinstance(error, NOT_SENT)
                    if last:
                        raise ProviderError(self.name, f"{where}: {type(error).__name__} after {attempt} tries") from None
                    await asyncio.sleep(retry.backoff(attempt))
                    continue
                status = response.status_code
                if status in (408, 409, 429) or status >= 500:
                    if last:
                        raise ProviderError(self.name, f"{where}: HTTP {status} after {attempt} tries", status)
                    delay = retry.backoff(attempt, _retry_after(response))
                    log.info("llm %s: HTTP %s, retrying in %.1fs", where, status, delay)
                    await asyncio.sleep(delay)
                    continue
                answer = self._json(response)
                if status >= 400:
                    self._reject(status, answer, where)
                if answer is not None:
                    return answer, lost
                lost += 1  # a 200 whose body is not JSON: billed, and worth asking again
                if last:
                    raise ProviderError(self.name, f"{where}: HTTP {status} with a body that is not JSON", status)
                await asyncio.sleep(retry.backoff(attempt))
        raise AssertionError("unreachable")

    def _json(self, response: httpx.Response) -> dict | None:
        try:
            answer = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {"message": response.text[:200]} if response.status_code >= 400 else None
        return answer if isinstance(answer, dict) else None

    def _reject(self, status: int, answer: dict, where: str) -> None:
        error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        message = self._mask(_message(answer))
        if error.get("code") in POLICY_CODES:
            raise ContentPolicyRejected(self.name, f"{where}: content refused: {message}", status)
        raise RequestRejected(self.name, f"{where}: HTTP {status}: {message}", status)
