"""Quality over time: a metric's per-frame values per codec, each codec at its rate point
closest to a stated rate, one panel per sequence (flicker and drift show here, not in means)."""

from __future__ import annotations

import numpy as np

from ..bench.records import JobResult, rate_distance
from .curves import is_search_probe
from .plots import MARKERS, _figure, _style, axis_title


def closest_rows(rows: list[JobResult], sequence: str, metric: str, target_kbps: float) -> dict[str, JobResult]:
    """codec -> its done, measured row on ``sequence`` with per-frame ``metric`` closest in rate."""
    out: dict[str, JobResult] = {}
    for r in rows:
        if (
            r["sequence"] != sequence
            or r["status"] != "done"
            or r.get("imported")
            or is_search_probe(r)
            or not (r.get("frame_metrics") or {}).get(metric)
        ):
            continue
        best = out.get(r["codec"])
        if best is None or rate_distance(r["kbps"], target_kbps) < rate_distance(best["kbps"], target_kbps):
            out[r["codec"]] = r
    return dict(sorted(out.items()))


def quality_over_time(
    rows: list[JobResult],
    sequences: list[str],
    metric: str,
    target_kbps: float | dict[str, float],
    anchor: str | None = None,
):
    """One panel per sequence; None when no sequence has per-frame values of ``metric``.
    ``target_kbps``: one rate for every sequence, or a rate per sequence (the anchor's
    median rate point on each, say: sequences' rates can differ tenfold)."""
    from matplotlib.ticker import MaxNLocator

    targets = target_kbps if isinstance(target_kbps, dict) else dict.fromkeys(sequences, target_kbps)
    picked = {s: closest_rows(rows, s, metric, targets[s]) for s in sequences if s in targets}
    picked = {s: p for s, p in picked.items() if p}
    if not picked:
        return None
    fig, axes = _figure(len(picked), 1, figsize=(7.0, 2.6 * len(picked)), dpi=100, squeeze=False)
    for ax, (seq, per_codec) in zip(axes[:, 0], picked.items()):
        for i, (codec, row) in enumerate(per_codec.items()):
            values = np.asarray(row["frame_metrics"][metric], dtype=np.float64)
            style = _style(codec, anchor, i) | {"marker": MARKERS[i % len(MARKERS)], "markersize": 3}
            style["label"] = f"{style['label']}: {row['point']}, {row['kbps']:.1f} kbps"
            ax.plot(np.arange(len(values)), values, **style)
        ax.set_title(f"{seq}: {metric} per frame, each codec closest to {targets[seq]:g} kbps", fontsize=9)
        ax.set_xlabel("frame")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(axis_title(rows, metric, metric))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
