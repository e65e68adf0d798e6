"""Would a planar travelling wave carry the sway the tokens leave? An oracle, no training.

Sway at seed 0 is the one synthetic family at one seed above issue 15's 0.60 against the
truth (docs/dynamics-codec.md, "The wave tool"). The synthetic sway is a wave travelling across
the frame, its amplitude varying over the picture; the radial wave tool cannot fit it (its
centre stays near the frame). This measures, before any codec change, what a second kind of
wave could give: per clip a direction ``theta`` and a wavenumber ``k`` (cycles per frame width,
2-8: below, the tokens carry the motion), an amplitude envelope on ``--envelope`` x
``--envelope`` bilinear cells, and per inter frame four coefficients (sine and cosine, x and y):

    D_t(p) = E(p) (a_t sin 2 pi k (p . n) + b_t cos 2 pi k (p . n)),   n = (cos theta, sin theta)

with a_t, b_t 2-vectors. It is fitted, as an encoder could, to what the decoder's token flows
(the codec's own path at its options, the wave tool off) leave of the encoder's estimate (the
analysis flows, DIS medium; full-scale DIS misses half of the sway: 0.75 against the truth):
theta and k searched on every sixth frame, then envelope and coefficients by alternating least
squares on every frame, on the quarter-size grid, coefficients unquantised.

Columns: the decoder's flows and the decoder's flows plus the wave, against the truth (the
procedural clips) and against the estimate (every clip), and whether an encoder rule like the
radial tool's (the estimate's end-point error lower by 10 % or more) would send it.

    python benchmarks/dynamics_planar_wave_oracle.py                    # seed 0 and the validation clips
    python benchmarks/dynamics_planar_wave_oracle.py --seeds 0,1,2 --dataset ''
"""

from __future__ import annotations

import argparse
import time

import numpy as np

THETAS = np.radians(np.arange(0.0, 180.0, 7.5))
WAVENUMBERS = np.arange(2.0, 8.01, 0.25)
MIN_GAIN = 0.10


def hats(height: int, width: int, n: int) -> np.ndarray:
    """(n * n, height, width): bilinear hat functions on an n x n grid spanning the frame."""
    ys, xs = np.linspace(0, n - 1, height), np.linspace(0, n - 1, width)
    rows, cols = (np.clip(1 - np.abs(v[None] - np.arange(n)[:, None]), 0, None) for v in (ys, xs))
    return np.stack([rows[j][:, None] * cols[i][None] for j in range(n) for i in range(n)])


def planar(height: int, width: int, theta: float, k: float) -> np.ndarray:
    """(2, height * width): the sine and cosine wave along ``theta``, positions in frame widths."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = 2 * np.pi * k * (((x + 0.5) * np.cos(theta) + (y + 0.5) * np.sin(theta)) / width)
    return np.stack([np.sin(phase).ravel(), np.cos(phase).ravel()])


def fit(rest: np.ndarray, theta: float, k: float, envelope: int = 0, rounds: int = 8) -> np.ndarray:
    """The wave's flows (T, h, w, 2) that fit ``rest`` best: coefficients by least squares under a
    constant envelope, or alternating with a bilinear envelope of ``envelope`` x ``envelope``."""
    t, h, w, _ = rest.shape
    waves = planar(h, w, theta, k)  # (2, hw)
    target = rest.reshape(t, h * w, 2)
    amp = np.ones(h * w)
    cells = hats(h, w, envelope).reshape(envelope * envelope, -1) if envelope else None
    for _ in range(rounds if envelope else 1):
        basis = waves * amp  # (2, hw)
        gram = basis @ basis.T + 1e-9 * np.eye(2)
        coef = np.linalg.solve(gram, np.einsum("bp,tpc->btc", basis, target).reshape(2, -1)).reshape(2, t, 2)
        moving = np.einsum("btc,bp->tpc", coef, waves)  # the wave before its envelope
        if cells is None:
            break
        design = (cells[:, None, :, None] * moving[None]).reshape(len(cells), -1)
        weights = np.linalg.solve(design @ design.T + 1e-6 * np.eye(len(cells)), design @ target.ravel())
        amp = weights @ cells
    basis = waves * amp
    coef = np.linalg.solve(basis @ basis.T + 1e-9 * np.eye(2), np.einsum("bp,tpc->btc", basis, target).reshape(2, -1))
    return np.einsum("btc,bp->tpc", coef.reshape(2, t, 2), basis).reshape(t, h, w, 2)


def search(rest: np.ndarray) -> tuple[float, float]:
    """theta and k whose wave (constant envelope) leaves the least of ``rest``."""
    scores = [(float(((rest - fit(rest, th, k)) ** 2).sum()), th, k) for th in THETAS for k in WAVENUMBERS]
    _, theta, k = min(scores)
    return float(theta), float(k)


def ratio(flows: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(flows - reference, axis=-1).mean() / np.linalg.norm(reference, axis=-1).mean())


def decoder_and_estimate(codec, seq) -> tuple[np.ndarray, np.ndarray]:
    """The decoder's token flows and the encoder's estimate, (T, h, w, 2) on the quarter grid in
    full-size pixels, by the codec's own path (``dynamics_synthetic_families.decoder_flows``)."""
    from dynamics_synthetic_families import decoder_flows

    flows, estimated, _, _ = decoder_flows(codec, seq)
    return flows.transpose(0, 2, 3, 1), estimated.transpose(0, 2, 3, 1)


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from gvcbench.bench.plan import make_codec
    from gvcbench.codecs.dynamics.frames import SCALE, low_res
    from gvcbench.datasets import load_sequence, resolve_dataset
    from gvcbench.datasets.synthetic import CLIPS, generate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--dataset", default="../shared/datasets/scene-dynamics/manifest.toml")
    ap.add_argument("--envelope", type=int, default=3)
    args = ap.parse_args()
    codec = make_codec("dynamics", {"keyframe_codec": "vvenc", "waves": False})
    clips: list = []
    for seed in [int(s) for s in args.seeds.split(",") if s]:
        for clip in CLIPS:
            made = lambda c=clip.name, s=seed: generate(c, seed=s, frames=50, with_flow=True)  # noqa: E731
            clips.append((f"{clip.name}@{seed}", made))
    if args.dataset:
        for spec in resolve_dataset(args.dataset).specs:
            clips.append((spec.name, lambda spec=spec: (load_sequence(spec), None)))
    table = Table(title=f"a planar wave on the decoder's token flows ({args.envelope} x {args.envelope} envelope)")
    for col in ("clip", "theta", "k", "vs truth", "+ wave", "vs estimate", "+ wave", "sent", "s"):
        table.add_column(col, justify="left" if col == "clip" else "right")
    for name, make in clips:
        started = time.perf_counter()
        seq, disp = make()
        decoded, estimate = decoder_and_estimate(codec, seq)
        rest = estimate - decoded
        theta, k = search(rest[::6])
        wave = fit(rest, theta, k, args.envelope)
        truth = None
        if disp is not None:
            truth = np.stack([low_res(d.astype(np.float32), SCALE, is_flow=True) * SCALE for d in disp[1:]])
        before, after = ratio(decoded, estimate), ratio(decoded + wave, estimate)
        table.add_row(
            name,
            f"{np.degrees(theta):.1f}",
            f"{k:.2f}",
            f"{ratio(decoded, truth):.3f}" if truth is not None else "",
            f"{ratio(decoded + wave, truth):.3f}" if truth is not None else "",
            f"{before:.3f}",
            f"{after:.3f}",
            "yes" if after < (1 - MIN_GAIN) * before else "",
            f"{time.perf_counter() - started:.0f}",
        )
    Console(width=max(140, Console().width)).print(table)


if __name__ == "__main__":
    main()
