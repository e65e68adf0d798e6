"""The set-metric interface: exact feature blobs, states that merge in any order and
grouping to the same value, and FVD's pooled value unchanged by the interface."""

import random

import numpy as np
import pytest

from gvcbench.metrics.fid import Fid
from gvcbench.metrics.frechet import FeatureStats
from gvcbench.metrics.fvd import Fvd, fvd_from_stats
from gvcbench.metrics.setmetric import decode_features, encode_features


def _jobs(dim: int, clips: int, jobs: int = 5, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for j in range(jobs):
        ref = rng.normal(size=(clips, dim))
        out.append(
            {
                "reference": encode_features(ref.astype(np.float32) if dim == 64 else ref),
                "distorted": encode_features(ref + rng.normal(0.3, 0.5 + 0.1 * j, (clips, dim))),
            }
        )
    return out


def test_feature_blobs_are_exact_in_their_own_precision():
    rng = np.random.default_rng(0)
    f8 = rng.normal(size=(3, 400))
    f4 = rng.normal(size=(5, 2048)).astype(np.float32)
    assert "f8" in encode_features(f8) and "f4" in encode_features(f4)
    assert np.array_equal(decode_features(encode_features(f8)), f8)
    back = decode_features(encode_features(f4))
    assert back.dtype == np.float64 and np.array_equal(back, f4.astype(np.float64))


def _tree_merge(metric, blobs, rng):
    """Merge the jobs' states in a random order and a random grouping."""
    states = [metric.state(b) for b in blobs]
    rng.shuffle(states)
    while len(states) > 1:
        i = rng.randrange(len(states) - 1)
        states[i : i + 2] = [states[i].merge(states[i + 1])]
    return metric.compute(states[0])


@pytest.mark.parametrize(
    "metric,dim,clips",
    [
        # 150 clips < 400: singular covariances, the square-root form (slow: 3-55 s measured, 400x400 sqrtm)
        pytest.param(Fvd(), 400, 30, marks=pytest.mark.slow),
        (Fid(dims=64), 64, 8),  # 40 frames < 64: FID keeps the vectors, the exact low-rank form
        (Fid(dims=64), 64, 20),  # 100 frames >= 64: statistics only, pytorch-fid's distance
    ],
)
def test_states_merge_in_any_order_and_grouping_to_the_same_value(metric, dim, clips):
    import warnings

    blobs = _jobs(dim, clips)
    rng = random.Random(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        in_order = metric.pool(blobs).value
        others = [_tree_merge(metric, blobs, rng) for _ in range(4)]
    assert in_order > 0
    # sums in another order differ in the last bits; a square root of singular covariances
    # (FVD's 150 clips in 400 dimensions) magnifies that to about 1e-9
    assert others == pytest.approx([in_order] * 4, rel=1e-7)


@pytest.mark.slow
def test_fvd_pooled_through_the_interface_is_bit_identical_to_the_statistics_it_replaced():
    """The harness used to fold every job's features into one FeatureStats per side."""
    import warnings

    blobs = _jobs(400, 3)
    ref, dist = FeatureStats(), FeatureStats()
    for b in blobs:
        ref.update(decode_features(b["reference"]))
        dist.update(decode_features(b["distorted"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = fvd_from_stats(ref, dist)
    pooled = Fvd().pool(blobs)
    assert pooled.value == before and pooled.count == 15
    assert pooled.note == (
        "FVD from 15 reference feature vectors of dimension 400: the covariance is singular and the value is noisy; "
        "FVD from 15 reconstruction feature vectors of dimension 400: the covariance is singular and the value is noisy"
    )


def test_a_set_without_enough_features_has_no_value_and_says_why():
    blob = _jobs(400, 1, jobs=1)[0]
    pooled = Fvd().pool([blob])
    assert pooled.value is None and "at least 2 feature vectors" in pooled.note
