"""How much motion the Dynamics-Codec tokens carry: recovered vs original dense flow.

For every clip, (key frame, inter frame) pairs are tokenized (quantised with the codec's
step) and the dense flow recovered from the tokens; the table prints the mean end-point
error of the recovered flow, of predicting zero flow, and their ratio (1.0 = the tokens
carry nothing; 0 = perfect), in full-resolution pixels, and with ``--rate`` the token
rate in kbps (all inter frames tokenized, quantised, predicted and entropy coded as the
encoder does; the key frame is not counted). The pairs are those of the validation
packs training reports on (``data.build_pack``, 12 inter frames per clip, seed 0).

    python benchmarks/dynamics_flow_accuracy.py                       # scene-dynamics-synth, seed 0
    python benchmarks/dynamics_flow_accuracy.py --dataset ../shared/datasets/scene-dynamics --rate
    python benchmarks/dynamics_flow_accuracy.py --weights other.pt
"""

from __future__ import annotations

import argparse

import numpy as np


def flow_ratios(weights: str, clips, pairs: int = 12, step: float = 0.05) -> dict:
    """{clip name: (EPE tokens px, EPE zero flow px, ratio)}."""
    from gvcbench.codecs.dynamics import data as D
    from gvcbench.codecs.dynamics import train as T
    from gvcbench.codecs.dynamics.codec import load_model
    from gvcbench.codecs.dynamics.frames import SCALE

    pack = D.build_pack(clips, pairs, np.random.default_rng(0))
    ratios = T.validation_ratios(load_model(weights), T.PackTensors(pack, "cpu"), step)
    flows = pack["flows"].astype(np.float32)
    out = {}
    for c, name in enumerate(pack["names"]):
        zero = float(np.linalg.norm(flows[pack["clip_of"] == c], axis=-1).mean()) * SCALE  # full-size pixels
        out[str(name)] = (ratios[str(name)] * zero, zero, ratios[str(name)])
    return out


def token_kbps(weights: str, seq, step: float = 0.05) -> float:
    from gvcbench.codecs.dynamics.codec import DynamicsCodec
    from gvcbench.codecs.dynamics.entropy import encode_residuals

    codec = DynamicsCodec(weights=weights, keyframe_codec="vvenc", step=step)
    q = np.rint(codec.tokens(seq) / step).astype(np.int64)
    tokens = codec.tokens_per_frame()
    residuals = np.diff(np.vstack([np.zeros((1, tokens), np.int64), q]), axis=0)
    return len(encode_residuals(residuals.tolist(), tokens)) * 8 / (seq.num_frames / float(seq.fps)) / 1000


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from gvcbench.codecs.dynamics import data as D
    from gvcbench.codecs.dynamics.codec import DEFAULT_WEIGHTS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="scene-dynamics-synth")
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    ap.add_argument("--pairs", type=int, default=12, help="inter frames sampled per clip")
    ap.add_argument("--step", type=float, default=0.2, help="token quantisation step")
    ap.add_argument("--rate", action="store_true", help="also the token rate in kbps (tokenizes every frame)")
    args = ap.parse_args()

    clips = D.dataset_clips(args.dataset, family="real")
    if args.dataset == "scene-dynamics-synth":
        from gvcbench.datasets.synthetic import CLIPS

        families = {c.name: c.motion for c in CLIPS}
        clips = [D.Clip(c.name, families.get(c.name, "real"), c.seq) for c in clips]
    results = flow_ratios(args.weights, clips, args.pairs, args.step)
    table = Table(title=f"recovered-flow error, {args.dataset}, weights {args.weights.split('/')[-1]}")
    for col in ("clip", "family", "EPE tokens (px)", "EPE zero flow (px)", "ratio") + (
        ("tokens kbps",) if args.rate else ()
    ):
        table.add_column(col, justify="left" if col in ("clip", "family") else "right")
    rates = []
    for clip in clips:
        epe, zero, ratio = results[clip.name]
        row = [clip.name, clip.family, f"{epe:.3f}", f"{zero:.3f}", f"{ratio:.3f}"]
        if args.rate:
            rates.append(token_kbps(args.weights, clip.seq, args.step))
            row.append(f"{rates[-1]:.2f}")
        table.add_row(*row)
    ratios = [r[2] for r in results.values()]
    table.add_row("mean", "", "", "", f"{np.mean(ratios):.3f}", *([f"{np.mean(rates):.2f}"] if rates else []))
    table.add_row("max", "", "", "", f"{np.max(ratios):.3f}", *([f"{np.max(rates):.2f}"] if rates else []))
    fams: dict = {}
    for clip in clips:
        fams.setdefault(clip.family, []).append(results[clip.name][2])
    if len(fams) > 1:
        for fam, vals in fams.items():
            table.add_row(f"family {fam}", "", "", "", f"{np.mean(vals):.3f}", *([""] if rates else []))
    Console().print(table)


if __name__ == "__main__":
    main()
