"""PSNR-Y and PSNR-YUV of one job share the luma MSE: same values, computed once."""

from __future__ import annotations

import numpy as np

from gvcbench.datasets import Sequence
from gvcbench.metrics import psnr
from gvcbench.metrics.psnr import PsnrY, PsnrYUV, plane_mse, psnr_from_mse


def _pair(seed: int) -> tuple[Sequence, Sequence]:
    rng = np.random.default_rng(seed)
    planes = [rng.integers(0, 256, size=(3, h, w), dtype=np.uint8) for h, w in ((32, 48), (16, 24), (16, 24))]
    noisy = [np.clip(p.astype(int) + rng.integers(-9, 10, size=p.shape), 0, 255).astype(np.uint8) for p in planes]
    return Sequence("a", *planes, fps=25), Sequence("a", *noisy, fps=25)


def test_luma_mse_is_computed_once_per_pair_and_values_are_unchanged(monkeypatch):
    ref, dist = _pair(0)
    calls = []
    real = psnr.plane_mse
    monkeypatch.setattr(psnr, "plane_mse", lambda a, b: calls.append(a.shape) or real(a, b))
    y = PsnrY().frame_values(ref, dist)
    yuv = PsnrYUV().frame_values(ref, dist)
    assert calls == [ref.y.shape, ref.u.shape, ref.v.shape]  # luma once, each chroma plane once
    fresh = [psnr_from_mse(plane_mse(getattr(ref, p), getattr(dist, p)), 255) for p in "yuv"]
    assert np.array_equal(y, fresh[0])
    assert np.array_equal(yuv, (6 * fresh[0] + fresh[1] + fresh[2]) / 8)


def test_other_planes_never_reuse_a_result():
    ref, dist = _pair(1)
    first = PsnrY().frame_values(ref, dist)
    other_ref, other_dist = _pair(2)
    assert not np.array_equal(PsnrY().frame_values(other_ref, other_dist), first)
    copy = Sequence("a", dist.y.copy(), dist.u, dist.v, fps=25)  # equal content, another array: recomputed
    copy.y[0, 0, 0] ^= 1
    assert not np.array_equal(PsnrY().frame_values(ref, copy), first)
