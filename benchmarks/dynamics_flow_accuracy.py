"""How much motion the Dynamics-Codec tokens carry: recovered vs original dense flow.

For every clip, (key frame, inter frame) pairs are tokenized (quantised with the codec's
step) and the dense flow recovered from the tokens; the table prints the mean end-point
error of the recovered flow, of predicting zero flow, and their ratio (1.0 = the tokens
carry nothing; 0 = perfect), in full-resolution pixels, and with ``--rate`` the token
rate in kbps (all inter frames tokenized, quantised, predicted and entropy coded as the
encoder does; the key frame is not counted) and, with ``--token-kbps`` (the codec's rate
control, 0 = off), the step it chooses per clip with that clip's ratio and rate. The pairs
are the frames of the validation packs training reports on (``data.build_pack``, 12 inter
frames per clip, seed 0), their flows estimated from zero as in v5's packs (``dynamics pack
--no-flow-tracking``); training on tracked packs (the default since) reports its ratio
against tracked flows of the same frames.
Tokens are sent for every inter frame here (``token_interval = 1``); what the codec does
at its defaults, the interval chosen per clip and every frame of the clip measured, is
``benchmarks/dynamics_token_interval.py``.

    python benchmarks/dynamics_flow_accuracy.py                       # scene-dynamics-synth, seed 0
    python benchmarks/dynamics_flow_accuracy.py --dataset ../shared/datasets/scene-dynamics --rate
    python benchmarks/dynamics_flow_accuracy.py --dataset ../shared/datasets/scene-dynamics --rate --token-kbps 5
    python benchmarks/dynamics_flow_accuracy.py --weights other.pt
"""

from __future__ import annotations

import argparse

import numpy as np


def flow_ratios(weights: str, clips, pairs: int = 12, *steps: float | dict) -> list[dict]:
    """For each of ``steps`` (one step for every clip, or {clip name: step}, say the steps
    rate control chose): {clip name: (EPE tokens px, EPE zero flow px, ratio)}."""
    from gvcbench.codecs.dynamics import data as D
    from gvcbench.codecs.dynamics import train as T
    from gvcbench.codecs.dynamics.codec import load_model
    from gvcbench.codecs.dynamics.frames import SCALE

    pack = D.build_pack(clips, pairs, np.random.default_rng(0))
    data = T.PackTensors(pack, "cpu")
    model = load_model(weights)
    flows = pack["flows"].astype(np.float32)
    per_clip = [s if isinstance(s, dict) else {c.name: s for c in clips} for s in steps]
    ratios = {s: T.validation_ratios(model, data, s) for s in sorted({s for d in per_clip for s in d.values()})}
    out = []
    for chosen in per_clip:
        out.append({})
        for c, name in enumerate(pack["names"]):
            ratio = ratios[chosen[str(name)]][str(name)]
            zero = float(np.linalg.norm(flows[pack["clip_of"] == c], axis=-1).mean()) * SCALE  # full-size pixels
            out[-1][str(name)] = (ratio * zero, zero, ratio)
    return out


def token_rates(weights: str, seq, step: float, max_kbps: float | None) -> tuple[float, float, float]:
    """(kbps at ``step``, the step rate control chooses for ``max_kbps``, kbps at that step):
    every inter frame tokenized once and coded as the encoder does, its flows estimated
    from zero like the packs' (``flow_tracking`` off)."""
    from gvcbench.codecs.dynamics.codec import DynamicsCodec, code_tokens, fit_token_rate

    tokens = DynamicsCodec(weights=weights, keyframe_codec="vvenc", flow_tracking=False).tokens(seq)
    seconds = seq.num_frames / float(seq.fps)
    fixed = len(code_tokens(tokens, step)[2]) * 8 / seconds / 1000
    chosen, _, payload = fit_token_rate(tokens, step, max_kbps, seconds)
    return fixed, chosen, len(payload) * 8 / seconds / 1000


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
    ap.add_argument(
        "--token-kbps", type=float, default=0.0, help="with --rate: also rate control to this many kbps (0: off)"
    )
    args = ap.parse_args()

    clips = D.dataset_clips(args.dataset, family="real")
    if args.dataset == "scene-dynamics-synth":
        from gvcbench.datasets.synthetic import CLIPS

        families = {c.name: c.motion for c in CLIPS}
        clips = [D.Clip(c.name, families.get(c.name, "real"), c.seq) for c in clips]
    controlled = args.rate and args.token_kbps > 0
    rates = {c.name: token_rates(args.weights, c.seq, args.step, args.token_kbps) for c in clips} if args.rate else {}
    steps = [args.step] + ([{n: r[1] for n, r in rates.items()}] if controlled else [])
    results, chosen = [*flow_ratios(args.weights, clips, args.pairs, *steps), {}][:2]
    table = Table(title=f"recovered-flow error, {args.dataset}, weights {args.weights.split('/')[-1]}")
    columns = ["clip", "family", "EPE tokens (px)", "EPE zero flow (px)", f"ratio (step {args.step:g})"]
    columns += [f"tokens kbps (step {args.step:g})"] if args.rate else []
    columns += [f"step (<= {args.token_kbps:g} kbps)", "ratio", "tokens kbps"] if controlled else []
    for col in columns:
        table.add_column(col, justify="left" if col in ("clip", "family") else "right")
    for clip in clips:
        epe, zero, ratio = results[clip.name]
        row = [clip.name, clip.family, f"{epe:.3f}", f"{zero:.3f}", f"{ratio:.3f}"]
        if args.rate:
            fixed, step, kbps = rates[clip.name]
            row.append(f"{fixed:.2f}")
            if controlled:
                row += [f"{step:.4g}", f"{chosen[clip.name][2]:.3f}", f"{kbps:.2f}"]
        table.add_row(*row)

    def summary(label: str, f) -> list[str]:
        row = [label, "", "", "", f"{f([r[2] for r in results.values()]):.3f}"]
        row += [f"{f([r[0] for r in rates.values()]):.2f}"] if args.rate else []
        if controlled:
            row += ["", f"{f([r[2] for r in chosen.values()]):.3f}", f"{f([r[2] for r in rates.values()]):.2f}"]
        return row

    table.add_row(*summary("mean", np.mean))
    table.add_row(*summary("max", np.max))
    fams: dict = {}
    for clip in clips:
        fams.setdefault(clip.family, []).append(results[clip.name][2])
    if len(fams) > 1:
        for fam, vals in fams.items():
            table.add_row(f"family {fam}", "", "", "", f"{np.mean(vals):.3f}", *[""] * (len(columns) - 5))
    Console().print(table)


if __name__ == "__main__":
    main()
