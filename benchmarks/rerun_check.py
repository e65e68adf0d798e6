"""What a rerun reads before it runs anything, on a large store with failed attempts.

    python benchmarks/rerun_check.py [--rows 100000] [--runs 10] [--failed 1100]

Builds a store of ``--rows`` synthetic done rows (as ``store_readers.py`` does), then adds
``--runs`` runs that each planned every job, with ``--failed`` failed attempts spread over
two of them (a ``--force`` rerun with a broken codec keeps the earlier rows and records the
attempt in ``run_jobs.failed``); a run between them rewrites every other row (a successful
retry), which clears the failures on those rows. Prints the time of the two reads ``runner.jobs_to_run``
makes: each job's stored status (``status_of``) and the jobs whose latest attempt failed
(``last_attempt_failed``), best of three.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from store_readers import synthetic_store

from gvcbench.bench.store import ResultStore


def add_runs(path: Path, runs: int, failed: int) -> None:
    """``runs`` later runs planning every job; ``failed`` failed attempts, most in the middle
    run and the rest in the last. The run after the middle one rewrites every other row (a
    successful retry): the failures on those rows are cleared, the others still stand."""
    db = sqlite3.connect(path / "results.sqlite")
    (started,) = db.execute("SELECT max(started) FROM runs").fetchone()
    keys = [k for (k,) in db.execute("SELECT job_key FROM jobs")]
    middle, last = runs // 2, runs
    late = max(1, failed // 11)
    stride_mid, stride_last = max(1, len(keys) // max(1, failed - late)), max(1, len(keys) // late)
    with db:
        for i in range(1, runs + 1):
            db.execute(
                "INSERT INTO runs (run_id, started, finished, config, config_hash, environment) VALUES (?,?,?,?,?,?)",
                (f"run{i}", started + i, started + i + 0.5, "{}", "h", "{}"),
            )

            def error(j: int, i: int = i) -> str | None:
                if (i == middle and j % stride_mid == 0) or (i == last and j % stride_last == 1):
                    return "ToolError: broken on purpose"
                return None

            db.executemany(
                "INSERT INTO run_jobs (run_id, job_key, codec, failed) VALUES (?,?,?,?)",
                ((f"run{i}", k, "x", error(j)) for j, k in enumerate(keys)),
            )
        db.executemany("UPDATE jobs SET run_id = ? WHERE job_key = ?", ((f"run{middle + 1}", k) for k in keys[::2]))
    db.close()


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--failed", type=int, default=1100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp)
        synthetic_store(store, args.rows)
        add_runs(store, args.runs, args.failed)
        with ResultStore(store, create=False) as st:
            keys = [k for (k,) in st.db.execute("SELECT job_key FROM jobs")]
            attempts = st.db.execute("SELECT count(*) FROM run_jobs WHERE failed IS NOT NULL").fetchone()[0]
            t_status, _ = best_of(lambda: st.status_of(keys))
            t_failed, standing = best_of(st.last_attempt_failed)
    table = Table(title=f"{len(keys)} jobs, {args.runs + 1} runs, {attempts} failed attempts")
    for col in ("read", "seconds", "result"):
        table.add_column(col)
    table.add_row("status_of (every job)", f"{t_status:.3f}", f"{len(keys)} statuses")
    table.add_row("last_attempt_failed", f"{t_failed:.3f}", f"{len(standing)} jobs to run again")  # type: ignore[arg-type]
    Console().print(table)


if __name__ == "__main__":
    main()
