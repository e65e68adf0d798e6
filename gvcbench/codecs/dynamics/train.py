"""Training Dynamics-Codec's tokenizer and flow recovery (``gvcbench dynamics train``).

The objective is the paper's: the dense flow recovered from the (quantised) tokens
against the original dense flow (DIS, inter frame back to the key frame), tokens
perturbed by uniform noise of one quantisation step so the decoder tolerates
quantisation. Each sample's end-point error is divided by its mean flow magnitude
(+ ``FLOW_FLOOR``): the mean motion ranges from ~0.2 px (ripples) to ~30 px, and a plain
mean let the few large motions decide everything.

Training reads packs (data.py): precomputed quarter-size key frames, flows and sampling
masks, so the same run works on a CPU for hours or on a GPU machine for minutes. Every
``checkpoint_every`` steps a checkpoint holds model, optimiser, step and both random
generators' states; ``resume`` continues from it and, on the CPU with a fixed seed,
ends with the same weights, bit for bit, as an uninterrupted run. Every ``val_every``
steps the validation flow-accuracy ratio (recovered-flow EPE / zero-flow EPE, per clip,
as ``benchmarks/dynamics_flow_accuracy.py``, against the pack's own flows: tracked or from
zero as ``dynamics pack`` made them) is reported for each validation pack.

The refinement network is not trained here: it is copied from ``refiner_from`` (a
weights file) and recorded in the recipe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...errors import ConfigError, GvcbenchError

log = logging.getLogger(__name__)

FLOW_FLOOR = 0.05  # in normalised flow units (FLOW_NORM pixels of the quarter-size grid)


@dataclass
class TrainConfig:
    train_pack: str = ""
    validation_packs: list = field(default_factory=list)
    seed: int = 0
    steps: int = 3000
    batch: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    step: float = 0.05  # token quantisation step simulated in training
    val_every: int = 500
    checkpoint_every: int = 500
    threads: int = 0
    device: str = "cpu"
    refiner_from: str | None = None
    grid: int = 2  # model.GRID: token layout
    coords: bool = True  # model.COORDS: coordinate channels into the flow generator
    channels: int = 0  # token values per cell and vector (0: 20 / grid^2, as v2 and v3)
    fourier: int = 0  # octaves of sine/cosine coordinate features (0: none)
    expand: int = 0  # key-frame feature maps the tokens modulate through a 1x1 convolution (0: as many as tokens)
    norm: str = "frame"  # divide each sample's error by its own flow magnitude ("frame") or its clip's ("clip")
    rate_weight: float = 0.0  # weight of the token-rate penalty (0: none, as v2 and v3)
    rate_target: float = 1.2  # mean log2(1 + |token| / step) per token above which the penalty acts

    def __post_init__(self):
        if self.norm not in ("frame", "clip"):
            raise ValueError(f"norm must be 'frame' or 'clip', got {self.norm!r}")

    dense_input: bool = False  # diagnosis only: the whole flow into the tokenizer, not the sparse samples

    def check(self) -> None:
        """Refuse settings that would train nothing, train on NaN, or fail deep in torch."""
        bad = [
            f"--{name.replace('_', '-')} must be {rule}, got {value}"
            for name, value, rule, ok in (
                ("steps", self.steps, "at least 1", self.steps >= 1),
                ("batch", self.batch, "at least 1", self.batch >= 1),
                ("lr", self.lr, "above 0", self.lr > 0),
                ("step", self.step, "above 0 (the token quantisation step)", self.step > 0),
                ("val_every", self.val_every, "at least 1", self.val_every >= 1),
                ("checkpoint_every", self.checkpoint_every, "at least 1", self.checkpoint_every >= 1),
                ("threads", self.threads, "0 (torch's default) or more", self.threads >= 0),
                ("expand", self.expand, "0 or more", self.expand >= 0),
                ("rate_weight", self.rate_weight, "0 or more", self.rate_weight >= 0),
            )
            if not ok
        ]
        if not 1 <= self.grid <= 12 or self.channels < 0 or (not self.channels and 20 % (self.grid * self.grid)):
            bad.append(
                f"--grid must be 1 to 12 and --channels at least 1 (or 0 with grid 1 or 2); "
                f"got grid {self.grid}, channels {self.channels}"
            )
        if bad:
            raise ConfigError("; ".join(bad))
        check_device(self.device)


def check_device(name: str) -> None:
    """A clear word for a device torch cannot parse or this machine does not have."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a torch device: use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {name!r}: training runs on cpu or cuda (cuda:N) only")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(
                f"--device {name}, but torch {torch.__version__} sees no CUDA device on this machine: "
                f"train with --device cpu, or on a machine with a GPU"
            )
        if device.index is not None and device.index >= count:
            raise ConfigError(
                f"--device {name}, but this machine has {count} CUDA device(s): cuda:0 to cuda:{count - 1}"
            )


# Settings that may change between an interrupted run and its resumption: they decide
# nothing about the weights (where the paths point is checked by the data itself).
RESUMABLE_CHANGES = {
    "val_every",
    "checkpoint_every",
    "threads",
    "device",
    "validation_packs",
    "train_pack",
    "refiner_from",
}


class TrainingDiverged(GvcbenchError):
    """The training loss stopped being a finite number."""


def relative_epe(pred, flow, scale=None):
    """Per-sample mean end-point error divided by the sample's mean flow magnitude
    (+ FLOW_FLOOR), or by ``scale`` (per sample, e.g. its clip's mean magnitude, which is
    how the validation ratio weighs the frames of a clip), averaged over the batch."""
    import torch

    err = torch.sqrt(((pred - flow) ** 2).sum(1) + 1e-8).mean((1, 2))
    mag = torch.sqrt((flow**2).sum(1)).mean((1, 2)) if scale is None else scale
    return (err / (mag + FLOW_FLOOR)).mean()


class PackTensors:
    """A pack as tensors on the training device: key frames in [0, 1], flows and sparse
    flows in FLOW_NORM units, masks."""

    def __init__(self, pack: dict, device: str):
        import torch

        from .data import unpack_masks
        from .frames import FLOW_NORM

        self.keys = torch.from_numpy(pack["keys"]).permute(0, 3, 1, 2).float().div(255).to(device)
        self.flows = torch.from_numpy(pack["flows"].astype(np.float32)).permute(0, 3, 1, 2).div(FLOW_NORM).to(device)
        self.masks = torch.from_numpy(unpack_masks(pack))[:, None].to(device)
        self.clip_of = torch.from_numpy(pack["clip_of"].astype(np.int64)).to(device)
        magnitude = torch.linalg.vector_norm(self.flows, dim=1).mean((1, 2))
        per_clip = torch.zeros(len(pack["names"]), device=device).index_add_(0, self.clip_of, magnitude)
        per_clip /= torch.bincount(self.clip_of, minlength=len(pack["names"])).clamp(min=1)
        self.clip_magnitude = per_clip[self.clip_of]  # each pair's clip's mean flow magnitude
        self.names = [str(n) for n in pack["names"]]
        self.families = [str(f) for f in pack["families"]]

    def __len__(self):
        return len(self.flows)

    def dense(self) -> None:
        """Diagnosis: every position sampled, as if the tokenizer saw the dense flow."""
        import torch

        self.masks = torch.ones_like(self.masks)

    def batch(self, idx):
        import torch

        idx = torch.as_tensor(idx, device=self.flows.device)
        flow, mask = self.flows[idx], self.masks[idx]
        return self.keys[self.clip_of[idx]], flow * mask, mask, flow

    def scale(self, idx, norm: str):
        """The loss's per-sample divisor: None (each sample's own magnitude) or its clip's."""
        if norm == "frame":
            return None
        import torch

        return self.clip_magnitude[torch.as_tensor(idx, device=self.flows.device)]


def rate_proxy(tokens, step: float):
    """Mean log2(1 + |token| / step): grows with the bits the range coder spends per token
    (on weights v3 and a v4 candidate the coded bits per token were about 2.3 x this
    measure taken on the frame-to-frame token differences, benchmarks in dynamics-v4.json, in git history since v5)."""
    import torch

    return torch.log2(1 + tokens.abs() / step).mean()


def tokens_and_flow(model, key, sparse, mask, step: float, noise: bool):
    import torch

    tokens = model.tokenizer(sparse, mask)
    if noise:
        tokens = tokens + (torch.rand_like(tokens) - 0.5) * step
    else:
        tokens = torch.round(tokens / step) * step
    return tokens, model.recovery(key, tokens)


def validation_ratios(model, data: PackTensors, step: float, chunk: int = 64) -> dict:
    """{clip name: EPE of the flow recovered from quantised tokens / EPE of zero flow}."""
    import torch

    err = torch.zeros(len(data.names), dtype=torch.float64)
    zero = torch.zeros(len(data.names), dtype=torch.float64)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(data), chunk):
            idx = list(range(start, min(len(data), start + chunk)))
            key, sparse, mask, flow = data.batch(idx)
            _, pred = tokens_and_flow(model, key, sparse, mask, step, noise=False)
            clip = data.clip_of[idx].cpu()
            err.index_add_(0, clip, torch.linalg.vector_norm(pred - flow, dim=1).mean((1, 2)).double().cpu())
            zero.index_add_(0, clip, torch.linalg.vector_norm(flow, dim=1).mean((1, 2)).double().cpu())
    model.train(was_training)
    return {n: float(e / z) for n, e, z in zip(data.names, err, zero)}


def family_summary(ratios: dict, families: list[str]) -> dict:
    out: dict = {}
    for r, fam in zip(ratios.values(), families):
        out.setdefault(fam, []).append(r)
    return {f: float(np.mean(v)) for f, v in out.items()}


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to 2 % of the peak."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def save_checkpoint(
    path: Path, model, opt, step: int, rng: np.random.Generator, history: list, cfg, data: dict | None = None
) -> None:
    import torch

    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "step": step,
        "numpy_rng": json.dumps(rng.bit_generator.state),
        "torch_rng": torch.get_rng_state(),
        "history": json.dumps(history),
        "config": json.dumps(asdict(cfg)),
        "data": json.dumps(data or {}),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a run killed while saving leaves the previous checkpoint intact


def load_checkpoint(
    path: Path, model, opt, rng: np.random.Generator, cfg=None, data: dict | None = None
) -> tuple[int, list]:
    """Restore a checkpoint; with ``cfg`` (and ``data``) first refuse one made by a
    different training, whose continuation would be neither run's weights."""
    import torch

    start_over = "delete it, or pass --no-resume to start over (the checkpoint is then overwritten)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved_cfg, saved_data = json.loads(state["config"]), json.loads(state.get("data", "{}"))
    except Exception as exc:  # a truncated file, not a checkpoint, another torch's pickle
        from ...weights import torch_load_failure

        raise GvcbenchError(f"cannot read the checkpoint {path}: {torch_load_failure(exc)}; {start_over}") from None
    changes = checkpoint_changes(saved_cfg, saved_data, cfg, data) if cfg is not None else []
    if changes:
        raise ConfigError(
            f"the checkpoint {path} was made by a different training ({'; '.join(changes)}); resuming would mix "
            f"the two: run with the settings it was made with, give --output another file, or {start_over}"
        )
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    rng.bit_generator.state = json.loads(state["numpy_rng"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"]), json.loads(state["history"])


def checkpoint_changes(saved_cfg: dict, saved_data: dict, cfg, data: dict | None) -> list[str]:
    """What differs between a checkpoint's training and this one, in words; a setting the
    checkpoint does not record (an older one) counts as unchanged."""
    now = asdict(cfg)
    changes = [
        f"{name.replace('_', '-')} {saved_cfg[name]!r} there, {now[name]!r} now"
        for name in now
        if name not in RESUMABLE_CHANGES and name in saved_cfg and saved_cfg[name] != now[name]
    ]
    if data and saved_data and saved_data != data:
        other = " (other clips)" if saved_data.get("clips") != data["clips"] else ""
        changes.append(
            f"training data {saved_data.get('pairs')} pairs of {len(saved_data.get('clips', []))} clips there, "
            f"{data['pairs']} pairs of {len(data['clips'])} clips now{other}"
        )
    return changes


def _flip(key, sparse, mask, flow):
    """Horizontal flip: mirrored scene, mirrored motion."""
    import torch

    sign = torch.tensor([-1.0, 1.0], device=flow.device)[:, None, None]
    key, sparse, mask, flow = (torch.flip(x, [3]) for x in (key, sparse, mask, flow))
    return key, sparse * sign, mask, flow * sign


class TrainingStopped(KeyboardInterrupt):
    """Training stopped on Ctrl-C or SIGTERM at the end of a step, its checkpoint written."""

    def __init__(self, step: int, checkpoint: Path | None, signum: int):
        super().__init__(f"stopped at step {step}")
        self.step, self.checkpoint, self.signum = step, checkpoint, signum


@contextmanager
def stop_at_step_end(requested: list[int]) -> Iterator[None]:
    """Ctrl-C and SIGTERM (a batch job's time limit) append their number to ``requested``
    instead of raising mid-step, so the loop can finish the step and write a checkpoint
    at a step boundary; a second signal interrupts at once. Outside the main thread, nothing
    changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request(signum, frame) -> None:
        if requested:  # asked twice: the user means now
            raise KeyboardInterrupt
        requested.append(signum)
        log.warning("stopping after this step (a checkpoint is written); a second signal stops at once")

    before = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def train_flow(
    model,
    cfg: TrainConfig,
    train_data: PackTensors,
    validation: dict,
    checkpoint: Path | None,
    resume: bool,
    until: int | None = None,
) -> list:
    """The flow stage; returns the history of (step, training loss, validation means).
    ``until`` stops after that step (with a checkpoint), as an interruption would."""
    import torch

    rng = np.random.default_rng(cfg.seed)
    params = list(model.tokenizer.parameters()) + list(model.recovery.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, history = 0, list[dict]()
    data = {"clips": train_data.names, "pairs": len(train_data)}
    if resume and checkpoint and checkpoint.is_file():
        start, history = load_checkpoint(checkpoint, model, opt, rng, cfg, data)
        log.info("resumed from %s at step %d", checkpoint, start)
    losses: list[float] = []
    began = time.time()
    requested: list[int] = []  # the signal that asked to stop, if one did
    with stop_at_step_end(requested):
        for step in range(start, min(cfg.steps, until or cfg.steps)):
            for group in opt.param_groups:
                group["lr"] = learning_rate(cfg, step)
            idx = rng.choice(len(train_data), size=min(cfg.batch, len(train_data)), replace=False)
            batch = train_data.batch(idx)
            if rng.random() < 0.5:
                batch = _flip(*batch)
            key, sparse, mask, flow = batch
            tokens, pred = tokens_and_flow(model, key, sparse, mask, cfg.step, noise=True)
            loss = relative_epe(pred, flow, train_data.scale(idx, cfg.norm))
            if cfg.rate_weight:
                loss = loss + cfg.rate_weight * torch.relu(rate_proxy(tokens, cfg.step) - cfg.rate_target)
            losses.append(loss.item())
            done = step + 1
            if not math.isfinite(losses[-1]):  # nothing of this step is applied or saved
                raise TrainingDiverged(
                    f"training diverged: the loss is {losses[-1]} at step {done}; its weights were not "
                    f"written{' (the checkpoint holds an earlier step)' if checkpoint else ''}. Lower --lr "
                    f"(now {cfg.lr:g}) and start over with --no-resume"
                )
            opt.zero_grad()
            loss.backward()
            opt.step()
            if done % cfg.val_every == 0 or done == cfg.steps:
                entry = {
                    "step": done,
                    "train_loss": float(np.mean(losses[-cfg.val_every :])),
                    "seconds": round(time.time() - began, 1),
                }
                for name, data in validation.items():
                    ratios = validation_ratios(model, data, cfg.step)
                    entry[name] = float(np.mean(list(ratios.values())))
                    entry[name + "_max"] = float(max(ratios.values()))
                history.append(entry)
                log.info(
                    "step {step}: train {train_loss:.4f}".format(**entry)
                    + "".join(f", {n} ratio {entry[n]:.3f} (max {entry[n + '_max']:.3f})" for n in validation)
                )
            due = requested or done % cfg.checkpoint_every == 0 or done in (cfg.steps, until)
            if checkpoint and due:  # at a step boundary: the checkpoint resumes bit for bit
                save_checkpoint(checkpoint, model, opt, done, rng, history, cfg, data)
            if requested:
                raise TrainingStopped(done, checkpoint, requested[0])
    return history


def train(cfg: TrainConfig, out: Path, resume: bool = True, recipe: dict | None = None) -> dict:
    """Train from cfg.train_pack, write float16 weights ``out`` and the recipe ``out.json``;
    the checkpoint ``out.ckpt`` lets an interrupted run continue."""
    import torch

    from .data import load_pack, pack_options

    cfg.check()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train_pack = load_pack(Path(cfg.train_pack))
    made = pack_options(Path(cfg.train_pack).parent)  # how ``dynamics pack`` made them, when it says
    if made:
        recipe = {**(recipe or {}), "packs": made}
    train_data = PackTensors(train_pack, cfg.device)
    validation = {Path(p).stem: PackTensors(load_pack(Path(p)), cfg.device) for p in cfg.validation_packs}
    log.info(
        f"{len(train_pack['names'])} training clips, {len(train_data)} pairs; validation: "
        + ", ".join(f"{n} ({len(v.names)} clips)" for n, v in validation.items())
    )
    return train_tensors(
        cfg,
        train_data,
        validation,
        out,
        Path(cfg.refiner_from) if cfg.refiner_from else None,
        sorted(set(str(n) for n in train_pack["names"])),
        recipe,
        resume,
    )


def train_tensors(
    cfg: TrainConfig,
    train_data: PackTensors,
    validation: dict,
    out: Path,
    refiner_from: Path | None,
    train_clips: list[str],
    recipe: dict | None = None,
    resume: bool = True,
    checkpoint: Path | None = None,
) -> dict:
    import torch

    from .model import DynamicsModel

    torch.manual_seed(cfg.seed)
    began = time.time()
    if cfg.dense_input:
        train_data.dense()
        for v in validation.values():
            v.dense()
    model = DynamicsModel(cfg.grid, cfg.coords, cfg.channels or None, cfg.fourier, cfg.expand).to(cfg.device)
    if refiner_from:
        from ...weights import load_state_dict

        state = load_state_dict(refiner_from)
        try:
            model.refiner.load_state_dict(
                {k[len("refiner.") :]: v.float() for k, v in state.items() if k.startswith("refiner.")}
            )
        except RuntimeError as exc:  # missing or misshapen refiner.* entries
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                f"--refiner-from {refiner_from} holds no refinement network this model can take ({first}): "
                f"give a Dynamics-Codec weights file such as weights/dynamics-v5.pt"
            ) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = checkpoint or out.with_suffix(".ckpt")
    history = train_flow(model, cfg, train_data, validation, checkpoint, resume)
    per_clip = {n: validation_ratios(model, v, cfg.step) for n, v in validation.items()}
    state = {
        k: v.detach().cpu().to(torch.float16) if v.is_floating_point() else v.cpu()
        for k, v in model.state_dict().items()
    }
    torch.save(state, out)
    meta = {
        "weights": out.name,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "config": asdict(cfg),
        "data": {
            "train_pack": Path(cfg.train_pack).name,
            "train_clips": train_clips,
            "train_pairs": len(train_data),
            "never_trained_on": "scene-dynamics (the validation set) and synthetic seed 0",
        },
        "refiner": (
            {"copied_from": refiner_from.name, "sha256": hashlib.sha256(refiner_from.read_bytes()).hexdigest()}
            if refiner_from
            else "initial (identity), not trained"
        ),
        "history": history,
        "validation_ratio_float32": {
            n: {"mean": float(np.mean(list(r.values()))), "clips": r} for n, r in per_clip.items()
        },
        "seconds": round(time.time() - began, 1),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if str(cfg.device).startswith("cuda") else "cpu",
    }
    meta.update(recipe or {})
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return meta
