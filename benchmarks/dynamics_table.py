"""Dynamics-Codec's numbers from a store: rate split, quality and speed per rate point.

    gvcbench run --codecs dynamics,vvenc-ldb --dataset scene-dynamics-synth -o runs/dyn
    python benchmarks/dynamics_table.py runs/dyn [--anchor vvenc-ldb]

Prints, per codec and QP (mean over sequences): total, key-frame and token kbps, the
stored metrics, and encode/decode frames per second (wall time of the job's encode and
decode, CPU unless the run said otherwise); then the BD-rates against the anchor.
"""

from __future__ import annotations

import argparse

import numpy as np
from rich.console import Console
from rich.table import Table

from gvcbench.bench.store import ResultStore
from gvcbench.reports.curves import bd_table
from gvcbench.reports.table import part_rates, summary_rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--anchor", default="vvenc-ldb")
    args = ap.parse_args()
    with ResultStore(args.store, create=False) as store:
        rows, sets = store.rows(), store.set_values()
    names, summary = summary_rows(rows)
    table = Table(title="per codec and rate point, mean over sequences")
    for col in ["codec", "point", "kbps", "key kbps", "token kbps", *names, "enc fps", "dec fps"]:
        table.add_column(col, justify="left" if col in ("codec", "point") else "right", no_wrap=True)
    for s in summary:
        members = [r for r in rows if r["codec"] == s["codec"] and r["point"] == s["point"] and r["status"] == "done"]
        parts = part_rates(members)
        enc = np.mean([r["frames"] / r["encode_seconds"] for r in members])
        dec = np.mean([r["frames"] / r["decode_seconds"] for r in members])
        table.add_row(
            s["codec"],
            s["point"],
            f"{s['kbps']:.2f}",
            f"{parts.get('keyframe', float('nan')):.2f}",
            f"{parts.get('tokens', float('nan')):.2f}",
            *(f"{s[n]:.4f}" if s[n] is not None else "-" for n in names),
            f"{enc:.1f}",
            f"{dec:.1f}",
        )
    console = Console()
    console.print(table)
    for e in bd_table(rows, args.anchor, methods=("pchip",), set_values=sets):
        avg = "n/a" if e.avg_curve is None else f"{e.avg_curve:+.2f} %"
        per = "n/a" if e.per_sequence_mean is None else f"{e.per_sequence_mean:+.2f} %"
        console.print(
            f"BD-rate {e.codec} vs {args.anchor} on {e.axis}: averaged curve {avg}, mean per-sequence {per}"
            + (f"  ({'; '.join(e.notes)})" if e.notes else ""),
            highlight=False,
        )


if __name__ == "__main__":
    main()
