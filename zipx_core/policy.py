"""The quality loop's numbers in one place, each with the reason for its value.

A run sets them in `shot_plan`'s run config (`policy`); the shot plan carries them to the
keyframes and the gate, the gate's report records the ones it was held to, and the
failure-cluster sensor reads them there and holds the re-plan it requests to the same.
The plan carries them, not each asset's config, so that a review re-run of the gate
alone is held to what the first run was."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # models imports this module
    from zipx_core.models import GenerationRequest


def reseeded(request: GenerationRequest, attempt: int) -> GenerationRequest:
    """The one reseed rule, for a provider's retry, a gate retake and a keyframe alike:
    attempt 1 keeps the planned seed, each later attempt moves it, so no attempt asks a
    seeded model for the very picture that just failed."""
    return request.model_copy(update={"seed": (request.seed + 7919 * (attempt - 1)) % 2**31})


class QualityPolicy(BaseModel):
    """How hard the quality loop tries before it stops spending and asks a person."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(
        3, ge=1, le=5,
        description="takes per shot (and keyframes per shot) before it goes to a person: the first and two corrections that "
        "restate the bible and pass the locked stills. Each retake costs a full clip; a shot two corrections could not "
        "fix is cheaper for a person to decide on than to keep paying for")
    early_abort_first: int = Field(
        4, ge=2,
        description="how many of a scene's first shots decide whether to stop the scene early: enough that one bad "
        "shot does not stop it, few enough that little is spent on a set-up that fails")
    early_abort_share: float = Field(
        0.75, gt=0, le=1,
        description="share of those first shots failing that stops the scene (3 of 4): a wrong set-up (place, light, "
        "blocking) fails nearly every shot, while chance failures rarely hit three in a row")
    cluster_share: float = Field(
        0.6, gt=0, le=1,
        description="share of a scene's shots failing their first take that asks the failure-cluster sensor for a "
        "re-plan: above half, the scene's plan is the likelier cause than its shots")
    max_replans: int = Field(
        2, ge=0,
        description="re-plans per scene: each changes the blocking, framing and route; a scene still failing after "
        "two is not a planning problem, and its shots stay with a person")
    pass_rate_warning: float = Field(
        0.5, ge=0, le=1,
        description="first-take pass rate below which the continuity_pass_rate check warns: under half, most shots "
        "pay for a retake, so the bibles, stills or thresholds want a look")
