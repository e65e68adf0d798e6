"""Stochastic codecs: one row per seed; reports show the mean and the spread across seeds.

A row's ``seed`` is None for a deterministic codec (it ran once) and the seed handed to
the codec otherwise. Curves and BD-rates use the mean over seeds of every
(codec, sequence, rate point); ``bdtables.bd_per_seed`` repeats the BD-rate with each seed
alone, so its spread shows how much one sample of the decoder can move the number.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np

from ..bench.records import JobResult


def seeds_of(rows: list[JobResult]) -> list[int]:
    return sorted({r.seed for r in rows if r.seed is not None})


def mean_over_seeds(rows: list[JobResult]) -> list[JobResult]:
    """One row per (codec, sequence, rate point): seeded done rows replaced by their mean
    (rate and every metric present in all of them), with ``seeds`` listing which."""
    if not any(r.seed is not None for r in rows):
        return rows
    groups: dict[tuple, list[JobResult]] = defaultdict(list)
    out = []
    for r in rows:
        if r.seed is None or not r.done:
            out.append(r)
        else:
            groups[(r.codec, r.sequence, r.point)].append(r)
    for members in groups.values():
        names = set.intersection(*(set(m.metrics) for m in members))
        row = replace(
            members[0],
            kbps=float(np.mean([m.kbps for m in members])),
            bpp=float(np.mean([m.bpp for m in members])),
            bytes=float(np.mean([m.bytes for m in members])),  # type: ignore[arg-type]  # a mean over seeds
            metrics={n: float(np.mean([m.metrics[n] for m in members])) for n in sorted(names)},
            seed=None,
            seeds=tuple(sorted(m.seed for m in members if m.seed is not None)),
        )
        out.append(row)
    return out


def rows_for_seed(rows: list[JobResult], seed: int) -> list[JobResult]:
    """Deterministic rows and the rows of one seed."""
    return [r for r in rows if r.seed is None or r.seed == seed]


def spread(values) -> tuple[float, float, int]:
    """Mean, sample standard deviation (0 for one value) and count."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if not len(v):
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v)


def seed_spread_text(per_seed: dict | None, unit: str = "%") -> str:
    if not per_seed:
        return ""
    mean, std, n = spread(per_seed.values())
    if n == 0:
        return f"n/a ({len(per_seed)} seeds)"
    missing = f", {len(per_seed) - n} without a value" if n < len(per_seed) else ""
    return f"{mean:+.2f} ± {std:.2f}{unit} ({n} seeds{missing})"


def seed_table(rows: list[JobResult], metrics: list[str]) -> list[dict]:
    """Per seeded (codec, rate point): mean ± std across seeds of the mean over sequences."""
    by_seed: dict[tuple, dict[int, list[JobResult]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.seed is not None and r.done:
            by_seed[(r.codec, r.point)][r.seed].append(r)
    out = []
    for (codec, point), seeds in sorted(by_seed.items()):
        entry = {"codec": codec, "point": point, "seeds": sorted(seeds)}
        for name in ["kbps", *metrics]:
            per = []
            for members in seeds.values():
                vals = [m.kbps if name == "kbps" else m.metrics.get(name) for m in members]
                known = [v for v in vals if v is not None]
                per.append(float(np.mean(known)) if len(known) == len(vals) else None)
            mean, std, n = spread(per)
            entry[name] = None if n == 0 else {"mean": mean, "std": std, "seeds": n}
        out.append(entry)
    return out
