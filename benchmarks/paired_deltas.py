"""Two codec entries of one store at the same points on the same clips: the mean of each
metric for both, the mean per-clip difference with its bootstrap interval over the clips
(the harness's own percentile bootstrap, seeded), and on how many clips it is lower. For the
"same key frame and tokens, one option changed" comparisons of docs/dynamics-codec.md, where a
BD-rate needs more points than such a run has.

    python benchmarks/paired_deltas.py dynamics-motion-skip-train --anchor dynamics --codec skip
    python benchmarks/paired_deltas.py STORE --anchor A --codec B --metrics flow-epe,vmaf --exclude c1,c2
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from gvcbench.api import open_store
from gvcbench.reports.uncertainty import bootstrap


def paired(rows, anchor: str, codec: str, metric: str, exclude: set[str]) -> dict[tuple[str, str], tuple[float, float]]:
    """(sequence, point) -> (anchor's value, codec's value) where both entries have one."""
    values: dict[str, dict[tuple[str, str], float]] = {anchor: {}, codec: {}}
    for r in rows:
        if r.done and r.codec in values and r.sequence not in exclude:
            value = r.kbps if metric == "kbps" else r.metrics.get(metric)
            if value is not None:
                values[r.codec][(r.sequence, r.point)] = float(value)
    return {k: (values[anchor][k], values[codec][k]) for k in sorted(set(values[anchor]) & set(values[codec]))}


def table(rows, anchor: str, codec: str, metrics: list[str], exclude: set[str], resamples: int) -> list[str]:
    lines = [
        f"| metric | pairs | {anchor} | {codec} | mean difference [95 % interval] | lower on |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for metric in metrics:
        pairs = paired(rows, anchor, codec, metric, exclude)
        if not pairs:
            lines.append(f"| {metric} | 0 | – | – | no point has both entries | – |")
            continue
        a, b = (np.array(v) for v in zip(*pairs.values(), strict=True))
        d = b - a
        interval = bootstrap(len(d), lambda idx, d=d: float(d[idx].mean()), resamples=resamples, unit="pairs")
        spread = f"[{interval.low:+.4g}, {interval.high:+.4g}]" if interval.ok else f"(no interval: {interval.note})"
        lines.append(
            f"| {metric} | {len(d)} | {a.mean():.4g} | {b.mean():.4g} | {d.mean():+.4g} {spread} "
            f"| {(d < 0).sum()} of {len(d)} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", help="store file or run folder")
    parser.add_argument("--anchor", required=True, help="the codec label compared against")
    parser.add_argument("--codec", required=True, help="the codec label compared")
    parser.add_argument("--metrics", help="comma-separated (default: every metric of the rows, and kbps)")
    parser.add_argument("--exclude", default="", help="comma-separated sequences left out")
    parser.add_argument("--resamples", type=int, default=10000)
    args = parser.parse_args(argv)
    rows = open_store(args.store).rows
    labels = sorted({r.codec for r in rows})
    for label in (args.anchor, args.codec):
        if label not in labels:
            print(f"no codec labelled {label!r} in {args.store}; its labels: {', '.join(labels)}", file=sys.stderr)
            return 2
    metrics = args.metrics.split(",") if args.metrics else sorted({m for r in rows for m in r.metrics}) + ["kbps"]
    exclude = {s for s in args.exclude.split(",") if s}
    print("\n".join(table(rows, args.anchor, args.codec, metrics, exclude, args.resamples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
