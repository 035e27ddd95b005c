"""Gemini TTS: `generateContent` on a TTS model with AUDIO as the response modality and a
prebuilt voice; the delivery is a style prompt before the line ("Say whispering, calm
and restrained: ...").

Checked on 2026-12-03 with the search tool: the google-genai SDK's types (August 2026)
give `speechConfig {voiceConfig {prebuiltVoiceConfig {voiceName}}, languageCode,
multiSpeakerVoiceConfig}`; Google Cloud's Gemini TTS page lists gemini-3.8-flash-tts,
gemini-3.8-flash-lite-tts, gemini-3.1-flash-tts-preview and gemini-2.5 models; the
answer is base64 PCM in `candidates[0].content.parts[].inlineData` with the mime type
`audio/L16;codec=pcm;rate=24000` (Gemini cookbook, as summarised by DeepWiki), and the
Gemini API takes the key in `x-goog-api-key`.
Not confirmed on ai.google.dev itself (it is not in the index): the 30 voices and their
one-word styles (GEMINI_VOICES, from several copies of the docs' table); their sexes
(Google's Cloud TTS voice list as copied by third-party code; the three voices sources
disagree on, Achernar, Achird and Pulcherrima, are left unmarked); the 3.8 models on the
Gemini API (a third-party SDK lists them; the 2.5 previews shut down 2026-12-18); 32
audio tokens a second (a Google reply on its forum); and the prices (a LiteLLM
announcement: launch prices through 2026-12-31, doubling on 2027-01-01)."""

from __future__ import annotations

import math
import re
from urllib.parse import quote

from zipx_core.models import CatalogueVoice, VoiceProfile
from zipx_core.providers.base import ContentPolicyRejected
from zipx_core.providers.speech.base import (
    Answer,
    BadAudio,
    Delivery,
    HostedSpeech,
    SpeechPrice,
    Spoken,
    tokens,
)

AUDIO_TOKENS_PER_S = 32
SPOKEN_CHARS_PER_S = 10  # speech runs at about 14: low on purpose, so the estimate errs high
BLOCKED = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION"}
_STYLES = {
    "female": {"Zephyr": "bright", "Kore": "firm", "Leda": "youthful", "Aoede": "breezy", "Callirrhoe": "easy-going",
               "Autonoe": "bright", "Despina": "smooth", "Erinome": "clear", "Laomedeia": "upbeat", "Gacrux": "mature",
               "Vindemiatrix": "gentle", "Sulafat": "warm"},
    "male": {"Puck": "upbeat", "Charon": "informative", "Fenrir": "excitable", "Orus": "firm", "Enceladus": "breathy",
             "Iapetus": "clear", "Umbriel": "easy-going", "Algieba": "smooth", "Algenib": "gravelly",
             "Rasalgethi": "informative", "Alnilam": "firm", "Schedar": "even", "Zubenelgenubi": "casual",
             "Sadachbia": "lively", "Sadaltager": "knowledgeable"},
    "unspecified": {"Achernar": "soft", "Achird": "friendly", "Pulcherrima": "forward"},
}
GEMINI_VOICES = [CatalogueVoice(voice_id=name, name=name, sex=sex, description=style,
                                age="young" if style == "youthful" else "old" if style == "mature" else "")
                 for sex, voices in _STYLES.items() for name, style in voices.items()]
_LITELLM = "LiteLLM's announcement of the 3.8 TTS models (3P): launch price through 2026-12-31, doubling 2027-01-01"
DEFAULT_PRICES = {
    "gemini-3.8-flash-tts": SpeechPrice(input_usd_per_million_tokens=0.50, output_usd_per_million_tokens=9.00,
                                        as_of="2026-11", source=_LITELLM),
    "gemini-3.8-flash-lite-tts": SpeechPrice(input_usd_per_million_tokens=0.50, output_usd_per_million_tokens=6.00,
                                             as_of="2026-11", source=_LITELLM),
}


class GeminiSpeech(HostedSpeech):
    name = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"
    default_model = "gemini-3.8-flash-tts"
    default_prices = DEFAULT_PRICES

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key} if self.api_key else {}

    def sent_text(self, text: str, delivery: Delivery) -> str:
        """The line behind a style prompt, the way Google's examples direct a voice."""
        manner = [delivery.manner] if delivery.manner else []
        manner.append(delivery.intensity_words())
        if delivery.style and delivery.style != "neutral":
            manner.append(f"in a {delivery.style} voice")
        return f"Say {', '.join(manner)}: {text}"

    def request(self, text: str, voice: VoiceProfile, delivery: Delivery) -> dict:
        return {"contents": [{"parts": [{"text": self.sent_text(text, delivery)}]}],
                "generationConfig": {"responseModalities": ["AUDIO"],
                                     "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice.voice_id}}}}}

    def estimate_cost(self, text: str, voice: VoiceProfile, delivery: Delivery) -> float:
        price, prompt = self.prices(), len(self.sent_text(text, delivery))
        audio = math.ceil(len(text) / SPOKEN_CHARS_PER_S * AUDIO_TOKENS_PER_S)
        return round((tokens(prompt) * price.input_usd_per_million_tokens + audio * price.output_usd_per_million_tokens) / 1e6, 6)

    def cost(self, estimate: float, answer: Answer, usage: dict | None = None) -> float:
        """By the answer's own token counts where it gives them, plus lost sends at the estimate."""
        prompt, audio = (usage or {}).get("promptTokenCount"), (usage or {}).get("candidatesTokenCount")
        if not (isinstance(prompt, int) and isinstance(audio, int)):
            return super().cost(estimate, answer)
        price = self.prices()
        actual = (prompt * price.input_usd_per_million_tokens + audio * price.output_usd_per_million_tokens) / 1e6
        return round(actual + answer.lost * estimate, 6)

    async def speak(self, text: str, voice: VoiceProfile, delivery: Delivery) -> Spoken:
        where = f"POST /models/{self.model}:generateContent"
        answer = await self.send("POST", self.url(f"models/{quote(self.model, safe='.-_')}:generateContent"),
                                 self.request(text, voice, delivery))
        body = self.json_of(answer, where)
        speech = self._audio(body, where)
        usage = body.get("usageMetadata") if isinstance(body.get("usageMetadata"), dict) else None
        return Spoken(speech, self.cost(self.estimate_cost(text, voice, delivery), answer, usage))

    def _audio(self, body: dict, where: str):
        blocked = (body.get("promptFeedback") or {}).get("blockReason")
        candidate = (body.get("candidates") or [{}])[0] if isinstance(body.get("candidates"), list) else {}
        if blocked or candidate.get("finishReason") in BLOCKED:
            raise ContentPolicyRejected(self.name, f"{where}: content refused: {blocked or candidate.get('finishReason')}")
        parts = ((candidate.get("content") or {}).get("parts") or []) if isinstance(candidate, dict) else []
        inline = next((p.get("inlineData") for p in parts if isinstance(p, dict) and p.get("inlineData")), None)
        if not isinstance(inline, dict):
            raise BadAudio(self.name, f"{where}: no inlineData audio in the answer")
        rate = re.search(r"rate=(\d+)", str(inline.get("mimeType", "")))
        return self.pcm(self.b64(inline.get("data")), int(rate.group(1)) if rate else 24000)

    async def catalogue(self) -> list[CatalogueVoice]:
        return list(self.settings.voices) or list(GEMINI_VOICES)
