"""Flat cost at scale: per-job cost of plans of 100 to 100,000 near-free jobs.

    python benchmarks/job_scaling.py [--sizes 100,2000,20000,100000] [--jobs 2] [--dask | --dask-only]

Plans: the `external` codec with `cp` as encoder and decoder (the bitstream is the raw
input) on tiny clips (16x16, 2 frames), PSNR-Y only, no reconstructions or bitstreams
kept: what is left is the harness's own cost per job (planning, the pool, the driver,
the store). A plan of N jobs is codec labels x sequences x 50 QPs. Printed per size:
wall time, wall time per job, the driver's own CPU time (its process, not the
workers; with Dask it hosts the LocalCluster's scheduler) per job, and the driver's peak
memory so far (sizes run in the order given); flat columns mean the cost per job does not
grow with the plan.
`--dask` also runs each size on a Dask LocalCluster of `--jobs` workers; `--dask-only`
runs it there alone.

The reader commands on a 100,000-row store: `benchmarks/store_readers.py`.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.datasets import Sequence
from gvcbench.datasets.y4m import write_y4m

QPS_PER_CODEC = 50


def tiny_clips(folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(count):
        planes = [rng.integers(16, 236, size=(2, h, w), dtype=np.uint8) for h, w in ((16, 16), (8, 8), (8, 8))]
        write_y4m(Sequence(f"c{i:03d}", *planes, fps=25), folder / f"c{i:03d}.y4m")


def plan_shape(n: int) -> tuple[int, int]:
    """(codec labels, sequences) so that labels x sequences x 50 QPs == n."""
    cells = max(1, n // QPS_PER_CODEC)
    sequences = min(cells, 50)
    return math.ceil(cells / sequences), sequences


def run_plan(n: int, workers: int, executor: str, base: Path) -> dict:
    labels, sequences = plan_shape(n)
    clips = base / f"clips{sequences}"
    if not clips.is_dir():
        clips.mkdir(parents=True)
        tiny_clips(clips, sequences)
    cp = shutil.which("cp")
    codecs = [
        {
            "name": "external",
            "label": f"copy{i}",
            "qps": list(range(QPS_PER_CODEC)),
            "params": {
                "encode": [cp, "{input}", "{bitstream}"],
                "decode": [cp, "{bitstream}", "{output}"],
                "input_format": "yuv",
                "output_format": "yuv",
                "version": f"copy {i}",
            },
        }
        for i in range(labels)
    ]
    out = base / f"run-{executor}-{n}"
    cfg = config_from_mapping(
        {
            "output": str(out),
            "jobs": workers,
            "metrics": ["psnr-y"],
            "keep_reconstructions": False,
            "keep_bitstreams": False,
            "executor": {"kind": executor},
            "dataset": {"source": str(clips)},
            "codec": codecs,
        }
    )
    cpu0, start = time.process_time(), time.perf_counter()
    summary = run_benchmark(cfg)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    if summary.failed:
        raise SystemExit(f"{summary.failed} jobs failed: {summary.failures[:3]}")
    shutil.rmtree(out, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the driver's peak so far, MB
    return {"jobs": summary.done, "wall": wall, "cpu": cpu, "peak": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,2000,20000,100000")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--dask", action="store_true", help="also run each plan on a Dask LocalCluster")
    ap.add_argument("--dask-only", action="store_true", help="run each plan on a Dask LocalCluster only")
    args = ap.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="gvcbench-scale-") as tmp:
        base = Path(tmp)
        table = Table(title=f"near-free external jobs (cp), 16x16x2 clips, PSNR-Y, {args.jobs} worker(s)")
        columns = ("executor", "jobs", "wall s", "wall ms/job", "driver CPU s", "driver CPU ms/job", "driver peak MB")
        for col in columns:
            table.add_column(col, justify="left" if col == "executor" else "right")
        executors = ["dask"] if args.dask_only else ["local"] + (["dask"] if args.dask else [])
        for executor in executors:
            for n in (int(x) for x in args.sizes.split(",")):
                r = run_plan(n, args.jobs, executor, base)
                table.add_row(
                    executor,
                    str(r["jobs"]),
                    f"{r['wall']:.1f}",
                    f"{1000 * r['wall'] / r['jobs']:.2f}",
                    f"{r['cpu']:.1f}",
                    f"{1000 * r['cpu'] / r['jobs']:.2f}",
                    f"{r['peak']:.0f}",
                )
                console.print(f"  {executor} {n}: {r['wall']:.1f} s", highlight=False)
        console.print(table)
    print(f"cpu count {os.cpu_count()}; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
