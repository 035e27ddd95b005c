"""The OpenAI-compatible speech protocol, `POST {base_url}/audio/speech`: OpenAI itself and
the self-hosted servers that speak it (only the base URL, model, key and voice list
change). The delivery rides in `instructions`.

Checked on 2026-12-03 with the search tool, in the openai-python SDK's types (generated
from OpenAI's OpenAPI spec, August 2026) and OpenAI's text-to-speech guide
(developers.openai.com): the body is `{model, input (at most 4096 characters), voice,
instructions, response_format (mp3 opus aac flac wav pcm), speed (0.25-4), stream_format}`
with `Authorization: Bearer <key>`; the answer is the audio bytes. Built-in voices: alloy,
ash, ballad, coral, echo, fable, onyx, nova, sage, shimmer, verse, marin, cedar (or a
custom voice object `{"id": "voice_..."}`); `instructions` "does not work with tts-1 or
tts-1-hd". The guide says tts-1, tts-1-hd and gpt-4o-mini-tts are deprecated and shut
down on 2027-01-06 (their successor is on the Realtime API, not this route); self-hosted
servers keep the route.
Not confirmed: the built-in voices' sexes (OpenAI publishes none: OPENAI_VOICES holds
our labels from listening reports, alloy and fable left unmarked), that `pcm` is 24 kHz
16-bit little-endian (third-party pages; `wav`, which says its own rate, is the
default), whether 429s carry Retry-After, and today's prices (DEFAULT_PRICES)."""

from __future__ import annotations

from zipx_core.models import CatalogueVoice, VoiceProfile
from zipx_core.providers.speech.base import Delivery, HostedSpeech, SpeechConfigError, SpeechPrice, Spoken

PCM_RATE = 24000
NO_INSTRUCTIONS = ("tts-1", "tts-1-hd")
POLICY_CODES = {"content_policy_violation", "content_filter"}  # as the chat route says it
OPENAI_VOICES = [
    CatalogueVoice(voice_id="alloy", name="Alloy", description="neutral balanced"),
    CatalogueVoice(voice_id="ash", name="Ash", sex="male", description="clear expressive"),
    CatalogueVoice(voice_id="ballad", name="Ballad", sex="male", description="warm melodic british"),
    CatalogueVoice(voice_id="coral", name="Coral", sex="female", description="warm friendly bright"),
    CatalogueVoice(voice_id="echo", name="Echo", sex="male", description="calm even"),
    CatalogueVoice(voice_id="fable", name="Fable", description="storyteller british expressive"),
    CatalogueVoice(voice_id="onyx", name="Onyx", sex="male", age="middle_aged", description="deep authoritative"),
    CatalogueVoice(voice_id="nova", name="Nova", sex="female", age="young", description="bright energetic"),
    CatalogueVoice(voice_id="sage", name="Sage", sex="female", description="calm thoughtful"),
    CatalogueVoice(voice_id="shimmer", name="Shimmer", sex="female", description="soft gentle"),
    CatalogueVoice(voice_id="verse", name="Verse", sex="male", description="expressive dynamic"),
    CatalogueVoice(voice_id="marin", name="Marin", sex="female", description="natural conversational"),
    CatalogueVoice(voice_id="cedar", name="Cedar", sex="male", description="natural warm"),
]
_MINUTE = "OpenAI's listed ~$0.015 a minute at ~850 characters a minute, as summarised by third parties; not confirmed"
DEFAULT_PRICES = {
    "gpt-4o-mini-tts": SpeechPrice(usd_per_million_chars=18.0, as_of="2026-04", source=_MINUTE),
    "tts-1": SpeechPrice(usd_per_million_chars=15.0, as_of="2025", source="OpenAI price list as remembered; not confirmed"),
    "tts-1-hd": SpeechPrice(usd_per_million_chars=30.0, as_of="2025", source="OpenAI price list as remembered; not confirmed"),
}


class OpenAISpeech(HostedSpeech):
    name = "openai"
    default_base_url = "https://api.openai.com/v1"
    default_model = "gpt-4o-mini-tts"
    default_prices = DEFAULT_PRICES

    def __init__(self, api_key, settings=None):
        super().__init__(api_key, settings)
        self.response_format = self.settings.output_format or "wav"
        if self.response_format not in ("wav", "pcm"):
            raise SpeechConfigError(f"openai: response_format {self.response_format!r}: only wav and pcm are read")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def policy_refusal(self, status: int, body: dict) -> bool:
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        return error.get("code") in POLICY_CODES

    @staticmethod
    def instructions(delivery: Delivery) -> str:
        parts = [f"Voice: {delivery.style}."] if delivery.style and delivery.style != "neutral" else []
        if delivery.manner:
            parts.append(f"Delivery: {delivery.manner}.")
        parts.append(f"Emotion: {delivery.intensity_words()}.")
        return " ".join(parts)

    def request(self, text: str, voice: VoiceProfile, delivery: Delivery) -> dict:
        body = {"model": self.model, "input": text, "voice": voice.voice_id, "response_format": self.response_format}
        if self.model not in NO_INSTRUCTIONS:
            body["instructions"] = self.instructions(delivery)
        return body

    async def speak(self, text: str, voice: VoiceProfile, delivery: Delivery) -> Spoken:
        answer = await self.send("POST", self.url("audio/speech"), self.request(text, voice, delivery))
        speech = self.wav(answer.content) if self.response_format == "wav" else self.pcm(answer.content, PCM_RATE)
        return Spoken(speech, self.cost(self.estimate_cost(text, voice, delivery), answer))

    async def catalogue(self) -> list[CatalogueVoice]:
        return list(self.settings.voices) or list(OPENAI_VOICES)
