"""Dynamics-Codec training on a GPU machine, in one prepared run of fixed wall time.

Needs only NumPy and PyTorch there: the packs (``gvcbench dynamics pack``) carry the
precomputed flows. In order:

1. the reference weights (v3) on the validation and dev packs;
2. layout trials, each the same number of steps on the training clips minus a dev
   split: every 7th real training clip and the procedural seed 1003 (never the
   validation clips, never seed 0);
3. the main training of the trial with the lowest dev score (mean of the real and the
   procedural dev ratio) among those of at most ``--max-tokens`` tokens, on all
   training clips, sized to the time left; weights, recipe, trials and log to ``--out``.

    python benchmarks/dynamics_device_train.py --packs DIR --out $OUT --budget 470 \
        --reference dynamics-v3.pt   # git show c137d1e:gvcbench/codecs/dynamics/weights/dynamics-v3.pt

v3 was made by an earlier version of this script (trials of the token grid, then 4000
steps of the 2 x 2 layout); v4 by this one: a run with the trials (6 x 6 chosen), then
``--layout "6x6 grid, 1 ch, expand 32 (72 tokens)" --main-steps 3000 --rate-weight 1 --rate-target 1.5``
(git show be8a244:gvcbench/codecs/dynamics/weights/dynamics-v4.json). The 8 x 8, 12 x 12
and dense-input layouts were run with ``--layout`` on 2026-11-26 (docs/dynamics-codec.md, "Finer
token grids at 5 kbps"); v5 is the 12 x 12 run without the rate term,
``--layout "12x12 grid, 1 ch, expand 32 (288 tokens)" --main-steps 3000 --reference
dynamics-v4.pt`` (weights/dynamics-v5.json): its 288 tokens fit 5 kbps once the encoder
sends them for every k-th frame (the codec's ``token_interval``).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

# name: TrainConfig fields. Tokens per frame = 2 x channels x grid^2. The trials a run makes
# unless --trials names others (the v4 run's six).
V4_TRIALS = {
    "2x2 grid, 5 ch (v3 layout, 40 tokens)": dict(grid=2),
    "2x2 grid, 5 ch, clip-normalised loss": dict(grid=2, norm="clip"),
    "4x4 grid, 1 ch, expand 32 (32 tokens)": dict(grid=4, channels=1, expand=32),
    "4x4 grid, 2 ch, expand 32 (64 tokens)": dict(grid=4, channels=2, expand=32),
    "6x6 grid, 1 ch, expand 32 (72 tokens)": dict(grid=6, channels=1, expand=32),
    "6x6 grid, 1 ch, expand 32 + Fourier, clip norm": dict(grid=6, channels=1, expand=32, fourier=4, norm="clip"),
}
# Layouts tried after v4 (docs/dynamics-codec.md, "Finer token grids at 5 kbps"): --layout or --trials 7,8.
TRIALS = V4_TRIALS | {
    "8x8 grid, 1 ch, expand 32 (128 tokens)": dict(grid=8, channels=1, expand=32),
    "12x12 grid, 1 ch, expand 32 (288 tokens)": dict(grid=12, channels=1, expand=32),
    "6x6 grid, 1 ch, expand 32, dense flow input (diagnosis)": dict(grid=6, channels=1, expand=32, dense_input=True),
}
DEV_SEED = "@1003"


def tokens_of(opts: dict) -> int:
    grid = opts.get("grid", 2)
    return 2 * (opts.get("channels") or 20 // (grid * grid)) * grid * grid


def install_logging(path: Path, began: float):
    """Messages of this script and of training (the gvcbench loggers) to stdout and ``path``,
    stamped with the seconds since ``began``; returns this script's log function."""
    import logging
    import sys

    class Elapsed(logging.Formatter):
        def format(self, record):
            return f"[{record.created - began:6.0f}s] {record.getMessage()}"

    root = logging.getLogger("gvcbench")
    root.setLevel(logging.INFO)
    for handler in (logging.StreamHandler(sys.stdout), logging.FileHandler(path)):
        handler.setFormatter(Elapsed())
        root.addHandler(handler)
    return logging.getLogger("gvcbench.device_train").info


def main() -> None:
    import torch

    from gvcbench.codecs.dynamics import data as D
    from gvcbench.codecs.dynamics import train as T
    from gvcbench.codecs.dynamics.model import DynamicsModel, model_from_state

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget", type=float, default=470, help="wall seconds for everything")
    ap.add_argument("--trial-share", type=float, default=0.4, help="share of the budget for the trials")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--step", type=float, default=0.2, help="token quantisation step (training noise, validation)")
    ap.add_argument("--max-tokens", type=int, default=72, help="largest layout the main training may pick")
    ap.add_argument("--max-main-steps", type=int, default=6000)
    ap.add_argument("--reference", default=None, help="weights to measure first and copy the refiner from (v3)")
    ap.add_argument("--trial-steps", type=int, default=0, help="override (a smoke test): steps per trial")
    ap.add_argument("--main-steps", type=int, default=0, help="override (a smoke test): steps of the main run")
    ap.add_argument("--trials", default="", help="comma-separated trial numbers (1-based) to run; default all")
    ap.add_argument("--layout", choices=list(TRIALS), default=None, help="skip the trials and train this layout")
    ap.add_argument("--name", default="dynamics-v5.pt")
    ap.add_argument("--rate-weight", type=float, default=0.0, help="token-rate penalty weight (train.rate_proxy)")
    ap.add_argument("--rate-target", type=float, default=1.2, help="rate proxy per token above which it acts")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    chosen = [list(TRIALS)[int(i) - 1] for i in args.trials.split(",")] if args.trials else list(V4_TRIALS)
    chosen = [] if args.layout else chosen
    if any(TRIALS[n].get("dense_input") for n in chosen):
        ap.error("the dense-input layout is a diagnosis and runs only with --layout (the trials train sparse input)")
    began = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = install_logging(out / "log.txt", began)

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    packs = Path(args.packs)
    full = D.load_pack(packs / "train.npz")
    names = [str(n) for n in full["names"]]
    real = [i for i, f in enumerate(full["families"]) if f == "real"]
    dev_real = real[3::7]
    dev_synth = [i for i, n in enumerate(names) if n.endswith(DEV_SEED)]
    held = set(dev_real) | set(dev_synth)
    trial_pack = D.subset_pack(full, [i for i in range(len(names)) if i not in held])
    train_all = T.PackTensors(full, args.device)
    train_trial = T.PackTensors(trial_pack, args.device)
    val = {n: T.PackTensors(D.load_pack(packs / f"{n}.npz"), args.device) for n in ("val-real", "val-synth")}
    dev = {
        "dev-real": T.PackTensors(D.subset_pack(full, dev_real), args.device),
        "dev-synth": T.PackTensors(D.subset_pack(full, dev_synth), args.device),
    }
    log(
        f"device {args.device} {torch.cuda.get_device_name() if args.device == 'cuda' else ''}; "
        f"{len(train_all)} training pairs, {len(train_trial)} for trials; dev clips {[names[i] for i in sorted(held)]}"
    )
    report: dict = {"dev_clips": [names[i] for i in sorted(held)], "step": args.step}

    def summary(ratios: dict) -> dict:
        return {
            n: {
                "mean": float(np.mean(list(r.values()))),
                "max": float(max(r.values())),
                "clips": r,
                "families": T.family_summary(r, (val | dev)[n].families),
            }
            for n, r in ratios.items()
        }

    if args.reference and not args.layout:
        from gvcbench.weights import load_state_dict

        ref = model_from_state(load_state_dict(Path(args.reference))).to(args.device)
        report["reference"] = summary({n: T.validation_ratios(ref, v, args.step) for n, v in {**val, **dev}.items()})
        log("reference " + ", ".join(f"{n} {r['mean']:.3f}" for n, r in report["reference"].items()))

    base = T.TrainConfig(
        batch=args.batch,
        lr=args.lr,
        warmup=100,
        step=args.step,
        device=args.device,
        checkpoint_every=10**9,
        rate_weight=args.rate_weight,
        rate_target=args.rate_target,
    )
    per_step = 0.04
    if not (args.layout and args.main_steps):
        probe = DynamicsModel(6, True, 1, 4, 32).to(args.device)  # speed probe: a large layout
        T.train_flow(probe, replace(base, steps=20, val_every=10**9), train_trial, {}, None, False)
        if args.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.time()
        T.train_flow(probe, replace(base, steps=60, val_every=10**9), train_trial, {}, None, False)
        if args.device == "cuda":
            torch.cuda.synchronize()
        per_step = (time.time() - t0) / 60
    trial_steps = args.trial_steps or max(
        100, int(args.budget * args.trial_share / max(1, len(chosen)) / per_step / 50) * 50
    )
    log(f"{per_step * 1000:.1f} ms per step at batch {args.batch}; {trial_steps} steps per trial")

    report["trials"] = {}
    for name in chosen:
        opts = TRIALS[name]
        torch.manual_seed(0)
        cfg = replace(base, steps=trial_steps, val_every=10**9, **opts)
        model = DynamicsModel(cfg.grid, cfg.coords, cfg.channels or None, cfg.fourier, cfg.expand).to(args.device)
        t0 = time.time()
        T.train_flow(model, cfg, train_trial, {}, None, False)
        ratios = summary({n: T.validation_ratios(model, v, cfg.step) for n, v in {**dev, **val}.items()})
        score = (ratios["dev-real"]["mean"] + ratios["dev-synth"]["mean"]) / 2
        report["trials"][name] = {
            "steps": trial_steps,
            "tokens": tokens_of(opts),
            "seconds": round(time.time() - t0, 1),
            "dev_score": score,
            "ratios": ratios,
        }
        log(
            f"trial {name}: dev score {score:.3f}; "
            + ", ".join(f"{n} {r['mean']:.3f} (max {r['max']:.3f})" for n, r in ratios.items())
            + "; synth families "
            + ", ".join(f"{f} {v:.2f}" for f, v in ratios["val-synth"]["families"].items())
        )
        (out / "trials.json").write_text(json.dumps(report, indent=1))
    (out / "trials.json").write_text(json.dumps(report, indent=1))

    eligible = {n: t for n, t in report["trials"].items() if t["tokens"] <= args.max_tokens}
    best = args.layout or min(eligible, key=lambda n: eligible[n]["dev_score"])
    left = args.budget - (time.time() - began) - 30  # saving and the final validation
    steps = args.main_steps or min(args.max_main_steps, max(200, int(left / (per_step * 1.1) / 100) * 100))
    log(f"main training: {best}, {steps} steps")
    cfg = replace(
        base,
        steps=steps,
        val_every=max(1, steps // (4 if args.layout else 10)),
        train_pack="train.npz",
        validation_packs=["val-real.npz", "val-synth.npz"],
        refiner_from=Path(args.reference).name if args.reference else None,
        **TRIALS[best],
    )
    checkpoint = Path(f"/tmp/{args.name}.ckpt")
    checkpoint.unlink(missing_ok=True)  # a fresh run, never the continuation of an earlier one
    made = D.pack_options(packs)  # how `gvcbench dynamics pack` made them, when it says
    meta = T.train_tensors(
        cfg,
        train_all,
        val,
        out / args.name,
        refiner_from=Path(args.reference) if args.reference else None,
        train_clips=sorted(names),
        checkpoint=checkpoint,
        recipe={
            "diagnosis_trials": "trials.json",
            "selected_layout": best,
            "command": f"python benchmarks/dynamics_device_train.py --packs PACKS --out OUT --budget {args.budget} "
            f"--batch {args.batch} --lr {args.lr} --step {args.step} --max-tokens {args.max_tokens} "
            f"--max-main-steps {args.max_main_steps} --reference {args.reference}"
            + (f" --layout '{args.layout}' --main-steps {args.main_steps}" if args.layout else "")
            + (f" --rate-weight {args.rate_weight} --rate-target {args.rate_target}" if args.rate_weight else ""),
        }
        | ({"packs": made} if made else {}),
    )
    log(
        f"done in {time.time() - began:.0f} s: "
        + json.dumps({n: round(v["mean"], 3) for n, v in meta["validation_ratio_float32"].items()})
    )


if __name__ == "__main__":
    main()
