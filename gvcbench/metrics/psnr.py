"""PSNR of luma and of the YUV planes weighted 6:1:1 (the JVET common-test-condition average)."""

from __future__ import annotations

import weakref

import numpy as np

from ..datasets.sequence import Sequence
from .base import Metric, MetricSpec

PSNR_CAP_DB = 100.0  # identical frames would give infinity; capped so means stay finite


def plane_mse(ref: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Per-frame mean squared error of (T, H, W) planes, float64."""
    diff = ref.astype(np.float64) - dist.astype(np.float64)
    return np.mean(diff * diff, axis=(1, 2))


_last_luma: list = []  # [(weakref to reference plane, weakref to distorted plane, MSE)]


def shared_plane_mse(ref: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """``plane_mse``, reusing the last result for the very same two arrays: PSNR-Y and
    PSNR-YUV of one job measure the same luma planes, the largest part of their work.
    Weak references: the planes are never kept alive, and a dead one never matches."""
    if _last_luma:
        ref_ref, dist_ref, mse = _last_luma[0]
        if ref_ref() is ref and dist_ref() is dist:
            return mse
    mse = plane_mse(ref, dist)
    try:
        _last_luma[:] = [(weakref.ref(ref), weakref.ref(dist), mse)]
    except TypeError:  # not weak-referenceable (e.g. a memory-mapped view): no reuse
        _last_luma.clear()
    return mse


def psnr_from_mse(mse: np.ndarray, peak: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        value = 10.0 * np.log10(peak * peak / mse)
    return np.minimum(value, PSNR_CAP_DB)


class PsnrY(Metric):
    spec = MetricSpec(
        "psnr-y",
        "1",
        lower_better=False,
        unit="dB",
        granularity="frame",
        value_range=(0.0, PSNR_CAP_DB),
        description="luma PSNR per frame, peak (2^bitdepth - 1), capped at 100 dB",
        ceiling=PSNR_CAP_DB,
    )

    def frame_values(self, reference: Sequence, distorted: Sequence) -> np.ndarray:
        return psnr_from_mse(shared_plane_mse(reference.y, distorted.y), reference.max_value)


class PsnrYUV(Metric):
    spec = MetricSpec(
        "psnr-yuv",
        "1",
        lower_better=False,
        unit="dB",
        granularity="frame",
        value_range=(0.0, PSNR_CAP_DB),
        description="(6 PSNR-Y + PSNR-U + PSNR-V) / 8 per frame",
        ceiling=PSNR_CAP_DB,
    )

    def frame_values(self, reference: Sequence, distorted: Sequence) -> np.ndarray:
        peak = reference.max_value
        y = psnr_from_mse(shared_plane_mse(reference.y, distorted.y), peak)
        u, v = (psnr_from_mse(plane_mse(getattr(reference, p), getattr(distorted, p)), peak) for p in "uv")
        return (6 * y + u + v) / 8
