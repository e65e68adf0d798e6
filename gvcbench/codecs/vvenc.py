"""VVC low-delay B through Fraunhofer vvenc (FFmpeg's libvvenc), fixed QP, 10-bit internal."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .base import RatePoint
from .ffmpeg_base import FFmpegCodec

PRESETS = ("faster", "fast", "medium", "slow", "slower")


@dataclass(frozen=True)
class VvencParams:
    preset: str = "medium"
    gop_size: int = 8
    threads: int = 1

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ConfigError(f"vvenc preset {self.preset!r} unknown; use one of {', '.join(PRESETS)}")
        if self.gop_size not in (8, 16, 32):
            raise ConfigError(f"vvenc gop_size must be 8, 16 or 32, got {self.gop_size}")


class VvencLDB(FFmpegCodec):
    name = "vvenc-ldb"
    description = "VVC (vvenc via FFmpeg), low-delay B, fixed QP, 10-bit internal"
    Params = VvencParams
    default_qps = (37, 42, 47, 52)  # the Dynamics-Codec paper's VVC anchor ladder
    qp_range = (0, 63)
    encoder = "libvvenc"
    raw_format = "vvc"
    suffix = ".266"
    version_pattern = r"libvvenc version: (\S+)"
    probe_pix_fmt = "yuv420p10le"

    def coded_bit_depth(self, seq):
        return 10  # libvvenc takes 10-bit input only; VVC anchors are coded at 10 bits anyway

    def encoder_args(self, point: RatePoint, seq) -> list[str]:
        p = self.params
        # IntraPeriod=-1: the first frame alone is intra. 0 would mean "every RefreshSec (1 s)",
        # an intra frame every 24 frames at 25 fps, which a low-delay anchor must not have.
        # AccessUnitDelimiter=0: no 6-byte delimiter NAL a frame (1.2 kbps at 25 fps), which
        # VTM does not write and the decoder does not need.
        vvenc = f"PicReordering=0:GOPSize={p.gop_size}:DecodingRefreshType=none:IntraPeriod=-1:AccessUnitDelimiter=0"
        return [
            "-c:v",
            "libvvenc",
            "-preset",
            p.preset,
            "-qpa",
            "0",
            "-qp",
            str(point.qp),
            "-threads",
            str(p.threads),
            "-vvenc-params",
            vvenc,
        ]
