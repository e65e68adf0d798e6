"""VMAF through the libvmaf built into the imageio-ffmpeg FFmpeg binary (its built-in model).

Both sequences are written as Y4M at their bit depth and compared by FFmpeg's libvmaf
filter; per-frame scores come from libvmaf's JSON log, and the libvmaf version and
model go into the provenance.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import MetricError
from ..tools import Arg, capture, ffmpeg_exe, ffmpeg_version
from .base import Metric, MetricSpec, run_filter

MODEL = "vmaf_v0.6.1"  # libvmaf's built-in default model
# Smaller frames crash FFmpeg (SIGSEGV) in libvmaf: measured with the bundled FFmpeg 9.0.2 on
# 8- and 10-bit 4:2:0, 16x16, 16x18, 18x16, 16x64 and 64x16 crash, 18x18, 18x64 and 64x18 score.
MIN_SIDE = 18


@lru_cache(maxsize=1)
def has_libvmaf() -> bool:
    """Probed once per process (it used to be one ``ffmpeg -filters`` run per job)."""
    return " libvmaf " in capture([ffmpeg_exe(), "-hide_banner", "-filters"])


def spare_threads() -> int:
    """Threads this job may use: the executor gives each worker cores / workers through
    OMP_NUM_THREADS, so with fewer jobs than cores VMAF uses the idle ones. Scores do not
    depend on the thread count."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1


def libvmaf_frames(
    reference_y4m: Path, distorted_y4m: Path, log: Path, workdir: Path, timeout: float = 3600, threads: int = 1
) -> dict:
    """Run FFmpeg's libvmaf on two files; return its parsed JSON log."""
    graph = (
        f"[0:v]setpts=PTS-STARTPTS[dist];[1:v]setpts=PTS-STARTPTS[ref];"
        f"[dist][ref]libvmaf=model=version={MODEL}:log_fmt=json:log_path={log.name}:n_threads={threads}"
    )
    argv: list[Arg] = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-i",
        distorted_y4m,
        "-i",
        reference_y4m,
        "-lavfi",
        graph,
        "-f",
        "null",
        "-",
    ]
    run_filter(argv, workdir / "vmaf.log", timeout, workdir, "libvmaf")
    try:
        return json.loads((workdir / log.name).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MetricError(f"libvmaf wrote no readable JSON log: {exc}") from None


class Vmaf(Metric):
    spec = MetricSpec(
        "vmaf",
        "1",
        lower_better=False,
        unit="",
        granularity="frame",
        value_range=(0.0, 100.0),
        description=f"VMAF ({MODEL}, libvmaf in the imageio-ffmpeg FFmpeg)",
    )

    def availability(self) -> str | None:
        return None if has_libvmaf() else "this FFmpeg binary has no libvmaf filter"

    def provenance(self) -> dict:
        return super().provenance() | {
            "implementation": f"libvmaf {getattr(self, '_libvmaf_version', '?')} via ffmpeg {ffmpeg_version()}",
            "model": MODEL,
            "input": "YUV 4:2:0 at the sequence's bit depth (Y4M)",
        }

    def frame_values(self, reference, distorted) -> np.ndarray:
        if min(reference.width, reference.height) < MIN_SIDE:
            raise MetricError(
                f"VMAF needs frames of at least {MIN_SIDE}x{MIN_SIDE} (libvmaf crashes on smaller ones); "
                f"{reference.name} is {reference.width}x{reference.height}"
            )
        with tempfile.TemporaryDirectory(prefix="gvcbench-vmaf-") as tmp_name:
            tmp = Path(tmp_name)
            ref, dist = self.y4m_files(reference, distorted, tmp)
            data = libvmaf_frames(ref, dist, Path("vmaf.json"), tmp, threads=spare_threads())
        self._libvmaf_version = data.get("version", "unknown")
        frames = sorted(data.get("frames", []), key=lambda f: f["frameNum"])
        if len(frames) != reference.num_frames:
            raise MetricError(f"libvmaf scored {len(frames)} frames of {reference.num_frames}")
        return np.array([f["metrics"]["vmaf"] for f in frames], dtype=np.float64)
