"""XPSNR of luma through the xpsnr filter of the imageio-ffmpeg FFmpeg binary.

XPSNR (Helmrich et al., ICASSP 2020; ITU Journal ICT Discoveries 3(1), 2020) weights each
block's squared error by the inverse of the original's spatial and temporal activity. The
FFmpeg filter is the authors' own implementation. It reads its FIRST input as the original
(the activity weights come from it) and the second as the reconstruction: the reverse of
libvmaf's order, and swapping them changes the values by dB.

It reports Y, U and V separately and no combined value; gvcbench registers the luma value.
Per frame it is read from the filter's frame metadata (six decimals); the per-sequence value
is the mean of the per-frame dB values, as for ``psnr-y``, not the filter's own summary (the
XPSNR of the mean root weighted error), which is lower where the frames' values differ.
The filter's buffers of earlier original frames start at zero, so the first frame's
temporal activity is measured against a black frame and its errors weigh less (about 5 dB
on a still clip); the values are kept as FFmpeg computes them.
"""

from __future__ import annotations

import re
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import MetricError
from ..tools import Arg, capture, ffmpeg_exe, ffmpeg_version
from .base import Metric, MetricSpec, run_filter
from .psnr import PSNR_CAP_DB

# The filter's block size is 4 * round(32 * sqrt(W * H / 3840 / 2160)); below 2025 luma
# pixels it is 0 and the filter silently returns plain, unweighted PSNR instead.
MIN_PIXELS = 2025
_VALUE = re.compile(r"^lavfi\.xpsnr\.xpsnr\.y=(\S+)$", re.MULTILINE)


@lru_cache(maxsize=1)
def has_xpsnr() -> bool:
    return " xpsnr " in capture([ffmpeg_exe(), "-hide_banner", "-filters"])


def xpsnr_luma(original_y4m: Path, distorted_y4m: Path, workdir: Path, timeout: float = 3600) -> np.ndarray:
    """Per-frame XPSNR-Y of two Y4M files of equal format, in frame order (inf where equal)."""
    graph = (
        "[0:v]setpts=PTS-STARTPTS[org];[1:v]setpts=PTS-STARTPTS[rec];"
        "[org][rec]xpsnr=eof_action=endall,metadata=mode=print:file=xpsnr.txt"
    )
    argv: list[Arg] = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", original_y4m, "-i", distorted_y4m]
    argv += ["-lavfi", graph, "-f", "null", "-"]
    run_filter(argv, workdir / "xpsnr.log", timeout, workdir, "xpsnr")
    try:
        text = (workdir / "xpsnr.txt").read_text()
    except OSError as exc:
        raise MetricError(f"FFmpeg's xpsnr filter wrote no frame values: {exc}") from None
    return np.array([float(v) for v in _VALUE.findall(text)], dtype=np.float64)


class Xpsnr(Metric):
    spec = MetricSpec(
        "xpsnr",
        "1",
        lower_better=False,
        unit="dB",
        granularity="frame",
        value_range=(0.0, PSNR_CAP_DB),
        description="XPSNR of luma per frame (FFmpeg's xpsnr filter), capped at 100 dB",
        ceiling=PSNR_CAP_DB,
    )

    def availability(self) -> str | None:
        return None if has_xpsnr() else "this FFmpeg binary has no xpsnr filter"

    def provenance(self) -> dict:
        return super().provenance() | {
            "implementation": f"xpsnr filter of ffmpeg {ffmpeg_version()}",
            "plane": "Y",
            "input": "YUV 4:2:0 at the sequence's bit depth (Y4M), the original as the filter's first input",
        }

    def frame_values(self, reference, distorted) -> np.ndarray:
        if reference.width * reference.height < MIN_PIXELS:
            raise MetricError(
                f"XPSNR needs frames of at least {MIN_PIXELS} luma pixels (FFmpeg's filter falls back to "
                f"plain PSNR below); {reference.name} is {reference.width}x{reference.height}"
            )
        with tempfile.TemporaryDirectory(prefix="gvcbench-xpsnr-") as tmp_name:
            tmp = Path(tmp_name)
            values = xpsnr_luma(*self.y4m_files(reference, distorted, tmp), tmp)
        if len(values) != reference.num_frames:
            raise MetricError(f"FFmpeg's xpsnr filter scored {len(values)} frames of {reference.num_frames}")
        return np.minimum(values, PSNR_CAP_DB)
