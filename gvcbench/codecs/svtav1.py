"""AV1 through SVT-AV1 (FFmpeg's libsvtav1): low-delay prediction structure, fixed QP."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .base import RatePoint
from .ffmpeg_base import FFmpegCodec


@dataclass(frozen=True)
class SvtAv1Params:
    preset: int = 8

    def __post_init__(self):
        if not -1 <= int(self.preset) <= 13:
            raise ConfigError(f"svtav1 preset must be -1..13, got {self.preset}")


class SvtAv1(FFmpegCodec):
    name = "svtav1"
    description = "AV1 (SVT-AV1 via FFmpeg), low-delay prediction, fixed QP (CQP, no AQ)"
    Params = SvtAv1Params
    default_qps = (40, 47, 54, 61)
    qp_range = (1, 63)
    encoder = "libsvtav1"
    raw_format = "obu"  # the bare low-overhead OBU stream: IVF's 32 + 12 bytes a frame are container, not AV1
    suffix = ".obu"
    version_pattern = r"SVT-AV1 Encoder Lib (v\S+)"

    def coded_bit_depth(self, seq):
        return 8 if seq.bit_depth == 8 else 10

    def encoder_args(self, point: RatePoint, seq) -> list[str]:
        svt = f"rc=0:qp={point.qp}:pred-struct=1:keyint=-1:aq-mode=0:enable-tpl-la=0:lp=1"
        return ["-c:v", "libsvtav1", "-preset", str(self.params.preset), "-svtav1-params", svt]
