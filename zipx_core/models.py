"""The vocabulary of ZipX: pydantic models shared by every stage.

Assets hold these as JSON manifests; media bytes live in the artifact store and the
manifests hold their URIs and hashes.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from zipx_core.policy import QualityPolicy


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# --- Script -------------------------------------------------------------------------

ElementType = Literal[
    "action", "character", "dialogue", "parenthetical", "transition", "centered", "page_break"
]


class Element(Model):
    type: ElementType
    text: str
    line: int = Field(description="1-based line number in the source file")
    character: str | None = Field(None, description="speaker name, for dialogue and parentheticals")
    extension: str | None = Field(None, description="cue extension such as V.O., O.S., CONT'D")
    dual: bool = False


class Scene(Model):
    number: int = Field(description="1-based position in the drama")
    scene_number: str | None = Field(None, description="the writer's own number (#12A#), if any")
    heading: str
    int_ext: Literal["INT", "EXT", "INT/EXT", "NONE"] = "NONE"
    location: str
    time_of_day: str = ""
    line: int
    elements: list[Element] = []


class Episode(Model):
    key: str = Field(description="partition key: ep01, ep02 ...")
    title: str
    line: int
    preamble: list[Element] = Field([], description="elements before the first scene heading")
    scenes: list[Scene] = []


class Script(Model):
    source: str = Field(description="file name the script came from")
    title: str
    title_page: dict[str, str] = {}
    episodes: list[Episode]

    @property
    def scenes(self) -> list[Scene]:
        return [scene for episode in self.episodes for scene in episode.scenes]

    def all_elements(self) -> list[Element]:
        """Every element in order, the ones before each episode's first heading included."""
        return [e for ep in self.episodes for e in ep.preamble + [x for s in ep.scenes for x in s.elements]]

    def episode(self, key: str) -> Episode | None:
        return next((e for e in self.episodes if e.key == key), None)


# --- Bibles -------------------------------------------------------------------------


class Appearance(Model):
    face_description: str
    hair: str
    hair_color: str = Field(description="hex colour the renderer draws")
    skin_tone: str = Field(description="hex colour the renderer draws")
    build: Literal["slight", "average", "broad", "tall"] = "average"
    age_range: str
    gender: Literal["female", "male", "unspecified"] = "unspecified"


class Outfit(Model):
    description: str
    top_color: str
    bottom_color: str


class VoiceProfile(Model):
    voice_id: str = Field(description="TTS voice, e.g. an espeak-ng voice such as en-us+f3")
    pitch: int = Field(ge=0, le=99)
    rate_wpm: int = Field(ge=80, le=260)
    style: str = "neutral"
    engine: str = Field("espeak-ng", description="the speech engine the voice belongs to: espeak-ng, elevenlabs, openai, gemini")


class CatalogueVoice(Model):
    """One voice a speech engine offers, with what is known of how it sounds."""

    voice_id: str
    name: str = ""
    sex: Literal["female", "male", "unspecified"] = "unspecified"
    age: Literal["young", "middle_aged", "old", ""] = ""
    description: str = Field("", description="words that describe it: the maker's labels and style words")


class WordTiming(Model):
    text: str
    start_s: float = Field(description="from the start of the line")
    end_s: float


class CharacterBible(Model):
    character_id: str
    display_name: str
    aliases: list[str] = []
    introduced_line: int | None = None
    appearance: Appearance
    wardrobe: dict[str, Outfit] = Field(
        description="'default' (the first outfit the script describes, else a generated one) "
        "and 'scene-N' -> the outfit the script describes in scene N"
    )
    voice_profile: VoiceProfile
    emotional_range: list[str] = []
    cue_count: int = 0
    reference_frames: list[str] = Field([], description="artifact URIs of locked reference stills")
    age_by_scene: dict[str, str] = Field(
        {}, description="'scene-N' -> age range where the script shows the character at another age "
        "(a flashback, years later); appearance.age_range everywhere else"
    )
    linked_to: str | None = Field(None, description="character_id of the same person at another age (YOUNG MARY -> mary)")
    provenance: dict[str, str] = Field(
        {}, description="field (gender, age_range, appearance, voice ...) -> where its value came from: "
        "script, name lexicon, llm, invented, cast sheet"
    )
    needs_review: list[str] = Field([], description="fields a person should set: the readers could not tell")
    approved: bool = Field(False, description="approved on the cast sheet: looks and voice are locked")

    def age_for(self, scene_number: int) -> str:
        """The age range in a scene: the scene's own where the script ages the character."""
        return self.age_by_scene.get(f"scene-{scene_number}", self.appearance.age_range)

    def outfit_for(self, scene_number: int) -> Outfit:
        """What the character wears in a scene: the last outfit the script described at
        or before it (people keep their clothes on until the script says otherwise)."""
        described = sorted(
            (int(key.split("-")[1]), outfit) for key, outfit in self.wardrobe.items() if key.startswith("scene-")
        )
        earlier = [outfit for number, outfit in described if number <= scene_number]
        return earlier[-1] if earlier else self.wardrobe["default"]


class LightingPalette(Model):
    colour_temperature_k: int
    key_color: str
    fill_color: str
    ambient_color: str
    mood: str


class CameraStyle(Model):
    lens: str
    movement: Literal["static", "slow_push", "pan", "handheld"]
    framing_notes: str


class SceneBible(Model):
    location_id: str
    name: str
    int_ext: str
    times_of_day: list[str]
    lighting_palette: LightingPalette
    camera_style: CameraStyle
    approved_frames: list[str] = []
    provenance: dict[str, str] = Field({}, description="field -> where its value came from: rules, llm, cast sheet")
    approved: bool = Field(False, description="approved on the cast sheet: look locked")


CUE_MAP_DESCRIPTION = (
    "a cue as the script writes it (upper case, extension removed) -> the character_ids who speak it; "
    "'JOHN AND MARY' -> [john, mary], 'MARY'S VOICE' -> [mary]"
)


class Bibles(Model):
    drama: str
    characters: list[CharacterBible] = []
    locations: list[SceneBible] = []
    cue_map: dict[str, list[str]] = Field({}, description=CUE_MAP_DESCRIPTION)

    def character(self, character_id: str) -> CharacterBible:
        return next(c for c in self.characters if c.character_id == character_id)

    def location(self, location_id: str) -> SceneBible:
        return next(s for s in self.locations if s.location_id == location_id)

    @classmethod
    def of(cls, characters: "CharacterBibles", scenes: "SceneBibles | None" = None) -> "Bibles":
        """The drama's bibles from the two assets that hold them."""
        return cls(
            drama=characters.drama,
            characters=characters.characters,
            locations=scenes.locations if scenes else [],
            cue_map=characters.cue_map,
        )


class CharacterBibles(Model):
    drama: str
    characters: list[CharacterBible]
    cue_map: dict[str, list[str]] = Field({}, description=CUE_MAP_DESCRIPTION)


class SceneBibles(Model):
    drama: str
    locations: list[SceneBible]


# --- Storyboard ---------------------------------------------------------------------


class ShotType(str, Enum):
    ECU = "ECU"
    CU = "CU"
    MCU = "MCU"
    MS = "MS"
    LS = "LS"
    ELS = "ELS"


class DialogueLine(Model):
    character_id: str
    text: str
    parenthetical: str | None = None
    line: int


class Shot(Model):
    shot_id: str
    scene_number: int
    location_id: str
    time_of_day: str
    shot_type: ShotType
    characters: list[str] = Field([], description="character_ids in frame")
    speaker: str | None = None
    action: str = ""
    dialogue: list[DialogueLine] = []
    emotional_intensity: float = Field(ge=0.0, le=1.0)
    has_physics_elements: bool = False
    physics_elements: list[str] = []
    cinematic_priority: bool = False
    duration_s: float = Field(gt=0)
    route: str = Field("local", description="provider the router chose")
    source_line: int


class Storyboard(Model):
    drama: str
    episode: str
    title: str
    shots: list[Shot]

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.shots)


# --- Generation -----------------------------------------------------------------------


class FigureSpec(Model):
    character_id: str
    skin_tone: str
    hair_color: str
    hair_style: str
    top_color: str
    bottom_color: str
    build: str
    age_range: str
    speaking: bool = False


class GenerationRequest(Model):
    """What a provider is asked to make. Providers that render from structure (local)
    read the fields; hosted models read the prompt."""

    shot_id: str
    location_id: str
    prompt: str
    negative_prompt: str = ""
    shot_type: ShotType
    duration_s: float
    fps: int = 24
    width: int
    height: int
    seed: int
    palette: LightingPalette
    camera_movement: str
    figures: list[FigureSpec] = []
    is_exterior: bool = False
    reference_frames: list[str] = []
    keyframe_uri: str | None = None  # keyframe-first: the clip starts from this approved keyframe


class Take(Model):
    shot_id: str
    attempt: int = 1
    provider: str
    model: str
    request_hash: str
    seed: int
    cost_usd: float = 0.0
    intended_provider: str | None = Field(None, description="the router's choice, where it differs from the provider (no key, down, cannot take it)")
    estimated_cost_usd: float = Field(0.0, description="what the router's choice costs at list price")
    task_id: str | None = Field(None, description="the hosted provider's task id")
    clip_uri: str
    clip_sha256: str
    frames: int
    duration_s: float
    thumbnail_uri: str | None = None
    injected_failure: str | None = Field(None, description="local provider only: the failure mode it injected, for measuring the gate")


class ShotsManifest(Model):
    drama: str
    episode: str
    takes: list[Take]
    failed: dict[str, str] = Field({}, description="shot_id: why no take was made (refused three times, budget, provider error)")


class StillSlot(Model):
    """One still of a character's sheet or a place's plates: its scored candidates and
    the one approved (locked), by a person or automatically (the best-scored)."""

    slot: str = Field(description="entity/view/place-or-wardrobe, e.g. anna/front-close-up/default")
    kind: str = Field(description="character | location")
    entity: str
    view: str
    candidates: list[str] = Field(description="artifact URIs")
    scores: list[float]
    approved: str | None = Field(None, description="the locked candidate; None: awaiting a person")
    approved_by: str = ""
    source: str = Field("local", description="local, or provider:model of the image model")
    cost_usd: float = 0.0


class ReferenceSet(Model):
    """Locked reference stills (artifact URIs) per character and per location, and the
    slots they were chosen from."""

    drama: str
    characters: dict[str, list[str]] = {}
    locations: dict[str, list[str]] = {}
    scores: dict[str, float] = Field({}, description="uri -> still score (sharpness x exposure)")
    slots: list[StillSlot] = []
    source: str = Field("local", description="what drew them: local, or provider:model")

    @property
    def awaiting_approval(self) -> list[StillSlot]:
        return [s for s in self.slots if s.approved is None]


class Keyframe(Model):
    """A shot's keyframe: composed by the image model from the locked stills of who and
    where is in it, judged by the continuity gate, then the video model's first frame."""

    shot_id: str
    uri: str | None = Field(None, description="the approved keyframe; None: none passed (the shot goes video-first)")
    attempts: int = 0
    continuity: float = 0.0
    cost_usd: float = 0.0
    source: str = "local"
    reason: str = ""
    candidates: list[str] = []


class KeyframeSet(Model):
    drama: str
    episode: str
    keyframes: list[Keyframe] = []
    enabled: bool = Field(True, description="false: the drama opted out (video-first)")

    def uri_of(self, shot_id: str) -> str | None:
        return next((k.uri for k in self.keyframes if k.shot_id == shot_id), None)


# --- Shot plan ------------------------------------------------------------------------


class PlannedShot(Model):
    shot: Shot = Field(description="the storyboard's shot, as long as its speech needs (whole frames)")
    request: GenerationRequest = Field(description="what a video model is asked, before the shot's keyframe is known")
    request_hash: str = Field(description="sha256 of the request as planned: it changes when anything that shapes the "
                              "shot does (shot, bible entries, timing, frame, stills); a take's own hash adds the model, "
                              "attempt and keyframe")


class ShotPlan(Model):
    """The speech-timed shots of an episode with their generation requests, built once:
    keyframes, shots, the gate and the episode all read these."""

    drama: str
    episode: str
    title: str
    shots: list[PlannedShot]
    policy: QualityPolicy = Field(default_factory=QualityPolicy,
                                  description="the quality loop's numbers these shots are held to (keyframes, the gate, re-plans)")

    def storyboard(self) -> Storyboard:
        """The speech-timed storyboard."""
        return Storyboard(drama=self.drama, episode=self.episode, title=self.title, shots=[p.shot for p in self.shots])

    @property
    def requests(self) -> list[GenerationRequest]:
        return [p.request for p in self.shots]


class SpokenLine(Model):
    shot_id: str
    character_id: str
    text: str
    voice_id: str
    speech_uri: str
    start_s: float = Field(description="where the line starts in the episode")
    duration_s: float
    source_line: int
    engine: str = "espeak-ng"
    words: list[WordTiming] = Field([], description="word timing where the engine reports it (ElevenLabs with timestamps)")
    cost_usd: float = Field(0.0, description="what making this line's speech cost (0 for eSpeak)")


class EpisodeAudio(Model):
    drama: str
    episode: str
    engine: str
    fps: int
    lines: list[SpokenLine]
    shot_durations: dict[str, float] = Field(description="shot_id -> seconds, whole frames, long enough for its lines")
    duration_s: float
    mix_uri: str
    loudness_lufs: float = Field(description="integrated loudness of the mixed track, as loudnorm measured it")
    subtitles_srt_uri: str
    subtitles_vtt_uri: str


class TimelineExport(Model):
    otio_uri: str
    exports: dict[str, str] = Field({}, description="format -> artifact URI of the exported file")
    failures: dict[str, str] = Field({}, description="format -> why it did not export")


class MusicBed(Model):
    """A music bed under an episode's dialogue, as given and as mixed."""

    source: str = Field(description="as the user gave it: a path (EpisodeConfig.music or the inbox file) or a zipx:// URI")
    music_uri: str = Field(description="the music file as given, in the store")
    stem_uri: str = Field(description="the music as it sits in the mix: looped or trimmed to the episode, faded, ducked under the lines")
    mix_uri: str = Field(description="dialogue plus the ducked music, loudness-normalised: the episode's sound")
    loudness_lufs: float = Field(description="integrated loudness of the mix (EBU R128)")
    mix_gain_db: float = Field(description="the mix is the stems' sum times this gain (to the loudness target), peaks limited")
    music_lufs: float = Field(description="integrated loudness of the music stem")
    ducking_db: float | None = Field(
        description="in the final mix, the music's level between lines minus under them (RMS dB; dialogue stem fitted out); "
        "None: no lines"
    )


class EpisodeManifest(Model):
    drama: str
    episode: str
    video_uri: str
    video_sha256: str
    duration_s: float
    shot_count: int
    width: int
    height: int
    codec: str
    join_method: str = Field("copy", description="copy: clips joined without re-encoding")
    audio_codec: str | None = None
    loudness_lufs: float | None = None
    subtitles_srt_uri: str | None = None
    subtitles_vtt_uri: str | None = None
    burned_subtitles: bool = False
    music: MusicBed | None = Field(None, description="the music bed under the dialogue; None: dialogue only (the default)")
    stems: dict[str, str] = Field({}, description="stem (dialogue, music) -> artifact URI; their sum times music.mix_gain_db is the mix")
    awaiting_review: list[str] = Field([], description="shots in the cut with their best take, marked for a reviewer")
    timeline: TimelineExport | None = None
    total_cost_usd: float = 0.0
