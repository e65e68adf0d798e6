"""Reconstructions of another size than the source, for ``precomputed`` and ``external``.

Learned codecs that need multiples of 64 hand back 1280x768 (padded) or 1280x704 (cut)
for a 1280x720 source. ``size_policy`` says what to do: ``refuse`` (the default: the job
fails, as for any other codec), ``crop`` (keep the top-left source-sized window of a
larger reconstruction) or ``pad`` (extend a smaller one to the right and bottom by
repeating its last column and row). What was done goes into the provenance of every
metric of the job.
"""

from __future__ import annotations

import numpy as np

from ..datasets import transform
from ..datasets.sequence import Sequence
from ..errors import CodecError, ConfigError, DatasetError

SIZE_POLICIES = ("refuse", "crop", "pad")


def check_policy(policy: str) -> None:
    if policy not in SIZE_POLICIES:
        raise ConfigError(f"size_policy must be one of {', '.join(SIZE_POLICIES)}, got {policy!r}")


def parse_size(text: str | None, what: str) -> tuple[int, int] | None:
    """A codec option's WIDTHxHEIGHT, checked as the datasets check sizes; a config error."""
    if text is None:
        return None
    try:
        return transform.parse_size(str(text).lower())
    except DatasetError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def fit_to_source(recon: Sequence, width: int, height: int, policy: str) -> tuple[Sequence, dict | None]:
    """``recon`` brought to width x height by ``policy``; the record of what was done, or None."""
    if (recon.width, recon.height) == (width, height) or policy == "refuse":
        return recon, None
    decoded = f"{recon.width}x{recon.height}"
    planes: tuple[np.ndarray, ...]
    if policy == "crop":
        if recon.width < width or recon.height < height:
            raise CodecError(
                f"size_policy crop: the reconstruction is {decoded}, smaller than the source "
                f"{width}x{height} in some direction; use pad"
            )
        planes = (
            recon.y[:, :height, :width],
            recon.u[:, : height // 2, : width // 2],
            recon.v[:, : height // 2, : width // 2],
        )
    else:
        if recon.width > width or recon.height > height:
            raise CodecError(
                f"size_policy pad: the reconstruction is {decoded}, larger than the source "
                f"{width}x{height} in some direction; use crop"
            )
        planes = tuple(
            np.pad(p, ((0, 0), (0, h - p.shape[1]), (0, w - p.shape[2])), mode="edge")
            for p, (w, h) in zip(
                (recon.y, recon.u, recon.v), ((width, height), (width // 2, height // 2), (width // 2, height // 2))
            )
        )
    fitted = recon.with_planes(*(np.ascontiguousarray(p) for p in planes))
    side = "right and bottom by edge repetition" if policy == "pad" else "kept the top-left window"
    return fitted, {"size_policy": policy, "decoded_size": decoded, "source_size": f"{width}x{height}", "how": side}
