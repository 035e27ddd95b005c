"""Video in and out: encoding, probing, thumbnails and episode assembly.

ffmpeg comes from the imageio-ffmpeg wheel (ffmpeg with libx264 and aac, no ffprobe),
or from ZIPX_FFMPEG. Commands are built with ffmpeg-python; probing and frame reads use
PyAV, since the wheel has no ffprobe.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import ffmpeg
from PIL import Image


class MediaError(RuntimeError):
    pass


@dataclass(frozen=True)
class VideoEncoding:
    """One encoding for every clip ZipX makes, so episodes join without re-encoding.
    veryfast: 2x the speed of medium on 2 cores for a small loss at this CRF (DESIGN.md)."""

    codec: str = "libx264"
    preset: str = "veryfast"
    crf: int = 23
    pix_fmt: str = "yuv420p"
    gop: int = 48
    timescale: int = 12288
    # libx264's bytes depend on its thread count (and, frame-threaded, on timing): one
    # thread makes a clip the same bytes on every machine and every run, which
    # content-addressed clips, crash resume and workers sharing a store rely on.
    # Clips are encoded several at a time, so the cores stay busy.
    threads: int = 1


ENCODING = VideoEncoding()


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    pix_fmt: str
    fps: Fraction
    frames: int
    duration_s: float
    has_audio: bool

    def joins_with(self, other: "VideoInfo") -> bool:
        """Whether the pictures join by stream copy (the join is of pictures only: sound is laid on after)."""
        keys = ("codec", "width", "height", "pix_fmt", "fps")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


def ffmpeg_exe() -> str:
    explicit = os.environ.get("ZIPX_FFMPEG")
    if explicit:
        return explicit
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _run(args: list[str]) -> str:
    """Runs ffmpeg; returns what it printed on stderr (its reports), raises on failure."""
    result = subprocess.run(args, capture_output=True)
    stderr = result.stderr.decode(errors="replace")
    if result.returncode != 0:
        raise MediaError(f"ffmpeg failed ({result.returncode}): {stderr[-1500:]}")
    return stderr


def integrated_loudness(path: Path) -> float:
    """Integrated loudness (LUFS) of a file's audio, by ffmpeg's EBU R128 scanner."""
    report = _run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a", "-af", "ebur128", "-f", "null", "-"])
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", report)[-1])


def raw_video_writer(path: Path, width: int, height: int, fps: int, encoding: VideoEncoding = ENCODING) -> subprocess.Popen:
    """An ffmpeg process that reads RGB frames on stdin and writes an H.264 MP4."""
    args = (
        ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=fps)
        .output(
            str(path),
            vcodec=encoding.codec,
            preset=encoding.preset,
            crf=encoding.crf,
            pix_fmt=encoding.pix_fmt,
            g=encoding.gop,
            threads=encoding.threads,
            r=fps,
            movflags="+faststart",
            video_track_timescale=encoding.timescale,
            loglevel="error",
        )
        .overwrite_output()
        .compile(cmd=ffmpeg_exe())
    )
    return subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE)


def encode_frames(frames, path: Path, width: int, height: int, fps: int, label: str = "clip") -> int:
    """Encodes RGB frames (PIL images or uint8 arrays, anything with tobytes()) into an
    H.264 MP4; returns how many were written."""
    writer = raw_video_writer(path, width, height, fps)
    count = 0
    try:
        for frame in frames:
            writer.stdin.write(frame.tobytes())
            count += 1
        writer.stdin.close()
    except BrokenPipeError:
        pass
    if writer.wait() != 0:
        raise MediaError(f"encoding {label} failed: {writer.stderr.read().decode(errors='replace')[-800:]}")
    return count


def probe(path: Path) -> VideoInfo:
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames = stream.frames or sum(1 for _ in container.demux(stream) if _.size)
            fps = stream.average_rate or stream.guessed_rate
            duration = float(stream.duration * stream.time_base) if stream.duration else frames / float(fps)
            return VideoInfo(
                codec=stream.codec_context.name,
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                pix_fmt=stream.codec_context.pix_fmt or "",
                fps=Fraction(fps),
                frames=frames,
                duration_s=duration,
                has_audio=bool(container.streams.audio),
            )
    except (av.error.FFmpegError, IndexError) as exc:
        raise MediaError(f"{path}: not a readable video ({exc})") from None


@dataclass(frozen=True)
class Conform:
    """One hosted clip to conform: cut to `seconds` and written to `out`. `keep_audio`: a
    natively voiced clip keeps its own sound (AAC, 48 kHz stereo), where it has one."""

    source: Path
    out: Path
    seconds: float
    keep_audio: bool = False


SOUND = {"acodec": "aac", "audio_bitrate": "128k", "ar": 48000, "ac": 2}  # a voiced clip's own sound


def _conform_output(clip: Conform, width: int, height: int, fps: int, encoding: VideoEncoding, threading: dict):
    source = ffmpeg.input(str(clip.source), t=f"{clip.seconds:.3f}", **threading)
    picture = source.video.filter("scale", width, height).filter("fps", fps=fps)
    options = dict(vcodec=encoding.codec, preset=encoding.preset, crf=encoding.crf, pix_fmt=encoding.pix_fmt, g=encoding.gop,
                   threads=encoding.threads, video_track_timescale=encoding.timescale, movflags="+faststart", loglevel="error")
    if clip.keep_audio and probe(clip.source).has_audio:
        return ffmpeg.output(picture, source.audio, str(clip.out), **options, **SOUND)
    return picture.output(str(clip.out), **options, an=None)


def _conform_command(clips: list[Conform], width: int, height: int, fps: int, encoding: VideoEncoding, threads: int | None):
    threading = {} if threads is None else {"threads": threads}
    outputs = [_conform_output(clip, width, height, fps, encoding, threading) for clip in clips]
    command = ffmpeg.merge_outputs(*outputs).overwrite_output()
    if threads is not None:
        command = command.global_args("-filter_complex_threads", str(threads))
    return command.compile(cmd=ffmpeg_exe())


def conform_clip(source: Path, out: Path, seconds: float, width: int, height: int, fps: int,
                 encoding: VideoEncoding = ENCODING, threads: int | None = None, keep_audio: bool = False) -> None:
    """A hosted model's clip made like ours: cut to the shot's length, scaled to the
    episode's size and rate, in the one encoding, so the episode still joins by stream
    copy. Its own audio is dropped (the dialogue track replaces it) unless `keep_audio`:
    a natively voiced take, whose sound the episode plays instead of the dialogue track.

    `threads`: ffmpeg's threads for decoding and filtering (its own choice if None; the
    encoder's are the encoding's). A caller that conforms one clip per core passes 1:
    for short clips ffmpeg's thread start-up costs a fifth of the CPU."""
    _run(_conform_command([Conform(source, out, seconds, keep_audio)], width, height, fps, encoding, threads))


def conform_clips(clips: list[Conform], width: int, height: int, fps: int, encoding: VideoEncoding = ENCODING,
                  threads: int | None = 1) -> list[MediaError | None]:
    """Several clips conformed by one ffmpeg process, each the same bytes as `conform_clip`
    makes: the process's start-up (a third of the CPU of a short clip) is paid once.
    Returns one error or None per clip: if the run fails, each clip is tried alone, so
    a bad clip fails by itself and says why."""
    if len(clips) > 1:
        try:
            _run(_conform_command(clips, width, height, fps, encoding, threads))
            return [None] * len(clips)
        except (MediaError, ValueError):  # ValueError: ffmpeg-python refuses one source given twice
            pass
    errors: list[MediaError | None] = []
    for clip in clips:
        try:
            conform_clip(clip.source, clip.out, clip.seconds, width, height, fps, encoding, threads, clip.keep_audio)
            errors.append(None)
        except MediaError as error:
            errors.append(error)
    return errors


def with_sound(picture: Path, sound: Path, out: Path) -> None:
    """`picture`'s video with `sound`'s audio, both copied: a voiced take whose picture was
    re-encoded (graded, upscaled) gets its own sound back."""
    _run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(picture), "-i", str(sound), "-map", "0:v:0", "-map", "1:a:0",
          "-c", "copy", "-shortest", "-movflags", "+faststart", str(out)])


def concat_clips(clips: list[Path], out: Path, encoding: VideoEncoding = ENCODING) -> str:
    """Joins clips' pictures in order into one MP4 with faststart (no sound: a voiced
    take's own sound is laid on with the dialogue, media.assembly). Clips that share codec,
    size, pixel format and rate are joined by stream copy (no quality loss, many times
    real time); otherwise they are scaled to the first clip and re-encoded.
    Returns the method used: 'copy' or 'reencode'."""
    if not clips:
        raise MediaError("no clips to join")
    infos = [probe(c) for c in clips]
    if all(info.joins_with(infos[0]) for info in infos):
        listing = out.with_suffix(".txt")
        listing.write_text("".join(f"file '{c.resolve().as_posix()}'\n" for c in clips))
        args = (
            ffmpeg.input(str(listing), format="concat", safe=0)
            .output(str(out), c="copy", an=None, movflags="+faststart", loglevel="error")
            .overwrite_output()
            .compile(cmd=ffmpeg_exe())
        )
        _run(args)
        listing.unlink()
        return "copy"
    first = infos[0]
    streams = [
        ffmpeg.input(str(c)).video.filter("scale", first.width, first.height).filter("fps", fps=float(first.fps))
        for c in clips
    ]
    args = (
        ffmpeg.concat(*streams, v=1, a=0)
        .output(
            str(out), vcodec=encoding.codec, preset=encoding.preset, crf=encoding.crf,
            pix_fmt=encoding.pix_fmt, threads=encoding.threads, movflags="+faststart", loglevel="error",
        )
        .overwrite_output()
        .compile(cmd=ffmpeg_exe())
    )
    _run(args)
    return "reencode"


def _middle_frame(path: Path) -> Image.Image:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = stream.frames or 1
        for index, frame in enumerate(container.decode(stream)):
            if index >= frames // 2:
                return frame.to_image()
    raise MediaError(f"{path}: no frames")


def thumbnail_png(path: Path, width: int = 160) -> bytes:
    image = _middle_frame(path)
    image.thumbnail((width, width))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def thumbnail_strip_png(images: list[bytes], height: int = 45, max_images: int = 24) -> bytes:
    """Thumbnails side by side in one small PNG, for a data-URI strip in the UI."""
    tiles = []
    for data in images[:max_images]:
        tile = Image.open(io.BytesIO(data)).convert("RGB")
        tile = tile.resize((max(1, round(tile.width * height / tile.height)), height))
        tiles.append(tile)
    strip = Image.new("RGB", (sum(t.width for t in tiles) + 2 * len(tiles), height), "black")
    x = 0
    for tile in tiles:
        strip.paste(tile, (x, 0))
        x += tile.width + 2
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
