"""Intervals and paired tests: how sure a BD-rate, an FVD or a change in the gate is.

* BD-rate intervals: a seeded percentile bootstrap over sequences. For the curve averaged
  over sequences each resample averages the resampled sequences' curves again; for the
  mean of per-sequence BD-rates each resample averages the resampled values. Under a rate
  window or ``--common`` each resample's limits are found again from its own averaged
  curves (every codec's, with ``--common``), as the table found them from all sequences.
* Set-level FVD intervals: a seeded percentile bootstrap over clips (reference and
  reconstruction clip resampled together).
* Paired tests for the CI gate: Wilcoxon signed-rank (scipy) or a paired bootstrap of the
  mean difference.

Fewer than ``MIN_SEQUENCES`` units give no interval, only the reason: a bootstrap over
three clips shows how three numbers scatter, not how the codec does.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np

from ..bench.records import JobResult, SetValue
from ..errors import GvcbenchError
from ..metrics.frechet import frechet_from_features
from ..metrics.setmetric import decode_features
from .bdrate import BDError, bd_rate, bd_rate_arrays, bd_rates
from .window import Scope, batch_limits, quality_limits

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95
DEFAULT_SEED = 0
MIN_SEQUENCES = 5
TESTS = ("wilcoxon", "bootstrap")
DEFAULT_ALPHA = 0.05
MIN_PAIRS = 6  # Wilcoxon on 5 pairs cannot go below p = 0.0625, two-sided
BATCH_ELEMENTS = 2_000_000  # sequence draws per batch of a batched bootstrap statistic (16 MB of counts)


@dataclass(frozen=True)
class Interval:
    """A two-sided interval, or (low = high = None) the reason there is none."""

    low: float | None
    high: float | None
    level: float
    method: str
    n: int  # units resampled (sequences or clips)
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.low is not None

    def text(self, unit: str = "%") -> str:
        if not self.ok:
            return f"n/a ({self.note})"
        return f"[{self.low:+.2f}, {self.high:+.2f}]{unit}"

    @property
    def width(self) -> float | None:
        return None if self.low is None or self.high is None else self.high - self.low


def _no_interval(reason: str, level: float, method: str, n: int) -> Interval:
    return Interval(None, None, level, method, n, reason)


def bootstrap(
    n: int,
    statistic,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    unit: str = "sequences",
    min_n: int = MIN_SEQUENCES,
    batched: bool = False,
) -> Interval:
    """Percentile interval of ``statistic(indices)`` over resamples of ``range(n)`` with replacement.

    A resample whose statistic cannot be computed (a BDError: curves that stop overlapping,
    say) is dropped; more than 5 % dropped gives no interval. ``batched``: the statistic takes
    a batch of resamples (one per row) and gives one value per row, NaN for none; the same
    resamples and values, without a Python call per resample."""
    method = f"percentile bootstrap over {n} {unit}, {resamples} resamples, seed {seed}"
    if not 0 < level < 1:
        raise GvcbenchError(f"interval level must be between 0 and 1, got {level}")
    if resamples < 10:
        raise GvcbenchError(
            f"bootstrap needs at least 10 resamples, got {resamples}; --resamples 0 turns intervals off"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GvcbenchError(f"--seed (of the bootstrap) must be a whole number of at least 0, got {seed!r}")
    if n < min_n:
        return _no_interval(f"too few {unit} for an interval: {n} < {min_n}", level, method, n)
    values = []
    draws = _draws(seed, resamples, n)
    if batched:
        step = max(1, BATCH_ELEMENTS // n)  # resamples per batch: bounds the memory of the gathered rows
        for start in range(0, resamples, step):
            values += [v for v in statistic(draws[start : start + step]) if np.isfinite(v)]
    for idx in draws if not batched else ():
        try:
            v = statistic(idx)
        except BDError:
            continue
        if v is not None and np.isfinite(v):
            values.append(v)
    dropped = resamples - len(values)
    if dropped > 0.05 * resamples:
        return _no_interval(f"{dropped} of {resamples} resamples gave no value", level, method, n)
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    if dropped:
        method += f" ({dropped} resamples without a value dropped)"
    return Interval(float(lo), float(hi), level, method, n)


_last_draws: dict[tuple[int, int, int], np.ndarray] = {}
_counts_of_draws: dict[tuple, np.ndarray] = {}  # (address, shape, strides) of a batch of the last draws -> counts
COUNTS_KEPT = 64 << 20  # bytes of draws, and of their counts, kept for the entries that follow


def _draws(seed: int, resamples: int, n: int) -> np.ndarray:
    """The resamples (rows of indices) of a seeded bootstrap of ``n`` units. Every BD entry of a
    table resamples the same sequences with the same seed: the last draws are kept (read-only)
    rather than drawn again for each of them."""
    key = (seed, resamples, n)
    draws = _last_draws.get(key)
    if draws is None:
        draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
        draws.flags.writeable = False
        _last_draws.clear()
        _counts_of_draws.clear()
        if draws.nbytes <= COUNTS_KEPT:  # larger ones are drawn again rather than held on to
            _last_draws[key] = draws
    return draws


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` units is drawn in each resample (rows of ``idx``), as floats. For
    a batch of the kept draws (read-only) they are kept too, up to ``COUNTS_KEPT`` bytes: the
    next entry of the table resamples the same sequences."""
    kept = not idx.flags.writeable and any(np.shares_memory(idx, d) for d in _last_draws.values())
    key = (idx.__array_interface__["data"][0], idx.shape, idx.strides)
    if kept and key in _counts_of_draws:
        return _counts_of_draws[key]
    b = len(idx)
    flat = (idx + n * np.arange(b)[:, None]).ravel()
    counts = np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
    if kept and sum(c.nbytes for c in _counts_of_draws.values()) + counts.nbytes <= COUNTS_KEPT:
        counts.flags.writeable = False
        _counts_of_draws[key] = counts
    return counts


# -- BD-rate --------------------------------------------------------------------------------


def bd_intervals(
    rows: list[JobResult],
    entries: list,
    anchor: str,
    rate: str = "kbps",
    min_points: int = 4,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    set_level: AbstractSet[str] = frozenset(),
    set_values: list[SetValue] | None = None,
    points: dict | None = None,
    scope: Scope = Scope(),
) -> list:
    """Fill ``avg_curve_ci`` and ``per_sequence_ci`` of every BDEntry of ``bd_table``.

    For a set-level metric (FVD) whose averaged-curve value is the set-level curve, each
    resample of sequences pools the resampled sequences' clips again at every rate point
    (needs the clip features the rows keep and the stored ``set_values``). ``points``: the
    rows' ``rd_points_of``, where the caller has them already. ``scope``: the window and
    ``common`` the table was computed under (its per-sequence values carry them already)."""
    from .curves import metric_axes, points_for, sequence_curve

    axes = metric_axes(rows)
    points = points_for(rows, list(dict.fromkeys(e.metric for e in entries)), points)
    for e in entries:
        pts, axis = points[e.metric], axes[e.metric]
        shared = sorted(set(pts.get(anchor, {})) & set(pts.get(e.codec, {})))
        per_seq = e.per_sequence_values  # bd_table's, under its scope
        if per_seq is None and scope.active and shared:  # none shared: no value, and no interval, per sequence
            raise GvcbenchError("BD intervals under a window or --common need bd_table's per-sequence values")
        if per_seq is None:
            pairs = [
                (
                    sequence_curve(pts[anchor][s], axis, rate, f"{anchor} / {s}"),
                    sequence_curve(pts[e.codec][s], axis, rate, f"{e.codec} / {s}"),
                )
                for s in shared
            ]
            per_seq = [r.value for r in bd_rates(pairs, e.method, min_points) if not isinstance(r, BDError)]
        e.per_sequence_ci = _per_sequence_interval(e, per_seq, resamples, seed, level)
        if e.metric in set_level and e.avg_curve is not None:
            members = _set_members(set_values or [], anchor, e.codec, e.metric)
            if not members:
                e.avg_curve_ci = _no_interval("set-level curve without stored members", level, "none", 0)
                continue
            if scope.common and {s.codec for s in set_values or [] if s.metric == e.metric} - {anchor, e.codec}:
                why = (
                    "not computed for set-level curves under --common with other codecs (theirs would be pooled again)"
                )
                e.avg_curve_ci = _no_interval(why, level, "none", len(members))
                continue
            stat = _set_level_bd(rows, anchor, e.codec, e.metric, members, axis, rate, e.method, min_points, scope)
            e.avg_curve_ci = bootstrap(
                len(members),
                stat,
                resamples,
                seed,
                level,
                unit="sequences (their clips pooled again at each rate point)",
            )
            continue

        others = _common_others(pts, anchor, e.codec, shared) if scope.common else []
        if e.avg_curve is None:
            e.avg_curve_ci = _no_interval("no BD-rate to put an interval on", level, "none", len(shared))
        elif others is None:
            why = "not computed under --common: the codecs were not all measured on the same sequences"
            e.avg_curve_ci = _no_interval(why, level, "none", len(shared))
        else:
            averaged = _averaged_bd(pts, anchor, e.codec, shared, axis, rate, e.method, min_points, scope, others)
            e.avg_curve_ci = bootstrap(len(shared), averaged, resamples, seed, level, batched=True)
    return entries


def _per_sequence_interval(e, per_seq: list[float], resamples: int, seed: int, level: float) -> Interval:
    """The bootstrap interval of the mean of per-sequence BD-rates; none where bd_table left
    that mean n/a (too few sequences with a BD-rate, common in a rate window), as report.md's
    and intervals.csv's interval would stand beside an 'n/a'."""
    if e.per_sequence_mean is None and e.per_sequence_values is not None:
        return _no_interval(f"no mean of per-sequence BD-rates ({e.share} sequences)", level, "none", len(per_seq))
    values = np.asarray(per_seq)
    return bootstrap(len(values), lambda idx: values[idx].mean(1), resamples, seed, level, batched=True)


def _common_others(pts, anchor: str, codec: str, shared: list[str]) -> list[str] | None:
    """The other codecs whose averaged curves set a ``--common`` table's limits; None when one
    of them shares other sequences with the anchor than the pair does (its curve then averages
    sequences a resample of the pair's cannot draw)."""
    others = [c for c in sorted(pts) if c not in (anchor, codec)]
    if any(set(pts[anchor]) & set(pts[o]) != set(shared) for o in others):
        return None
    return others


def _averaged_bd(pts, anchor, codec, shared, axis, rate, method, min_points, scope: Scope = Scope(), others=()):
    """BD-rate of the averaged curves over a resample of ``shared`` (indices), on the rate
    points every shared sequence has for both codecs, as ``averaged_curve`` uses them. Under
    ``scope`` the resample's limits come from its own averaged curves: the pair's, and with
    ``common`` those of ``others`` (codecs with the pair's sequences) too."""
    from .bdrate import Curve
    from .curves import RATE_UNITS, CodecPoints, common_points

    col = RATE_UNITS.index(rate)

    def matrices(c):
        table = pts[c].table() if isinstance(pts[c], CodecPoints) else None
        if table is not None:  # the same numbers, from the codec's array of points
            block = table.rows(shared)
            return np.ascontiguousarray(block[..., col]), axis.apply(block[..., 2])
        per_seq = [pts[c][s] for s in shared]
        common = common_points(per_seq)
        shape = (len(shared), len(common))
        r = np.array([[seq[p][col] for p in common] for seq in per_seq], dtype=np.float64).reshape(shape)
        v = np.array([[seq[p][2] for p in common] for seq in per_seq], dtype=np.float64).reshape(shape)
        return r, axis.apply(v)

    labels = [anchor, codec, *(others if scope.common else ())]
    curves = [m for c in labels for m in matrices(c)]
    together = np.hstack(curves)
    cut = np.cumsum([m.shape[1] for m in curves[:-1]])
    n = len(shared)

    def statistic(idx):
        """One resample: its BD-rate. A batch of them (rows of idx): theirs, NaN where bd_rate
        raises. A batch weighs each sequence by how often it was drawn (one matrix product
        instead of gathering every drawn sequence's rows): the same means up to the order of
        the additions; its limits are window.batch_limits, quality_limits row by row."""
        if np.ndim(idx) == 1:
            a, t, *rest = (
                Curve.of(c, r[idx].mean(0), v[idx].mean(0)) for c, r, v in zip(labels, *[curves[::2], curves[1::2]])
            )
            return bd_rate(a, t, method, min_points, quality_limits((a, t), rest, scope, method, min_points)).value
        means = np.split(_counts(idx, n) @ together / n, cut, axis=1)
        within = batch_limits(list(zip(means[::2], means[1::2])), scope, method) if scope.active else None
        return bd_rate_arrays(*means[:4], method, min_points, within)[0]

    return statistic


def _set_members(set_values: list[SetValue], anchor: str, codec: str, metric: str) -> list[str]:
    """Sequences pooled into every set-level value of both codecs."""
    groups = [
        set(s.sequences)
        for s in set_values
        if s.metric == metric and s.codec in (anchor, codec) and s.value is not None
    ]
    return sorted(set.intersection(*groups)) if groups else []


def _set_level_bd(rows, anchor, codec, metric, members, axis, rate, method, min_points, scope: Scope = Scope()):
    """BD-rate of set-level curves rebuilt from a resample of ``members`` (indices); under a
    window, between the qualities the resample's two curves have inside it."""
    from .bdrate import Curve

    def per_point(c):
        table: dict = {}
        for r in rows:
            if r.codec != c or not r.done or r.sequence not in members:
                continue
            blob = (r.features or {}).get(metric)
            if blob:
                table.setdefault(r.point, {}).setdefault(r.sequence, []).append(
                    (getattr(r, rate), decode_features(blob["reference"]), decode_features(blob["distorted"]))
                )
        return {p: seqs for p, seqs in table.items() if set(seqs) == set(members)}

    data = {c: per_point(c) for c in (anchor, codec)}

    def curve(c, idx):
        rates, values = [], []
        for seqs in data[c].values():
            picked = [item for i in idx for item in seqs[members[i]]]  # every seed's clips of each pick
            ref = np.concatenate([p[1] for p in picked])
            dist = np.concatenate([p[2] for p in picked])
            rates.append(float(np.mean([p[0] for p in picked])))
            values.append(frechet_from_features(ref, dist))
        return Curve.of(c, rates, axis.apply(values))

    def statistic(idx):
        a, t = curve(anchor, idx), curve(codec, idx)
        return bd_rate(a, t, method, min_points, quality_limits((a, t), [], scope, method, min_points)).value

    return statistic


# -- set-level FVD ----------------------------------------------------------------------------


def clip_features(
    rows: list[JobResult], codec: str, point: str, metric: str, sequences: list[str] | tuple[str, ...] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every clip's reference and reconstruction features of one codec and rate point, paired."""
    ref, dist = [], []
    for r in rows:
        if r.codec != codec or r.point != point or not r.done:
            continue
        if sequences is not None and r.sequence not in sequences:
            continue
        blob = (r.features or {}).get(metric)
        if not blob:
            continue
        fr, fd = decode_features(blob["reference"]), decode_features(blob["distorted"])
        if len(fr) != len(fd):
            raise GvcbenchError(
                f"{codec} / {r.sequence} / {point}: {len(fr)} reference and {len(fd)} "
                f"reconstruction clips of {metric}; cannot pair them"
            )
        ref.append(fr)
        dist.append(fd)
    if not ref:
        return np.zeros((0, 0)), np.zeros((0, 0))
    return np.concatenate(ref), np.concatenate(dist)


def fvd_interval(
    ref: np.ndarray,
    dist: np.ndarray,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    return bootstrap(
        len(ref),
        lambda idx: frechet_from_features(ref[idx], dist[idx]),
        resamples,
        seed,
        level,
        unit="clips (reference and reconstruction together)",
    )


def set_intervals(
    rows: list[JobResult],
    set_values: list[SetValue],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> list[dict]:
    """The stored set-level values, each with an interval from a bootstrap over its clips."""
    out = []
    for s in set_values:
        ref, dist = clip_features(rows, s.codec, s.point, s.metric, s.sequences)
        if s.value is None:
            ci = _no_interval("no set-level value", level, "none", len(ref))
        else:
            ci = fvd_interval(ref, dist, resamples, seed, level)
        out.append(
            {
                "codec": s.codec,
                "point": s.point,
                "metric": s.metric,
                "value": s.value,
                "clips": len(ref),
                "sequences": len(s.sequences),
                "interval": ci,
            }
        )
    return out


# -- paired tests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedResult:
    outcome: str  # ok | regressed | improved | not significant | insufficient data
    n: int
    p_value: float | None
    mean_change: float | None  # candidate - baseline, raw metric units
    method: str
    message: str = ""


def paired_test(
    baseline,
    candidate,
    lower_better: bool,
    method: str = "wilcoxon",
    alpha: float = DEFAULT_ALPHA,
    tolerance: tuple[float, float] = (0.0, 0.0),
    min_pairs: int = MIN_PAIRS,
    resamples: int = 2000,
    seed: int = DEFAULT_SEED,
) -> PairedResult:
    """Did the candidate move against the baseline, over paired units (sequences, seeds)?

    Every pair within its tolerance: ok. Otherwise fewer than ``min_pairs`` pairs:
    insufficient data; else the two-sided test at ``alpha`` decides regressed/improved or
    not significant."""
    if method not in TESTS:
        raise GvcbenchError(f"unknown paired test {method!r}; use {' or '.join(TESTS)}")
    base, cand = np.asarray(baseline, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    diff = cand - base
    n = len(diff)
    label = "Wilcoxon signed-rank (scipy)" if method == "wilcoxon" else f"paired bootstrap ({resamples} resamples)"
    if n == 0:
        return PairedResult("insufficient data", 0, None, None, label, "no pairs")
    mean = float(diff.mean())
    abs_tol, rel_tol = tolerance
    if np.all(np.abs(diff) <= abs_tol + rel_tol * np.abs(base)):
        return PairedResult("ok", n, None, mean, label, f"all {n} pairs within tolerance")
    if n < min_pairs:
        return PairedResult(
            "insufficient data",
            n,
            None,
            mean,
            label,
            f"{n} pairs, the test needs at least {min_pairs}; mean change {mean:+.4g}",
        )
    if method == "wilcoxon":
        from scipy.stats import wilcoxon

        nonzero = diff[diff != 0]
        if len(nonzero) < min_pairs:
            return PairedResult(
                "insufficient data", n, None, mean, label, f"only {len(nonzero)} of {n} pairs changed at all"
            )
        p = float(wilcoxon(nonzero).pvalue)
    else:
        rng = np.random.default_rng(seed)
        centred = diff - mean
        boot = centred[rng.integers(0, n, size=(resamples, n))].mean(1)
        p = float((np.sum(np.abs(boot) >= abs(mean)) + 1) / (resamples + 1))
    centre = float(np.median(diff)) if method == "wilcoxon" else mean
    text = f"{label}: p = {p:.3g} over {n} pairs, mean change {mean:+.4g}, median {float(np.median(diff)):+.4g}"
    if p >= alpha:
        return PairedResult("not significant", n, p, mean, label, text + f" (alpha {alpha})")
    worse = centre > 0 if lower_better else centre < 0
    return PairedResult("regressed" if worse else "improved", n, p, mean, label, text)


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None stays None): the gate runs one test per codec
    and metric, and without it one of eight null tests at 0.05 fails a third of the builds."""
    ranked = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m, out, running = len(ranked), list(p_values), 0.0
    for k, (p, i) in enumerate(ranked):
        running = max(running, min(1.0, (m - k) * p))
        out[i] = running
    return out
