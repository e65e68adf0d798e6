"""Driving a run: plan, skip what the store already holds, execute, commit each job."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import GvcbenchError
from .config import RunConfig
from .events import EventSink, JobsPlanned, ended
from .executors import make_executor
from .job import environment
from .lock import LOCK_NAME, OutputUnwritable, RunLock
from .plan import Plan, plan_run
from .records import JobResult
from .setlevel import compute_set_metrics
from .store import ResultStore, StoreUnwritable, dataset_identity

log = logging.getLogger(__name__)


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
    metrics: tuple[str, ...] = ()  # the metrics this run asked for (its config's, or the defaults)
    wall_seconds: float = 0.0
    tool_seconds: float = 0.0
    rate_targets: list = field(default_factory=list)  # TargetOutcome per target of a kbps/bpp ladder
    rows: int = 0  # the rows readers show for this run: its QP-ladder jobs and the targets that got a row

    @property
    def ok(self) -> bool:
        return not (self.failed or self.skipped_codecs or self.bad_sequences)


def metric_versions(names) -> dict[str, str]:
    """The version of each metric this gvcbench measures: a stored value of another version
    is measured again (the job runs again), not reused."""
    from ..metrics import METRICS

    return {name: str(METRICS.get(name).spec.version) for name in names}


def jobs_to_run(plan: Plan, store: ResultStore, force: bool) -> list:
    if force:
        return list(plan.jobs)
    versions = metric_versions(plan.metrics)
    have = store.status_of((j.key for j in plan.jobs), versions)
    for (metric, old), n in sorted(store.stale_versions.items()):
        log.warning(
            f"{n} stored job(s) hold {metric} of version {old}; this gvcbench measures version "
            f"{versions[metric]}: they run again"
        )
    todo = []
    retry = store.last_attempt_failed()
    for job in plan.jobs:
        status, measured, unavailable = have.get(job.key, (None, set(), set()))
        # Done: every metric settled, or unavailable on the machine then and still now.
        missing = set(job.metrics) - measured - (unavailable & set(plan.unavailable_metrics))
        if status == "done" and not missing and job.key not in retry:
            continue
        todo.append(job)
    again = sum(j.key in retry for j in plan.jobs)
    if again:
        log.warning(f"{again} job(s) failed when last run (an earlier result was kept): they run again")
    return todo


def with_earlier_metrics(store: ResultStore, results: list[JobResult]) -> list[JobResult]:
    """Finished results, each with the values its stored row holds of metrics this run did
    not measure: a job runs again for a metric it lacks, and asking for other metrics (or
    running where a metric's weights or FFmpeg filter are missing) must not delete what was
    measured (an LPIPS or a VTM run's hours). Kept only where the new bitstream has the
    stored one's size (the same settings; a deterministic encoder)."""
    done = {r.job_key: r for r in results if r.done}
    if not done:
        return results
    earlier = {r.job_key: r for r in store.records(keys=done, done=True)}
    out = []
    for r in results:
        old = earlier.get(r.job_key) if r.done else None
        kept = _not_measured_now(r, old) if old else set()
        if old is None or not kept:
            out.append(r)
            continue
        if old.bytes != r.bytes:
            log.warning(
                f"{r.codec} / {r.sequence} / {r.point}: the stored {', '.join(sorted(kept))} were measured on "
                f"a bitstream of {old.bytes} bytes, this encode has {r.bytes}: they are not kept (ask for them "
                f"again to measure them on this one)"
            )
            out.append(r)
            continue
        values = {m for m in kept if m in old.metrics or m in (old.features or {})}  # a value beats "unavailable"
        old_errors = {m: e for m, e in old.metric_errors.items() if m not in values}
        out.append(
            replace(
                r,
                metrics=_merge(r.metrics, old.metrics, kept),
                frame_metrics=_merge(r.frame_metrics, old.frame_metrics, kept),
                metric_errors=_merge(r.metric_errors, old_errors, kept, drop=values),
                provenance=_merge(r.provenance, old.provenance, kept),
                features=_merge(r.features or {}, old.features or {}, kept) or None,
            )
        )
    return out


def _merge(new: Mapping, before: Mapping, kept: set[str], drop: set[str] | None = None) -> dict:
    """``new``'s entries (less ``drop``) with ``before``'s of the ``kept`` metrics."""
    return {**{m: v for m, v in new.items() if m not in (drop or set())}, **{m: before[m] for m in kept if m in before}}


def _not_measured_now(new: JobResult, old: JobResult) -> set[str]:
    """The metrics ``old`` holds (a value, features, or why it has none) that ``new`` did not
    measure: not asked for, or unavailable on this machine (no weights, no libvmaf)."""
    here = {m for m in new.metric_errors if not (new.provenance.get(m) or {}).get("unavailable_here")}
    measured = set(new.metrics) | set(new.features or {}) | here
    return (set(old.metrics) | set(old.features or {}) | set(old.metric_errors)) - measured


def _take_labels(store: ResultStore, jobs: list, todo: list) -> None:
    """Jobs this run reuses keep their results but take this run's codec labels: a label is
    the user's name for a setting, and the key (the settings) does not hold it."""
    pending = {j.key for j in todo}
    moved, split = store.relabel({j.key: j.codec_label for j in jobs if j.key not in pending})
    for old, n in sorted(moved.items()):
        rest = (
            f"; the other jobs of {old!r} keep it, so its earlier curve shows whole only with --run (the "
            f"earlier run's id)"
            if old in split
            else ""
        )
        log.warning(
            f"{n} finished job(s) of the same settings were stored under the label {old!r}; "
            f"they now carry this run's label (see `gvcbench results`){rest}"
        )


def run_benchmark(config: RunConfig, force: bool = False, on_event: EventSink | None = None) -> RunSummary:
    """Run ``config``; ``on_event`` is told the progress (bench/events.py). Warnings and what
    the run is doing go to the ``gvcbench`` loggers (the command line shows them).

    The run holds its output folder's lock from start to end: a second run on the same
    folder stops at once with a message instead of mixing rows into the same store."""
    out = Path(config.output)
    created = _first_missing(out)  # the folder this run creates (out or an ancestor), if any
    try:
        with RunLock(out) as lock:
            if lock.took_over:
                log.warning(
                    f"the previous run on {config.output} ({lock.took_over}) did not end properly "
                    f"(killed?); its finished jobs are kept and the rest runs now"
                )
            return _run_locked(config, force, on_event or (lambda event: None))
    except GvcbenchError:
        if created is not None:  # a bad config or dataset leaves no output folder behind
            _remove_if_only_lock(out, created)
        raise


def _first_missing(folder: Path) -> Path | None:
    """The outermost of ``folder`` and its ancestors that does not exist yet (None: it exists)."""
    missing = None
    for path in (folder.absolute(), *folder.absolute().parents):
        if path.exists():
            return missing
        missing = path
    return missing


def _remove_if_only_lock(folder: Path, created: Path) -> None:
    """Remove ``folder`` when it holds only the lock, then its ancestors this run created
    (``runs/`` of ``-o runs/x``) while they are empty."""
    try:
        if [p.name for p in folder.iterdir()] == [LOCK_NAME]:
            (folder / LOCK_NAME).unlink()
            folder.rmdir()
            path = folder.absolute().parent
            while path.is_relative_to(created) and not any(path.iterdir()):
                path.rmdir()
                path = path.parent
    except OSError:
        pass


def _run_locked(config: RunConfig, force: bool, on_event: EventSink) -> RunSummary:
    started = time.perf_counter()
    plan = plan_run(config)
    out = Path(config.output)
    env = environment()
    with ResultStore(out) as store:
        todo = jobs_to_run(plan, store, force)
        _take_labels(store, plan.jobs, todo)
        run_id = uuid.uuid4().hex
        dataset = dataset_identity(
            (j.sequence, j.sequence_hash) for j in plan.jobs + [s.template for s in plan.searches]
        )
        summary = RunSummary(
            run_id,
            store.path,
            len(plan.jobs),
            len(plan.jobs) - len(todo),
            skipped_codecs=plan.skipped_codecs,
            bad_sequences=plan.bad_sequences,
            unavailable_metrics=plan.unavailable_metrics,
            metrics=plan.metrics,
        )
        store.start_run(
            run_id,
            config.identity() | {"output": config.output, "jobs": config.jobs},
            config.config_hash(),
            env | {"codecs": {k: c.version() for k, c in plan.codecs.items()}, "executor": config.executor.kind},
            job_keys={j.key: j.codec_label for j in plan.jobs},
            dataset=dataset,
        )
        on_event(JobsPlanned(len(todo)))

        def commit(results: list[JobResult]) -> None:
            """Write a batch of finished rows in one transaction; a row whose machine failed
            (a full disk) stops the run after the rows before it are written."""
            cut = next((i for i, r in enumerate(results) if r.fatal), len(results))
            rows = with_earlier_metrics(store, [replace(r, run_id=run_id) for r in results[:cut]])
            try:
                written = store.put_rows(rows)
            except StoreUnwritable as exc:
                raise OutputUnwritable(
                    f"{exc}; the run stopped. Finished jobs are kept; free space and run again to resume"
                ) from None
            for result, was_written in zip(rows, written):
                count(result, was_written)
            # a failed attempt that left an earlier finished row in place: this run shows it as failed
            store.mark_failed(run_id, {r.job_key: r.error or "" for r, w in zip(rows, written) if not w})
            if cut < len(results):  # the machine, not the job: stop before every other job fails the same way
                raise OutputUnwritable(
                    f"{results[cut].fatal}; the run stopped. Finished jobs are kept in {store.path}; "
                    f"free space (or make {out} writable) and run again to resume"
                )

        def count(result: JobResult, written: bool) -> None:
            if result.done:
                summary.done += 1
                summary.tool_seconds += result.tool_seconds or 0.0
            else:
                summary.failed += 1
                if not written:
                    error = f"(not stored: the finished row of an earlier run is kept) {result.error}"
                    result = replace(result, error=error)
                summary.failures.append((f"{result.codec} / {result.sequence} / {result.point}", result.error or ""))
            on_event(ended(result))

        executor = None
        try:
            if todo:
                executor = make_executor(config)
                log.info(f"running {len(todo)} job(s) on {executor.describe()}")
                executor.run(todo, commit)
            target_keys: set[str] = set()
            if plan.searches:
                from .ratesearch import run_searches

                def run_batch(jobs):
                    nonlocal executor
                    executor = executor or make_executor(config)
                    summary.planned += len(jobs)
                    on_event(JobsPlanned(summary.planned - summary.skipped))
                    executor.run(jobs, commit)

                summary.rate_targets, target_keys, reused = run_searches(
                    plan,
                    store,
                    run_batch,
                    force,
                    lambda jobs: jobs_to_run(replace(plan, jobs=jobs), store, False),
                    run_id,
                )
                summary.planned += reused  # search encodes of earlier runs, read and not redone
                summary.skipped += reused
                for outcome in summary.rate_targets:
                    if outcome.status != "ok":
                        log.warning(outcome.message)
                store.add_run_jobs(run_id, target_keys)  # readers select a run's rows by its jobs
                store.mark_failed(
                    run_id, {k: store.failed_attempts[k] for k in target_keys if k in store.failed_attempts}
                )
        finally:
            if executor is not None:  # one Dask cluster serves every batch of the run (rate searches run several)
                executor.close()
        summary.rows = len(plan.jobs) + len(target_keys)
        compute_set_metrics(store, {j.key for j in plan.jobs} | target_keys, plan.metrics, dataset)
        store.finish_run(run_id)
    summary.wall_seconds = time.perf_counter() - started
    return summary
