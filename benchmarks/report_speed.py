"""`gvcbench report` time, peak memory and size, default and --lossless, and its growth
with the number of sequences drawn.

    python benchmarks/report_speed.py [--run FOLDER] [--metrics psnr-y,psnr-yuv,ms-ssim,vmaf]

``--run`` names a finished run folder (default: make the built-in run, `gvcbench run`
with its defaults, in a temporary folder first: minutes). Each report is a separate
`python -m gvcbench report` process, timed from start to exit (imports included).
Target for the built-in run: at most 5 s and about 5 MB by default.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def report(run: Path, out: Path, metrics: str, extra: list[str]) -> tuple[float, float, float, float]:
    """(wall s, CPU s, peak MB of the child, report.html MB). CPU time (user + system, all
    threads) is what a busy shared machine disturbs least."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu0 = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gvcbench",
            "report",
            str(run),
            "--anchor",
            "vvenc-ldb",
            "--metrics",
            metrics,
            "-o",
            str(out),
            *extra,
        ],
        capture_output=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"gvcbench report failed: {proc.stderr.decode()[-3000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu0
    return wall, cpu, max(usage.ru_maxrss, before) / 1024, (out / "report.html").stat().st_size / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a finished run folder (default: make the built-in run)")
    ap.add_argument("--metrics", default="psnr-y,psnr-yuv,ms-ssim,vmaf")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gvcbench-report-") as tmp:
        tmp = Path(tmp)
        run = args.run
        if run is None:
            run = tmp / "run"
            subprocess.run(
                [sys.executable, "-m", "gvcbench", "run", "--output", str(run)], check=True, stdout=subprocess.DEVNULL
            )
        from gvcbench.bench.store import ResultStore

        with ResultStore(run, create=False) as store:
            sequences = sorted({r["sequence"] for r in store.rows() if r["status"] == "done"})
        table = Table(title=f"gvcbench report of {run} (metrics {args.metrics})")
        for col in ("report", "sequences", "wall s", "CPU s", "peak MB (max so far)", "report.html MB"):
            table.add_column(col, justify="left" if col == "report" else "right")
        for label, extra in (("default (quality 90)", []), ("--lossless", ["--lossless"])):
            wall, cpu, peak, size = report(run, tmp / label[:7], args.metrics, extra)
            table.add_row(label, str(min(3, len(sequences))), f"{wall:.2f}", f"{cpu:.2f}", f"{peak:.0f}", f"{size:.2f}")
        for k in range(1, min(3, len(sequences)) + 1):  # linear in the sequences drawn?
            wall, cpu, peak, size = report(run, tmp / f"n{k}", args.metrics, ["--sequences", ",".join(sequences[:k])])
            table.add_row("default", str(k), f"{wall:.2f}", f"{cpu:.2f}", f"{peak:.0f}", f"{size:.2f}")
        Console().print(table)
        print(f"load average {os.getloadavg()[0]:.1f} (2-core machine shared with other work)")


if __name__ == "__main__":
    main()
