"""HEVC through x265 (FFmpeg's libx265): fixed QP, no B-frame reordering, one intra frame."""

from __future__ import annotations

from dataclasses import dataclass

from .base import RatePoint
from .ffmpeg_base import FFmpegCodec
from .x264 import check_x26x_preset


@dataclass(frozen=True)
class X265Params:
    preset: str = "medium"

    def __post_init__(self):
        check_x26x_preset("x265", self.preset)


class X265(FFmpegCodec):
    name = "x265"
    description = "HEVC (x265 via FFmpeg), low delay P (bframes=0), fixed QP"
    Params = X265Params
    default_qps = (32, 37, 42, 47)
    qp_range = (0, 51)
    encoder = "libx265"
    raw_format = "hevc"
    suffix = ".265"
    version_pattern = r"HEVC encoder version (\S+)"

    def encoder_args(self, point: RatePoint, seq) -> list[str]:
        # info=0: no SEI with x265's version and options (2.3 KB a stream, which the decoder
        # ignores but the rate would count: 9 kbps over a 2 s clip)
        x265 = f"qp={point.qp}:bframes=0:keyint=-1:scenecut=0:frame-threads=1:pools=1:log-level=error:info=0"
        return ["-c:v", "libx265", "-preset", self.params.preset, "-x265-params", x265]
