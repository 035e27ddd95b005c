"""Voices, once given, are kept: a drama's voice lock lives in the artifact store and
every later extraction reads it, so a re-run (or a new episode with new characters)
never re-assigns a voice the audience has already heard."""

from zipx_core.models import CharacterBible, VoiceProfile
from zipx_core.storage import LocalArtifactStore


def load_voice_lock(store: LocalArtifactStore, drama: str) -> dict[str, VoiceProfile]:
    record = store.get_record("voices", drama) or {}
    return {character_id: VoiceProfile.model_validate(voice) for character_id, voice in record.items()}


def save_voice_lock(store: LocalArtifactStore, drama: str, characters: list[CharacterBible]) -> None:
    record = store.get_record("voices", drama) or {}
    record.update({c.character_id: c.voice_profile.model_dump() for c in characters})
    store.put_record("voices", drama, record)
