"""Delivery figures on the sample drama: loudness and audio/video sync, measured on the
finished MP4s (ffmpeg's ebur128 scanner; speech onsets found in the decoded track).

  .venv/bin/python bench/delivery.py
"""

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zipx_core.audio import apply_speech_timing, voice_episode  # noqa: E402
from zipx_core.audio.dialogue import read_wav  # noqa: E402
from zipx_core.audio.sync import line_offsets  # noqa: E402
from zipx_core.bible import extract_bibles  # noqa: E402
from zipx_core.generation import generate_shots  # noqa: E402
from zipx_core.media import integrated_loudness  # noqa: E402
from zipx_core.media.assembly import assemble_episode  # noqa: E402
from zipx_core.media.timeline import build_timeline, export_timeline  # noqa: E402
from zipx_core.script import load_drama  # noqa: E402
from zipx_core.storage import LocalArtifactStore  # noqa: E402
from zipx_core.storyboard import plan_episode  # noqa: E402


def main() -> None:
    script = load_drama(REPO / "examples" / "harbour_lights.fountain")
    bibles = extract_bibles(script, "harbour_lights")
    with tempfile.TemporaryDirectory() as scratch:
        store = LocalArtifactStore(scratch)
        for episode in script.episodes:
            board = plan_episode(script, episode.key, bibles, "harbour_lights")
            started = time.perf_counter()
            audio = voice_episode(board, bibles, store)
            speech_s = time.perf_counter() - started
            timed = apply_speech_timing(board, audio)
            takes = generate_shots(timed, bibles, store)
            manifest = assemble_episode(timed, takes, store, audio)
            export = export_timeline(build_timeline(timed, takes, store, audio), store)
            video = store.path(manifest.video_uri)
            speeches = [read_wav(store.path(line.speech_uri)) for line in audio.lines]
            lines = [(l.start_s, l.duration_s, s.samples, s.sample_rate) for l, s in zip(audio.lines, speeches)]
            offsets = line_offsets(video, lines)
            print("   offsets ms:", [round(o * 1000, 1) for o in offsets])
            longer = sum(1 for a, b in zip(timed.shots, board.shots) if a.duration_s > b.duration_s + 1e-6)
            print(
                f"{episode.key}: {len(audio.lines)} lines, speech and mix {speech_s:.1f}s; {longer} shots lengthened to fit their speech; "
                f"loudness {integrated_loudness(video):.2f} LUFS (target -16, loudnorm said {audio.loudness_lufs}); "
                f"largest line offset {max(abs(o) for o in offsets) * 1000:.1f} ms (a frame is 41.7 ms); "
                f"timelines: otio, {', '.join(sorted(export.exports))}; failed: {export.failures or 'none'}"
            )


if __name__ == "__main__":
    main()
