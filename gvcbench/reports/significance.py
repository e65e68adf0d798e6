"""Paired data for the gate's significance test: one value per (sequence, seed) of a codec.

A unit's value is the mean over the rate points that the baseline and the run both
finished, on the same sequence content and the same metric version; a stochastic
codec contributes one unit per seed, so its per-seed values feed the test.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ..bench.records import JobResult

RATE = "kbps"


def _unit(p: dict) -> tuple:
    return p["codec"], p["sequence"], p.get("seed")


def paired_values(rows: list[JobResult], baseline: dict) -> dict[tuple[str, str], tuple[list, list, bool]]:
    """(codec, metric or 'kbps') -> (baseline values, run values, lower is better), paired by unit."""
    directions = baseline.get("directions", {})
    now = {(r.codec, r.sequence, r.point, r.seed): r for r in rows if r.done}
    acc: dict = defaultdict(lambda: defaultdict(lambda: ([], [])))
    for b in baseline["points"]:
        r = now.get((b["codec"], b["sequence"], b["point"], b.get("seed")))
        if b["status"] != "done" or r is None or r.sequence_hash != b["sequence_hash"]:
            continue
        pairs = [(RATE, b[RATE], r.kbps)]
        versions = b.get("metric_versions", {})
        for metric, value in b["metrics"].items():
            version = r.provenance.get(metric, {}).get("version")
            if metric in r.metrics and versions.get(metric) in (None, version):
                pairs.append((metric, value, r.metrics[metric]))
        unit = _unit(b)
        for metric, then, now_value in pairs:
            if not (_finite(then) and _finite(now_value)):
                continue  # a NaN or missing value is already a regression of its point
            values = acc[(b["codec"], metric)][unit]
            values[0].append(then)
            values[1].append(now_value)
    out = {}
    for (codec, metric), units in sorted(acc.items()):
        order = sorted(units, key=str)
        base = _means([units[u][0] for u in order])
        cand = _means([units[u][1] for u in order])
        out[(codec, metric)] = (base, cand, True if metric == RATE else lower_better(directions, metric))
    return out


def lower_better(directions: dict, metric: str) -> bool:
    """The metric's direction as the baseline recorded it, else as its spec says (else
    higher is better)."""
    if metric in directions:
        return bool(directions[metric])
    from ..errors import GvcbenchError
    from ..metrics import METRICS

    try:
        return bool(METRICS.get(metric).spec.lower_better)
    except GvcbenchError:
        return False


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _means(groups: list[list[float]]) -> list[float]:
    """``float(np.mean(g))`` of each group, one NumPy call per group size rather than per group
    (rows of a 2-D array are summed exactly as a 1-D array is)."""
    out = [0.0] * len(groups)
    sizes: dict[int, list[int]] = defaultdict(list)
    for k, g in enumerate(groups):
        sizes[len(g)].append(k)
    for ks in sizes.values():
        for k, m in zip(ks, np.array([groups[k] for k in ks], dtype=np.float64).mean(axis=1).tolist()):
            out[k] = m
    return out


def version_changes(rows: list[JobResult], baseline: dict) -> dict[str, tuple[list[str], list[str]]]:
    """codec -> (baseline versions, run versions) where they differ."""
    before: dict[str, set[str]] = defaultdict(set)
    after: dict[str, set[str]] = defaultdict(set)
    for b in baseline["points"]:
        if b.get("codec_version"):
            before[b["codec"]].add(b["codec_version"])
    for r in rows:
        if r.codec_version:
            after[r.codec].add(r.codec_version)
    return {c: (sorted(before[c]), sorted(after[c])) for c in sorted(before) if c in after and before[c] != after[c]}
