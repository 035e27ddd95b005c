"""Which video model suits a shot, at what quality, and what it costs.

The seed's policy picks the provider (emotional close-ups → HappyHorse, physics →
Kling, cinematic wide shots → Veo 3, else Seedance); the storyboard records it in
`Shot.route` (a re-plan moves it to the next fallback) and the router honours that
planned route. The quality dial (draft | balanced | premium), the only knob a user
sees, picks the model and resolution, and with the episode's aspect (16:9 or 9:16) the
size of its frame (FRAME_SIZES). A provider that cannot take the shot (length,
reference images), has no key, or is down is replaced by the next in its fallback list;
with none left the shot renders on `local`, but the planned route is still recorded
and costed."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel

from zipx_core.models import Shot, ShotType
from zipx_core.providers.base import Capabilities, cost

CLOSE_UPS = (ShotType.CU, ShotType.ECU)
WIDE = (ShotType.ELS, ShotType.LS)
EMOTIONAL_CLOSE_UP_THRESHOLD = 0.7


class Quality(str, Enum):
    draft = "draft"
    balanced = "balanced"
    premium = "premium"


class Aspect(str, Enum):
    landscape = "16:9"
    portrait = "9:16"  # for phones


# The episode's frame (width, height) at 16:9 for each dial; 9:16 is the same frame turned
# upright. Every take is conformed to it, so the episode joins by copy.
# - hosted: the resolution the dial pays for (MODELS below): draft 480p (Seedance and
#   HappyHorse at 480p; Veo and Kling make nothing under 720p and are scaled down),
#   balanced 720p, premium 1080p. Each client asks for the aspect (Job.aspect_ratio).
# - local: the offline renderer's 640x360 at every dial, chosen for speed (near 10x real
#   time on 2 cores, ../shared/DESIGN.md); it is a stand-in, nothing is paid for.
FRAME_SIZES: dict[str, dict[Quality, tuple[int, int]]] = {
    "hosted": {Quality.draft: (854, 480), Quality.balanced: (1280, 720), Quality.premium: (1920, 1080)},
    "local": {Quality.draft: (640, 360), Quality.balanced: (640, 360), Quality.premium: (640, 360)},
}


def frame_size(quality: Quality, aspect: Aspect = Aspect.landscape, hosted: bool = False) -> tuple[int, int]:
    """The episode's (width, height) at this dial and aspect, on hosted models or offline."""
    width, height = FRAME_SIZES["hosted" if hosted else "local"][Quality(quality)]
    return (width, height) if Aspect(aspect) is Aspect.landscape else (height, width)


# (model, resolution) per provider and quality. The resolution names the short side: a
# 9:16 job asks for the same resolution with the portrait aspect (Kling: `mode` sets it).
MODELS: dict[str, dict[Quality, tuple[str, str]]] = {
    "veo3": {Quality.draft: ("veo-3.1-fast-generate-preview", "720p"),
             Quality.balanced: ("veo-3.1-generate-preview", "720p"),
             Quality.premium: ("veo-3.1-generate-preview", "1080p")},
    "kling": {Quality.draft: ("kling-v2-5-turbo:std", "720p"),
              Quality.balanced: ("kling-v2-6:std", "720p"),
              Quality.premium: ("kling-v2-6:pro", "1080p")},
    "seedance": {Quality.draft: ("seedance-1-0-pro-250528", "480p"),
                 Quality.balanced: ("seedance-1-0-pro-250528", "720p"),
                 Quality.premium: ("seedance-1-0-pro-250528", "1080p")},
    "happyhorse": {Quality.draft: ("happyhorse-1.1", "480P"),
                   Quality.balanced: ("happyhorse-1.1", "720P"),
                   Quality.premium: ("happyhorse-1.0", "1080P")},
}

# US dollars per second of video as billed (ZipX replaces model audio unless a take is
# natively voiced, but pays for what the API makes). Prices move: override them in the
# `generation` resource. Sources, read 2026-11-24 (../shared/PROVIDERS.md) and 2026-12-03:
# - Veo 3.1: the Gemini API (our default base URL) always makes and bills audio: Standard
#   $0.40/s, Fast $0.10/s at 720p (resellers quoting Google's Gemini API pricing page, May
#   2026; Google's own page not read). On Vertex AI without audio Standard is $0.20/s:
#   override there.
# - Kling China list price: std ¥0.6/s, pro ¥0.8/s, at ¥7.1 per dollar.
# - Seedance 1.0 pro on BytePlus: $2.5 per million output tokens (a reseller's figure),
#   tokens = width × height × 24 fps / 1024 per second: 480p 9,608, 720p 21,600, 1080p 48,600.
# - HappyHorse China list price: 1.1 ¥0.45 (480P) / ¥0.9 (720P); 1.0 ¥1.6 (1080P), at ¥7.1 per dollar.
DEFAULT_PRICES: dict[str, float] = {
    "veo-3.1-fast-generate-preview": 0.10,
    "veo-3.1-generate-preview": 0.40,
    "kling-v2-5-turbo:std": 0.085,
    "kling-v2-6:std": 0.085,
    "kling-v2-6:pro": 0.113,
    "seedance-1-0-pro-250528@480p": 0.024,
    "seedance-1-0-pro-250528@720p": 0.054,
    "seedance-1-0-pro-250528@1080p": 0.1215,
    "happyhorse-1.1@480P": 0.063,
    "happyhorse-1.1@720P": 0.127,
    "happyhorse-1.0@1080P": 0.225,
}

FALLBACKS = {
    "happyhorse": ("kling", "veo3", "seedance"),
    "kling": ("veo3", "seedance", "happyhorse"),
    "veo3": ("kling", "seedance", "happyhorse"),
    "seedance": ("kling", "happyhorse", "veo3"),
}


def route_shot(shot: Shot) -> str:
    """The seed's policy: the provider a shot is meant for."""
    return policy_route(shot)[0]


def policy_route(shot: Shot) -> tuple[str, str]:
    """The seed's policy: (the provider a shot is meant for, why)."""
    if shot.shot_type in CLOSE_UPS and shot.emotional_intensity > EMOTIONAL_CLOSE_UP_THRESHOLD:
        return "happyhorse", f"emotional close-up (intensity {shot.emotional_intensity:.2f})"
    if shot.has_physics_elements:
        return "kling", f"physics and action ({', '.join(shot.physics_elements) or 'physics'})"
    if shot.shot_type in WIDE and shot.cinematic_priority:
        return "veo3", "cinematic wide shot"
    return "seedance", "the cheap default"


def planned_provider(shot: Shot) -> str:
    """The provider the storyboard planned for the shot (a re-plan may have moved it off the
    policy's choice); the policy's for a shot planned before routes were recorded."""
    return shot.route if shot.route in FALLBACKS else route_shot(shot)


def next_provider(provider: str) -> str:
    """The first fallback of a provider: where a re-planned scene's shots go."""
    return FALLBACKS[provider][0] if provider in FALLBACKS else provider


class Route(BaseModel):
    """Where a shot goes and why. `intended` is the policy's choice at this quality, with
    its estimated cost; `provider` is where it actually renders."""

    intended: str
    intended_model: str
    provider: str
    model: str
    resolution: str
    duration_s: float  # the length asked of the provider (whole seconds for hosted models)
    estimated_cost_usd: float  # of the intended route
    reason: str = ""


def _fits(capabilities: Capabilities, shot: Shot, references: int) -> str | None:
    """Why a provider cannot take the shot, or None."""
    if capabilities.duration_for(shot.duration_s) is None:
        return f"{shot.duration_s:.1f}s is longer than its {max(capabilities.durations_s)}s"
    if references and not capabilities.max_reference_images:
        return "takes no reference images"
    return None


def plan_route(shot: Shot, quality: Quality, capabilities: dict[str, Capabilities], available: set[str],
               prices: dict[str, float] = DEFAULT_PRICES, references: int = 0) -> Route:
    """The provider for one shot: the planned one, else the first fallback that is available
    and can take it, else `local` (which renders anything at the shot's own length)."""
    quality = Quality(quality)
    intended = planned_provider(shot)
    intended_model = MODELS[intended][quality][0]
    estimate = all_on(intended, shot, quality, capabilities, prices)
    reasons = []
    for candidate in (intended, *FALLBACKS[intended]):
        problem = "no key or down" if candidate not in available else _fits(capabilities[candidate], shot, references)
        if problem:
            reasons.append(f"{candidate}: {problem}")
            continue
        model, resolution = MODELS[candidate][quality]
        return Route(intended=intended, intended_model=intended_model, provider=candidate, model=model, resolution=resolution,
                     duration_s=capabilities[candidate].duration_for(shot.duration_s), estimated_cost_usd=estimate,
                     reason="; ".join(reasons))
    return Route(intended=intended, intended_model=intended_model, provider="local", model="zipx-local-1", resolution="",
                 duration_s=shot.duration_s, estimated_cost_usd=estimate, reason="; ".join(reasons))


def all_on(provider: str, shot: Shot, quality: Quality, capabilities: dict[str, Capabilities],
           prices: dict[str, float] = DEFAULT_PRICES) -> float:
    """What the shot would cost on one provider: its clip length for the shot, or, for a
    shot longer than the model makes, the shot's own length (it would take two clips)."""
    model, resolution = MODELS[provider][Quality(quality)]
    seconds = capabilities[provider].duration_for(shot.duration_s) or shot.duration_s
    return cost(provider, model, resolution, seconds, prices)
