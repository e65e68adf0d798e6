"""Would explicit wave parameters carry what the token grid cannot? An oracle, no training.

The trials of `dynamics_wave_diagnosis.py` showed that no token layout carries the synthetic
ripple, even trained on the truth (docs/dynamics-codec.md, "Ripple against the truth"). The step they
point to is a motion tool with explicit wave parameters: per clip a centre, a wavenumber and
a decay, per frame two coefficients (the wave's amplitude and phase), fitted by the encoder
to what the grid leaves and added to the grid's flow by the decoder. Before building it,
this measures what it could give at best, on the quarter-size grid the codec works on:

* ``grid``: the flow averaged over 12 x 12 cells and spread back (what v5's tokens carry at
  best, the cells oracle);
* ``grid + wave``: plus the radial wave fitted, by least squares, to the rest of each frame,
  its per-clip parameters fitted to explain most (the codec's ``waves.fit_wave`` since the
  wave tool was built from this oracle; the figures in docs/dynamics-codec.md, "What explicit
  wave parameters could give", are the first version's, whose centre was not searched).

Each is an error / |flow| (1.0 = no better than zero flow) against the truth on the
procedural ripple clips (the wave fitted to full-scale DIS, an estimate an encoder can make,
and to the truth, the model's own ceiling) and against full-scale DIS on the real validation
clips (does any real motion look like such a wave?).

    python benchmarks/dynamics_wave_oracle.py                       # seeds 0, 1, 2 and the validation clips
    python benchmarks/dynamics_wave_oracle.py --seeds 0 --dataset ''  # synthetic only
"""

from __future__ import annotations

import argparse

import numpy as np
from dynamics_oracles import cells
from dynamics_synthetic_truth import full_scale_dis

GRID = 12
FRAMES = (3, 7, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47)  # the inter frames fitted and scored


def wave_flows(rest: np.ndarray) -> tuple[np.ndarray, tuple]:
    """The radial wave that explains most of ``rest`` (T, h, w, 2), fitted as the codec's
    encoder fits it (``waves.fit_wave``; unquantised coefficients): its flows and parameters."""
    from gvcbench.codecs.dynamics.waves import fit_wave, least_squares, radial_basis

    params = fit_wave(rest)
    basis = radial_basis(rest.shape[1], rest.shape[2], *params)
    return np.einsum("tb,bhwc->thwc", least_squares(rest, params), basis), params


def ratio(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Mean end-point error over mean magnitude (the flow-accuracy ratio's form)."""
    err = np.linalg.norm(estimate - reference, axis=-1).mean()
    return float(err / np.linalg.norm(reference, axis=-1).mean())


def quarter(flow: np.ndarray) -> np.ndarray:
    from gvcbench.codecs.dynamics.frames import SCALE, low_res

    return low_res(flow.astype(np.float32), SCALE, is_flow=True)


def estimated(seq, est) -> np.ndarray:
    """Full-scale DIS of each scored frame back to the key frame, quarter grid (T, h, w, 2)."""
    from gvcbench.datasets.sequence import rgb_uint8

    key = rgb_uint8(seq, 0, 1)[0]
    return np.stack([quarter(est.backward(key, rgb_uint8(seq, t, t + 1)[0])) for t in FRAMES])


def scores(flow: np.ndarray, reference: np.ndarray) -> tuple[float, float, tuple]:
    """(grid, grid + wave) ratios against ``reference`` of what ``flow`` gives them, and the wave."""
    grid = cells(flow.astype(np.float32), GRID)
    wave, params = wave_flows(flow - grid)
    return ratio(grid, reference), ratio(grid + wave, reference), params


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from gvcbench.codecs.dynamics.data import dataset_clips
    from gvcbench.datasets.synthetic import CLIPS, generate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--dataset", default="../shared/datasets/scene-dynamics", help="real clips; '' for none")
    args = ap.parse_args()
    est = full_scale_dis()
    table = Table(title=f"{GRID} x {GRID} cells, and plus one fitted radial wave (error / |reference|)")
    for col in ("clip", "reference", "from", "grid", "grid + wave", "wave: centre, k, decay"):
        table.add_column(col)

    def row(name, reference_name, source, result):
        grid, both, (cx, cy, k, decay) = result
        table.add_row(
            name,
            reference_name,
            source,
            f"{grid:.3f}",
            f"{both:.3f}",
            f"({cx:.2f}, {cy:.2f}), {k:.2f}, {abs(decay):.2f}",
        )

    for seed in (int(s) for s in args.seeds.split(",") if s):
        for clip in (c for c in CLIPS if c.motion == "ripple"):
            seq, disp = generate(clip.name, seed=seed, size=384, frames=50, with_flow=True)
            truth = np.stack([quarter(disp[t]) for t in FRAMES])
            row(f"{clip.name}@{seed}", "truth", "full-scale DIS", scores(estimated(seq, est), truth))
            row(f"{clip.name}@{seed}", "truth", "truth", scores(truth, truth))
    if args.dataset:
        for clip in dataset_clips(args.dataset):
            flow = estimated(clip.seq, est)
            row(clip.name, "full-scale DIS", "full-scale DIS", scores(flow, flow))
    Console().print(table)


if __name__ == "__main__":
    main()
