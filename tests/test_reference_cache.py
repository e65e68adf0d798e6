"""Reference-side work (the original's optical flow for flow-epe) computed once per
sequence, reused across rate points and codecs, keyed by content hash."""

import numpy as np
import pytest

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore
from gvcbench.datasets.container import read_container
from gvcbench.datasets.y4m import write_y4m
from gvcbench.metrics import reference_cache
from gvcbench.metrics.reference_cache import ReferenceCache
from gvcbench.metrics.temporal import FlowEpe

from .conftest import real_clip


def _degraded(seq, step):
    y = (seq.y.astype(np.int32) // step * step).astype(np.uint8)
    return seq.with_planes(y, seq.u, seq.v)


def test_cached_flow_epe_is_bit_identical_to_uncached(tmp_path):
    ref = real_clip(frames=5, size="96x96", clip="bikes.mp4")
    metric = FlowEpe()
    cache = ReferenceCache(tmp_path / "cache")
    for step in (8, 16, 32):  # three "rate points" of one sequence
        dist = _degraded(ref, step)
        uncached = metric.frame_values(ref, dist)
        feats = cache.get(metric, ref.content_hash(), lambda: metric.reference_features(ref))
        assert np.array_equal(metric.values_from_reference(feats, ref, dist), uncached)
    assert (cache.misses, cache.hits) == (1, 2)
    assert len(list((tmp_path / "cache").glob("flow-epe-*.npy"))) == 1
    # A fresh worker (empty memory) reads the file back: still bit-identical.
    reference_cache.clear_memory()
    again = ReferenceCache(tmp_path / "cache")
    feats = again.get(metric, ref.content_hash(), lambda: pytest.fail("recomputed instead of read"))
    assert np.array_equal(
        metric.values_from_reference(feats, ref, _degraded(ref, 8)), metric.frame_values(ref, _degraded(ref, 8))
    )


def test_a_changed_sequence_is_recomputed_not_read_stale(tmp_path):
    reference_cache.clear_memory()
    metric = FlowEpe()
    cache = ReferenceCache(tmp_path)
    ref = real_clip(frames=4, size="64x64")
    cache.get(metric, ref.content_hash(), lambda: metric.reference_features(ref))
    changed = ref.with_planes(ref.y[::-1].copy(), ref.u[::-1].copy(), ref.v[::-1].copy())  # same file name, new content
    feats = cache.get(metric, changed.content_hash(), lambda: metric.reference_features(changed))
    assert cache.misses == 2
    assert np.array_equal(
        metric.values_from_reference(feats, changed, _degraded(changed, 16)),
        metric.frame_values(changed, _degraded(changed, 16)),
    )
    # A truncated file is recomputed, not an error.
    for f in tmp_path.glob("*.npy"):
        f.write_bytes(f.read_bytes()[:100])
    reference_cache.clear_memory()
    cache2 = ReferenceCache(tmp_path)
    cache2.get(metric, ref.content_hash(), lambda: metric.reference_features(ref))
    assert cache2.misses == 1


@pytest.mark.slow
def test_a_run_computes_the_original_flow_once_per_sequence(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    write_y4m(real_clip(frames=4, size="64x64", clip="bikes.mp4"), clips / "bikes.y4m")
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(tmp_path / "run"),
            "jobs": 1,
            "metrics": ["flow-epe"],
            "codec": [{"name": "x264", "qps": [25, 35, 45], "params": {"preset": "ultrafast"}}],
        }
    )
    summary = run_benchmark(cfg)
    assert summary.done == 3
    assert len(list((tmp_path / "run" / "cache" / "reference").glob("flow-epe-*.npy"))) == 1
    source = real_clip(frames=4, size="64x64", clip="bikes.mp4")
    with ResultStore(tmp_path / "run", create=False) as store:
        for row in store.rows():
            recon = read_container(tmp_path / "run" / row["reconstruction"])
            assert row["frame_metrics"]["flow-epe"] == list(FlowEpe().frame_values(source, recon))
