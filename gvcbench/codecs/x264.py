"""AVC through x264 (FFmpeg's libx264): fixed QP, no B-frames, one intra frame."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .base import RatePoint
from .ffmpeg_base import FFmpegCodec

X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)


def check_x26x_preset(codec: str, preset: str) -> None:
    if preset not in X26X_PRESETS:
        raise ConfigError(f"{codec} preset {preset!r} unknown; use one of {', '.join(X26X_PRESETS)}")


@dataclass(frozen=True)
class X264Params:
    preset: str = "medium"

    def __post_init__(self):
        check_x26x_preset("x264", self.preset)


class X264(FFmpegCodec):
    name = "x264"
    description = "AVC (x264 via FFmpeg), low delay P (no B-frames), fixed QP"
    Params = X264Params
    default_qps = (32, 37, 42, 47)
    qp_range = (0, 51)
    encoder = "libx264"
    raw_format = "h264"
    suffix = ".264"
    version_pattern = r"x264 - core (\d+(?: r\d+)?)"

    def coded_bit_depth(self, seq):
        if seq.bit_depth != 8:
            from ..errors import CodecError

            raise CodecError(f"this FFmpeg's libx264 codes 8-bit content only; {seq.name} is {seq.bit_depth}-bit")
        return 8

    def encoder_args(self, point: RatePoint, seq) -> list[str]:
        return [
            "-c:v",
            "libx264",
            "-preset",
            self.params.preset,
            "-qp",
            str(point.qp),
            "-bf",
            "0",
            "-g",
            "100000",
            "-keyint_min",
            "100000",
            "-sc_threshold",
            "0",
            "-threads",
            "1",
            # drop the SEI in which x264 writes its version and options (0.5 KB a stream that
            # the decoder ignores and the rate would count); with no B-frames x264 writes no other SEI
            "-bsf:v",
            "filter_units=remove_types=6",
        ]
