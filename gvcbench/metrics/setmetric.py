"""Set-level metrics: one value over a set of videos (FVD, FID), served through one interface.

In the manner of torchmetrics' update / merge / compute, split between worker and driver:

* worker, per job: ``features(video)`` gives the video's feature vectors (the original's
  side comes from the reference cache); ``job_features(ref, dist)`` turns both sides into
  the JSON blob stored with the job's row; ``sequence_value`` is the job's own value.
* driver, per (dataset, codec, rate point): ``state(blob)`` turns one job's blob into a
  state (update), states ``merge`` (associative and commutative, so the jobs may be pooled
  in any order and grouping), ``compute(state)`` gives the value. Remarks about a value
  (too few features for a stable estimate, say) are ``SetMetricNote`` warnings raised in
  ``compute``; ``pool`` collects them as the stored note.

The harness (``bench/job.py``, ``bench/setlevel.py``) knows only this interface; a new set
metric is a subclass with ``features``, ``state``, ``compute`` and ``sequence_value``.
"""

from __future__ import annotations

import base64
import warnings
from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..datasets.sequence import Sequence
from ..errors import MetricError
from .base import Metric


class SetMetricNote(UserWarning):
    """A remark about a set-level value; ``SetMetric.pool`` stores it as the value's note."""


class SetState(Protocol):
    """What ``SetMetric.state`` returns: mergeable partial results of a set."""

    @property
    def count(self) -> int:
        """Feature vectors per side, as stored beside the value."""
        ...

    def merge(self, other: Any) -> Any:
        """Fold ``other`` (a state of the same metric) into this one and return it."""
        ...


@dataclass(frozen=True)
class Pooled:
    """A set-level value: None when it could not be computed (``note`` says why)."""

    value: float | None
    count: int
    note: str | None


class SetMetric(Metric):
    """A metric with one value per set of videos (``spec.granularity == 'set'``)."""

    @abstractmethod
    def features(self, seq: Sequence) -> np.ndarray:
        """The video's feature vectors, one per row (a clip's for FVD, a frame's for FID)."""

    @abstractmethod
    def sequence_value(self, ref_features: np.ndarray, dist_features: np.ndarray) -> float:
        """The value of one video alone (its row's value); MetricError when it has none."""

    @abstractmethod
    def state(self, blob: dict) -> SetState:
        """One job's stored features (``job_features``) as a state (update)."""

    @abstractmethod
    def compute(self, state: SetState) -> float:
        """The value of a (merged) state; MetricError when there is none."""

    def reference_features(self, reference: Sequence) -> np.ndarray:
        return self.features(reference)

    def job_features(self, ref_features: np.ndarray, dist_features: np.ndarray) -> dict:
        """Both sides as compact, exact JSON, stored with the job for pooling later."""
        return {"reference": encode_features(ref_features), "distorted": encode_features(dist_features)}

    def frame_values(self, reference: Sequence, distorted: Sequence) -> np.ndarray:
        """One value, the video's own (a set metric has no per-frame values)."""
        return np.array([self.sequence_value(self.features(reference), self.features(distorted))])

    def pool(self, blobs: Iterable[dict]) -> Pooled:
        """update every job's blob, merge the states in the order given, compute."""
        state = None
        for blob in blobs:
            part = self.state(blob)
            state = part if state is None else state.merge(part)
        if state is None:
            raise MetricError(f"{self.spec.name}: no job features to pool")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SetMetricNote)
            try:
                value: float | None = self.compute(state)
            except MetricError as exc:  # e.g. one short clip: too few feature vectors for a covariance
                value = None
                warnings.warn(str(exc), SetMetricNote, stacklevel=1)
        notes = [str(w.message) for w in caught if issubclass(w.category, SetMetricNote)]
        return Pooled(value, state.count, "; ".join(notes) or None)


def encode_features(features: np.ndarray) -> dict:
    """Features as compact JSON (base64), exact: float32 features (a network's output) stay
    float32, anything else is stored as float64."""
    arr = np.asarray(features)
    code = "f4" if arr.dtype == np.float32 else "f8"
    f = np.ascontiguousarray(arr, dtype=f"<{code}")
    return {"shape": list(f.shape), code: base64.b64encode(f.tobytes()).decode()}


def decode_features(blob: dict) -> np.ndarray:
    """The array ``encode_features`` stored, as float64."""
    code = "f4" if "f4" in blob else "f8"
    raw = np.frombuffer(base64.b64decode(blob[code]), dtype=f"<{code}").reshape(blob["shape"])
    return raw.astype(np.float64)
