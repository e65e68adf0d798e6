"""Fréchet Video Distance on Kinetics-400 I3D features.

Each video is cut into clips of ``clip_length`` frames every ``stride`` frames; each clip
gives one 400-d feature vector. A set's features are kept as float64 sufficient
statistics (count, sum, sum of outer products), so partial results from several
workers merge exactly. FVD is the Fréchet distance between the Gaussians fitted to
the reference and the reconstructed features:

    |mu_r - mu_d|^2 + Tr(S_r + S_d - 2 (S_r S_d)^(1/2))

With fewer feature vectors than dimensions the covariances are singular and the value
is noisy; that is warned about and recorded, as the paper's per-set protocol is the
meaningful one (``fvd`` per rate point over the test set).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..errors import MetricError
from ..weights import load_state_dict, record, resolve
from .base import Metric, MetricSpec
from .i3d import FEATURE_DIM, TorchScriptI3D, VideoGptI3D, preprocess
from .torch_input import INPUT_DESCRIPTION, rgb_uint8, to_tensor

CLIP_LENGTH = 16
STRIDE = 16


class FewFeaturesWarning(UserWarning):
    pass


@dataclass
class FeatureStats:
    """Sufficient statistics of a set of feature vectors (float64)."""

    dim: int = FEATURE_DIM
    count: int = 0
    total: np.ndarray = field(default=None)
    outer: np.ndarray = field(default=None)

    def __post_init__(self):
        if self.total is None:
            self.total = np.zeros(self.dim)
            self.outer = np.zeros((self.dim, self.dim))

    def update(self, features) -> FeatureStats:
        f = np.asarray(features, dtype=np.float64).reshape(-1, self.dim)
        self.count += len(f)
        self.total += f.sum(0)
        self.outer += f.T @ f
        return self

    def merge(self, other: FeatureStats) -> FeatureStats:
        if other.dim != self.dim:
            raise MetricError(f"cannot merge {other.dim}-d features into {self.dim}-d statistics")
        self.count += other.count
        self.total += other.total
        self.outer += other.outer
        return self

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        if self.count < 2:
            raise MetricError(f"FVD needs at least 2 feature vectors, has {self.count}")
        mu = self.total / self.count
        cov = (self.outer - self.count * np.outer(mu, mu)) / (self.count - 1)
        return mu, cov


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    from scipy import linalg

    diff = np.asarray(mu1) - np.asarray(mu2)
    covmean, _ = linalg.sqrtm(np.asarray(sigma1) @ np.asarray(sigma2), disp=False)
    if not np.isfinite(covmean).all():  # nearly singular product: regularise, as the common ports do
        eps = np.eye(len(sigma1)) * 1e-6
        covmean = linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fvd_from_stats(reference: FeatureStats, distorted: FeatureStats) -> float:
    for stats, side in ((reference, "reference"), (distorted, "reconstruction")):
        if stats.count < stats.dim:
            warnings.warn(
                f"FVD from {stats.count} {side} feature vectors of dimension {stats.dim}: the "
                f"covariance is singular and the value is noisy",
                FewFeaturesWarning,
                stacklevel=2,
            )
    return frechet_distance(*reference.mean_cov(), *distorted.mean_cov())


def clip_starts(frames: int, length: int, stride: int) -> list[int]:
    if frames < length:
        raise MetricError(f"FVD clips are {length} frames, the sequence has {frames}; shorten clip_length")
    return list(range(0, frames - length + 1, stride))


class Fvd(Metric):
    """Per-sequence FVD (its clips against the original's clips) as the frame-level value;
    the set-level FVD per rate point is computed by the harness from the stored features."""

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

    def reference_features(self, reference) -> np.ndarray:
        return self.features(reference)

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
            return fvd_from_stats(FeatureStats().update(ref_features), FeatureStats().update(dist_features))

    def frame_values(self, reference, distorted) -> np.ndarray:
        """One value, the per-sequence FVD (a set metric has no per-frame values)."""
        return np.array([self.sequence_value(self.features(reference), self.features(distorted))])


def encode_features(features: np.ndarray) -> dict:
    """Features as compact JSON (base64 of float64), exact for merging later."""
    import base64

    f = np.ascontiguousarray(features, dtype="<f8")
    return {"shape": list(f.shape), "f8": base64.b64encode(f.tobytes()).decode()}


def decode_features(blob: dict) -> np.ndarray:
    import base64

    return np.frombuffer(base64.b64decode(blob["f8"]), dtype="<f8").reshape(blob["shape"])


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
