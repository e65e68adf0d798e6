"""The BD pipeline: BD table, bootstrap intervals, per-seed BD-rates, set-level intervals.

One function for `gvcbench bdrate`, `gvcbench report` and the Python API, so the three
always show the same numbers for the same options.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..bench.records import JobResult, SetValue
from ..errors import GvcbenchError, error_summary
from .curves import MIN_SHARE, BDEntry, bd_table, measured_metrics, metric_specs, points_for, unmeasured_metrics
from .seeds import rows_for_seed, seeds_of
from .sources import Sources
from .uncertainty import DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, bd_intervals, set_intervals
from .window import Scope, Span


def bd_per_seed(
    rows: list[JobResult],
    entries: list,
    anchor: str,
    methods=("pchip",),
    rate: str = "kbps",
    min_points: int = 4,
    set_values: list[SetValue] | None = None,
    window=None,
    common: bool = False,
) -> list:
    """Fill ``per_seed`` (seed -> averaged-curve BD-rate) of the entries whose codec or anchor
    is seeded. Set-level metrics pool every seed's clips and have no per-seed value."""
    seeded = {r.codec for r in rows if r.seed is not None}
    if not seeded:
        return entries
    set_metrics = {s.metric for s in set_values or []}
    metrics = sorted({e.metric for e in entries} - set_metrics)
    index = {(e.codec, e.metric, e.method): e for e in entries}
    for seed in seeds_of(rows):
        for e in bd_table(
            rows_for_seed(rows, seed), anchor, metrics, methods, rate, min_points, window=window, common=common
        ):  # the same interval as the headline value
            target = index.get((e.codec, e.metric, e.method))
            if target is not None and (e.codec in seeded or anchor in seeded):
                target.per_seed = (target.per_seed or {}) | {seed: e.avg_curve}
    return entries


@dataclass
class BDTables:
    """BD-rates of every codec against ``anchor``: over the whole set and, with ``group_by``,
    per class of sequences; and the set-level values with their intervals."""

    anchor: str
    rate: str
    methods: tuple[str, ...]
    level: float
    entries: list[BDEntry]  # the whole set
    sets: list[dict] = field(default_factory=list)  # set-level values with a bootstrap interval over clips
    group_by: str | None = None
    by_class: dict[str, list[BDEntry]] = field(default_factory=dict)  # value of the manifest field -> entries
    notes: list[str] = field(default_factory=list)  # what the stores' row selection left out
    imported: dict[str, str] = field(default_factory=dict)  # imported codec label -> where it was published
    not_measured: dict[str, str] = field(default_factory=dict)  # metric -> why it has no values

    def frame(self):
        """The whole-set table as a pandas DataFrame (the columns of bdrate.csv)."""
        from .table import bd_frame

        return bd_frame(self.entries)


def bd_tables(
    sources: Sources,
    anchor: str,
    metrics: list[str] | None = None,
    methods: tuple[str, ...] = ("pchip",),
    rate: str = "kbps",
    min_points: int = 4,
    min_share: float = MIN_SHARE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    window: Span | None = None,
    common: bool = False,
    group_by: str | None = None,
    points: dict | None = None,
) -> BDTables:
    """BD tables of ``sources`` (reports/sources.py). ``metrics``: None for every measured
    metric, an empty list for none. Intervals come from a bootstrap over sequences
    (``resamples`` 0: none), under the table's ``window`` and ``common``. Class tables pool set-level metrics
    from the per-sequence values of their class. ``points``: ``rd_points_of(sources.rows, ...)``
    where the caller has them already."""
    if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 2:
        raise GvcbenchError(
            f"--min-points must be a whole number of at least 2 (a BD integral needs two rate points of "
            f"each curve; the cubic fit needs 4), got {min_points!r}"
        )
    tried = [r for r in sources.rows if r.codec == anchor and not r.is_search_probe]
    if tried and not any(r.done for r in tried):  # a table of n/a, and the reason only in its notes
        first = tried[0]
        raise GvcbenchError(
            f"anchor codec {anchor!r} has no finished job among the rows shown: all {len(tried)} failed "
            f"(e.g. {first.sequence} / {first.point}: {error_summary(first.error)}); `gvcbench results` "
            f"lists them. Pick another --anchor, run again to retry them, or show an earlier run with --run RUN_ID"
        )

    def entries_of(rows: list[JobResult], set_values: list[SetValue], known: dict | None = None) -> list[BDEntry]:
        if metrics is not None and not metrics:
            return []
        # the RD points of every metric, found once for the table and its intervals
        specs = metric_specs(rows)
        wanted = metrics if metrics is not None else measured_metrics(rows, set_values, specs)
        points = points_for(rows, wanted, known, specs)
        entries = bd_table(
            rows,
            anchor,
            metrics,
            methods,
            rate,
            min_points,
            set_values,
            min_share=min_share,
            window=window,
            common=common,
            points=points,
            specs=specs,
        )
        if resamples:
            bd_intervals(
                rows,
                entries,
                anchor,
                rate,
                min_points,
                resamples=resamples,
                seed=seed,
                level=level,
                set_level={s.metric for s in set_values},
                set_values=set_values,
                points=points,
                scope=Scope(window, common, rate),
            )
        bd_per_seed(rows, entries, anchor, methods, rate, min_points, set_values, window=window, common=common)
        return entries

    classes: dict[str, list[JobResult]] = {}  # checked first: a field the sequences lack stops before any BD work
    if group_by:
        from .groups import rows_by_class

        classes = rows_by_class(sources.rows, group_by)
    out = BDTables(
        anchor,
        rate,
        tuple(methods),
        level,
        entries_of(sources.rows, sources.set_values, points),
        group_by=group_by,
        notes=list(sources.notes),
        imported=dict(sources.imported),
        not_measured=unmeasured_metrics(sources.measured, sources.set_values),
    )
    if resamples:
        out.sets = set_intervals(sources.measured, sources.set_values, resamples, seed, level)
    out.by_class = {value: entries_of(rows, []) for value, rows in classes.items()}
    return out
