"""RD curves from job results: per sequence, and averaged over sequences (as the paper does)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from ..bench.records import JobResult, SetValue, point_order  # how rate points sort: decided there, once
from ..errors import GvcbenchError
from ..metrics.axes import Axis, axis_from_spec
from .bdrate import CUBIC_POINTS, BDError, BDResult, Curve, bd_metric, bd_rate, bd_rates_batch
from .seeds import mean_over_seeds

if TYPE_CHECKING:
    from .uncertainty import Interval
from .window import Scope, batch_limits, quality_limits, rate_limits

RATE_UNITS = ("kbps", "bpp")
MIN_SHARE = 0.5  # fewest sequences, as a share of those both codecs have, for a mean of per-sequence BD-rates


def metric_axes(rows: list[JobResult]) -> dict[str, Axis]:
    """The axis of every metric in the store, from the spec stored with its values."""
    return {name: axis_from_spec(name, spec) for name, spec in metric_specs(rows).items()}


def _distinct(mappings: list) -> Iterable:
    """The distinct objects of ``mappings`` by identity, in order of first appearance: rows read
    from a store share equal records (provenance, metric errors), so a loop over these instead
    of every row sees each once."""
    return dict(zip(map(id, mappings), mappings)).values()


def metric_specs(rows: list[JobResult]) -> dict[str, dict]:
    """The spec record of every metric in the store (direction, axis, granularity)."""
    specs: dict[str, dict] = {}
    for provenance in _distinct([r.provenance for r in rows]):
        for name, prov in provenance.items():
            spec = prov.get("spec")
            if spec is None:
                continue
            if name in specs and specs[name].get("lower_better") != spec.get("lower_better"):
                raise GvcbenchError(f"metric {name}: rows of this store disagree on its direction")
            specs[name] = spec
    return dict(sorted(specs.items()))


def measured_metrics(
    rows: list[JobResult], set_values: list[SetValue] | None = None, specs: dict[str, dict] | None = None
) -> list[str]:
    """Metrics with at least one value (a finished job's, or a set-level one), in spec order.
    ``specs``: ``metric_specs(rows)``, where the caller has it."""
    have: set[str] = set()
    have.update(*[r.metrics for r in rows if r.done])
    have |= {s.metric for s in set_values or [] if s.value is not None}
    specs = metric_specs(rows) if specs is None else specs
    return [m for m in specs if m in have] + sorted(have - set(specs))


def unmeasured_metrics(
    rows: list[JobResult], set_values: list[SetValue] | None = None, specs: dict[str, dict] | None = None
) -> dict[str, str]:
    """Metrics the jobs asked for that have no value anywhere -> why (the first reason recorded)."""
    have = set(measured_metrics(rows, set_values, specs))
    out: dict[str, str] = {}
    for errors in _distinct([r.metric_errors for r in rows]):
        for name, reason in errors.items():
            if name not in have:
                out.setdefault(name, reason)
    return dict(sorted(out.items()))


def is_search_probe(row: JobResult) -> bool:
    """An encode a target-rate search made on its way: search material, not a ladder point."""
    return row.is_search_probe


def rd_points(rows: list[JobResult], metric: str) -> dict[str, dict[str, dict[str, tuple[float, float, float]]]]:
    """codec -> sequence -> point -> (kbps, bpp, raw metric value), done jobs with the metric;
    a stochastic codec's seeds are averaged."""
    return rd_points_of(rows, [metric])[metric]


@dataclass
class PointTable:
    """The RD points of one codec and metric as one array, where every sequence has the same
    rate points in the same order (the usual case): ``values[index[sequence], k]`` is
    (kbps, bpp, raw value) at ``points[k]``."""

    index: dict[str, int]
    points: list[str]
    values: np.ndarray  # (sequences, points, 3)

    def rows(self, sequences: list[str]) -> np.ndarray:
        return self.values[[self.index[s] for s in sequences]]


class CodecPoints(defaultdict):
    """sequence -> rate point -> (kbps, bpp, raw value) of one codec and metric (``rd_points``).
    BD tables, their intervals and the plots read the same points many times over: ``table()``
    gives them as one array, built once (None where sequences differ in their rate points)."""

    def __init__(self) -> None:
        super().__init__(dict)
        self._table: tuple[int, PointTable | None] | None = None

    def table(self) -> PointTable | None:
        if self._table is None or self._table[0] != len(self):  # rebuilt if sequences were added
            self._table = (len(self), self._build())
        return self._table[1]

    def _build(self) -> PointTable | None:
        if not self:
            return None
        per_seq = list(self.values())
        points = per_seq[0].keys()
        if not points or not all(map(points.__eq__, map(dict.keys, per_seq))):
            return None
        flat = chain.from_iterable(chain.from_iterable(map(dict.values, per_seq)))
        try:
            values = np.fromiter(flat, dtype=np.float64, count=3 * len(points) * len(per_seq))
        except TypeError:  # a rate an imported row lacks (None)
            values = np.array([list(seq.values()) for seq in per_seq], dtype=np.float64)
        index = {seq: k for k, seq in enumerate(self)}
        return PointTable(index, list(points), values.reshape(len(per_seq), len(points), 3))


def rd_points_of(rows: list[JobResult], metrics: list[str], specs: dict[str, dict] | None = None) -> dict[str, dict]:
    """metric -> rd_points(rows, metric), with the rows sorted (and seeds averaged) once.
    Readers that need several metrics' points (a BD table, its intervals, the plots) compute
    them once and hand them on. A value at its metric's ceiling is no point of a curve
    (``at_ceiling`` names them), nor is a row whose rate is not positive (``unrated`` names
    them): per sequence no BD could use it, and in the averaged curve it pulled the mean rate down.
    ``specs``: ``metric_specs(rows)``, where the caller has it."""
    out: dict = {m: defaultdict(CodecPoints) for m in metrics}
    ceilings = metric_ceilings(rows, metrics, metric_specs(rows) if specs is None else specs)
    wanted = [(m, out[m], ceilings.get(m, np.inf)) for m in metrics]
    kept = [r for r in rows if not r.is_search_probe and not _rate_not_positive(r)]
    for row in sorted(mean_over_seeds(kept), key=point_order):
        if row.status != "done":
            continue
        values, codec, sequence, point = row.metrics, row.codec, row.sequence, row.point
        kbps, bpp = row.kbps, row.bpp
        for metric, per_codec, ceiling in wanted:
            if metric in values and not values[metric] >= ceiling:
                per_codec[codec][sequence][point] = (kbps, bpp, values[metric])
    return out


def _rate_not_positive(row: JobResult) -> bool:
    """A finished row with a rate of 0 or less (kbps or bpp; a hand-edited or broken row)."""
    return row.done and ((row.kbps is not None and row.kbps <= 0) or (row.bpp is not None and row.bpp <= 0))


def unrated(rows: list[JobResult]) -> dict[str, list[str]]:
    """codec -> "sequence / point: its rates" of each finished row that ``rd_points_of`` leaves
    out for a rate of 0 or less."""
    out: dict[str, list[str]] = {}
    for r in rows:
        if not r.is_search_probe and _rate_not_positive(r):
            rates = ", ".join(f"{v:g} {unit}" for unit, v in (("kbps", r.kbps), ("bpp", r.bpp)) if v is not None)
            out.setdefault(r.codec, []).append(f"{_point_name(r)}: {rates}")
    return out


def metric_ceilings(rows: list[JobResult], metrics: list[str], specs: dict[str, dict]) -> dict[str, float]:
    """metric -> the value it is clipped to (``MetricSpec.ceiling``: PSNR's 100 dB), for those
    of ``metrics`` that have one; ``specs``: ``metric_specs(rows)``, which the callers have
    (a read of every row's provenance). A spec stored before specs named their ceiling takes the
    registered metric's, of the same version, once a value reaches the top of its range."""
    out = {}
    for name in metrics:
        spec = specs.get(name, {})
        ceiling = spec.get("ceiling")
        top = (spec.get("value_range") or [None, None])[1]
        if "ceiling" not in spec and top is not None and any(r.metrics.get(name) == top for r in rows if r.done):
            ceiling = _registered_ceiling(name, spec.get("version"))
        if ceiling is not None:
            out[name] = float(ceiling)
    return out


def _registered_ceiling(name: str, version) -> float | None:
    from ..metrics import METRICS

    try:
        registered = METRICS.get(name).spec
    except GvcbenchError:
        return None
    return registered.ceiling if registered.version == version else None


def at_ceiling(rows: list[JobResult], metric: str, ceiling: float) -> dict[str, list[str]]:
    """codec -> "sequence / point" of each finished job whose ``metric`` is at its ceiling."""
    out: dict[str, list[str]] = {}
    for r in mean_over_seeds([r for r in rows if not r.is_search_probe and r.done]):
        if r.metrics.get(metric, -np.inf) >= ceiling:
            out.setdefault(r.codec, []).append(f"{r.sequence} / {r.point}")
    return out


def points_for(
    rows: list[JobResult], metrics: list[str], known: dict | None = None, specs: dict[str, dict] | None = None
) -> dict[str, dict]:
    """``rd_points_of(rows, metrics, specs)``, taking the metrics ``known`` (computed from the
    same rows) holds from there."""
    out = {m: known[m] for m in metrics if known and m in known}
    missing = [m for m in metrics if m not in out]
    if missing:
        out.update(rd_points_of(rows, missing, specs))
    return out


def common_points(per_seq: list[dict[str, tuple]]) -> list[str]:
    """The rate points every one of ``per_seq`` (point -> values of a sequence) has, in the
    order of the first."""
    first, *rest = per_seq
    points = first.keys()
    if all(map(points.__eq__, map(dict.keys, rest))):  # the usual case: every sequence has every point
        return list(first)
    return [p for p in first if all(p in seq for seq in rest)]


def sequence_curve(points: dict[str, tuple], axis: Axis, rate: str, label: str) -> Curve:
    col = RATE_UNITS.index(rate)
    vals = list(points.values())
    return Curve.of(label, [v[col] for v in vals], axis.apply([v[2] for v in vals]))


@dataclass
class AveragedCurve:
    curve: Curve
    sequences: list[str]
    points: list[str]


def averaged_curve(
    per_seq: dict[str, dict[str, tuple]], axis: Axis, rate: str, label: str, sequences: list[str] | None = None
) -> AveragedCurve:
    """Mean rate and mean metric over sequences at each rate point.

    Only the rate points every one of the sequences has take part (a point some sequence
    lacks, say a failed job, is left out of the curve), so each averaged point is over the
    same clips.
    """
    seqs = sorted(sequences if sequences is not None else per_seq)
    if not seqs:
        raise BDError(f"{label}: no sequence has results for this metric")
    col = RATE_UNITS.index(rate)
    table = per_seq.table() if isinstance(per_seq, CodecPoints) and per_seq.keys() >= set(seqs) else None
    if table is not None:
        # the same means as below: each point's values over the sequences, contiguous, in order
        block = table.rows(seqs)
        rate_cols = np.ascontiguousarray(block[..., col].T)
        value_cols = np.ascontiguousarray(axis.apply(block[..., 2]).T)
        rates = [np.mean(v) for v in rate_cols]
        values = [np.mean(v) for v in value_cols]
        return AveragedCurve(Curve.of(label, rates, values), seqs, list(table.points))
    members = [per_seq[s] for s in seqs]
    points = common_points(members)
    rates = [np.mean([m[p][col] for m in members]) for p in points]
    values = [np.mean(axis.apply([m[p][2] for m in members])) for p in points]
    return AveragedCurve(Curve.of(label, rates, values), seqs, points)


def set_curve(
    rows: list[JobResult], set_values: list[SetValue], codec: str, metric: str, axis: Axis, rate: str, label: str
) -> Curve | None:
    """Set-level values (e.g. FVD over the test set) against the mean rate of the pooled
    sequences, one point per rate point; None when the store has none."""
    points = [s for s in set_values if s.codec == codec and s.metric == metric and s.value is not None]
    if not points:
        return None
    by_point: dict[str, list[JobResult]] = defaultdict(list)
    for r in rows:
        if r.codec == codec and r.done:
            by_point[r.point].append(r)
    rates, values = [], []
    for s in points:
        pooled = set(s.sequences)
        members = [getattr(r, rate) for r in by_point[s.point] if r.sequence in pooled]
        if members:
            rates.append(float(np.mean(members)))
            values.append(s.value)
    return Curve.of(label, rates, axis.apply(values))


@dataclass
class BDEntry:
    codec: str
    metric: str
    axis: str  # label of the transform, e.g. "1-lpips"
    method: str
    rate: str
    avg_curve: float | None = None  # BD-rate of the curve averaged over sequences (%)
    per_sequence_mean: float | None = None  # mean of per-sequence BD-rates (%)
    bd_metric: float | None = None  # BD-metric of the averaged curve, on the axis
    sequences: int = 0  # n: sequences both codecs have values for
    contributed: int = 0  # k: sequences whose per-sequence BD-rate could be computed
    notes: list[str] = field(default_factory=list)
    avg_curve_ci: Interval | None = None  # bootstrap over sequences (uncertainty.bd_intervals)
    per_sequence_ci: Interval | None = None
    per_sequence_values: list[float] | None = None  # the per-sequence BD-rates over each pair's overlap, in order
    per_seed: dict | None = None  # seed -> averaged-curve BD-rate, for stochastic codecs (bdtables.bd_per_seed)
    interval: tuple[float, float] | None = None  # quality interval of the averaged-curve BD-rate (on the axis)
    rate_interval: tuple[float, float] | None = None  # rate interval of the averaged-curve BD-metric
    per_sequence_intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # sequence -> quality
    scope: str = "the overlap of each pair of curves"  # what limits every interval
    imported: str | None = None  # the published source, when this codec's rows were imported (reports/sources.py)
    anchor_imported: str | None = None

    def interval_text(self) -> str:
        """The intervals, as printed beside the numbers."""
        parts = []
        if self.interval:
            parts.append(f"{self.axis} {self.interval[0]:.4g}..{self.interval[1]:.4g}")
        if self.rate_interval:
            parts.append(f"{self.rate_interval[0]:.4g}..{self.rate_interval[1]:.4g} {self.rate}")
        if self.per_sequence_intervals:
            los, his = zip(*self.per_sequence_intervals.values())
            parts.append(f"per-seq {self.axis} within {min(los):.4g}..{max(his):.4g}")
        return "; ".join(parts) or "n/a"

    @property
    def share(self) -> str:
        """'k of n' sequences behind the mean of per-sequence BD-rates."""
        return f"{self.contributed} of {self.sequences}"


def bd_table(
    rows: list[JobResult],
    anchor: str,
    metrics: list[str] | None = None,
    methods=("pchip",),
    rate: str = "kbps",
    min_points: int = 4,
    set_values: list[SetValue] | None = None,
    min_share: float = MIN_SHARE,
    window: tuple[float, float] | None = None,
    common: bool = False,
    points: dict | None = None,
    per_sequence: bool = True,
    specs: dict[str, dict] | None = None,
) -> list[BDEntry]:
    """BD-rates of every codec against ``anchor``. For set-level metrics (FVD) with values
    in ``set_values`` the 'averaged curve' is the set-level curve, as the paper reports.
    Default metrics: those with values. A mean of per-sequence BD-rates over fewer than
    ``min_share`` of the sequences both codecs have is n/a. ``window`` (in the rate unit)
    and ``common`` limit every interval (reports/window.py). ``points``: the rows'
    ``rd_points_of`` (any metrics), where the caller has them already. ``per_sequence=False``:
    the averaged curves' values only (no per-sequence BD-rates, nor their notes), for readers
    that need no more (the regression gate's BD-rates). ``specs``: ``metric_specs(rows)``,
    where the caller has it; either way it is read once per table."""
    scope = Scope(window, common, rate)
    imported = {r.codec: r.imported["source"] for r in rows if r.imported}
    if rate not in RATE_UNITS:
        raise GvcbenchError(f"rate unit must be one of {', '.join(RATE_UNITS)}, got {rate!r}")
    if not 0 < min_share <= 1:
        raise GvcbenchError(f"the minimum share of sequences must be in (0, 1], got {min_share}")
    specs = metric_specs(rows) if specs is None else specs
    axes = {name: axis_from_spec(name, spec) for name, spec in specs.items()}
    codecs = sorted({r.codec for r in rows})
    if anchor not in codecs:
        raise GvcbenchError(
            f"anchor codec {anchor!r} is not among the rows shown, which hold "
            f"{', '.join(codecs) or 'nothing'} (a store may hold it for another dataset or run: "
            f"see the notes, and pick a run with --run RUN_ID)"
        )
    measured = measured_metrics(rows, set_values, specs)
    names = metrics or [m for m in axes if m in measured]
    missing = unmeasured_metrics(rows, set_values, specs)
    for name in names:
        if name in missing:
            raise GvcbenchError(f"metric {name!r} was not measured in these jobs: {missing[name]}")
        if name not in axes or name not in measured:
            raise GvcbenchError(f"metric {name!r} has no values in the store; it holds {', '.join(measured)}")
    entries = []
    points = points_for(rows, names, points, specs)
    failed = _failed_points(rows)
    no_rate = unrated(rows)
    ceilings = metric_ceilings(rows, names, specs)
    # imported codecs published on the other rate axis only: no point has a rate here
    unitless = {r.codec for r in rows if r.imported}
    unitless -= {r.codec for r in rows if r.imported and getattr(r, rate) is not None}
    for name in names:
        axis = axes[name]
        pts = points[name]
        capped = at_ceiling(rows, name, ceilings[name]) if name in ceilings else {}
        coverage = _coverage(pts, anchor) if scope.common else {}
        one_set = len(set(coverage.values())) <= 1
        for codec in codecs:
            if codec == anchor:
                continue
            for method in methods:
                entry = _entry(pts, anchor, codec, name, axis, method, rate, min_points, min_share, scope, per_sequence)
                if specs[name].get("granularity") == "set" and set_values:
                    _set_level(entry, rows, set_values, anchor, codec, name, axis, method, rate, min_points, scope)
                entry.scope = scope.describe(rate, one_set)
                if not one_set:
                    entry.notes.append(_other_sequences_note(coverage, codec))
                entry.imported, entry.anchor_imported = imported.get(codec), imported.get(anchor)
                entry.notes[:0] = [
                    f"{c}: imported (from {imported[c]}) without {rate}, so its curve has no rate on this axis; "
                    f"compare on --rate {'kbps' if rate == 'bpp' else 'bpp'}, or import its {rate} too"
                    for c in (anchor, codec)
                    if c in unitless
                ]
                entry.notes += [  # the cause of a curve with too few points, said where the curve is judged
                    f"{c}: {len(failed[c])} job(s) failed ({_first_few(failed[c])}); their rate points are "
                    f"missing from these curves (`gvcbench results` lists them)"
                    for c in (anchor, codec)
                    if failed.get(c)
                ]
                entry.notes += [  # as a sequence's curve with them said it, for the averaged curve too
                    f"{c}: {len(no_rate[c])} point(s) with a rate of 0 or less ({_first_few(no_rate[c])}) are left "
                    f"out of these curves, the averaged one included: rates must be positive "
                    f"(`gvcbench results` lists them)"
                    for c in (anchor, codec)
                    if no_rate.get(c)
                ]
                entry.notes += [
                    f"{c}: {len(capped[c])} point(s) at {name}'s ceiling of {ceilings[name]:g} "
                    f"({_first_few(capped[c])}; identical frames, e.g. lossless) are left out of these curves: "
                    f"the value says 'at least', not how good"
                    for c in (anchor, codec)
                    if capped.get(c)
                ]
                entries.append(entry)
    return entries


def _coverage(pts, anchor: str) -> dict[str, tuple[str, ...]]:
    """codec -> the sequences it shares with ``anchor`` (what its averaged curve is over, as
    the limits of a ``common`` table use it), for every codec with points besides the anchor."""
    theirs = set(pts.get(anchor, {}))
    return {c: tuple(sorted(theirs & set(pts[c]))) for c in sorted(pts) if c != anchor}


def _other_sequences_note(coverage: dict[str, tuple[str, ...]], codec: str) -> str:
    """Under ``common``, where the codecs were not measured on the same sequences: which
    sequences the curves behind this pair's interval average."""
    mine = coverage.get(codec, ())
    others = "; ".join(
        f"{o}'s over {len(seqs)} ({_first_few(list(seqs))})" for o, seqs in coverage.items() if seqs != mine
    )
    return (
        f"--common: the codecs were not all measured on the same sequences, so the interval of this pair's "
        f"averaged curves (over its {len(mine)} shared sequence(s)) is limited by averaged curves over other "
        f"sequences: {others}; on each sequence, the codecs measured on it limit its BD-rate"
    )


def scope_text(entries: list[BDEntry]) -> str:
    """What limits the intervals of a table of ``entries``, as its caption says it: their one
    scope, or each metric's where they differ (``common`` over codecs measured on other sequences)."""
    metrics_of: dict[str, list[str]] = {}
    for e in entries:
        names = metrics_of.setdefault(e.scope, [])
        if e.metric not in names:
            names.append(e.metric)
    if len(metrics_of) <= 1:
        return next(iter(metrics_of), "the overlap of each pair of curves")
    return "; ".join(f"{', '.join(names)}: {scope}" for scope, names in metrics_of.items())


def _failed_points(rows: list[JobResult]) -> dict[str, list[str]]:
    """codec -> "sequence / point" of each failed job (rate-search encodes aside)."""
    out: dict[str, list[str]] = {}
    for r in rows:
        if r.status != "done" and not r.is_search_probe:
            out.setdefault(r.codec, []).append(_point_name(r))
    return out


def _point_name(r: JobResult) -> str:
    """A point as the notes name it: "sequence / point", with " / seed N" for a stochastic codec's row."""
    return f"{r.sequence} / {r.point}" + ("" if r.seed is None else f" / seed {r.seed}")


def _first_few(items: list[str], shown: int = 3) -> str:
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" and {more} more" if more > 0 else "")


def _set_level(
    entry, rows, set_values, anchor, codec, metric, axis, method, rate, min_points, scope: Scope = Scope()
) -> None:
    a = set_curve(rows, set_values, anchor, metric, axis, rate, f"{anchor} / set-level {axis.label}")
    t = set_curve(rows, set_values, codec, metric, axis, rate, f"{codec} / set-level {axis.label}")
    if a is None or t is None:
        entry.notes.append(
            f"no set-level {metric} for {anchor if a is None else codec}; the averaged-curve "
            f"value uses the mean of per-sequence values"
        )
        return
    entry.notes = [n for n in entry.notes if not n.startswith(("averaged curves", f"{anchor} (mean", f"{codec} (mean"))]
    try:
        others = [
            c
            for o in sorted({s.codec for s in set_values if s.metric == metric} - {anchor, codec})
            if (c := set_curve(rows, set_values, o, metric, axis, rate, f"{o} / set-level {axis.label}"))
        ]
        result = bd_rate(a, t, method, min_points, quality_limits((a, t), others, scope, method, min_points))
        entry.avg_curve, entry.interval = result.value, result.interval
        metric_result = bd_metric(a, t, method, min_points, rate_limits((a, t), others, scope, min_points))
        entry.bd_metric, entry.rate_interval = metric_result.value, _rates(metric_result.interval)
        entry.notes.append(f"averaged-curve value: set-level {metric} over the test set per rate point")
        if result.partial:
            entry.notes.append(f"set-level curves overlap only on {100 * result.overlap:.0f} % of the shorter range")
        if metric_result.partial:
            entry.notes.append(
                f"BD-{axis.label}: set-level curves overlap only on {100 * metric_result.overlap:.0f} % "
                f"of the shorter log-rate range"
            )
    except BDError as exc:
        entry.avg_curve = entry.bd_metric = None
        entry.notes.append(str(exc))


def _rates(log_interval: tuple[float, float]) -> tuple[float, float]:
    return float(10 ** log_interval[0]), float(10 ** log_interval[1])


def _others(pts, anchor, codec, seq=None) -> list[str]:
    """The codecs besides the pair, with results (on ``seq``, when given)."""
    return [c for c in sorted(pts) if c not in (anchor, codec) and (seq is None or seq in pts[c])]


def _entry(
    pts,
    anchor,
    codec,
    metric,
    axis,
    method,
    rate,
    min_points,
    min_share=MIN_SHARE,
    scope: Scope = Scope(),
    per_sequence: bool = True,
) -> BDEntry:
    entry = BDEntry(codec, metric, axis.label, method, rate)
    shared = sorted(set(pts.get(anchor, {})) & set(pts.get(codec, {})))
    entry.sequences = len(shared)
    if not shared:
        entry.notes.append(f"no sequence has {metric} results for both {codec} and {anchor}")
        return entry
    if per_sequence:
        _per_sequence_values(entry, pts, anchor, codec, shared, axis, method, rate, min_points, min_share, scope)
    _averaged_values(entry, pts, anchor, codec, shared, axis, method, rate, min_points, scope)
    return entry


def _per_sequence_values(entry, pts, anchor, codec, shared, axis, method, rate, min_points, min_share, scope) -> None:
    per_seq = []
    for seq, result in zip(shared, _per_sequence(pts, anchor, codec, shared, axis, method, rate, min_points, scope)):
        if isinstance(result, BDError):
            entry.notes.append(str(result))
        else:
            per_seq.append(result.value)
            entry.per_sequence_intervals[seq] = result.interval
    entry.per_sequence_values = per_seq  # what the bootstrap over sequences resamples (uncertainty.bd_intervals)
    entry.contributed = len(per_seq)
    if per_seq and len(per_seq) >= min_share * len(shared):
        entry.per_sequence_mean = float(np.mean(per_seq))
        if len(per_seq) < len(shared):
            entry.notes.append(f"mean of per-sequence BD-rates over {entry.share} sequences")
    else:
        entry.notes.append(
            f"mean of per-sequence BD-rates: n/a, only {entry.share} sequences have a valid "
            f"BD-rate (at least {100 * min_share:.0f} % needed)"
        )


def _averaged_values(entry, pts, anchor, codec, shared, axis, method, rate, min_points, scope) -> None:
    try:
        a = averaged_curve(pts[anchor], axis, rate, f"{anchor} (mean of {len(shared)}) / {axis.label}", shared)
        t = averaged_curve(pts[codec], axis, rate, f"{codec} (mean of {len(shared)}) / {axis.label}", shared)
        others = []
        for o in _others(pts, anchor, codec) if scope.common else []:
            theirs = sorted(set(pts[anchor]) & set(pts[o]))
            others.append(
                averaged_curve(pts[o], axis, rate, f"{o} (mean of {len(theirs)}) / {axis.label}", theirs).curve
            )
        pair = (a.curve, t.curve)
    except BDError as exc:
        entry.notes.append(str(exc))
        return
    try:
        result = bd_rate(a.curve, t.curve, method, min_points, quality_limits(pair, others, scope, method, min_points))
        entry.avg_curve, entry.interval = result.value, result.interval
        if result.partial and not scope.active:
            lo, hi = result.interval
            entry.notes.append(
                f"averaged curves overlap only on {axis.label} {lo:.4g}..{hi:.4g} "
                f"({100 * result.overlap:.0f} % of the shorter range)"
            )
    except BDError as exc:
        entry.notes.append(str(exc))
    try:  # at equal rate: possible where the qualities never meet (a generative codec's PSNR, say)
        metric_result = bd_metric(a.curve, t.curve, method, min_points, rate_limits(pair, others, scope, min_points))
        entry.bd_metric, entry.rate_interval = metric_result.value, _rates(metric_result.interval)
        if metric_result.partial and not scope.active:
            lo, hi = entry.rate_interval
            entry.notes.append(
                f"BD-{axis.label}: averaged curves overlap only on {lo:.4g}..{hi:.4g} {rate} "
                f"({100 * metric_result.overlap:.0f} % of the shorter log-rate range)"
            )
    except BDError as exc:
        if str(exc) not in entry.notes:
            entry.notes.append(str(exc))


def _per_sequence(pts, anchor, codec, shared, axis, method, rate, min_points, scope: Scope) -> list[BDResult | BDError]:
    """The BD-rate of each shared sequence, or why it has none. Over each pair's overlap all
    pairs go in one batch (bdrate.bd_rates: the same numbers as one bd_rate per pair)."""

    def curve(codec, seq):
        return sequence_curve(pts[codec][seq], axis, rate, f"{codec} / {seq} / {axis.label}")

    if not scope.active:
        batch = _batched_bd_rates(pts, anchor, codec, shared, axis, method, rate, min_points)
        # what the batch left: bd_rate itself, for its message
        return [
            r if r is not None else _bd_rate_or_error(curve(anchor, seq), curve(codec, seq), method, min_points)
            for seq, r in zip(shared, batch)
        ]

    def alone(seq) -> BDResult | BDError:  # bd_rate itself, for its message
        try:
            a, t = curve(anchor, seq), curve(codec, seq)
            others = [curve(o, seq) for o in _others(pts, anchor, codec, seq)] if scope.common else []
            return bd_rate(a, t, method, min_points, quality_limits((a, t), others, scope, method, min_points))
        except BDError as exc:
            return exc

    batch = _batched_scoped_bd_rates(pts, anchor, codec, shared, axis, method, rate, min_points, scope)
    return [r if r is not None else alone(seq) for seq, r in zip(shared, batch)]


def _batched_scoped_bd_rates(
    pts, anchor, codec, shared, axis, method, rate, min_points, scope: Scope
) -> list[BDResult | None]:
    """The BD-rates of _per_sequence under a window or ``common``, in batches: sequences
    grouped by the curves their limits come from (the pair, and with ``common`` the other
    codecs on that sequence) and those curves' lengths; each curve's quality span inside
    the window at once (window.quality_spans), their intersection as each pair's limits
    (bdrate.bd_rates_batch). None where a pair has no BD-rate: bd_rate says why."""
    col = RATE_UNITS.index(rate)
    fewest = max(min_points, CUBIC_POINTS) if method == "cubic" else min_points
    groups: dict[tuple, list[int]] = {}
    for k, seq in enumerate(shared):
        codecs = [anchor, codec] + (_others(pts, anchor, codec, seq) if scope.common else [])
        groups.setdefault(tuple((c, len(pts[c][seq])) for c in codecs), []).append(k)
    out: list[BDResult | None] = [None] * len(shared)
    for lengths, ks in groups.items():
        if min(n for _, n in lengths) < fewest:
            continue
        arrays = [np.array([list(pts[c][shared[k]].values()) for k in ks], dtype=np.float64) for c, _ in lengths]
        curves = [(a[..., col], axis.apply(a[..., 2])) for a in arrays]  # (rates, values), the pair first
        results = bd_rates_batch(*curves[0], *curves[1], method, min_points, batch_limits(curves, scope, method))
        for k, result in zip(ks, results):
            out[k] = result
    return out


def _batched_bd_rates(pts, anchor, codec, shared, axis, method, rate, min_points) -> list[BDResult | None]:
    """bd_rates_batch of every shared sequence's pair of curves, one batch per pair of curve
    lengths (one batch, from the codecs' arrays of points, where every sequence has every point)."""
    col = RATE_UNITS.index(rate)
    tables = [pts[c].table() if isinstance(pts[c], CodecPoints) else None for c in (anchor, codec)]
    if tables[0] is not None and tables[1] is not None:
        groups = [(list(range(len(shared))), tables[0].rows(shared), tables[1].rows(shared))]
    else:
        anchors = [list(pts[anchor][seq].values()) for seq in shared]
        tests = [list(pts[codec][seq].values()) for seq in shared]
        lengths: dict[tuple[int, int], list[int]] = {}
        for k, (a, t) in enumerate(zip(anchors, tests)):
            lengths.setdefault((len(a), len(t)), []).append(k)
        groups = [  # (pairs, points, (kbps, bpp, value)) of each codec
            (
                ks,
                np.array([anchors[k] for k in ks], dtype=np.float64),
                np.array([tests[k] for k in ks], dtype=np.float64),
            )
            for ks in lengths.values()
        ]
    out: list[BDResult | None] = [None] * len(shared)
    for ks, a, t in groups:
        results = bd_rates_batch(
            a[..., col], axis.apply(a[..., 2]), t[..., col], axis.apply(t[..., 2]), method, min_points
        )
        for k, result in zip(ks, results):
            out[k] = result
    return out


def _bd_rate_or_error(a: Curve, t: Curve, method: str, min_points: int) -> BDResult | BDError:
    try:
        return bd_rate(a, t, method, min_points)
    except BDError as exc:
        return exc


def grouped_notes(entries: list[BDEntry]) -> list[tuple[str, list[str]]]:
    """Notes of BD entries, one group per codec and metric (methods share a group; a note
    two methods both raise is listed once), in the order of ``entries``. The terminal,
    HTML and Markdown renderers all list these groups below their tables."""
    groups: dict[str, list[str]] = {}
    for e in entries:
        notes = groups.setdefault(f"{e.codec} / {e.metric} ({e.axis})", [])
        for n in e.notes:
            if n not in notes:
                notes.append(n)
    return [(head, notes) for head, notes in groups.items() if notes]
