"""Dynamics-Codec training on a GPU machine, in one prepared run of fixed wall time.

Needs only NumPy and PyTorch there: the packs (``gvcbench dynamics pack``) carry the
precomputed flows. In order:

1. the reference weights (v2) on the validation packs;
2. diagnosis trials, each the same number of steps on the training clips minus a dev
   split of real training clips (never the validation clips): the v2 layout (global
   tokens), the same with the dense flow into the tokenizer instead of its sparse
   samples, with coordinate channels into the flow generator, and with a 2x2 token grid
   plus coordinates;
3. the main training of the layout with the lowest dev ratio among the sparse-input
   trials, on all training clips, sized to the time left; weights, recipe and log to
   ``--out``.

    git show 2844a05:gvcbench/codecs/dynamics/weights/dynamics-v2.pt > dynamics-v2.pt
    python benchmarks/dynamics_device_train.py --packs DIR --out $OUT --budget 540 --reference dynamics-v2.pt

v3 was made by a first run like this (trials + 8300 steps) and a second with
``--layout "2x2 grid + coords" --main-steps 4000`` (see weights/dynamics-v3.json).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

TRIALS = {
    "global (v2 layout)": dict(grid=1, coords=False),
    "global, dense input": dict(grid=1, coords=False, dense_input=True),
    "global + coords": dict(grid=1, coords=True),
    "2x2 grid + coords": dict(grid=2, coords=True),
}


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
    from gvcbench.codecs.dynamics.model import DynamicsModel, architecture

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget", type=float, default=540, help="wall seconds for everything")
    ap.add_argument("--trial-share", type=float, default=0.3, help="share of the budget for the trials")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--reference", default=None, help="weights to measure first (v2)")
    ap.add_argument("--trial-steps", type=int, default=0, help="override (a smoke test): steps per trial")
    ap.add_argument("--main-steps", type=int, default=0, help="override (a smoke test): steps of the main run")
    ap.add_argument(
        "--layout", choices=list(TRIALS), default=None, help="skip the trials and train this layout (with --main-steps)"
    )
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    began = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = install_logging(out / "log.txt", began)

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    packs = Path(args.packs)
    full = D.load_pack(packs / "train.npz")
    real = [i for i, f in enumerate(full["families"]) if f == "real"]
    dev_clips = real[3::7]
    trial_pack = D.subset_pack(full, [i for i in range(len(full["names"])) if i not in dev_clips])
    train_all = T.PackTensors(full, args.device)
    train_trial = T.PackTensors(trial_pack, args.device)
    val = {n: T.PackTensors(D.load_pack(packs / f"{n}.npz"), args.device) for n in ("val-real", "val-synth")}
    dev = {"dev": T.PackTensors(D.subset_pack(full, dev_clips), args.device)}
    log(
        f"device {args.device} {torch.cuda.get_device_name() if args.device == 'cuda' else ''}; "
        f"{len(train_all)} training pairs, dev clips {[str(full['names'][i]) for i in dev_clips]}"
    )
    report: dict = {"dev_clips": [str(full["names"][i]) for i in dev_clips]}

    if args.reference:
        from gvcbench.weights import load_state_dict

        state = load_state_dict(Path(args.reference))
        ref = DynamicsModel(**architecture(state)).to(args.device)
        ref.load_state_dict({k: v.float() for k, v in state.items()})
        report["reference"] = {n: T.validation_ratios(ref, v, 0.05) for n, v in {**val, **dev}.items()}
        log("reference " + ", ".join(f"{n} {np.mean(list(r.values())):.3f}" for n, r in report["reference"].items()))

    base = T.TrainConfig(batch=args.batch, lr=args.lr, warmup=100, device=args.device, checkpoint_every=10**9)
    # speed probe: steps per second of the largest layout
    probe = DynamicsModel(2, True).to(args.device)
    T.train_flow(probe, replace(base, steps=20, val_every=10**9), train_trial, {}, None, False)
    t0 = time.time()
    T.train_flow(probe, replace(base, steps=60, val_every=10**9), train_trial, {}, None, False)
    if args.device == "cuda":
        torch.cuda.synchronize()
    per_step = (time.time() - t0) / 60
    trial_steps = args.trial_steps or int(args.budget * args.trial_share / len(TRIALS) / per_step / 100) * 100
    log(f"{per_step * 1000:.1f} ms per step at batch {args.batch}; {trial_steps} steps per trial")

    report["trials"] = {}
    for name, opts in ({} if args.layout else TRIALS).items():
        torch.manual_seed(0)
        cfg = replace(base, steps=trial_steps, val_every=max(1, trial_steps // 2), **opts)
        data = train_trial
        vals = {**dev, **val}
        if cfg.dense_input:
            data = T.PackTensors(trial_pack, args.device)
            data.dense()
            vals = {n: T.PackTensors.__new__(T.PackTensors) for n in vals}
            for n, v in {**dev, **val}.items():
                vals[n].__dict__.update(v.__dict__)
                vals[n].dense()
        model = DynamicsModel(cfg.grid, cfg.coords).to(args.device)
        t0 = time.time()
        T.train_flow(model, cfg, data, {}, None, False)
        ratios = {n: T.validation_ratios(model, v, cfg.step) for n, v in vals.items()}
        report["trials"][name] = {
            "steps": trial_steps,
            "seconds": round(time.time() - t0, 1),
            "ratios": ratios,
            "synth_families": T.family_summary(ratios["val-synth"], val["val-synth"].families),
        }
        log(
            f"trial {name}: "
            + ", ".join(f"{n} {np.mean(list(r.values())):.3f} (max {max(r.values()):.3f})" for n, r in ratios.items())
        )
    (out / "trials.json").write_text(json.dumps(report, indent=1))

    sparse_trials = {n: t for n, t in report["trials"].items() if not TRIALS[n].get("dense_input")}
    best = args.layout or min(sparse_trials, key=lambda n: np.mean(list(sparse_trials[n]["ratios"]["dev"].values())))
    left = args.budget - (time.time() - began) - 25  # saving and the final validation
    steps = args.main_steps or max(200, int(left / per_step / 100) * 100)
    log(f"main training: {best}, {steps} steps")
    cfg = replace(
        base,
        steps=steps,
        val_every=max(1, steps // 10),
        train_pack=str(packs / "train.npz"),
        validation_packs=[str(packs / "val-real.npz"), str(packs / "val-synth.npz")],
        refiner_from=args.reference,
        **TRIALS[best],
    )
    cfg.train_pack, cfg.validation_packs = "train.npz", ["val-real.npz", "val-synth.npz"]
    meta = T.train_tensors(
        cfg,
        train_all,
        val,
        out / "dynamics-v3.pt",
        refiner_from=Path(args.reference) if args.reference else None,
        train_clips=sorted(str(n) for n in full["names"]),
        checkpoint=Path("/tmp/dynamics-v3.ckpt"),
        recipe={
            "diagnosis_trials": "trials.json",
            "selected_layout": best,
            "command": "python benchmarks/dynamics_device_train.py --packs PACKS --out OUT "
            f"--budget {args.budget} --batch {args.batch} --lr {args.lr} "
            "--reference dynamics-v2.pt"
            + (f" --layout '{args.layout}' --main-steps {args.main_steps}" if args.layout else ""),
        },
    )
    log(
        f"done in {time.time() - began:.0f} s: "
        + json.dumps({n: round(v["mean"], 3) for n, v in meta["validation_ratio_float32"].items()})
    )


if __name__ == "__main__":
    main()
