from zipx_core.media.ffmpeg import (
    ENCODING,
    MediaError,
    VideoEncoding,
    VideoInfo,
    concat_clips,
    conform_clip,
    encode_frames,
    ffmpeg_exe,
    integrated_loudness,
    probe,
    thumbnail_png,
    thumbnail_strip_png,
)

__all__ = [
    "ENCODING", "MediaError", "VideoEncoding", "VideoInfo", "concat_clips", "conform_clip", "encode_frames", "ffmpeg_exe",
    "integrated_loudness",
    "probe", "thumbnail_png", "thumbnail_strip_png",
]
