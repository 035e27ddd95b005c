"""The shot plan: the storyboard timed to its speech, each shot with its generation
request, built once for keyframes, generation, the gate and the episode (their requests,
and so their request hashes, cannot disagree)."""

from __future__ import annotations

import hashlib
import json

from zipx_core.audio import apply_speech_timing
from zipx_core.generation import RenderSettings
from zipx_core.models import Bibles, EpisodeAudio, GenerationRequest, PlannedShot, ReferenceSet, ShotPlan, Storyboard
from zipx_core.policy import QualityPolicy
from zipx_core.prompting import planned_requests


def request_digest(request: GenerationRequest) -> str:
    """sha256 of everything in the request, in a stable order."""
    return hashlib.sha256(json.dumps(request.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def plan_shots(storyboard: Storyboard, audio: EpisodeAudio, bibles: Bibles, settings: RenderSettings,
               references: ReferenceSet | None = None, native_dialogue: bool = False,
               policy: QualityPolicy | None = None) -> ShotPlan:
    """Each shot as long as its lines, with its request in the episode's frame, carrying
    the locked stills of who is in it; `native_dialogue` as the Generation setting;
    `policy`: what keyframes, the gate and re-plans are held to (the default one when None)."""
    timed = apply_speech_timing(storyboard, audio)
    requests = planned_requests(timed, bibles, settings.width, settings.height, settings.fps, references, native_dialogue)
    shots = [PlannedShot(shot=shot, request=request, request_hash=request_digest(request))
             for shot, request in zip(timed.shots, requests)]
    return ShotPlan(drama=storyboard.drama, episode=storyboard.episode, title=storyboard.title, shots=shots,
                    policy=policy or QualityPolicy())
