"""Why the tokens carry no ripple: trials against the generator's true displacement.

`dynamics_synthetic_truth.py` showed that weights v5 recover none of the synthetic ripple
(1.04 of the truth) and that no grid within the rate can carry it. Every weights file so
far was trained on DIS flows, which miss 0.90 of the ripple, so no training could have
learned it. These trials take the estimator out: training and validation packs of the
procedural families whose flows are the generator's own displacement (quarter-size
grid, sampled by the codec's watershed sampling as the encoder samples a flow), so each
trial answers one of the issue's questions for the oscillating families:

* data: the v5 layout (12 x 12 cells) trained on the truth;
* capacity: the same with sine/cosine coordinate features up to 32 cycles per frame
  (``fourier``), a basis from which the decoder could build rings whose phase the tokens set;
* the sparse input: the same with the whole true flow into the tokenizer (a diagnosis:
  the encoder sends only what the tokens carry, but it samples the flow it tokenizes);
* a global token vector (the paper's layout) with that basis.

Each trial reports the ratio against the truth per family on seeds 0 and 1 (never
trained on), at the quantisation step 0.2 and unquantised (the token step's share).

    python benchmarks/dynamics_wave_diagnosis.py pack --packs wave-packs          # CPU, ~3 min, 18 MB
    python benchmarks/dynamics_wave_diagnosis.py train --packs wave-packs --out OUT  # H200: ~100-140 s a trial
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

TRAIN_SEEDS = range(1000, 1016)
VALIDATION_SEEDS = (0, 1)
PAIRS = 16

TRIALS = {
    "12x12, 1 ch, expand 32 (v5 layout), truth": dict(grid=12, channels=1, expand=32),
    "12x12 + Fourier 6 octaves, truth": dict(grid=12, channels=1, expand=32, fourier=6),
    "12x12 + Fourier 6, dense true flow into the tokenizer": dict(
        grid=12, channels=1, expand=32, fourier=6, dense_input=True
    ),
    "global 16 ch + Fourier 6 (32 tokens), truth": dict(grid=1, channels=16, expand=32, fourier=6),
}


def truth_pack(seeds, pairs: int, rng: np.random.Generator) -> dict:
    """The procedural clips at ``seeds`` with their true displacement as the flows."""
    from gvcbench.codecs.dynamics.data import pack_of, pair_times
    from gvcbench.codecs.dynamics.frames import SCALE, low_res
    from gvcbench.codecs.dynamics.sampling import sparsify
    from gvcbench.datasets.sequence import rgb_uint8
    from gvcbench.datasets.synthetic import CLIPS, generate

    keys, flows, masks, clip_of, times, names, families = [], [], [], [], [], [], []
    for seed in seeds:
        for clip in CLIPS:
            seq, disp = generate(clip.name, seed=seed, size=384, frames=50, with_flow=True)
            keys.append(low_res(rgb_uint8(seq, 0, 1)[0], SCALE))
            for t in pair_times(seq.num_frames, pairs, rng):
                flow = low_res(disp[t].astype(np.float32), SCALE, is_flow=True).astype(np.float32)
                _, mask = sparsify(flow, min_distance=2, grid=8)
                flows.append(flow.astype(np.float16))
                masks.append(np.packbits(mask.astype(bool), axis=None))
                clip_of.append(len(names))
                times.append(int(t))
            names.append(f"{clip.name}@{seed}")
            families.append(clip.motion)
    return pack_of(keys, flows, masks, clip_of, times, names, families)


def make_packs(folder: Path) -> None:
    from gvcbench.codecs.dynamics.data import save_pack

    rng = np.random.default_rng(0)
    save_pack(truth_pack(TRAIN_SEEDS, PAIRS, rng), folder / "train-truth.npz")
    for seed in VALIDATION_SEEDS:
        save_pack(truth_pack([seed], 12, np.random.default_rng(seed)), folder / f"val-truth-{seed}.npz")
    print("packs in", folder, {p.name: p.stat().st_size for p in sorted(folder.glob("*.npz"))})


def run_trials(args) -> None:
    import torch

    from gvcbench.codecs.dynamics import data as D
    from gvcbench.codecs.dynamics import train as T
    from gvcbench.codecs.dynamics.model import DynamicsModel

    began = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logfile = (out / "log.txt").open("a")

    def log(msg: str) -> None:
        line = f"[{time.time() - began:6.0f}s] {msg}"
        print(line, flush=True)
        logfile.write(line + "\n")
        logfile.flush()

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    packs = Path(args.packs)
    train_pack = D.load_pack(packs / "train-truth.npz")
    val = {s: D.load_pack(packs / f"val-truth-{s}.npz") for s in VALIDATION_SEEDS}
    chosen = [list(TRIALS)[int(i) - 1] for i in args.trials.split(",")] if args.trials else list(TRIALS)
    base = T.TrainConfig(batch=args.batch, lr=args.lr, warmup=100, step=args.step, device=args.device, val_every=10**9)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    log(f"{device_name}; {len(train_pack['flows'])} training pairs; trials {chosen}")
    report: dict = {"device": device_name, "torch": torch.__version__, "step": args.step, "trials": {}}
    for name in chosen:
        opts = TRIALS[name]
        dense = bool(opts.get("dense_input"))
        data = T.PackTensors(train_pack, args.device)
        vals = {s: T.PackTensors(p, args.device) for s, p in val.items()}
        if dense:
            data.dense()
            for v in vals.values():
                v.dense()
        torch.manual_seed(0)
        cfg = replace(base, **opts)
        model = DynamicsModel(cfg.grid, cfg.coords, cfg.channels or None, cfg.fourier, cfg.expand).to(args.device)
        steps = args.steps
        t0 = time.time()
        history = T.train_flow(model, replace(cfg, steps=steps, val_every=max(1, steps // 4)), data, {}, None, False)
        seconds = time.time() - t0
        result: dict = {"steps": steps, "tokens": model.tokens, "seconds": round(seconds, 1), "history": history}
        for s, v in vals.items():
            for label, step in ((f"step {args.step}", args.step), ("unquantised", 1e-6)):
                ratios = T.validation_ratios(model, v, step)
                result[f"seed {s}, {label}"] = {
                    "mean": float(np.mean(list(ratios.values()))),
                    "families": T.family_summary(ratios, v.families),
                    "clips": ratios,
                }
        report["trials"][name] = result
        fams = result[f"seed {VALIDATION_SEEDS[0]}, step {args.step}"]["families"]
        log(
            f"{name}: {steps} steps in {seconds:.0f} s; seed 0 at step {args.step}: "
            + ", ".join(f"{f} {r:.3f}" for f, r in fams.items())
            + "; unquantised ripple "
            + f"{result[f'seed {VALIDATION_SEEDS[0]}, unquantised']['families']['ripple']:.3f}"
        )
        (out / "wave_trials.json").write_text(json.dumps(report, indent=1))
        del data, vals, model
        if args.device == "cuda":
            torch.cuda.empty_cache()
    log(f"done in {time.time() - began:.0f} s")


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("pack", help="write the truth packs (CPU)")
    p.add_argument("--packs", default="wave-packs")
    t = sub.add_parser("train", help="run the trials")
    t.add_argument("--packs", default="wave-packs")
    t.add_argument("--out", required=True)
    t.add_argument("--trials", default="", help="comma-separated trial numbers (1-based); default all")
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--step", type=float, default=0.2)
    t.add_argument("--steps", type=int, default=3000, help="steps per trial")
    t.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    if args.what == "pack":
        make_packs(Path(args.packs))
    else:
        run_trials(args)


if __name__ == "__main__":
    main()
