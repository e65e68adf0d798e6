"""Why the synthetic ripple stays near 1.0: the flow estimate and the token grid, each
measured against the generator's true displacement.

The flow-accuracy ratio (``benchmarks/dynamics_flow_accuracy.py``) compares the flow
recovered from the tokens with the encoder's own DIS flow; on the synthetic families the
truth is known, so each stage can be judged on its own. Per motion family (the
procedural clips at ``--seeds``, quarter-size grid, the pairs the validation packs use),
every figure is an error / |truth| (1.0 = no better than zero flow):

* ``DIS <preset> vs truth``: the estimate the encoder tokenizes: the codec's DIS (preset
  medium: its finest scale is half the frame) and DIS at full scale (patch 6, stride 2,
  finest scale 0, 10 variational iterations; 5-10x slower), which does see ripples;
* ``truth on G x G cells``: the true displacement averaged over G x G cells and spread
  back bilinearly: the best a G x G grid of token values can carry (v5's grid is 12 x 12);
* ``tokens of <estimate> vs truth`` and ``... vs the estimate``: the weights' tokens,
  quantised at ``--step``, fed that estimate; the second is the flow-accuracy ratio.

    python benchmarks/dynamics_synthetic_truth.py                  # seed 0 (never trained on)
    python benchmarks/dynamics_synthetic_truth.py --seeds 1,2 --grids 12,24,48,96
"""

from __future__ import annotations

import argparse

import numpy as np
from dynamics_oracles import cells, clip_ratios, truth_flows


def full_scale_dis():
    """OpenCV DIS down to the full-size level, denser patches, more refinement (the codec's
    ``DisFlow("fine")``, which the wave tool estimates with)."""
    from gvcbench.codecs.dynamics.flow import DisFlow

    return DisFlow("fine")


def recovered(model, pack: dict, step: float) -> np.ndarray:
    """(N, h, w, 2) flows the weights recover from the pack's quantised tokens, quarter-grid px."""
    import torch

    from gvcbench.codecs.dynamics import train as T
    from gvcbench.codecs.dynamics.frames import FLOW_NORM

    data = T.PackTensors(pack, "cpu")
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data), 64):
            key, sparse, mask, _ = data.batch(list(range(start, min(len(data), start + 64))))
            out.append(T.tokens_and_flow(model, key, sparse, mask, step, noise=False)[1])
    return (torch.cat(out) * FLOW_NORM).permute(0, 2, 3, 1).numpy()


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from gvcbench.codecs.dynamics import data as D
    from gvcbench.codecs.dynamics.codec import DEFAULT_WEIGHTS, load_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0", help="synthetic seeds (training used 1000-1003)")
    ap.add_argument("--pairs", type=int, default=12, help="inter frames sampled per clip")
    ap.add_argument("--grids", default="12,24,48")
    ap.add_argument("--step", type=float, default=0.2, help="token quantisation step")
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    args = ap.parse_args()

    clips = D.synthetic_clips([int(s) for s in args.seeds.split(",")])
    model = load_model(args.weights)
    estimates: dict[str, np.ndarray] = {}
    grids: dict[str, np.ndarray] = {}
    tokens: dict[str, np.ndarray] = {}
    truth = None
    for label, estimator in (("DIS medium", "dis"), ("DIS full scale", full_scale_dis())):
        pack = D.build_pack(clips, args.pairs, np.random.default_rng(0), flow=estimator)
        if truth is None:  # the same clips and pairs for both estimators
            truth, _ = truth_flows(pack)
            clip_of, n, families = pack["clip_of"], len(pack["names"]), pack["families"]
            for g in (int(g) for g in args.grids.split(",")):
                grids[f"truth on {g} x {g} cells vs truth"] = clip_ratios(cells(truth, g), truth, clip_of, n)
        estimate = pack["flows"].astype(np.float32)
        recovered_flow = recovered(model, pack, args.step)
        estimates[f"{label} vs truth"] = clip_ratios(estimate, truth, clip_of, n)
        tokens[f"tokens of {label} vs truth"] = clip_ratios(recovered_flow, truth, clip_of, n)
        tokens[f"tokens of {label} vs {label} (the ratio)"] = clip_ratios(recovered_flow, estimate, clip_of, n)
    rows = {**estimates, **grids, **tokens}

    groups = {str(f): np.flatnonzero(families == f) for f in dict.fromkeys(families)}
    table = Table(title=f"error / |truth|, synthetic seeds {args.seeds}, step {args.step:g}")
    table.add_column("flow", no_wrap=True)
    for g in groups:
        table.add_column(g, justify="right")
    for label, values in rows.items():
        table.add_row(label, *[f"{values[idx].mean():.3f}" for idx in groups.values()])
    Console().print(table)


if __name__ == "__main__":
    main()
