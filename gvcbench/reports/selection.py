"""Which rows of a store a reader shows, chosen explicitly and said aloud.

A store may hold several configurations of one codec label (other options, another
codec version) and several datasets (other clips, another protocol). Nothing is
averaged across them: every reader (`results`, `bdrate`, `report`, `regress` and the
summary `run` prints) takes its rows from :func:`select`.

* ``run=None`` (the default): the dataset of the latest run, and for each codec label
  the jobs of the latest run on that dataset that planned the label. Rows this leaves
  out are named in a note (how many, which run, what differed).
* ``run=ID`` (a unique prefix will do): exactly the jobs that run planned, under the
  codec labels that run gave them (schema 4; a later run may have renamed the rows).

A job whose attempt in the run shown failed while the store kept an earlier finished row
(a ``--force`` rerun that failed) is shown as failed, with both runs named: what the run
did is what its readers, and the regression gate, see.

A run of schema 2 records the jobs it planned, run then or reused. For runs recorded
by an older gvcbench the jobs are inferred: those it wrote, plus earlier rows with the
same codec label, version, options and sequence spec as one it wrote.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from ..bench.records import JobResult, SetValue
from ..bench.store import ResultStore, collector_paused, dataset_identity
from ..errors import GvcbenchError


@dataclass
class Run:
    run_id: str
    started: float
    dataset: str
    config: dict
    jobs: set[str]  # keys of the rows in the store this run planned
    inferred: bool = False  # schema-1 run: jobs inferred, not recorded
    planned: int = 0  # jobs it planned, with rows or not (0: not recorded)
    finished: float | None = None  # None: still running, or stopped before its end
    label_of: dict[str, str] = field(default_factory=dict)  # job key -> the label it gave (schema 4)
    failed: dict[str, str] = field(default_factory=dict)  # job key -> error of its failed attempt (schema 4)

    @property
    def labels(self) -> set[str]:
        """The codec labels its configuration named."""
        codecs = [c for c in self.config.get("codecs") or [] if isinstance(c, dict)]
        return {str(c.get("label") or c.get("name")) for c in codecs}

    @property
    def unfinished(self) -> bool:
        return not self.inferred and self.finished is None

    @property
    def short(self) -> str:
        return self.run_id[:8]

    @property
    def when(self) -> str:
        return _utc(self.started)

    @property
    def dataset_label(self) -> str:
        ds = self.config.get("dataset") or {}
        cut = ", ".join(f"{k}={ds[k]}" for k in ("start", "frames", "crop", "size") if ds.get(k) not in (None, 0))
        source = ds.get("source", "?")
        ident = self.dataset if self.inferred else self.dataset[:8]
        return f"{source}{f' ({cut})' if cut else ''} [{ident}]"


@dataclass
class Selection:
    rows: list[JobResult]
    set_values: list[SetValue]
    runs: list[dict]  # the runs (store records) whose rows are shown, oldest first
    dataset: str | None = None  # identity of the dataset shown
    dataset_label: str = ""
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None  # the run asked for (``run``), its whole id; None: the default choice


def select(store: ResultStore, run: str | None = None, source_store: str | None = None) -> Selection:
    """Rows, set-level values and runs of ``store`` that a reader shows (see the module doc);
    ``source_store``: set on every row (readers that combine stores)."""
    extra = {"source_store": source_store} if source_store is not None else None
    with collector_paused():  # a read of 100k rows: see collector_paused
        return choose(store.records(extra=extra), store.runs(), store.set_values(), run)


def _signature(row: JobResult) -> str:
    """A codec configuration: label, version and options."""
    return json.dumps([row.codec, row.codec_version, dict(row.codec_params)], sort_keys=True, default=str)


def _runs(rows: list[JobResult], records: list[dict]) -> list[Run]:
    """Runs that planned at least one row of the store, oldest first. Jobs of a schema-1 run
    are inferred: the rows it wrote, plus rows that earlier runs on the same dataset settings
    wrote with a codec configuration it wrote too (the jobs it reused)."""
    present = {r.job_key for r in rows}
    by_run: dict[str | None, list[JobResult]] = defaultdict(list)
    for r in rows:
        by_run[r.run_id].append(r)
    known = {rec["run_id"] for rec in records}
    records = list(records) + [  # rows whose run has no record (written by hand or by an old tool)
        {"run_id": rid, "started": min(r.finished_at or 0 for r in rs), "config": {}, "dataset": None, "jobs": set()}
        for rid, rs in by_run.items()
        if rid not in known
    ]
    records.sort(key=lambda rec: rec["started"] or 0)
    runs = []
    earlier: dict[str, list[JobResult]] = defaultdict(list)  # legacy dataset identity -> rows written so far
    for rec in records:
        if rec.get("dataset") is not None:
            jobs = set(rec["jobs"]) & present
            run = Run(rec["run_id"], rec["started"] or 0, rec["dataset"], rec["config"], jobs)
            run.planned, run.finished = len(rec["jobs"]), rec.get("finished")
            run.label_of, run.failed = dict(rec.get("labels") or {}), dict(rec.get("failed") or {})
            runs.append(run)
            continue
        wrote = by_run.get(rec["run_id"], [])
        ident = (
            "legacy-"
            + hashlib.sha256(
                json.dumps((rec["config"] or {}).get("dataset"), sort_keys=True, default=str).encode()
            ).hexdigest()[:9]
        )
        sigs = {_signature(r) for r in wrote}
        planned = wrote + [r for r in earlier[ident] if _signature(r) in sigs]
        jobs = {r.job_key for r in planned}
        # the same identity a current run gives the same clips, so old and new runs of one
        # dataset are read as one
        dataset = dataset_identity((r.sequence, r.sequence_hash) for r in planned)  # type: ignore[misc]
        runs.append(Run(rec["run_id"], rec["started"] or 0, dataset, rec["config"] or {}, jobs, inferred=True))
        earlier[ident] += wrote
    return [r for r in runs if r.jobs]


def find_run(runs: list[Run], wanted: str) -> Run:
    hits = [r for r in runs if r.run_id.startswith(wanted)]
    if len(hits) == 1:
        return hits[0]
    listing = "; ".join(f"{r.short} ({r.when}, {r.dataset_label})" for r in reversed(runs)) or "none"
    if not hits:
        raise GvcbenchError(f"no run {wanted!r} with rows in this store{_case_hint(runs, wanted)}; runs: {listing}")
    raise GvcbenchError(
        f"run {wanted!r} is ambiguous ({len(hits)} runs start so); give more of its id. Runs: {listing}"
    )


def _case_hint(runs: list[Run], wanted: str) -> str:
    """A "did you mean" where ``wanted`` in other case starts exactly one run's id: ids are
    matched as written (as codec and metric names are), so the error gives the right spelling."""
    folded = [r for r in runs if r.run_id.lower().startswith(wanted.lower())]
    if len(folded) != 1:
        return ""
    return f" (run ids are case-sensitive); did you mean {folded[0].run_id[: len(wanted)]!r}?"


def _utc(started: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))


def _not_finished(short: str, when: str, counts: str, then: str) -> str:
    """The note on a latest run that has not finished; ``counts`` and ``then`` follow its
    first words and precede what to do."""
    return (
        f"the latest run {short} ({when}) has not finished (still running, or stopped){counts}{then}; "
        f"run the same command again to finish it"
    )


def _latest_run_without_results(records: list[dict], runs: list[Run]) -> str | None:
    """A note when the newest run recorded in the store has planned jobs but no result yet
    (it is starting, or was stopped before its first job ended): readers drop runs without
    rows, so without it an empty table, or an earlier run's rows, would come without a word."""
    if not records:
        return None
    latest = max(records, key=lambda rec: rec["started"] or 0)
    if latest.get("finished") or not latest.get("jobs") or latest["run_id"] in {r.run_id for r in runs}:
        return None
    counts = f": 0 of its {len(latest['jobs'])} planned jobs have results"
    shown = "; the rows shown are from earlier runs" if runs else ""
    return _not_finished(latest["run_id"][:8], _utc(latest["started"] or 0), counts, shown)


def choose(rows: list[JobResult], records: list[dict], set_values: list[SetValue], run: str | None = None) -> Selection:
    runs = _runs(rows, records)
    empty_latest = _latest_run_without_results(records, runs) if run is None else None
    if not runs and run is None:  # a run asked for by name is refused below, as in any store
        return Selection([], [], [], notes=[empty_latest] if empty_latest else [])
    by_key = {r.job_key: r for r in rows}
    notes: list[str] = [empty_latest] if empty_latest else []
    if run is not None:
        chosen = find_run(runs, run)
        keys = set(chosen.jobs)
        used = [chosen]
        dataset, label = chosen.dataset, chosen.dataset_label
        notes.append(f"showing the {len(keys)} job(s) of run {chosen.short} ({chosen.when}) only, dataset {label}")
    else:
        latest = runs[-1]
        dataset, label = latest.dataset, latest.dataset_label
        keys, used = set(), []
        owner: dict[str, Run] = {}
        per_codec = {r.run_id: _keys_by_codec(r.jobs, by_key) for r in runs}
        labels = {run_id: set(groups) for run_id, groups in per_codec.items()}
        if latest.unfinished:
            counts = (  # a run of rate targets alone records its jobs as its searches end
                f": {len(latest.jobs)} of its {latest.planned} planned jobs have results" if latest.planned else ""
            )
            earlier = ", or pick an earlier run with --run RUN_ID"
            notes.append(_not_finished(latest.short, latest.when, counts, "") + earlier)
        for codec in sorted({r.codec for r in rows}):
            on_ds = [r for r in runs if r.dataset == dataset and codec in labels[r.run_id]]
            if not on_ds:
                elsewhere = sorted({r.short for r in runs if codec in labels[r.run_id]})
                why = (
                    f"the latest run planned it on the dataset shown ({label}) but has no result of it yet"
                    if latest.unfinished and codec in latest.labels
                    else f"it was not run on the dataset shown ({label})"
                )
                notes.append(
                    f"{codec}: not shown — {why}; its rows are from run(s) {', '.join(elsewhere)}: "
                    f"pick one with --run RUN_ID"
                )
                continue
            pick = on_ds[-1]
            owner[codec] = pick
            keys |= per_codec[pick.run_id][codec]
            notes += _moved_away(codec, pick, by_key)
            if pick not in used:
                used.append(pick)
        notes += _superseded(rows, runs, keys, owner)
        datasets = {r.dataset for r in runs}
        if len(datasets) > 1:
            notes.insert(
                0,
                f"the store holds {len(datasets)} datasets; showing {label}, the latest run's "
                f"(pick another run with --run RUN_ID)",
            )
    if run is not None:  # one run: under the labels it gave (a later run may have relabelled the rows)
        shown_by = dict.fromkeys(keys, chosen)
        chosen_rows = [_as_run_saw_it(r, chosen) for r in rows if r.job_key in keys]
    else:  # the rows' own labels: the latest run that planned each job gave it (store.relabel)
        shown_by = {key: owner[codec] for codec in owner for key in per_codec[owner[codec].run_id][codec]}
        chosen_rows = [_as_run_saw_it(r, shown_by[r.job_key], relabel=False) for r in rows if r.job_key in keys]
    failed_now = sum(1 for key in keys if key in shown_by[key].failed)
    if failed_now:
        notes.append(
            f"{failed_now} job(s) failed in the run shown while the store kept an earlier finished "
            f"result; they are shown as failed (the earlier results: --run with the run their error names)"
        )
    sets, set_notes = _set_values(set_values, chosen_rows, dataset)
    used.sort(key=lambda r: r.started)
    records_used = [
        {k: v for k, v in rec.items() if k != "jobs"} | {"jobs_planned": len(rec["jobs"])}
        for rec in records
        if rec["run_id"] in {r.run_id for r in used}
    ]
    asked = chosen.run_id if run is not None else None
    return Selection(chosen_rows, sets, records_used, dataset, label, notes + set_notes, asked)


def _as_run_saw_it(row: JobResult, run: Run, relabel: bool = True) -> JobResult:
    """The row under the label ``run`` gave it (``relabel``), failed where that run's attempt failed."""
    label = run.label_of.get(row.job_key, row.codec) if relabel else row.codec
    error = run.failed.get(row.job_key)
    if error is None:
        return row if label == row.codec else replace(row, codec=label)
    return replace(  # what that run made: nothing (the kept row's values are another run's)
        row,
        codec=label,
        status="failed",
        error=f"failed in run {run.short}: {error} (run {str(row.run_id)[:8]}'s finished result is kept in the store)",
        run_id=run.run_id,
        metrics={},
        frame_metrics={},
        features=None,
        bytes=None,
        parts=None,
        kbps=None,
        bpp=None,
        bitstream=None,
        reconstruction=None,
        encode_seconds=None,
        decode_seconds=None,
        tool_seconds=None,
        metric_seconds=None,
        job_seconds=None,
    )


def _moved_away(codec: str, run: Run, by_key: dict[str, JobResult]) -> list[str]:
    """A note where jobs ``run`` gave this label now carry another (a later run renamed part
    of its settings): the curve shown under the label lacks them."""
    moved = Counter(
        by_key[k].codec
        for k, given in run.label_of.items()
        if given == codec and k in by_key and by_key[k].codec != codec
    )
    if not moved:
        return []
    where = ", ".join(f"{n} under {label!r}" for label, n in sorted(moved.items()))
    return [
        f"{codec}: {sum(moved.values())} job(s) of run {run.short} under this label now carry another "
        f"(a later run gave them its label: {where}); the curve shown lacks them, --run {run.short} shows it whole"
    ]


def _keys_by_codec(jobs: set[str], by_key: dict[str, JobResult]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for k in jobs:
        out[by_key[k].codec].add(k)
    return out


def _settings(rows: list[JobResult]) -> dict[str, str]:
    return {
        "version": ", ".join(sorted({str(r.codec_version) for r in rows})),
        "options": ", ".join(sorted({json.dumps(dict(r.codec_params), sort_keys=True) for r in rows})),
    }


def _superseded(rows, runs: list[Run], keys: set[str], owner: dict[str, Run]) -> list[str]:
    """A note per label about its rows left out: how many, from which run, what differed."""
    notes = []
    # one pass; usually empty. A rate search's own encodes are never shown (never part of a
    # curve), so they are not "left out" either
    outside = [r for r in rows if r.job_key not in keys and not r.is_search_probe]
    for codec, pick in owner.items():
        left = [r for r in outside if r.codec == codec]
        if not left:
            continue
        shown = _settings([r for r in rows if r.job_key in keys and r.codec == codec])
        groups: dict[str, list[JobResult]] = defaultdict(list)
        holder: dict[str, Run | None] = {}
        for r in left:
            holders = [run for run in runs if r.job_key in run.jobs]
            gid = holders[-1].run_id if holders else "?"
            groups[gid].append(r)
            holder[gid] = holders[-1] if holders else None
        parts = []
        for gid, members in groups.items():
            run = holder[gid]
            what = [f"{k} {v}" for k, v in _settings(members).items() if v != shown[k]]
            if run is not None and run.dataset != pick.dataset:
                what.append(f"dataset {run.dataset_label}")
            where = f"run {run.short} ({run.when})" if run else "no recorded run"
            parts.append(f"{len(members)} row(s) of {where}" + (f" with {'; '.join(what)}" if what else ""))
        notes.append(
            f"{codec}: showing run {pick.short} ({pick.when}, options {shown['options']}); not shown: "
            f"{' | '.join(parts)}. Pick a run with --run RUN_ID"
        )
    return notes


def _set_values(
    set_values: list[SetValue], rows: list[JobResult], dataset: str | None
) -> tuple[list[SetValue], list[str]]:
    """Set-level values that pool exactly the shown jobs of their codec and rate point."""
    kept, notes = [], []
    by_point: dict[tuple[str, str], list[JobResult]] = defaultdict(list)
    if set_values:
        for r in rows:
            if r.done and r.features:
                by_point[(r.codec, r.point)].append(r)
    for s in set_values:
        if s.dataset and s.dataset != dataset:
            continue
        members = [r for r in by_point[(s.codec, s.point)] if (r.features or {}).get(s.metric)]
        if not members:
            continue
        if s.job_keys is not None:
            same = set(s.job_keys) == {r.job_key for r in members}
        else:
            same = sorted(s.sequences) == sorted(r.sequence for r in members)
        if same:
            kept.append(s)
        else:
            notes.append(
                f"set-level {s.metric} of {s.codec} at {s.point} pools other jobs than the "
                f"ones shown; not used (a run on this dataset recomputes it)"
            )
    return kept, notes
