"""The Metric interface: one spec record per metric, per-frame values per sequence."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from ..datasets.sequence import Sequence


@dataclass(frozen=True)
class MetricSpec:
    """Everything the harness and the reports need to know about a metric.

    ``lower_better`` is required: it decides the direction of RD curves, BD-rate
    transforms and regression checks. ``granularity`` is 'frame' (a value per frame,
    averaged per sequence) or 'set' (one value over a set of videos, e.g. FVD).
    ``bd_axis`` is how RD curves and BD computations see the metric so that higher is
    better: 'x' as it is, or 'C-x' (the Dynamics-Codec paper uses 1-LPIPS, 1-DISTS,
    5000-FVD); a lower-is-better metric must name one.
    """

    name: str
    version: str
    lower_better: bool
    unit: str
    granularity: str
    value_range: tuple[float, float]
    description: str
    bd_axis: str = "x"

    def __post_init__(self):
        from ..reports.axes import parse_axis

        parse_axis(self.bd_axis)
        if self.lower_better and self.bd_axis == "x":
            raise ValueError(f"metric {self.name}: lower is better, so bd_axis must flip it, e.g. '1-x'")

    def to_dict(self) -> dict:
        return asdict(self)


class Metric(ABC):
    spec: ClassVar[MetricSpec]

    def availability(self) -> str | None:
        """None when the metric can run here, else why not (missing weights, say)."""
        return None

    def provenance(self) -> dict:
        """Implementation, versions, inputs and preprocessing behind every stored value."""
        return {"metric": self.spec.name, "version": self.spec.version}

    @abstractmethod
    def frame_values(self, reference: Sequence, distorted: Sequence) -> np.ndarray:
        """One value per frame, float64, for two sequences of equal format."""
