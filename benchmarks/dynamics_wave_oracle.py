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
  its per-clip parameters fitted to explain most (``fit_wave``).

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
WAVENUMBERS = np.arange(4.0, 30.01, 0.1)  # cycles per frame width (the generator's ripple: 12-22)
DECAYS = (0.15, 0.35, 0.7, np.inf)  # e-folding distance in frame widths


def radial_basis(size: int, cx: float, cy: float, k: float, decay: float) -> np.ndarray:
    """(2, size, size, 2): the sine and cosine radial waves of wavenumber ``k`` from (cx, cy),
    displacements along the radius, decaying as exp(-r / decay); coordinates in [0, 1)."""
    y, x = np.mgrid[0:size, 0:size] / size
    dx, dy = x - cx, y - cy
    r = np.sqrt(dx * dx + dy * dy) + 1e-6
    envelope = np.exp(-r / decay)
    unit = np.stack([dx / r, dy / r], -1)
    phase = 2 * np.pi * k * r
    return np.stack([(envelope * np.sin(phase))[..., None] * unit, (envelope * np.cos(phase))[..., None] * unit])


def centre_of(rest: np.ndarray) -> tuple[float, float]:
    """Where radial displacements point: the least-squares meeting point of the lines
    through each pixel along its displacement, weighted by its length (all frames)."""
    size = rest.shape[1]
    y, x = np.mgrid[0:size, 0:size] / size
    v = rest.reshape(-1, 2)
    w = np.linalg.norm(v, axis=1)
    n = np.stack([-v[:, 1], v[:, 0]], 1) / (w[:, None] + 1e-12)  # normals to the lines
    p = np.stack([np.tile(x.ravel(), len(rest)), np.tile(y.ravel(), len(rest))], 1)
    a = (w[:, None, None] * n[:, :, None] * n[:, None, :]).sum(0)
    b = (w[:, None] * n * (n * p).sum(1, keepdims=True)).sum(0)
    cx, cy = np.linalg.solve(a + 1e-9 * np.eye(2), b)
    return float(cx), float(cy)


def explained(rest: np.ndarray, params) -> tuple[float, np.ndarray]:
    """Energy of ``rest`` the wave of ``params`` explains (two coefficients per frame), and its flows."""
    cx, cy, k, decay = params
    basis = radial_basis(rest.shape[1], cx, cy, k, abs(decay) + 1e-3).reshape(2, -1)
    target = rest.reshape(len(rest), -1)
    proj = basis @ target.T
    coef = np.linalg.solve(basis @ basis.T + 1e-9 * np.eye(2), proj)
    return float((coef * proj).sum()), (coef.T @ basis).reshape(rest.shape)


def fit_wave(rest: np.ndarray) -> tuple[np.ndarray, tuple]:
    """The radial wave (per clip a centre, a wavenumber and a decay; per frame two
    least-squares coefficients) that explains most of ``rest`` (T, h, w, 2): the centre where
    the displacements point, the wavenumber and decay searched on a fine grid, then all four
    polished (Nelder-Mead). Its flows and parameters."""
    from scipy.optimize import minimize

    cx, cy = centre_of(rest)
    start = max(((cx, cy, k, d) for k in WAVENUMBERS for d in DECAYS), key=lambda p: explained(rest, p)[0])
    start = (*start[:3], min(start[3], 5.0))
    best = minimize(
        lambda p: -explained(rest, p)[0],
        np.array(start),
        method="Nelder-Mead",
        options={"xatol": 1e-4, "fatol": 1e-9, "maxiter": 400},
    )
    params = tuple(float(v) for v in best.x)
    return explained(rest, params)[1], params


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
    wave, params = fit_wave(flow - grid)
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
