"""Temporal consistency of a reconstruction: how far its motion is from the original's.

Generative decoders can produce sharp frames that flicker or move wrongly, which
per-frame metrics miss. ``flow-epe`` estimates the dense optical flow between each pair
of consecutive frames, in the original and in the reconstruction, with OpenCV's
Farneback method on luma (no downloaded weights), and reports the mean end-point error
between the two flows in pixels: 0 when the reconstruction moves exactly like the
original, large for frozen, jittering or flickering output. There is one value per
frame transition, so a clip of T frames gives T-1 values: value t is the motion from
frame t to frame t+1 (t = 0..T-2), and per-frame tables and plots put it on frame t and
leave the last frame empty.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MetricError
from .base import Metric, MetricSpec

FARNEBACK: dict[str, Any] = dict(pyr_scale=0.5, levels=4, winsize=15, iterations=3, poly_n=5, poly_sigma=1.1, flags=0)


def luma8(seq, index: int) -> np.ndarray:
    y = seq.y[index]
    if seq.bit_depth > 8:
        y = ((y.astype(np.int32) + (1 << (seq.bit_depth - 9))) >> (seq.bit_depth - 8)).clip(0, 255)
    return np.ascontiguousarray(y, dtype=np.uint8)


def farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import cv2

    # OpenCV's stub wants an array for ``flow``; None (OpenCV allocates the output) is valid.
    return cv2.calcOpticalFlowFarneback(a, b, None, **FARNEBACK)  # type: ignore[call-overload]


def consecutive_flows(seq) -> np.ndarray:
    """(T-1, H, W, 2) float32 Farneback flows from each frame to the next."""
    if seq.num_frames < 2:
        raise MetricError("flow-epe needs at least 2 frames")
    return np.stack([farneback(luma8(seq, t - 1), luma8(seq, t)) for t in range(1, seq.num_frames)])


def epe_against(reference_flows: np.ndarray, distorted) -> np.ndarray:
    """Mean end-point error per transition between given reference flows and the distorted clip's."""
    if len(reference_flows) != distorted.num_frames - 1:
        raise MetricError(f"{len(reference_flows)} reference flows for {distorted.num_frames} frames")
    values = []
    for t in range(1, distorted.num_frames):
        f_dist = farneback(luma8(distorted, t - 1), luma8(distorted, t))
        values.append(float(np.linalg.norm(reference_flows[t - 1] - f_dist, axis=-1).mean()))
    return np.asarray(values)


def flow_epe(reference, distorted) -> np.ndarray:
    if reference.num_frames < 2:
        raise MetricError("flow-epe needs at least 2 frames")
    return epe_against(consecutive_flows(reference), distorted)


class FlowEpe(Metric):
    spec = MetricSpec(
        "flow-epe",
        "1",
        lower_better=True,
        unit="px",
        granularity="frame",
        value_range=(0.0, float("inf")),
        description="mean end-point error between consecutive-frame optical flows of reconstruction "
        "and original (OpenCV Farneback on luma); one value per frame transition",
        bd_axis="-x",
    )

    def provenance(self) -> dict:
        import cv2

        return super().provenance() | {
            "implementation": f"opencv {cv2.__version__} calcOpticalFlowFarneback",
            "parameters": FARNEBACK,
            "input": "8-bit luma",
        }

    def reference_identity(self) -> dict:
        import cv2

        return {
            "metric": self.spec.name,
            "version": self.spec.version,
            "opencv": cv2.__version__,
            "farneback": FARNEBACK,
            "what": "consecutive flows of the original",
        }

    def reference_features(self, reference) -> np.ndarray:
        return consecutive_flows(reference)

    def values_from_reference(self, reference_features, reference, distorted) -> np.ndarray:
        return epe_against(reference_features, distorted)

    def frame_values(self, reference, distorted) -> np.ndarray:
        return flow_epe(reference, distorted)
