"""Decoded motion of Dynamics-Codec against ``flow_smoothing``: the dynamics bitstreams a
run stored, decoded again with each sigma, flow-epe (px, mean over frame transitions)
against the original clip; the last column is a frozen key frame's. Choose sigma on
training clips, not on the clips you report (docs/dynamics-codec.md, "Decoded motion (flow_smoothing)").

    VTM_DIR=../shared/vtm gvcbench run -c dev.toml        # dynamics at the QPs you want
    python benchmarks/dynamics_flow_smoothing.py dev-run --qp 42 --sigmas 0,2,3,5
    python benchmarks/dynamics_flow_smoothing.py dev-run --codec tracked   # an entry labelled "tracked"
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from gvcbench.bench.plan import make_codec
    from gvcbench.bench.store import ResultStore
    from gvcbench.codecs import Bitstream
    from gvcbench.datasets import SequenceSpec, load_sequence
    from gvcbench.datasets.sequence import Sequence
    from gvcbench.metrics.temporal import consecutive_flows, epe_against

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", help="run folder with dynamics jobs whose bitstreams were kept")
    ap.add_argument("--qp", type=int, default=42)
    ap.add_argument("--codec", default="dynamics", help="the dynamics entry's label in the store")
    ap.add_argument("--sigmas", default="0,2,3,5")
    ap.add_argument("--sequences", default="", help="comma-separated clip names (default: all)")
    args = ap.parse_args()
    sigmas = [float(s) for s in args.sigmas.split(",")]

    with ResultStore(Path(args.store)) as store:
        rows = [r for r in store.records() if r.codec == args.codec and r.qp == args.qp and r.status == "done"]
    if args.sequences:
        rows = [r for r in rows if r.sequence in args.sequences.split(",")]
    if not rows:
        raise SystemExit(f"{args.store}: no finished job of {args.codec!r} at QP {args.qp}")
    table = Table(title=f"flow-epe px, {args.codec} QP {args.qp}, {args.store}")
    for col in ["clip", *[f"sigma {s:g}" for s in sigmas], "frozen key frame"]:
        table.add_column(col, justify="left" if col == "clip" else "right")
    sums = np.zeros(len(sigmas) + 1)
    for row in sorted(rows, key=lambda r: r.sequence):
        spec = {k: v for k, v in dict(row.sequence_spec).items() if k != "meta"}
        original = load_sequence(SequenceSpec.from_record(spec))
        frames = original.num_frames
        reference = consecutive_flows(original)
        values = []
        for sigma in sigmas:
            codec = make_codec("dynamics", {**dict(row.codec_params), "flow_smoothing": sigma})
            bitstream = Bitstream(Path(args.store) / str(row.bitstream), {"name": row.sequence})
            with tempfile.TemporaryDirectory() as work:
                decoded = codec.decode(bitstream, Path(work), timeout=3600).sequence
            values.append(float(epe_against(reference, decoded).mean()))
        still = (np.repeat(p[:1], frames, 0) for p in (original.y, original.u, original.v))
        frozen = Sequence("frozen", *still, original.fps, original.bit_depth, original.colour)
        values.append(float(epe_against(reference, frozen).mean()))
        sums += values
        table.add_row(row.sequence, *[f"{v:.3f}" for v in values])
    table.add_row("mean", *[f"{v / len(rows):.3f}" for v in sums])
    Console().print(table)


if __name__ == "__main__":
    main()
