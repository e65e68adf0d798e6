import numpy as np
import pytest

from gvcbench.errors import MetricError, UnknownNameError
from gvcbench.metrics import METRICS
from gvcbench.metrics.msssim import MsSsim
from gvcbench.metrics.psnr import PsnrY, PsnrYUV



def test_psnr_matches_hand_computation(clip64):
    noisy_y = np.clip(clip64.y.astype(int) + 3, 0, 255).astype(np.uint8)
    noisy = clip64.with_planes(noisy_y, clip64.u, clip64.v)
    mse = ((clip64.y.astype(float) - noisy_y) ** 2).mean(axis=(1, 2))
    assert np.allclose(PsnrY().frame_values(clip64, noisy), 10 * np.log10(255 ** 2 / mse))
    # chroma untouched -> capped at 100 dB, weighted 6:1:1
    expected = (6 * 10 * np.log10(255 ** 2 / mse) + 100 + 100) / 8
    assert np.allclose(PsnrYUV().frame_values(clip64, noisy), expected)


def test_ms_ssim_equals_piq_called_directly(clip192):
    import piq
    import torch

    dist = clip192.with_planes(np.clip(clip192.y.astype(int) - 5, 0, 255).astype(np.uint8), clip192.u, clip192.v)
    ours = MsSsim().frame_values(clip192, dist)
    for i in range(clip192.num_frames):
        x = torch.from_numpy(clip192.y[i].astype(np.float32))[None, None]
        y = torch.from_numpy(dist.y[i].astype(np.float32))[None, None]
        assert abs(ours[i] - piq.multi_scale_ssim(x, y, data_range=255.0).item()) < 1e-6


def test_ms_ssim_too_small_is_a_metric_error(clip64):
    with pytest.raises(MetricError, match="at least 161x161"):
        MsSsim().frame_values(clip64, clip64)


def test_every_metric_states_direction():
    for name in METRICS.names():
        spec = METRICS.get(name).spec
        assert isinstance(spec.lower_better, bool) and spec.granularity in ("frame", "set")
    with pytest.raises(UnknownNameError, match="psnr-y"):
        METRICS.get("psnr_y")
