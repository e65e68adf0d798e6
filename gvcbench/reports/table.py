"""Tables of a store's results: per codec and rate point, averaged over sequences."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..bench.records import JobResult, kbps_of, point_order, records_frame
from .seeds import spread


def summary_rows(rows: list[JobResult], metrics: list[str] | None = None) -> tuple[list[str], list[dict]]:
    """Mean kbps and metric values over sequences, per (codec, rate point), done jobs only."""
    groups: dict[tuple, list[JobResult]] = defaultdict(list)
    for row in rows:
        if row.is_search_probe:
            continue  # encodes of a target-rate search, not ladder points
        if row.done:
            groups[(row.codec, point_order(row), row.point)].append(row)
    names = metrics or sorted({m for r in rows if r.done for m in r.metrics})
    out = []
    for (codec, _, point), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        entry = {
            "codec": codec,
            "point": point,
            "sequences": len(members),
            "kbps": float(np.mean([m.kbps for m in members])),
            "encode_s": float(np.mean([m.encode_seconds for m in members])),
        }
        for name in names:
            vals = [m.metrics[name] for m in members if name in m.metrics]
            entry[name] = float(np.mean(vals)) if len(vals) == len(members) else None
        entry["parts_kbps"] = part_rates(members)
        entry.update(_seed_std(members, names))
        out.append(entry)
    return names, out


def _seed_std(members: list[JobResult], names: list[str]) -> dict:
    """``seeds`` (how many) and ``std`` (name -> standard deviation across seeds of the mean
    over sequences) when the rows carry seeds; nothing for deterministic codecs."""
    by_seed: dict[int, list[JobResult]] = defaultdict(list)
    for m in members:
        if m.seed is not None:
            by_seed[m.seed].append(m)
    if not by_seed:
        return {}
    std = {}
    for name in ["kbps", *names]:
        per = [
            np.mean([m.kbps if name == "kbps" else m.metrics.get(name, np.nan) for m in rs]) for rs in by_seed.values()
        ]
        std[name] = spread(per)[1]
    return {"seeds": len(by_seed), "std": std, "sequences": len({m.sequence for m in members})}


def part_rates(rows: list[JobResult]) -> dict[str, float]:
    """Mean kbps of each named bitstream part (key frame, tokens, ...) over rows that have parts."""
    parts: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r.parts and r.frames and r.fps:
            for name, n_bytes in r.parts.items():
                parts[name].append(kbps_of(n_bytes, r.frames, r.fps))
    return {name: float(np.mean(v)) for name, v in parts.items()}


def frame_table(rows: list[JobResult]):
    """One row per job, metrics as columns (for CSV/JSON/Parquet export)."""
    return records_frame(rows)


def bd_frame(entries):
    """BD entries as a table (the report's bdrate.csv): k of n sequences beside every mean."""
    import pandas as pd

    cols = [
        "codec",
        "metric",
        "axis",
        "method",
        "rate",
        "avg_curve",
        "per_sequence_mean",
        "contributed",
        "sequences",
        "bd_metric",
        "notes",
    ]
    return pd.DataFrame(
        [
            {
                "codec": e.codec,
                "metric": e.metric,
                "axis": e.axis,
                "method": e.method,
                "rate": e.rate,
                "avg_curve": e.avg_curve,
                "per_sequence_mean": e.per_sequence_mean,
                "contributed": e.contributed,
                "sequences": e.sequences,
                "bd_metric": e.bd_metric,
                "notes": " | ".join(e.notes),
                **_interval_columns(e),
            }
            for e in entries
        ],
        columns=cols + INTERVAL_COLUMNS,
    )


INTERVAL_COLUMNS = [
    "avg_curve_low",
    "avg_curve_high",
    "per_sequence_low",
    "per_sequence_high",
    "interval_method",
    "seed_mean",
    "seed_std",
    "seeds",
]


def _interval_columns(e) -> dict:
    """The bootstrap intervals and the spread over seeds of one BD entry (empty when not computed)."""
    from .seeds import spread

    out = dict.fromkeys(INTERVAL_COLUMNS)
    for name, c in (
        ("avg_curve", getattr(e, "avg_curve_ci", None)),
        ("per_sequence", getattr(e, "per_sequence_ci", None)),
    ):
        if c is not None and c.ok:
            out[f"{name}_low"], out[f"{name}_high"], out["interval_method"] = c.low, c.high, c.method
    if getattr(e, "per_seed", None):
        out["seed_mean"], out["seed_std"], out["seeds"] = spread(e.per_seed.values())
    return out


def per_frame_table(rows: list[JobResult]):
    """One row per job and frame, the per-frame value of every frame metric as a column
    (set-level metrics such as FVD have no per-frame values; per-transition metrics such as
    flow-epe have one value fewer than frames and are left empty on the last frame)."""
    import pandas as pd

    flat = []
    for row in rows:
        if not row.done or row.imported or row.is_search_probe:
            continue
        per_frame = row.frame_metrics
        for i in range(row.frames or max((len(v) for v in per_frame.values()), default=0)):
            entry = {
                "codec": row.codec,
                "sequence": row.sequence,
                "point": row.point,
                "qp": row.qp,
                "target_kbps": row.target_kbps,
                "kbps": row.kbps,
                "frame": i,
            }
            for name, values in sorted(per_frame.items()):
                entry[name] = values[i] if i < len(values) else None
            flat.append(entry)
    return pd.DataFrame(flat)
