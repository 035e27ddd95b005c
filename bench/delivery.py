"""Delivery figures on the sample drama, measured on the finished MP4s: loudness and true
peak (ffmpeg's EBU R128 scanner), audio/video sync (each line found in the decoded track by
cross-correlation), the speech engine per line, lines that overrun their shot, voice
changes per character across episodes, and the stems' loudness. Each episode is delivered
twice from the same takes, dialogue only and over a music bed (a chord loop made with
ffmpeg's aevalsrc, since no music ships), and the figures printed side by side.

  .venv/bin/python bench/delivery.py
"""

import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zipx_core.audio import apply_speech_timing, voice_episode  # noqa: E402
from zipx_core.audio.dialogue import read_wav  # noqa: E402
from zipx_core.audio.music import chord_loop, ducking_in_mix, score_episode  # noqa: E402
from zipx_core.audio.sync import line_offsets  # noqa: E402
from zipx_core.bible import extract_bibles  # noqa: E402
from zipx_core.generation import generate_shots  # noqa: E402
from zipx_core.media import ffmpeg_exe, integrated_loudness  # noqa: E402
from zipx_core.media.assembly import assemble_episode  # noqa: E402
from zipx_core.media.ffmpeg import _run  # noqa: E402
from zipx_core.media.timeline import build_timeline, export_timeline  # noqa: E402
from zipx_core.script import load_drama  # noqa: E402
from zipx_core.storyboard import plan_episode  # noqa: E402
from zipx_core.studio import Studio, StudioConfig  # noqa: E402


def true_peak(path: Path) -> float:
    report = _run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a", "-af", "ebur128=peak=true",
                   "-f", "null", "-"])
    return float(re.findall(r"Peak:\s+(-?[\d.]+|-inf) dBFS", report)[-1])


def overrunning_lines(audio, takes) -> int:
    """Lines that start before their shot or end after it, shots placed by their takes'
    real lengths in the cut."""
    bounds, start = {}, 0.0
    for take in takes.takes:
        bounds[take.shot_id] = (start, start + take.duration_s)
        start += take.duration_s
    return sum(
        1 for l in audio.lines
        if l.start_s < bounds[l.shot_id][0] - 1e-3 or l.start_s + l.duration_s > bounds[l.shot_id][1] + 1e-3
    )


def delivered(store, manifest, audio) -> dict:
    video = store.path(manifest.video_uri)
    lines = [(l.start_s, l.duration_s, s.samples, s.sample_rate)
             for l, s in ((l, read_wav(store.path(l.speech_uri))) for l in audio.lines)]
    figures = {
        "loudness LUFS (target -16 +-1)": integrated_loudness(video),
        "true peak dBTP (ceiling -1.5)": true_peak(video),
        "largest line offset ms (frame 41.7)": max(abs(o) for o in line_offsets(video, lines)) * 1000,
        "dialogue stem LUFS": integrated_loudness(store.path(manifest.stems["dialogue"])),
    }
    if manifest.music:
        under, between = ducking_in_mix(video, store.path(audio.mix_uri), audio)
        figures |= {
            "music stem LUFS": integrated_loudness(store.path(manifest.stems["music"])),
            "music under lines dBFS (final mix)": under,
            "music between lines dBFS (final mix)": between,
            "music ducked under speech dB": between - under,
        }
    return figures


def side_by_side(plain: dict, music: dict) -> None:
    print(f"   {'':38}{'dialogue only':>15}{'with music':>12}")
    for name, value in music.items():
        before = f"{plain[name]:.2f}" if name in plain else "-"
        print(f"   {name:38}{before:>15}{value:>12.2f}")


def episode_figures(script, key, bibles, studio: Studio, bed, voices) -> None:
    board, store = plan_episode(script, key, bibles, "harbour_lights"), studio.store
    started = time.perf_counter()
    audio = voice_episode(board, bibles, store, engine=studio.speech_engine())
    speech_s = time.perf_counter() - started
    timed = apply_speech_timing(board, audio)
    takes = generate_shots(timed, bibles, store)
    started = time.perf_counter()
    music = score_episode(audio, store, str(bed), "bench music")
    music_s = time.perf_counter() - started
    plain = assemble_episode(timed, takes, store, audio)
    scored = assemble_episode(timed, takes, store, audio, music=music)
    export = export_timeline(build_timeline(timed, takes, store, audio), store)
    for line in audio.lines:
        voices[line.character_id].add(f"{line.engine}:{line.voice_id}")
    longer = sum(1 for a, b in zip(timed.shots, board.shots) if a.duration_s > b.duration_s + 1e-6)
    print(
        f"{key}: {len(audio.lines)} lines, speech and mix {speech_s:.1f}s, music bed {music_s:.1f}s; "
        f"speech engine per line {dict(Counter(line.engine for line in audio.lines))}; "
        f"{longer} shots lengthened to fit their speech; lines overrunning their shot: {overrunning_lines(audio, takes)}; "
        f"loudnorm said {audio.loudness_lufs} (dialogue); timelines: otio, {', '.join(sorted(export.exports))}; "
        f"failed: {export.failures or 'none'}"
    )
    side_by_side(delivered(store, plain, audio), delivered(store, scored, audio))


def main() -> None:
    script = load_drama(REPO / "examples" / "harbour_lights.fountain")
    bibles = extract_bibles(script, "harbour_lights")
    voices = defaultdict(set)
    with tempfile.TemporaryDirectory() as scratch:
        studio = Studio(StudioConfig.at(Path(scratch) / "home"))  # offline: a local store, eSpeak NG
        bed = chord_loop(Path(scratch) / "chords.m4a", seconds=16.0)
        for episode in script.episodes:
            episode_figures(script, episode.key, bibles, studio, bed, voices)
    changes = {who: sorted(ids) for who, ids in voices.items() if len(ids) > 1}
    print(f"voice changes per character across {len(script.episodes)} episodes: {sum(len(v) - 1 for v in changes.values())} "
          f"(must be 0){f' {changes}' if changes else ''}; {len(voices)} speaking characters")


if __name__ == "__main__":
    main()
