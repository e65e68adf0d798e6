import numpy as np
import pytest

from gvcbench.errors import MetricError, UnknownNameError
from gvcbench.metrics import METRICS
from gvcbench.metrics.msssim import MsSsim
from gvcbench.metrics.psnr import PsnrY, PsnrYUV

from .conftest import real_clip


def test_psnr_matches_hand_computation(clip64):
    noisy_y = np.clip(clip64.y.astype(int) + 3, 0, 255).astype(np.uint8)
    noisy = clip64.with_planes(noisy_y, clip64.u, clip64.v)
    mse = ((clip64.y.astype(float) - noisy_y) ** 2).mean(axis=(1, 2))
    assert np.allclose(PsnrY().frame_values(clip64, noisy), 10 * np.log10(255**2 / mse))
    # chroma untouched -> capped at 100 dB, weighted 6:1:1
    expected = (6 * 10 * np.log10(255**2 / mse) + 100 + 100) / 8
    assert np.allclose(PsnrYUV().frame_values(clip64, noisy), expected)


def test_ms_ssim_equals_piq_called_directly(clip192):
    import piq
    import torch

    dist = clip192.with_planes(np.clip(clip192.y.astype(int) - 5, 0, 255).astype(np.uint8), clip192.u, clip192.v)
    ours = MsSsim().frame_values(clip192, dist)
    # piq in float64: in float32 a flat shift like this one loses ~2e-5 to cancellation in
    # E[x^2] - E[x]^2, which is piq's rounding, not a difference of definition.
    for i in range(clip192.num_frames):
        x = torch.from_numpy(clip192.y[i].astype(np.float64))[None, None]
        y = torch.from_numpy(dist.y[i].astype(np.float64))[None, None]
        assert abs(ours[i] - piq.multi_scale_ssim(x, y, data_range=255.0).item()) < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("clip,size", [("bigbuckbunny.mp4", "384x384"), ("bikes.mp4", "330x330")])
def test_separable_ms_ssim_equals_piq_on_real_frames(clip, size):
    """The separable float64 MS-SSIM is piq's metric: equal to piq run in float64 far inside
    1e-6. (piq in float32 is itself off by up to ~6e-6 on bikes: E[x^2] - E[x]^2 cancels.)
    330 gives odd sizes at the coarser scales (165, 83, 21), where piq replicates a row and
    column before pooling."""
    import piq
    import torch

    ref = real_clip(frames=3, size=size, clip=clip)
    dist = real_clip(frames=3, size=size, clip=clip, start=2)  # real motion as the distortion
    ours = MsSsim().frame_values(ref, dist)
    for i in range(ref.num_frames):
        x = torch.from_numpy(ref.y[i].astype(np.float64))[None, None]
        y = torch.from_numpy(dist.y[i].astype(np.float64))[None, None]
        assert abs(ours[i] - piq.multi_scale_ssim(x, y, data_range=255.0).item()) < 1e-12


def test_separable_ms_ssim_equals_piq_at_10_bit(clip192):
    import piq
    import torch

    ref = clip192.to_bit_depth(10)
    noisy = np.clip(ref.y.astype(int) + np.random.default_rng(0).integers(-40, 41, ref.y.shape), 0, 1023)
    dist = ref.with_planes(noisy.astype(np.uint16), ref.u, ref.v)
    ours = MsSsim().frame_values(ref, dist)
    for i in range(ref.num_frames):
        x = torch.from_numpy(ref.y[i].astype(np.float64))[None, None]
        y = torch.from_numpy(dist.y[i].astype(np.float64))[None, None]
        assert abs(ours[i] - piq.multi_scale_ssim(x, y, data_range=1023.0).item()) < 1e-12


def test_ms_ssim_too_small_is_a_metric_error(clip64):
    with pytest.raises(MetricError, match="at least 161x161"):
        MsSsim().frame_values(clip64, clip64)


def test_every_metric_states_direction():
    for name in METRICS.names():
        spec = METRICS.get(name).spec
        assert isinstance(spec.lower_better, bool) and spec.granularity in ("frame", "set")
    with pytest.raises(UnknownNameError, match="psnr-y"):
        METRICS.get("psnr_y")
