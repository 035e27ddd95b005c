"""Hosted speech, one module per engine: ElevenLabs, the OpenAI-compatible speech route
and Gemini TTS. eSpeak NG (zipx_core.audio.speech) stays the offline default."""

from zipx_core.providers.speech.base import (
    BadAudio,
    Delivery,
    HostedSpeech,
    Speech,
    SpeechConfigError,
    SpeechPrice,
    SpeechSettings,
    Spoken,
)
from zipx_core.providers.speech.elevenlabs import ElevenLabsSpeech
from zipx_core.providers.speech.gemini import GeminiSpeech
from zipx_core.providers.speech.openai_compatible import OpenAISpeech

HOSTED_SPEECH: dict[str, type[HostedSpeech]] = {"elevenlabs": ElevenLabsSpeech, "openai": OpenAISpeech, "gemini": GeminiSpeech}

__all__ = ["BadAudio", "Delivery", "ElevenLabsSpeech", "GeminiSpeech", "HOSTED_SPEECH", "HostedSpeech", "OpenAISpeech",
           "Speech", "SpeechConfigError", "SpeechPrice", "SpeechSettings", "Spoken"]
