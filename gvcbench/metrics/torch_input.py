"""Feeding sequences to torch networks: the one RGB conversion all perceptual metrics use.

Frames are converted with the sequence's own matrix and range (``Sequence.rgb``) and
quantised to 8-bit RGB, as if written to PNG, then scaled to [0, 1]. Frames go in
batches, so memory stays bounded whatever the clip's length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..datasets.sequence import Sequence, rgb_uint8

__all__ = ["INPUT_DESCRIPTION", "paired_batches", "rgb_uint8", "to_tensor", "torch_device"]

INPUT_DESCRIPTION = "8-bit RGB from the sequence's YUV (its matrix and range), scaled to [0, 1]"


def to_tensor(rgb: np.ndarray, device: str):
    import torch

    return torch.from_numpy(rgb).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def paired_batches(
    ref: Sequence,
    dist: Sequence,
    batch_size: int,
    device: str,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Iterator[tuple]:
    """(reference, distorted) float tensors (B, 3, H, W) in [0, 1].

    ``prepare`` is a metric's own preprocessing of each 8-bit batch (T, H, W, 3), applied
    to both sides before they become tensors (DISTS's official resize, say)."""
    for start in range(0, ref.num_frames, batch_size):
        stop = min(start + batch_size, ref.num_frames)
        a, b = rgb_uint8(ref, start, stop), rgb_uint8(dist, start, stop)
        if prepare is not None:
            a, b = prepare(a), prepare(b)
        yield to_tensor(a, device), to_tensor(b, device)


def torch_device(name: str) -> str:
    """Validate a device name early, with a clear message."""
    import torch

    from ..errors import ConfigError

    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but torch sees no CUDA GPU here; use --device cpu")
    return str(dev)
