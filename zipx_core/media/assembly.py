"""Takes into an episode file, in storyboard order."""

from __future__ import annotations

from pathlib import Path

from zipx_core.media.ffmpeg import concat_clips, probe
from zipx_core.models import EpisodeManifest, ShotsManifest, Storyboard
from zipx_core.storage import LocalArtifactStore


class AssemblyError(ValueError):
    pass


def assemble_episode(storyboard: Storyboard, shots: ShotsManifest, store: LocalArtifactStore) -> EpisodeManifest:
    by_shot = {take.shot_id: take for take in shots.takes}
    missing = [s.shot_id for s in storyboard.shots if s.shot_id not in by_shot]
    if missing:
        raise AssemblyError(f"{storyboard.drama}/{storyboard.episode}: no take for shots {missing[:5]}")
    clips = [store.path(by_shot[s.shot_id].clip_uri) for s in storyboard.shots]
    with store.scratch_dir() as scratch:
        out = Path(scratch) / "episode.mp4"
        method = concat_clips(clips, out)
        info = probe(out)
        artifact = store.put_file(out, "episodes", ".mp4")
    return EpisodeManifest(
        drama=storyboard.drama,
        episode=storyboard.episode,
        video_uri=artifact.uri,
        video_sha256=artifact.sha256,
        duration_s=round(info.frames / float(info.fps), 4),
        shot_count=len(clips),
        width=info.width,
        height=info.height,
        codec=info.codec,
        join_method=method,
        total_cost_usd=round(sum(t.cost_usd for t in shots.takes), 4),
    )
