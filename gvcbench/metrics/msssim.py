"""MS-SSIM of the luma plane through piq, frames in batches."""
from __future__ import annotations

import numpy as np

from ..datasets.sequence import Sequence
from ..errors import MetricError
from .base import Metric, MetricSpec

KERNEL_SIZE = 11
SCALES = 5
MIN_SIDE = (KERNEL_SIZE - 1) * 2 ** (SCALES - 1) + 1  # piq's bound for the coarsest scale


class MsSsim(Metric):
    spec = MetricSpec("ms-ssim", "1", lower_better=False, unit="", granularity="frame",
                      value_range=(0.0, 1.0),
                      description="MS-SSIM of luma (piq.multi_scale_ssim, 11x11 Gaussian, 5 scales)")

    def provenance(self) -> dict:
        import piq

        return super().provenance() | {"implementation": f"piq {piq.__version__}", "plane": "Y",
                                       "kernel_size": KERNEL_SIZE, "scales": SCALES}

    def frame_values(self, reference: Sequence, distorted: Sequence) -> np.ndarray:
        import piq
        import torch

        if min(reference.width, reference.height) < MIN_SIDE:
            raise MetricError(f"MS-SSIM needs frames of at least {MIN_SIDE}x{MIN_SIDE} (5 scales of an "
                              f"11-tap filter); {reference.name} is {reference.width}x{reference.height}")
        peak = float(reference.max_value)
        values = []
        for start in range(0, reference.num_frames, self.batch_size):
            stop = start + self.batch_size
            x = torch.from_numpy(reference.y[start:stop].astype(np.float32))[:, None].to(self.device)
            y = torch.from_numpy(distorted.y[start:stop].astype(np.float32))[:, None].to(self.device)
            with torch.no_grad():
                score = piq.multi_scale_ssim(x, y, data_range=peak, kernel_size=KERNEL_SIZE, reduction="none")
            values.append(score.double().numpy())
        return np.concatenate(values)
