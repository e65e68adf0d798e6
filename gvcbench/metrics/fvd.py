"""Fréchet Video Distance on Kinetics-400 I3D features.

Each video is cut into clips of ``clip_length`` frames every ``stride`` frames; each clip
gives one 400-d feature vector. FVD is the Fréchet distance (``frechet.py``) between the
Gaussians fitted to the reference and the reconstructed clips' features, kept as
mergeable float64 statistics, so the harness pools a rate point's jobs through the
set-metric interface (``setmetric.py``).

With fewer feature vectors than dimensions the covariances are singular and the value
is noisy; that is warned about and recorded, as the paper's per-set protocol is the
meaningful one (``fvd`` per rate point over the test set).
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np

from ..errors import MetricError
from ..weights import load_state_dict, record, resolve
from .base import MetricSpec
from .frechet import FeatureStats, FewFeaturesWarning, FrechetState, frechet_distance, warn_if_few
from .i3d import FEATURE_DIM, TorchScriptI3D, VideoGptI3D, preprocess
from .setmetric import SetMetric, SetState, decode_features
from .torch_input import INPUT_DESCRIPTION, rgb_uint8, to_tensor

CLIP_LENGTH = 16
STRIDE = 16


def fvd_from_stats(reference: FeatureStats, distorted: FeatureStats) -> float:
    warn_if_few(reference, "reference", "FVD")
    warn_if_few(distorted, "reconstruction", "FVD")
    return frechet_distance(*reference.mean_cov(), *distorted.mean_cov())


def clip_starts(frames: int, length: int, stride: int) -> list[int]:
    if frames < length:
        raise MetricError(f"FVD clips are {length} frames, the sequence has {frames}; shorten clip_length")
    return list(range(0, frames - length + 1, stride))


class Fvd(SetMetric):
    """FVD of a set of videos; a job's own value is the FVD of its clips against the
    original's clips."""

    detector_kind: ClassVar[str] = "torchscript"
    spec = MetricSpec(
        "fvd",
        "1",
        lower_better=True,
        unit="",
        granularity="set",
        value_range=(0.0, float("inf")),
        description="FVD, StyleGAN-V TorchScript I3D (Kinetics-400), 16-frame clips every 16 frames",
        bd_axis="5000-x",
    )
    weights = ("i3d_torchscript.pt",)
    default_batch_size = 4  # clips per forward pass

    def __init__(
        self,
        device: str = "cpu",
        batch_size: int | None = None,
        clip_length: int = CLIP_LENGTH,
        stride: int = STRIDE,
        detector=None,
    ):
        super().__init__(device, batch_size)
        self.clip_length, self.stride = clip_length, stride
        self._detector = detector  # tests pass a seeded random network here
        self._injected = detector is not None

    def detector(self):
        if self._detector is None:
            path = resolve(self.weights[0], allow_download=False)
            if self.detector_kind == "torchscript":
                self._detector = TorchScriptI3D(path, self.device)
            else:
                self._detector = VideoGptI3D(load_state_dict(path), self.device)
        return self._detector

    def provenance(self) -> dict:
        det = self.detector()
        files = (
            [{"file": "detector given in memory (test)", "sha256": None}]
            if self._injected
            else [record(self.weights[0], resolve(self.weights[0], allow_download=False))]
        )
        return super().provenance() | {
            "implementation": f"gvcbench FVD, detector {det.name}",
            "weights": files,
            "input": INPUT_DESCRIPTION,
            "resize": "shorter side to 224 (bilinear), centre crop 224x224",
            "scaling": f"(x - {det.shift}) * {det.scale}",
            "clip_length": self.clip_length,
            "stride": self.stride,
            "features": f"{FEATURE_DIM}-d",
            "distance": "Fréchet (scipy.linalg.sqrtm)",
        }

    def reference_identity(self) -> dict | None:
        if self._injected:  # a network given in memory has no name to key a cache by
            return None
        det = self.detector()
        return {
            "metric": self.spec.name,
            "version": self.spec.version,
            "detector": det.name,
            "weights": record(self.weights[0], resolve(self.weights[0], allow_download=False)),
            "clip_length": self.clip_length,
            "stride": self.stride,
            "device": self.device,
            "what": "I3D features of the original's clips",
        }

    def features(self, seq) -> np.ndarray:
        """(clips, 400) float64 features of one sequence."""
        import torch

        det = self.detector()
        starts = clip_starts(seq.num_frames, self.clip_length, self.stride)
        out = []
        with torch.no_grad():
            for i in range(0, len(starts), self.batch_size):
                batch = [
                    preprocess(to_tensor(rgb_uint8(seq, s, s + self.clip_length), self.device), det.shift, det.scale)
                    for s in starts[i : i + self.batch_size]
                ]
                out.append(det(torch.stack(batch)).double().cpu().numpy())
        return np.concatenate(out)

    def sequence_value(self, ref_features: np.ndarray, dist_features: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewFeaturesWarning)  # one video: few clips by nature
            return fvd_from_stats(
                FeatureStats(FEATURE_DIM).update(ref_features), FeatureStats(FEATURE_DIM).update(dist_features)
            )

    def state(self, blob: dict) -> FrechetState:
        return FrechetState.of(decode_features(blob["reference"]), decode_features(blob["distorted"]), FEATURE_DIM)

    def compute(self, state: SetState) -> float:
        assert isinstance(state, FrechetState)
        return fvd_from_stats(state.reference, state.distorted)


class FvdVideoGpt(Fvd):
    detector_kind = "videogpt"
    spec = MetricSpec(
        "fvd-videogpt",
        "1",
        lower_better=True,
        unit="",
        granularity="set",
        value_range=(0.0, float("inf")),
        description="FVD, VideoGPT-style InceptionI3d state dict (Kinetics-400), 16-frame clips",
        bd_axis="5000-x",
    )
    weights = ("i3d_pretrained_400.pt",)
