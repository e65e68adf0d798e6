"""Full-reference metrics from piq that need no downloaded weights: MS-GMSD, HaarPSI, VIF-p.

Each takes 8-bit RGB in [0, 1] (torch_input), frames in batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from .base import Metric, MetricSpec
from .torch_input import INPUT_DESCRIPTION, paired_batches


class PiqMetric(Metric):
    function_name: ClassVar[str]

    def _function(self) -> Callable:
        import piq

        return getattr(piq, self.function_name)

    def provenance(self) -> dict:
        import piq

        return super().provenance() | {
            "implementation": f"piq {piq.__version__} {self.function_name}",
            "input": INPUT_DESCRIPTION,
            "data_range": 1.0,
        }

    def frame_values(self, reference, distorted) -> np.ndarray:
        import torch

        fn = self._function()
        out = []
        with torch.no_grad():
            for x, y in paired_batches(reference, distorted, self.batch_size, self.device):
                out.append(fn(y, x, data_range=1.0, reduction="none").double().cpu().numpy())
        return np.concatenate(out)


class MsGmsd(PiqMetric):
    function_name = "multi_scale_gmsd"
    spec = MetricSpec(
        "ms-gmsd",
        "1",
        lower_better=True,
        unit="",
        granularity="frame",
        value_range=(0.0, 1.0),
        description="multi-scale gradient magnitude similarity deviation (piq)",
        bd_axis="1-x",
    )


class HaarPsi(PiqMetric):
    function_name = "haarpsi"
    spec = MetricSpec(
        "haarpsi",
        "1",
        lower_better=False,
        unit="",
        granularity="frame",
        value_range=(0.0, 1.0),
        description="Haar wavelet-based perceptual similarity index (piq)",
    )


class VifP(PiqMetric):
    function_name = "vif_p"
    spec = MetricSpec(
        "vif-p",
        "1",
        lower_better=False,
        unit="",
        granularity="frame",
        value_range=(0.0, 2.0),
        description="visual information fidelity, pixel domain (piq)",
    )
