"""AV1 through libaom (FFmpeg's libaom-av1), the AV1 reference encoder: low delay, constant Q.

Low delay: no lag-in-frames, so no alternate reference frames, no hidden frames and no
reordering; the first frame is the only key frame. Rate: libaom's constant-quality mode
(end-usage q, ``-crf QP -b:v 0``) with no adaptive quantisation: every inter frame is coded
at the quantiser index of QP (4 x QP) and libaom lowers the key frame's own, as SVT-AV1's
CQP does (e.g. QP 40: key frame qindex 54, inter frames 160).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .base import RatePoint
from .ffmpeg_base import FFmpegCodec

# libaom's good-quality usage stops at speed 6: FFmpeg accepts 7 and 8, but they code the
# very same stream as 6 (measured with libaom 3.15.1), so they would only be a second name.
MAX_CPU_USED = 6


@dataclass(frozen=True)
class AomParams:
    cpu_used: int = 6  # the fastest good-quality speed: ~3 ms a 64x64 frame, 0.35 s a 384x384 key frame

    def __post_init__(self):
        value = self.cpu_used
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CPU_USED:
            raise ConfigError(f"aom cpu_used must be an integer 0..{MAX_CPU_USED}, got {value!r}")


class Aom(FFmpegCodec):
    name = "aom"
    description = "AV1 (libaom via FFmpeg), low delay (no lag, no reordering), constant Q (no AQ)"
    Params = AomParams
    default_qps = (40, 47, 54, 61)  # svtav1's ladder: the same 0..63 quantiser scale, similar rates
    qp_range = (1, 63)
    encoder = "libaom-av1"
    raw_format = "obu"  # bare OBUs, as svtav1: an IVF container's bytes are not AV1
    suffix = ".obu"
    version_pattern = r"\[libaom-av1 @ \w+\] (v\d\S*)"

    def coded_bit_depth(self, seq):
        return 8 if seq.bit_depth == 8 else 10

    def encoder_args(self, point: RatePoint, seq) -> list[str]:
        return [
            "-c:v",
            "libaom-av1",
            "-usage",
            "good",
            "-cpu-used",
            str(self.params.cpu_used),
            "-crf",
            str(point.qp),
            "-b:v",
            "0",
            "-lag-in-frames",
            "0",
            "-auto-alt-ref",
            "0",
            "-aq-mode",
            "0",
            "-g",
            "100000",
            "-keyint_min",
            "100000",
            "-threads",
            "1",
            "-aom-params",
            "enable-tpl-model=0:deltaq-mode=0",
        ]
