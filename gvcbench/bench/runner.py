"""Driving a run: plan, skip what the store already holds, execute, commit each job."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .config import RunConfig
from .executors import make_executor
from .job import environment
from .plan import Plan, plan_run
from .setlevel import compute_set_metrics
from .store import ResultStore


@dataclass
class RunSummary:
    run_id: str
    store: Path
    planned: int
    skipped: int  # finished earlier, not redone
    done: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped_codecs: dict[str, str] = field(default_factory=dict)
    bad_sequences: dict[str, str] = field(default_factory=dict)
    unavailable_metrics: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0
    tool_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.skipped_codecs or self.bad_sequences)


def jobs_to_run(plan: Plan, store: ResultStore, force: bool) -> list:
    if force:
        return list(plan.jobs)
    have = store.status_of(j.key for j in plan.jobs)
    todo = []
    for job in plan.jobs:
        status, measured, unavailable = have.get(job.key, (None, set(), set()))
        # Done: every metric settled, or unavailable on the machine then and still now.
        missing = set(job.metrics) - measured - (unavailable & set(plan.unavailable_metrics))
        if status == "done" and not missing:
            continue
        todo.append(job)
    return todo


def run_benchmark(config: RunConfig, force: bool = False, progress=None, on_warning=print,
                  log=lambda message: None) -> RunSummary:
    """Run ``config``; ``progress(event, payload)`` is told of 'start' (count) and 'row' (a row)."""
    started = time.perf_counter()
    plan = plan_run(config, on_warning=on_warning)
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    env = environment()
    with ResultStore(out) as store:
        todo = jobs_to_run(plan, store, force)
        run_id = uuid.uuid4().hex
        summary = RunSummary(run_id, store.path, len(plan.jobs), len(plan.jobs) - len(todo),
                             skipped_codecs=plan.skipped_codecs, bad_sequences=plan.bad_sequences,
                             unavailable_metrics=plan.unavailable_metrics)
        store.start_run(run_id, config.identity() | {"output": config.output, "jobs": config.jobs},
                        config.config_hash(), env | {"codecs": {k: c.version() for k, c in plan.codecs.items()},
                                                     "executor": config.executor.kind})
        if progress:
            progress("start", len(todo))

        def commit(row: dict) -> None:
            row["run_id"] = run_id
            row["packages"] = env["packages"]
            store.put(row)
            if row["status"] == "done":
                summary.done += 1
                summary.tool_seconds += row.get("tool_seconds") or 0.0
            else:
                summary.failed += 1
                summary.failures.append((f"{row['codec']} / {row['sequence']} / {row['point']}", row["error"]))
            if progress:
                progress("row", row)

        if todo:
            executor = make_executor(config, log=log)
            log(f"running {len(todo)} job(s) on {executor.describe()}")
            executor.run(todo, commit)
        compute_set_metrics(store, {j.key for j in plan.jobs}, plan.metrics)
        store.finish_run(run_id)
    summary.wall_seconds = time.perf_counter() - started
    return summary
