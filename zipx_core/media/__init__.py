from zipx_core.media.ffmpeg import (
    ENCODING,
    MediaError,
    VideoEncoding,
    VideoInfo,
    concat_clips,
    ffmpeg_exe,
    probe,
    raw_video_writer,
    thumbnail_png,
    thumbnail_strip_png,
)

__all__ = [
    "ENCODING", "MediaError", "VideoEncoding", "VideoInfo", "concat_clips", "ffmpeg_exe",
    "probe", "raw_video_writer", "thumbnail_png", "thumbnail_strip_png",
]
