"""How much motion the Dynamics-Codec tokens carry: recovered vs original dense flow.

For every clip, (key frame, inter frame) pairs are tokenized (quantised with the codec's
step) and the dense flow recovered from the tokens; the table prints the mean end-point
error of the recovered flow, of predicting zero flow, and their ratio (1.0 = the tokens
carry nothing; 0 = perfect), in full-resolution pixels.

    python benchmarks/dynamics_flow_accuracy.py                       # scene-dynamics-synth, seed 0
    python benchmarks/dynamics_flow_accuracy.py --dataset ../shared/datasets/scene-dynamics
    python benchmarks/dynamics_flow_accuracy.py --weights other.pt
"""
from __future__ import annotations

import argparse

import numpy as np


def clip_errors(model, seq, pairs: int, step: float, rng) -> tuple[float, float]:
    import torch

    from gvcbench.codecs.dynamics.model import FLOW_NORM, SCALE
    from gvcbench.codecs.dynamics.train import TrainConfig, _tensor_batch, make_pairs

    samples = make_pairs([seq], TrainConfig(pairs_per_clip=pairs), rng)
    key, sparse, mask, flow = _tensor_batch(samples, list(range(len(samples))))
    with torch.no_grad():
        tokens = torch.round(model.tokenizer(sparse, mask) / step) * step
        pred = model.recovery(key, tokens)
    px = FLOW_NORM * SCALE  # normalised quarter-grid units -> full-resolution pixels
    epe = (torch.linalg.vector_norm(pred - flow, dim=1) * px).mean().item()
    zero = (torch.linalg.vector_norm(flow, dim=1) * px).mean().item()
    return epe, zero


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from gvcbench.codecs.dynamics.codec import DEFAULT_WEIGHTS, load_model
    from gvcbench.datasets import load_sequence, resolve_dataset

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="scene-dynamics-synth")
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    ap.add_argument("--pairs", type=int, default=12, help="inter frames sampled per clip")
    ap.add_argument("--step", type=float, default=0.05, help="token quantisation step")
    args = ap.parse_args()

    model = load_model(args.weights)
    rng = np.random.default_rng(0)
    table = Table(title=f"recovered-flow error, {args.dataset}, weights {args.weights.split('/')[-1]}")
    for col in ("clip", "EPE tokens (px)", "EPE zero flow (px)", "ratio"):
        table.add_column(col, justify="left" if col == "clip" else "right")
    ratios = []
    for spec in resolve_dataset(args.dataset, size="384x384").specs:
        epe, zero = clip_errors(model, load_sequence(spec), args.pairs, args.step, rng)
        ratios.append(epe / zero)
        table.add_row(spec.name, f"{epe:.3f}", f"{zero:.3f}", f"{epe / zero:.3f}")
    table.add_row("mean", "", "", f"{np.mean(ratios):.3f}")
    Console().print(table)


if __name__ == "__main__":
    main()
