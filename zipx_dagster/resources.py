"""Resources: one configuration model per concern, each a thin shell over zipx_core."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import BaseModel, Field

from zipx_core.generation import RenderSettings
from zipx_core.routing import Aspect, Quality, frame_size
from zipx_core.naming import slug
from zipx_core.script.drama import SCRIPT_SUFFIXES
from zipx_core.providers.local import FailureModes, LocalRenderer
from zipx_core.qa.embeddings import ClipConfig, choose_embedder
from zipx_core.manifests import ManifestReader
from zipx_core.storage import LocalArtifactStore, S3ArtifactStore, open_store, store_settings


def zipx_home() -> Path:
    """Where a laptop keeps ZipX's files: $ZIPX_HOME, else ./.zipx."""
    return Path(os.environ.get("ZIPX_HOME", ".zipx")).resolve()


class ScriptInbox(dg.ConfigurableResource):
    """The folder writers drop scripts into. A drama's key is its file's (or folder's)
    name, made safe: `Harbour Lights.fountain` is the drama `harbour_lights`."""

    root: str

    def script_path(self, drama: str) -> Path:
        root = Path(self.root)
        for candidate in sorted(root.iterdir()) if root.is_dir() else []:
            if slug(candidate.stem) == drama and (candidate.is_dir() or candidate.suffix.lower() in SCRIPT_SUFFIXES):
                return candidate
        raise FileNotFoundError(f"no script for drama {drama!r} in the inbox {root}")


class ArtifactStore(dg.ConfigurableResource):
    """Clips, stills, audio and episodes, content-addressed. A local folder (`root`) by
    default; S3 or any S3-compatible server when `s3_bucket` is set, `root` then being
    the local read cache. Credentials come from the environment (dg.EnvVar) and never
    reach logs or metadata. The manifests are on the same store (ManifestIOManager)."""

    root: str
    objects_root: str | None = None  # a local store's manifests: <objects_root>/manifests (default: under root)
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    def store(self) -> LocalArtifactStore | S3ArtifactStore:
        return open_store(self.root, self.objects_root, self.s3_bucket, self.s3_prefix, self.s3_endpoint_url,
                          self.s3_region, self.aws_access_key_id, self.aws_secret_access_key)


def artifact_store_from_env(home: Path) -> ArtifactStore:
    """zipx_core.storage.store_settings (ZIPX_S3_BUCKET switches to S3), with the usual
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY as dg.EnvVar."""
    settings = store_settings(home)
    if not settings.get("s3_bucket"):
        return ArtifactStore(**settings)
    return ArtifactStore(**settings, aws_access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
                         aws_secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"))


class RenderConfig(dg.ConfigurableResource):
    """The episode's frame: `aspect` 16:9 (default) or 9:16 (phones); the quality dial picks
    its size (zipx_core.routing.FRAME_SIZES): what hosted takes are paid for, or the offline
    renderer's small default when no hosted model has keys. Set both `width` and `height`
    to force a size (tests, benches)."""

    aspect: Aspect = Aspect.landscape
    width: int | None = None
    height: int | None = None
    fps: int = 24
    workers: int = 2

    def frame(self, generation: Generation | None = None) -> tuple[int, int]:
        """(width, height): the forced size, else the dial's for the aspect (`generation`: its dial and keys)."""
        if self.width and self.height:
            return self.width, self.height
        if generation is None:
            return frame_size(Quality.balanced, self.aspect, hosted=False)
        return frame_size(generation.quality, self.aspect, hosted=_has_hosted_keys(generation))

    def settings(self, generation: Generation | None = None) -> RenderSettings:
        width, height = self.frame(generation)
        return RenderSettings(width=width, height=height, fps=self.fps, workers=self.workers)


def _has_hosted_keys(generation: Generation) -> bool:
    """Whether any hosted model has all its keys (then every shot renders hosted)."""
    return any(all(getattr(generation, field) for field in fields) for fields in PROVIDER_KEYS.values())


# Each hosted model's keys: the resource's fields and the environment variables they are
# read from. A model whose keys are not all set is left out (its shots fall back to the
# next, and with no key at all to `local`).
PROVIDER_KEYS = {
    "veo3": {"gemini_api_key": "GEMINI_API_KEY"},
    "kling": {"kling_access_key": "KLING_ACCESS_KEY", "kling_secret_key": "KLING_SECRET_KEY"},
    "seedance": {"ark_api_key": "ARK_API_KEY"},
    "happyhorse": {"dashscope_api_key": "DASHSCOPE_API_KEY"},
}


def _from_env(field: str) -> str:
    """A key field's description: the variable it is read from, shown in the launchpad."""
    variable = next(v for fields in PROVIDER_KEYS.values() for name, v in fields.items() if name == field)
    return f"env {variable} (a dg.EnvVar when set: the UI shows the name, never the value); unset: that model is left out"


class Generation(dg.ConfigurableResource):
    """The hosted video models and the one dial users see. Keys come from the
    environment (dg.EnvVar: the UI shows the variable's name, never its value) and
    never reach logs or metadata. Budgets stop new submissions when reached."""

    quality: Quality = Quality.balanced  # the one dial: draft | balanced | premium
    budget_episode_usd: float | None = Field(None, description="USD one episode may spend on paid calls; null: no limit")
    budget_drama_usd: float | None = Field(None, description="USD a whole drama may spend, its stills included; null: no limit")
    gemini_api_key: str | None = Field(None, description=_from_env("gemini_api_key"))
    kling_access_key: str | None = Field(None, description=_from_env("kling_access_key"))
    kling_secret_key: str | None = Field(None, description=_from_env("kling_secret_key"))
    ark_api_key: str | None = Field(None, description=_from_env("ark_api_key"))
    dashscope_api_key: str | None = Field(None, description=_from_env("dashscope_api_key"))
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
        from zipx_core.generation import GenerationSettings

        defaults = GenerationSettings()
        return GenerationSettings(quality=self.quality, budget_episode_usd=self.budget_episode_usd,
                                  budget_drama_usd=self.budget_drama_usd, prices={**defaults.prices, **self.price_overrides},
                                  concurrency={**defaults.concurrency, **self.concurrency},
                                  submissions_per_minute={**defaults.submissions_per_minute, **self.submissions_per_minute})

    def lip_syncer(self):
        """Kling's lip-sync client (same keys as Kling video); an error when lip-sync is on without them."""
        from zipx_core.providers.kling_lipsync import KlingLipSync

        if not (self.kling_access_key and self.kling_secret_key):
            raise ValueError("lip_sync is on but Kling's keys are not set: dialogue shots would be out of sync")
        hosts = tuple(self.download_hosts["kling"]) if "kling" in self.download_hosts else None
        return KlingLipSync(self.kling_access_key, self.kling_secret_key, base_url=self.base_urls.get("kling"),
                            download_hosts=hosts, allow_private=self.allow_private_hosts)

    def providers(self) -> dict:
        """Clients for the models that have keys."""
        from zipx_core.providers import HOSTED

        prices, made = self.settings().prices, {}
        for name, fields in PROVIDER_KEYS.items():
            keys = [getattr(self, field) for field in fields]
            if all(keys):
                hosts = tuple(self.download_hosts[name]) if name in self.download_hosts else None
                made[name] = HOSTED[name](*keys, base_url=self.base_urls.get(name), prices=prices, download_hosts=hosts,
                                          allow_private=self.allow_private_hosts)
        return made


    @property
    def hosted(self) -> bool:
        """Whether hosted models are set up: then every still, frame and comparison is hosted."""
        return _has_hosted_keys(self)

    def image_providers(self) -> dict:
        """Image clients for the vendors that have keys (an image model uses its vendor's video keys)."""
        from zipx_core.providers.images import DEFAULT_IMAGE_PRICES, IMAGE_HOSTED, IMAGE_KEYS

        prices, made = {**DEFAULT_IMAGE_PRICES, **self.price_overrides}, {}
        for name, vendor in IMAGE_KEYS.items():
            keys = [getattr(self, field) for field in PROVIDER_KEYS[vendor]]
            if all(keys):
                hosts = self.download_hosts.get(name) or self.download_hosts.get(vendor)
                made[name] = IMAGE_HOSTED[name](*keys, base_url=self.base_urls.get(name) or self.base_urls.get(vendor),
                                                prices=prices, download_hosts=tuple(hosts) if hosts else None,
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
                            reference_url=getattr(store, "presigned_url", None))


def generation_from_env() -> Generation:
    """Each key as a dg.EnvVar where the variable is set (an EnvVar that is not set fails the run)."""
    return Generation(**{field: dg.EnvVar(variable) for fields in PROVIDER_KEYS.values()
                         for field, variable in fields.items() if os.environ.get(variable)})


class LLMReader(dg.ConfigurableResource):
    """The optional LLM reader of scripts over the OpenAI-compatible chat completions
    protocol (OpenAI, Gemini's OpenAI endpoint, vLLM, Ollama, llama.cpp): off unless
    `enabled`. The key comes from the environment (dg.EnvVar("ZIPX_LLM_API_KEY")) and
    never reaches logs or metadata. Prices are dollars per million tokens with the date
    they were read; left unset, zipx_core's dated table for the model is used (set 0 and
    0 for a self-hosted server). Calls are charged to the drama's budget."""

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


def llm_reader_from_env() -> LLMReader:
    """On when ZIPX_LLM_MODEL is set, with ZIPX_LLM_BASE_URL, the key ZIPX_LLM_API_KEY (as a
    dg.EnvVar; local servers may need none) and ZIPX_LLM_INPUT_USD_PER_MILLION /
    ZIPX_LLM_OUTPUT_USD_PER_MILLION; off otherwise."""
    env = os.environ
    if not env.get("ZIPX_LLM_MODEL"):
        return LLMReader()
    prices = {field: float(env[variable]) for field, variable in (
        ("input_usd_per_million", "ZIPX_LLM_INPUT_USD_PER_MILLION"),
        ("output_usd_per_million", "ZIPX_LLM_OUTPUT_USD_PER_MILLION")) if env.get(variable)}
    return LLMReader(enabled=True, model=env["ZIPX_LLM_MODEL"], base_url=env.get("ZIPX_LLM_BASE_URL") or LLMReader().base_url,
                     api_key=dg.EnvVar("ZIPX_LLM_API_KEY") if env.get("ZIPX_LLM_API_KEY") else None, **prices)


# The speech engines and the environment variable each one's key is read from.
SPEECH_KEYS = {"elevenlabs": "ELEVENLABS_API_KEY", "openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}


class TextToSpeech(dg.ConfigurableResource):
    """The speech engine of episode_audio: eSpeak NG (offline, the default) or a hosted
    one (ElevenLabs, the OpenAI-compatible /audio/speech route, Gemini TTS). The key comes
    from the environment (dg.EnvVar: ELEVENLABS_API_KEY, OPENAI_API_KEY or GEMINI_API_KEY)
    and never reaches logs or metadata. Prices: per million characters (ElevenLabs,
    OpenAI-compatible) or per million tokens in and out (Gemini), with the date they were
    read; left unset, zipx_core's dated table for the model is used (set 0 for your own
    server). Lines are charged to the drama's ledger under the Generation budgets."""

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


def speech_from_env() -> TextToSpeech:
    """ZIPX_SPEECH_ENGINE (elevenlabs | openai | gemini) turns a hosted engine on, with
    ZIPX_SPEECH_BASE_URL, ZIPX_SPEECH_MODEL and the engine's key as a dg.EnvVar; eSpeak NG
    otherwise."""
    env = os.environ
    engine = env.get("ZIPX_SPEECH_ENGINE", "espeak")
    variable = SPEECH_KEYS.get(engine)
    return TextToSpeech(engine=engine, base_url=env.get("ZIPX_SPEECH_BASE_URL") or None,
                        model=env.get("ZIPX_SPEECH_MODEL") or None, api_key=dg.EnvVar(variable) if variable and env.get(variable) else None)


class LocalFailures(dg.ConfigurableResource):
    """Failure modes the `local` renderer injects, as rates (0..1): to exercise and
    measure the quality gate. All off by default."""

    drift: float = 0.0
    colour_cast: float = 0.0
    blur: float = 0.0
    low_resolution: float = 0.0
    black_frames: float = 0.0
    frozen: float = 0.0

    def renderer(self) -> LocalRenderer:
        return LocalRenderer(failures=FailureModes(**self.model_dump(include=set(FailureModes.model_fields))))


_EMBEDDERS: dict[str, tuple] = {}


class ClipModel(dg.ConfigurableResource):
    """The continuity embedder: open_clip (on the GPU in production) or, when no CLIP
    weights are present, the offline colour embedder; which one is said in the log and
    the metadata. Loaded once per process."""

    embedder: str = "auto"  # auto | clip | colour
    model: str = "ViT-B-32"
    pretrained: str | None = "laion2b_s34b_b79k"
    checkpoint_path: str | None = None
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 64
    allow_random_init: bool = False

    def load(self):
        key = self.model_dump_json()
        if key not in _EMBEDDERS:
            config = ClipConfig(**self.model_dump(exclude={"embedder"}))
            _EMBEDDERS[key] = choose_embedder(self.embedder, config)
        return _EMBEDDERS[key]


class ManifestIOManager(dg.IOManager):
    """Stores asset values, which are zipx_core pydantic models, as JSON manifests on the
    artifact store (zipx_core.manifests: S3 in production, ZIPX_HOME/manifests on a
    laptop), named by asset and partition. No pickles, and nothing a run needs on one
    machine's disk: a step on any machine reads what a step on another wrote."""

    def __init__(self, store: LocalArtifactStore | S3ArtifactStore):
        self.manifests = ManifestReader(store)

    @staticmethod
    def _name(context: dg.OutputContext | dg.InputContext) -> tuple[str, str, str | None]:
        asset = context.asset_key.to_python_identifier()
        if not context.has_asset_partitions:
            raise ValueError(f"{asset}: ZipX's assets are partitioned by drama (and episode)")
        key = context.asset_partition_key
        if isinstance(key, dg.MultiPartitionKey):
            return asset, slug(key.keys_by_dimension["drama"]), slug(key.keys_by_dimension["episode"])
        return asset, slug(key), None

    def handle_output(self, context: dg.OutputContext, obj: BaseModel) -> None:
        if not isinstance(obj, BaseModel):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a pydantic manifest, got {type(obj).__name__}")
        where = self.manifests.save(*self._name(context), obj)
        context.add_output_metadata({"manifest": dg.MetadataValue.path(where)})

    def load_input(self, context: dg.InputContext) -> BaseModel:
        name = self._name(context)
        value = self.manifests.load(*name)
        if value is None:
            raise FileNotFoundError(f"{context.upstream_output.asset_key.to_user_string()}: no manifest at "
                                    f"{self.manifests.location(*name)}; materialize it first")
        return value


@dg.io_manager(required_resource_keys={"artifacts"},
               description="The assets' manifests (JSON) on the store the `artifacts` resource gives.")
def manifest_io_manager(init_context: dg.InitResourceContext) -> ManifestIOManager:
    """Over the `artifacts` resource itself, so its configuration (from the launchpad too)
    is the manifests' as well."""
    return ManifestIOManager(init_context.resources.artifacts.store())
