"""Fréchet distances between feature sets, and the mergeable state of the Fréchet set metrics.

A feature set is kept as float64 sufficient statistics (count, sum, sum of outer
products), so partial results of several jobs merge exactly. The distance between the
Gaussians fitted to the reference and the reconstructed features is

    |mu_r - mu_d|^2 + Tr(S_r + S_d - 2 (S_r S_d)^(1/2))

With fewer feature vectors than dimensions the covariances are singular and the value
is noisy; that is said in a ``FewFeaturesWarning``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import MetricError
from .setmetric import SetMetricNote


class FewFeaturesWarning(SetMetricNote):
    pass


@dataclass
class FeatureStats:
    """Sufficient statistics of a set of feature vectors (float64)."""

    dim: int = 400  # FVD's I3D features unless given
    count: int = 0
    total: np.ndarray = field(default_factory=lambda: np.zeros(0))
    outer: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def __post_init__(self):
        if self.total.size == 0:
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

    def mean_cov(self, what: str = "FVD") -> tuple[np.ndarray, np.ndarray]:
        if self.count < 2:
            raise MetricError(f"{what} needs at least 2 feature vectors, has {self.count}")
        mu = self.total / self.count
        cov = (self.outer - self.count * np.outer(mu, mu)) / (self.count - 1)
        return mu, cov


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    from scipy import linalg

    diff = np.asarray(mu1) - np.asarray(mu2)
    covmean = linalg.sqrtm(np.asarray(sigma1) @ np.asarray(sigma2))  # `disp` goes in SciPy 1.18
    if not np.isfinite(covmean).all():  # nearly singular product: regularise, as the common ports do
        eps = np.eye(len(sigma1)) * 1e-6
        covmean = linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def frechet_from_features(ref: np.ndarray, dist: np.ndarray) -> float:
    """The Fréchet distance of two feature sets (rows), exactly, without a d x d square root.

    tr sqrt(S1 S2) equals the nuclear norm of A B^T for the centred, scaled data matrices A,
    B (S1 = A^T A, S2 = B^T B): an SVD of an n1 x n2 matrix, cheap where there are fewer
    vectors than dimensions (a set's frames against FID's 2048 dimensions)."""
    ref, dist = np.asarray(ref, dtype=np.float64), np.asarray(dist, dtype=np.float64)
    for f, side in ((ref, "reference"), (dist, "reconstruction")):
        if len(f) < 2:
            raise MetricError(f"a Fréchet distance needs at least 2 {side} feature vectors, has {len(f)}")
    a = (ref - ref.mean(0)) / np.sqrt(len(ref) - 1)
    b = (dist - dist.mean(0)) / np.sqrt(len(dist) - 1)
    diff = ref.mean(0) - dist.mean(0)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    return float(diff @ diff + (a * a).sum() + (b * b).sum() - 2 * nuclear)


def warn_if_few(stats: FeatureStats, side: str, what: str) -> None:
    if stats.count < stats.dim:
        warnings.warn(
            f"{what} from {stats.count} {side} feature vectors of dimension {stats.dim}: the "
            f"covariance is singular and the value is noisy",
            FewFeaturesWarning,
            stacklevel=3,
        )


@dataclass
class FrechetState:
    """Both sides' statistics; while a side has fewer vectors than ``keep_below``, its
    vectors themselves are kept too (``frechet_from_features`` needs them)."""

    reference: FeatureStats
    distorted: FeatureStats
    keep_below: int = 0
    raw: tuple[list[np.ndarray], list[np.ndarray]] | None = None

    @classmethod
    def of(cls, ref: np.ndarray, dist: np.ndarray, dim: int, keep_below: int = 0) -> FrechetState:
        state = cls(FeatureStats(dim).update(ref), FeatureStats(dim).update(dist), keep_below)
        state.raw = ([ref], [dist]) if state._small() else None
        return state

    def _small(self) -> bool:
        return max(self.reference.count, self.distorted.count) < self.keep_below

    @property
    def count(self) -> int:
        return self.reference.count

    def merge(self, other: FrechetState) -> FrechetState:
        self.reference.merge(other.reference)
        self.distorted.merge(other.distorted)
        if self.raw is not None and other.raw is not None and self._small():
            self.raw = (self.raw[0] + other.raw[0], self.raw[1] + other.raw[1])
        else:
            self.raw = None
        return self

    def vectors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Both sides' feature vectors while they are kept, else None."""
        if self.raw is None:
            return None
        return np.concatenate(self.raw[0]), np.concatenate(self.raw[1])
