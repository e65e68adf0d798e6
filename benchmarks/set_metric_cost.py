"""What a set-level metric costs: features per frame, stored bytes per job, pooling per rate point.

    python benchmarks/set_metric_cost.py --jobs 35 --frames 50 [--device cuda]

FID's network runs with seeded random weights (the cost is the architecture's, not the
weights'); pooling runs on random features of the real size, since its cost depends only
on the shapes. Prints one table.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from gvcbench.metrics.fid import DIMS, Fid, build_inception
from gvcbench.metrics.fvd import Fvd


def timed(fn, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=35, help="sequences pooled per rate point")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=384, help="frame side in pixels")
    args = parser.parse_args()
    torch.manual_seed(0)
    import torchvision

    state = torchvision.models.inception_v3(
        num_classes=1008, aux_logits=False, weights=None, init_weights=True
    ).state_dict()
    net = build_inception(state, DIMS).to(args.device)
    batch = torch.rand(8, 3, args.size, args.size, device=args.device)
    with torch.no_grad():
        net(batch[:1])
        per_frame = timed(lambda: net(batch), 2) / len(batch)

    rng = np.random.default_rng(0)
    table = Table(title=f"set metrics: {args.jobs} jobs x {args.frames} frames, {args.device}")
    for column in ("metric", "features / frame (ms)", "stored per job (MB)", "pool + compute (s)", "path"):
        table.add_column(column)
    fid_blobs = [
        Fid().job_features(*(rng.normal(size=(args.frames, DIMS)).astype(np.float32) for _ in range(2)))
        for _ in range(args.jobs)
    ]
    clips = max(1, (args.frames - 16) // 16 + 1)
    fvd_blobs = [Fvd().job_features(*(rng.normal(size=(clips, 400)) for _ in range(2))) for _ in range(args.jobs)]
    for name, metric, blobs, frame_ms in (
        ("fid", Fid(), fid_blobs, f"{per_frame * 1000:.1f}"),
        ("fvd", Fvd(), fvd_blobs, "-"),
    ):
        size = np.mean([len(json.dumps(b)) for b in blobs]) / 1e6
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            pooled = metric.pool(blobs)
            seconds = time.perf_counter() - start
        low_rank = isinstance(metric, Fid) and pooled.count < metric.dims
        path = "feature vectors (exact low-rank)" if low_rank else "statistics (square root)"
        table.add_row(name, frame_ms, f"{size:.2f}", f"{seconds:.2f}", path)
    Console().print(table)


if __name__ == "__main__":
    main()
