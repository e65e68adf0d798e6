"""Reader commands on a large store: `results`, `bdrate` (also windowed), `report` and `regress` at 100,000 rows.

    python benchmarks/store_readers.py [--rows 100000] [--store PATH] [--code DIR] [--limit 600]

Builds a store of ``--rows`` synthetic done rows through the store's own API (4 codecs x
N/16 sequences x 4 QPs; PSNR-Y, PSNR-YUV, MS-SSIM and VMAF with 50 per-frame values and
provenance, like a real run's rows), then runs each reader command as its own process and
prints its wall time and CPU time (user + system of the process and its children: on a
shared machine wall time also counts waiting for a core). ``--store`` times an existing
store instead (e.g. one an older gvcbench wrote); ``--code`` runs the commands with another
checkout of gvcbench first on the path, to compare versions on the same store.
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

import numpy as np
from rich.console import Console
from rich.table import Table

CODECS = ("anchor", "codec-a", "codec-b", "codec-c")
QPS = (22, 27, 32, 37)
METRICS = ("psnr-y", "psnr-yuv", "ms-ssim", "vmaf")
FRAMES = 50


def synthetic_store(path: Path, rows: int) -> None:
    """``rows`` done rows shaped like a real run's, written in one transaction."""
    from gvcbench.bench.records import JobResult, kbps_of
    from gvcbench.bench.store import ResultStore

    sequences = max(1, rows // (len(CODECS) * len(QPS)))
    rng = np.random.default_rng(1)
    prov = {
        m: {
            "metric": m,
            "version": "1",
            "implementation": f"{m} reference implementation 1.0",
            "spec": {"name": m, "lower_better": False, "unit": "", "granularity": "frame"},
        }
        for m in METRICS
    }
    keys = []

    def results():
        for s in range(sequences):
            for c, codec in enumerate(CODECS):
                for q, qp in enumerate(QPS):
                    n_bytes = int(400.0 / (1.6**q) * (1 - 0.05 * c) * (1 + 0.1 * rng.random()) * 250)
                    base_q = 42 - 4 * q + c * 0.3
                    frames = {
                        m: [
                            float(v)
                            for v in np.round(
                                base_q * (1 if m.startswith("psnr") else 0.02 if m == "ms-ssim" else 2)
                                + rng.normal(0, 0.1, FRAMES),
                                4,
                            )
                        ]
                        for m in METRICS
                    }
                    keys.append(f"{s}-{codec}-{qp}")
                    yield JobResult(
                        job_key=keys[-1],
                        run_id="synthetic",
                        codec=codec,
                        codec_name="external",
                        codec_version="1",
                        sequence=f"seq{s:05d}",
                        sequence_hash=f"{s:064x}",
                        sequence_spec={"path": f"/nowhere/seq{s:05d}.y4m", "start": 0},
                        point=f"qp{qp}",
                        qp=qp,
                        bytes=n_bytes,
                        frames=FRAMES,
                        width=384,
                        height=384,
                        fps=25.0,
                        kbps=kbps_of(n_bytes, FRAMES, 25.0),
                        bpp=n_bytes * 8 / (384 * 384 * FRAMES),
                        metrics={m: float(np.mean(v)) for m, v in frames.items()},
                        frame_metrics=frames,
                        provenance=prov,
                        config_hash="cfg",
                        finished_at=time.time(),
                    )

    with ResultStore(path) as store:
        env = {"gvcbench": "bench", "codecs": {}, "packages": {"numpy": np.__version__}}
        store.start_run("synthetic", {"synthetic": True}, "cfg", env)
        store.put_many(results())
        store.add_run_jobs("synthetic", keys)
        store.finish_run("synthetic")


def timed_command(argv: list[str], cwd: Path, limit: float, code: str) -> tuple[float, float, int | None]:
    """(wall s, CPU s, exit status); status None when it ran past ``limit`` seconds and was stopped."""
    env = dict(os.environ, PYTHONPATH=code)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "gvcbench", *argv],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, float("nan"), None
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"gvcbench {' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return wall, cpu, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--store", type=Path, help="time this store (file or run folder) instead of building one")
    ap.add_argument("--code", default=str(Path(__file__).resolve().parents[1]), help="gvcbench checkout to time")
    ap.add_argument("--limit", type=float, default=600, help="seconds after which a command is stopped")
    args = ap.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="gvcbench-readers-") as tmp:
        base = Path(tmp)
        made = ""
        store = args.store
        if store is None:
            store = base / "big"
            start = time.perf_counter()
            synthetic_store(store, args.rows)
            made = f", made in {time.perf_counter() - start:.0f} s"
        db = store / "results.sqlite" if store.is_dir() else store
        title = f"reader commands on {db} ({db.stat().st_size / 1e6:.0f} MB{made}), gvcbench from {args.code}"
        table = Table(title=title)
        for col in ("command", "wall s", "CPU s"):
            table.add_column(col, justify="left" if col == "command" else "right")
        commands = {
            "results -f csv": ["results", str(store), "-f", "csv", "-o", str(base / "r.csv")],
            "bdrate --anchor anchor": ["bdrate", str(store), "--anchor", "anchor"],
            "bdrate --window 120:300 --common": [
                "bdrate",
                str(store),
                "--anchor",
                "anchor",
                "--window",
                "120:300",
                "--common",
            ],
            "report --anchor anchor": ["report", str(store), "--anchor", "anchor", "-o", str(base / "report")],
            "regress --save": [
                "regress",
                str(store),
                "--baseline",
                str(base / "b.json"),
                "--save",
                "--anchor",
                "anchor",
            ],
            "regress (compare)": ["regress", str(store), "--baseline", str(base / "b.json")],
        }
        for label, argv in commands.items():
            wall, cpu, rc = timed_command(argv, base, args.limit, args.code)
            shown = f"> {args.limit:.0f} (stopped)" if rc is None else f"{wall:.1f}"
            table.add_row(label + ("" if rc in (0, None) else f" (exit {rc})"), shown, f"{cpu:.1f}")
            console.print(f"  {label}: {wall:.1f} s wall, {cpu:.1f} s CPU", highlight=False)
        console.print(table)
    print(f"cpu count {os.cpu_count()}; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
