"""Resources: one configuration model per concern, each a thin shell over zipx_core."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import BaseModel

from zipx_core.generation import RenderSettings
from zipx_core.routing import Aspect, Quality, frame_size
from zipx_core.naming import slug
from zipx_core.script.drama import SCRIPT_SUFFIXES
from zipx_core.providers.local import FailureModes, LocalRenderer
from zipx_core.manifests import ManifestReader
from zipx_core.storage import LocalArtifactStore, S3ArtifactStore, StoreConfig
from zipx_core.studio import (  # noqa: F401 (PROVIDER_KEYS, SPEECH_KEYS, zipx_home: where they were)
    PROVIDER_KEYS,
    SPEECH_KEYS,
    EmbedderConfig,
    GenerationConfig,
    LLMConfig,
    SpeechConfig,
    Studio,
    StudioConfig,
    generation_env,
    llm_env,
    speech_env,
    store_env,
    zipx_home,
)

# Each resource below is a section of zipx_core.studio.StudioConfig with Dagster's config
# around it: the fields (and so the launchpad's and the Helm values' names) and what is
# built from them live in zipx_core, once; `studio()` gathers them into the Studio the CLI
# and the demo build from the same environment.


class ScriptInbox(dg.ConfigurableResource):
    """The folder writers drop scripts into, on the machine the script-drop sensor runs on.
    A drama's key is its file's (or folder's) name, made safe: `Harbour Lights.fountain`
    is the drama `harbour_lights`. Runs read the copy the sensor published to the store
    (zipx_core.script.published), so no other machine needs this folder."""

    root: str

    def find(self, drama: str) -> Path | None:
        """The drama's script in this machine's inbox, None where there is none."""
        root = Path(self.root)
        for candidate in sorted(root.iterdir()) if root.is_dir() else []:
            if slug(candidate.stem) == drama and (candidate.is_dir() or candidate.suffix.lower() in SCRIPT_SUFFIXES):
                return candidate
        return None


class ArtifactStore(dg.ConfigurableResource, StoreConfig):
    """Clips, stills, audio and episodes, content-addressed. A local folder (`root`) by
    default; S3 or any S3-compatible server when `s3_bucket` is set, `root` then being
    the local read cache. Credentials come from the environment (dg.EnvVar) and never
    reach logs or metadata. The manifests are on the same store (ManifestIOManager)."""

    def store(self) -> LocalArtifactStore | S3ArtifactStore:
        return self.open()


def artifact_store_from_env(home: Path) -> ArtifactStore:
    """zipx_core.storage.store_settings (ZIPX_S3_BUCKET switches to S3), with
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY as dg.EnvVar when they are set."""
    return ArtifactStore(**store_env(home, dg.EnvVar))


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
        return frame_size(generation.quality, self.aspect, hosted=generation.hosted)

    def settings(self, generation: Generation | None = None) -> RenderSettings:
        width, height = self.frame(generation)
        return RenderSettings(width=width, height=height, fps=self.fps, workers=self.workers)


class Generation(dg.ConfigurableResource, GenerationConfig):
    """The hosted video models and the one dial users see. Keys come from the
    environment (dg.EnvVar: the UI shows the variable's name, never its value) and
    never reach logs or metadata. Budgets stop new submissions when reached."""


def generation_from_env() -> Generation:
    """Each key as a dg.EnvVar where the variable is set (an EnvVar that is not set fails the run)."""
    return Generation(**generation_env(dg.EnvVar))


class LLMReader(dg.ConfigurableResource, LLMConfig):
    """The optional LLM reader of scripts (zipx_core.studio.LLMConfig): off unless
    `enabled`. The key comes from the environment (dg.EnvVar("ZIPX_LLM_API_KEY")) and
    never reaches logs or metadata. Calls are charged to the drama's budget."""


def llm_reader_from_env() -> LLMReader:
    """On when ZIPX_LLM_MODEL is set (zipx_core.studio.llm_env), the key as a dg.EnvVar; off otherwise."""
    return LLMReader(**llm_env(dg.EnvVar))


class TextToSpeech(dg.ConfigurableResource, SpeechConfig):
    """The speech engine of episode_audio (zipx_core.studio.SpeechConfig): eSpeak NG
    offline, the default, or a hosted one. The key comes from the environment (dg.EnvVar:
    ELEVENLABS_API_KEY, OPENAI_API_KEY or GEMINI_API_KEY) and never reaches logs or
    metadata. Lines are charged to the drama's ledger under the Generation budgets."""


def speech_from_env() -> TextToSpeech:
    """ZIPX_SPEECH_ENGINE (elevenlabs | openai | gemini) turns a hosted engine on, with
    ZIPX_SPEECH_BASE_URL, ZIPX_SPEECH_MODEL and the engine's key as a dg.EnvVar; eSpeak NG
    otherwise."""
    return TextToSpeech(**speech_env(dg.EnvVar))


class LocalFailures(dg.ConfigurableResource, FailureModes):
    """Failure modes the `local` renderer injects, as rates (0..1): to exercise and
    measure the quality gate. All off by default."""

    def renderer(self) -> LocalRenderer:
        return LocalRenderer(failures=FailureModes(**self.model_dump(include=set(FailureModes.model_fields))))


class ClipModel(dg.ConfigurableResource, EmbedderConfig):
    """The continuity embedder: open_clip (on the GPU in production) or, when no CLIP
    weights are present, the offline colour embedder; which one is said in the log and
    the metadata. Loaded once per process (`load()`: the embedder and why)."""


def _section(model: type, resource):
    """A resource's configuration as its zipx_core section (the plain model, not Dagster's)."""
    return None if resource is None else model(**resource.model_dump(include=set(model.model_fields)))


def studio(artifacts: ArtifactStore, generation: Generation | None = None, speech: TextToSpeech | None = None,
           llm: LLMReader | None = None, clip: ClipModel | None = None, failures: LocalFailures | None = None,
           home: Path | None = None) -> Studio:
    """The Studio these resources describe (an asset's resources, or a Definitions' own once
    initialized): the one the CLI builds from the same environment. Sections not given keep
    their defaults."""
    sections = {"store": _section(StoreConfig, artifacts), "generation": _section(GenerationConfig, generation),
                "speech": _section(SpeechConfig, speech), "llm": _section(LLMConfig, llm),
                "embedder": _section(EmbedderConfig, clip), "failures": _section(FailureModes, failures)}
    return Studio(StudioConfig.at(home or zipx_home(), **{k: v for k, v in sections.items() if v is not None}))


SECTIONS = ("artifacts", "generation", "speech", "llm", "clip", "failures")  # the resource keys a Studio is built from


def studio_from_definitions(definitions: dg.Definitions, home: Path | None = None) -> Studio:
    """The Studio a Definitions' resources describe, their EnvVars resolved as a run resolves them."""
    given = {key: definitions.resources[key].process_config_and_initialize() for key in SECTIONS if key in definitions.resources}
    return studio(**given, home=home)


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
