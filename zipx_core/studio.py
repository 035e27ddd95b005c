"""The composition root: one `Studio`, built from one `StudioConfig`, holds what every
stage works with: the artifact store (and the manifests and records on it), the video
models (`local` beside the hosted ones), the still source, the embedder, the speech engine
and the LLM reader.

The Dagster resources (zipx_dagster.resources) are these same configuration sections, and
the CLI, the demo and the benchmarks build a Studio from them or from `StudioConfig.from_env`,
so every one of them acts on the same store. The environment is read here, and only here.

    studio = Studio.from_env()                 # $ZIPX_HOME, S3 when ZIPX_S3_BUCKET is set
    studio.records.review(drama, episode).get()
    studio.still_source(drama).make(asks)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from zipx_core.manifests import ManifestReader
from zipx_core.providers.local import FailureModes, LocalRenderer
from zipx_core.qa.embeddings import ClipConfig
from zipx_core.records import Records
from zipx_core.routing import Quality
from zipx_core.storage import ArtifactStore, StoreConfig, presigner, store_settings

# Each hosted video model's keys: the configuration's fields and the environment variables
# they are read from. A model whose keys are not all set is left out (its shots fall back
# to the next, and with no key at all to `local`).
PROVIDER_KEYS = {
    "veo3": {"gemini_api_key": "GEMINI_API_KEY"},
    "kling": {"kling_access_key": "KLING_ACCESS_KEY", "kling_secret_key": "KLING_SECRET_KEY"},
    "seedance": {"ark_api_key": "ARK_API_KEY"},
    "happyhorse": {"dashscope_api_key": "DASHSCOPE_API_KEY"},
}
# The speech engines and the variable each one's key is read from.
SPEECH_KEYS = {"elevenlabs": "ELEVENLABS_API_KEY", "openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}
S3_KEYS = {"aws_access_key_id": "AWS_ACCESS_KEY_ID", "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY"}
LLM_KEYS = {"api_key": "ZIPX_LLM_API_KEY"}


def zipx_home() -> Path:
    """Where a machine keeps ZipX's files: $ZIPX_HOME, else ./.zipx."""
    return Path(os.environ.get("ZIPX_HOME", ".zipx")).resolve()


class VideoModel(Protocol):
    """What every video model is to the router and the engine (zipx_core.generation), `local`
    included: a name routes are made of, a price for the work it is given, whether it is
    `hosted` (submitted to, polled and fetched from: providers.base.VideoProvider) or renders
    in process (`local`: providers.local.LocalRenderer), and a client to close after a run."""

    name: str
    hosted: bool

    def estimate_cost(self, work) -> float: ...

    async def aclose(self) -> None: ...


def _key_description(field: str) -> str:
    """A key field's description: the variable it is read from, shown in the launchpad."""
    variable = next(v for fields in PROVIDER_KEYS.values() for name, v in fields.items() if name == field)
    return f"env {variable} (a dg.EnvVar when set: the UI shows the name, never the value); unset: that model is left out"


class GenerationConfig(BaseModel):
    """The hosted video and image models and the one dial users see. Keys come from the
    environment and never reach logs or metadata. Budgets stop new submissions when reached."""

    quality: Quality = Quality.balanced  # the one dial: draft | balanced | premium
    budget_episode_usd: float | None = Field(None, description="USD one episode may spend on paid calls; null: no limit")
    budget_drama_usd: float | None = Field(None, description="USD a whole drama may spend, its stills included; null: no limit")
    gemini_api_key: str | None = Field(None, description=_key_description("gemini_api_key"))
    kling_access_key: str | None = Field(None, description=_key_description("kling_access_key"))
    kling_secret_key: str | None = Field(None, description=_key_description("kling_secret_key"))
    ark_api_key: str | None = Field(None, description=_key_description("ark_api_key"))
    dashscope_api_key: str | None = Field(None, description=_key_description("dashscope_api_key"))
    base_urls: dict[str, str] = {}  # provider -> API base, for other regions or a gateway
    download_hosts: dict[str, list[str]] = {}  # provider -> hosts its result videos may come from (defaults per client)
    allow_private_hosts: bool = False  # fetch results from loopback/private addresses: local test servers only
    price_overrides: dict[str, float] = {}  # price key (see zipx_core.routing.DEFAULT_PRICES) -> $/s
    concurrency: dict[str, int] = {}  # provider -> jobs at once (your account's tier), over the defaults
    submissions_per_minute: dict[str, float] = {}  # provider -> rate limit, over the defaults; 0 = none
    # Kling lip-sync on silent hosted dialogue takes (CU/MCU/MS); never on local takes. Needs an S3 store (Kling
    # fetches clips by URL) and a 720p or 1080p frame (balanced, premium): else `shots` fails before paying
    lip_sync: bool = False
    lip_sync_tolerance_s: float = 0.2  # speech and clip lengths may disagree this much before review
    # models that make sound (Veo 3, HappyHorse; Seedance 1.5 pro) speak one-speaker shots' lines themselves, and
    # the episode plays their sound there; a clip whose speech length disagrees with its line goes to review
    native_dialogue: bool = False
    image_model: str | None = None  # gemini_image | seedream | kling_image | wan_image; None: the dial's choice
    keyframe_first: bool = True  # a keyframe per shot, judged, then the clip's first frame; False: video-first
    still_candidates: int = 2  # candidates per reference still (each one paid for on a hosted image model)
    auto_approve_stills: bool = False  # hosted stills: approve the best-scored candidate without a person

    def settings(self):
        """zipx_core.generation.GenerationSettings: the dial, budgets, prices and limits."""
        from zipx_core.generation import GenerationSettings

        defaults = GenerationSettings()
        return GenerationSettings(quality=self.quality, budget_episode_usd=self.budget_episode_usd,
                                  budget_drama_usd=self.budget_drama_usd, prices={**defaults.prices, **self.price_overrides},
                                  concurrency={**defaults.concurrency, **self.concurrency},
                                  submissions_per_minute={**defaults.submissions_per_minute, **self.submissions_per_minute})

    @property
    def hosted(self) -> bool:
        """Whether any hosted model has all its keys: then every still, frame and comparison is hosted."""
        return any(all(getattr(self, field) for field in fields) for fields in PROVIDER_KEYS.values())

    def _hosts(self, *names: str) -> tuple[str, ...] | None:
        hosts = next((self.download_hosts[n] for n in names if n in self.download_hosts), None)
        return tuple(hosts) if hosts else None

    def providers(self) -> dict:
        """Clients for the hosted video models that have keys (new ones each call: an HTTP
        client belongs to its event loop)."""
        from zipx_core.providers import HOSTED

        prices, made = self.settings().prices, {}
        for name, fields in PROVIDER_KEYS.items():
            keys = [getattr(self, field) for field in fields]
            if all(keys):
                made[name] = HOSTED[name](*keys, base_url=self.base_urls.get(name), prices=prices,
                                          download_hosts=self._hosts(name), allow_private=self.allow_private_hosts)
        return made

    def image_providers(self) -> dict:
        """Image clients for the vendors that have keys (an image model uses its vendor's video keys)."""
        from zipx_core.providers.images import DEFAULT_IMAGE_PRICES, IMAGE_HOSTED, IMAGE_KEYS

        prices, made = {**DEFAULT_IMAGE_PRICES, **self.price_overrides}, {}
        for name, vendor in IMAGE_KEYS.items():
            keys = [getattr(self, field) for field in PROVIDER_KEYS[vendor]]
            if all(keys):
                made[name] = IMAGE_HOSTED[name](*keys, base_url=self.base_urls.get(name) or self.base_urls.get(vendor),
                                                prices=prices, download_hosts=self._hosts(name, vendor),
                                                allow_private=self.allow_private_hosts)
        return made

    def still_source(self, store, drama: str):
        """Where stills come from: the hosted image model when hosted models are set up
        (never the offline drawer then), else the offline drawer."""
        from zipx_core.providers.images import choose_image_model
        from zipx_core.stills import HostedStills, LocalStills

        if not self.hosted:
            return LocalStills(store)
        available = set(self.image_providers())
        chosen = choose_image_model(self.quality, {self.image_model} & available if self.image_model else available)
        if chosen is None:
            raise ValueError(f"hosted models are set up but no image model {self.image_model or ''} has keys: "
                             "stills would be drawn offline and sent to paid models; set the image model's keys")
        name, model = chosen
        return HostedStills(lambda: self.image_providers()[name], name, model, store, drama, self.settings(),
                            reference_url=presigner(store))

    def lip_syncer(self):
        """Kling's lip-sync client (same keys as Kling video); an error when lip-sync is on without them."""
        from zipx_core.providers.kling_lipsync import KlingLipSync

        if not (self.kling_access_key and self.kling_secret_key):
            raise ValueError("lip_sync is on but Kling's keys are not set: dialogue shots would be out of sync")
        return KlingLipSync(self.kling_access_key, self.kling_secret_key, base_url=self.base_urls.get("kling"),
                            download_hosts=self._hosts("kling"), allow_private=self.allow_private_hosts)


class SpeechConfig(BaseModel):
    """The speech engine: eSpeak NG (offline, the default) or a hosted one (ElevenLabs, the
    OpenAI-compatible /audio/speech route, Gemini TTS). Prices: per million characters
    (ElevenLabs, OpenAI-compatible) or per million tokens in and out (Gemini), with the date
    they were read; left unset, zipx_core's dated table for the model is used (set 0 for your
    own server)."""

    engine: str = "espeak"  # espeak | elevenlabs | openai | gemini
    base_url: str | None = None  # another region, a gateway, or a self-hosted OpenAI-compatible server
    model: str | None = None  # None: the engine's default
    api_key: str | None = None
    usd_per_million_chars: float | None = None
    input_usd_per_million_tokens: float | None = None
    output_usd_per_million_tokens: float | None = None
    prices_as_of: str = ""  # when and where you read the prices above
    voices: list[dict] = []  # the catalogue, over the engine's own: {voice_id, name, sex, age, description}
    concurrency: int = 4  # lines in flight at once
    timestamps: bool = True  # ElevenLabs: word timing (the with-timestamps route)
    output_format: str | None = None  # None: the engine's PCM default
    allow_http: bool = False  # plain HTTP to a non-local host

    def speech_engine(self):
        """The engine; eSpeak NG unless a hosted one is set up."""
        from zipx_core.audio import EspeakEngine

        if self.engine in ("espeak", "espeak-ng"):
            return EspeakEngine()
        from zipx_core.models import CatalogueVoice
        from zipx_core.providers.speech import HOSTED_SPEECH, SpeechPrice, SpeechSettings

        if self.engine not in HOSTED_SPEECH:
            raise ValueError(f"speech engine {self.engine!r}: one of espeak, {', '.join(HOSTED_SPEECH)}")
        named = ("usd_per_million_chars", "input_usd_per_million_tokens", "output_usd_per_million_tokens")
        prices = {name: getattr(self, name) for name in named if getattr(self, name) is not None}
        price = SpeechPrice(**prices, as_of=self.prices_as_of or "not given", source="resource configuration") if prices else None
        settings = SpeechSettings(base_url=self.base_url, model=self.model, price=price, concurrency=self.concurrency,
                                  voices=[CatalogueVoice.model_validate(v) for v in self.voices], timestamps=self.timestamps,
                                  output_format=self.output_format, allow_http=self.allow_http)
        return HOSTED_SPEECH[self.engine](self.api_key, settings)


class LLMConfig(BaseModel):
    """The optional LLM reader of scripts over the OpenAI-compatible chat completions
    protocol (OpenAI, Gemini's OpenAI endpoint, vLLM, Ollama, llama.cpp): off unless
    `enabled`. Prices are dollars per million tokens with the date they were read; left
    unset, zipx_core's dated table for the model is used (0 and 0 for a self-hosted server)."""

    enabled: bool = False
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4.1-mini"
    api_key: str | None = None
    input_usd_per_million: float | None = None
    output_usd_per_million: float | None = None
    prices_as_of: str = ""  # when and where you read the prices above
    max_tokens: int = 8192
    chunk_chars: int = 24000  # script characters per request (whole scenes)
    schema_attempts: int = 3
    response_format: str = "json_schema"  # json_object for servers without JSON-schema output
    allow_http: bool = False  # plain HTTP to a non-local host

    def client(self):
        """The client, or None when the reader is off."""
        if not self.enabled:
            return None
        from zipx_core.providers.llm import LLMClient, LLMPrice, LLMSettings

        price = None
        if self.input_usd_per_million is not None and self.output_usd_per_million is not None:
            price = LLMPrice(input_usd_per_million=self.input_usd_per_million, output_usd_per_million=self.output_usd_per_million,
                             as_of=self.prices_as_of or "not given", source="resource configuration")
        settings = LLMSettings(base_url=self.base_url, model=self.model, max_tokens=self.max_tokens, chunk_chars=self.chunk_chars,
                               schema_attempts=self.schema_attempts, response_format=self.response_format, price=price,
                               allow_http=self.allow_http)
        return LLMClient(settings, self.api_key)


_EMBEDDERS: dict[str, tuple] = {}  # one per configuration per process: CLIP's weights are loaded once


class EmbedderConfig(ClipConfig):
    """The continuity embedder: open_clip (on the GPU in production) or, when no CLIP
    weights are present, the offline colour embedder. torch is imported only when CLIP is
    chosen or may be (zipx_core.qa.embeddings.choose_embedder)."""

    embedder: str = "auto"  # auto | clip | colour

    def load(self) -> tuple:
        """(the embedder, why it was chosen), made on first use."""
        from zipx_core.qa.embeddings import choose_embedder

        key = self.model_dump_json()
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = choose_embedder(self.embedder, ClipConfig(**self.model_dump(exclude={"embedder"})))
        return _EMBEDDERS[key]


def _set(variables: dict[str, str], secret: Callable[[str], Any]) -> dict:
    """field -> secret(variable) for each variable that is set."""
    return {field: secret(variable) for field, variable in variables.items() if os.environ.get(variable)}


def store_env(home: Path, secret: Callable[[str], Any]) -> dict:
    """zipx_core.storage.store_settings, with the S3 keys when they are set (else boto3's chain)."""
    settings = store_settings(home)
    return settings | _set(S3_KEYS, secret) if settings.get("s3_bucket") else settings


def generation_env(secret: Callable[[str], Any]) -> dict:
    return _set({f: v for fields in PROVIDER_KEYS.values() for f, v in fields.items()}, secret)


def speech_env(secret: Callable[[str], Any]) -> dict:
    """ZIPX_SPEECH_ENGINE (elevenlabs | openai | gemini) turns a hosted engine on, with
    ZIPX_SPEECH_BASE_URL, ZIPX_SPEECH_MODEL and the engine's key; eSpeak NG otherwise."""
    env, engine = os.environ, os.environ.get("ZIPX_SPEECH_ENGINE", "espeak")
    keys = {"api_key": SPEECH_KEYS[engine]} if engine in SPEECH_KEYS else {}
    return {"engine": engine, "base_url": env.get("ZIPX_SPEECH_BASE_URL") or None,
            "model": env.get("ZIPX_SPEECH_MODEL") or None} | _set(keys, secret)


def llm_env(secret: Callable[[str], Any]) -> dict:
    """On when ZIPX_LLM_MODEL is set, with ZIPX_LLM_BASE_URL, ZIPX_LLM_API_KEY (local servers
    may need none) and ZIPX_LLM_INPUT_USD_PER_MILLION / ZIPX_LLM_OUTPUT_USD_PER_MILLION."""
    env = os.environ
    if not env.get("ZIPX_LLM_MODEL"):
        return {}
    prices = {field: float(env[variable]) for field, variable in (
        ("input_usd_per_million", "ZIPX_LLM_INPUT_USD_PER_MILLION"),
        ("output_usd_per_million", "ZIPX_LLM_OUTPUT_USD_PER_MILLION")) if env.get(variable)}
    return {"enabled": True, "model": env["ZIPX_LLM_MODEL"], "base_url": env.get("ZIPX_LLM_BASE_URL") or LLMConfig().base_url,
            **prices, **_set(LLM_KEYS, secret)}


def settings_from_env(home: Path, secret: Callable[[str], Any] = os.environ.__getitem__) -> dict[str, dict]:
    """Every section's settings from the environment. Secrets go through `secret(variable)`:
    their values here (the CLI), a dg.EnvVar in zipx_dagster (the launchpad shows the
    variable's name, never its value)."""
    return {"store": store_env(home, secret), "generation": generation_env(secret), "speech": speech_env(secret),
            "llm": llm_env(secret)}


class StudioConfig(BaseModel):
    """Everything a Studio is built from."""

    home: Path  # a machine's own files: the inbox, a local store, the S3 read cache
    store: StoreConfig
    generation: GenerationConfig = GenerationConfig()
    speech: SpeechConfig = SpeechConfig()
    llm: LLMConfig = LLMConfig()
    embedder: EmbedderConfig = EmbedderConfig()
    failures: FailureModes = FailureModes()  # what the `local` renderer injects on purpose (all off)

    @classmethod
    def at(cls, home: str | Path, **sections) -> StudioConfig:
        """Offline defaults under `home` (the store in home/artifacts, the manifests in
        home/manifests), with the sections given over them."""
        home = Path(home).resolve()
        store = StoreConfig(root=str(home / "artifacts"), objects_root=str(home))
        return cls(home=home, **({"store": store} | sections))

    @classmethod
    def from_env(cls, home: str | Path | None = None) -> StudioConfig:
        """The configuration the runs use: `home` (else $ZIPX_HOME, else ./.zipx) and the environment."""
        home = Path(home).resolve() if home else zipx_home()
        return cls.at(home, **settings_from_env(home))


@dataclass(frozen=True, eq=False)
class Studio:
    """What every stage works with, built once from one configuration; costly parts on first use."""

    config: StudioConfig

    @classmethod
    def from_env(cls, home: str | Path | None = None) -> Studio:
        return cls(StudioConfig.from_env(home))

    @cached_property
    def store(self) -> ArtifactStore:
        return self.config.store.open()

    @cached_property
    def manifests(self) -> ManifestReader:
        return ManifestReader(self.store)

    @cached_property
    def records(self) -> Records:
        return Records(self.store)

    def local_renderer(self) -> LocalRenderer:
        return LocalRenderer(failures=self.config.failures)

    def hosted_video_models(self) -> dict[str, VideoModel]:
        """New clients for the hosted models that have keys (an HTTP client belongs to its event loop)."""
        return self.config.generation.providers()

    def video_models(self) -> dict[str, VideoModel]:
        """Every video model by the name routes use: `local` and the hosted ones with keys."""
        return {"local": self.local_renderer(), **self.hosted_video_models()}

    def generation_settings(self):
        return self.config.generation.settings()

    def still_source(self, drama: str):
        """zipx_core.stills.StillSource: the hosted image model when hosted models are set up, else the offline drawer."""
        return self.config.generation.still_source(self.store, drama)

    def embedder(self) -> tuple:
        """(the continuity embedder, why it was chosen): loaded on first use, once per process."""
        return self.config.embedder.load()

    def speech_engine(self):
        return self.config.speech.speech_engine()

    def llm_client(self):
        """The LLM reader's client, or None when it is off."""
        return self.config.llm.client()
