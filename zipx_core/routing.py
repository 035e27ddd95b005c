"""Which video model suits a shot. The seed's policy; the quality dial, capability
checks and prices arrive with the hosted clients (issue 3)."""

from zipx_core.models import Shot, ShotType

CLOSE_UPS = (ShotType.CU, ShotType.ECU)
WIDE = (ShotType.ELS, ShotType.LS)
EMOTIONAL_CLOSE_UP_THRESHOLD = 0.7


def route_shot(shot: Shot) -> str:
    if shot.shot_type in CLOSE_UPS and shot.emotional_intensity > EMOTIONAL_CLOSE_UP_THRESHOLD:
        return "happyhorse"  # emotional close-ups
    if shot.has_physics_elements:
        return "kling"  # physics and action
    if shot.shot_type in WIDE and shot.cinematic_priority:
        return "veo3"  # cinematic establishing shots
    return "seedance"  # the cheap default
