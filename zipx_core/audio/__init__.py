from zipx_core.audio.dialogue import AudioSettings, apply_speech_timing, voice_episode
from zipx_core.audio.speech import EspeakEngine, Speech, SpeechError

__all__ = ["AudioSettings", "EspeakEngine", "Speech", "SpeechError", "apply_speech_timing", "voice_episode"]
