"""FVD: the Fréchet distance in closed form, FVD behaviour on real clips with a seeded
random I3D (the Kinetics weights cannot be had here), and the set-level value in a run."""

import logging
import pickle
import warnings

import numpy as np
import pytest
import torch

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore
from gvcbench.datasets.y4m import write_y4m
from gvcbench.metrics.fvd import FeatureStats, FewFeaturesWarning, Fvd, FvdVideoGpt, frechet_distance, fvd_from_stats
from gvcbench.metrics.i3d import VideoGptI3D, build_inception_i3d

from .conftest import gvcbench_logs, real_clip


def test_frechet_distance_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 1.0])
    # diagonal covariances: |dmu|^2 + sum (sqrt(a) - sqrt(b))^2
    expected = 5.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, abs=1e-9)
    # commuting full covariances: same eigenvectors, so the distance is known through them
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    a, b = q @ np.diag([1.0, 4.0, 9.0]) @ q.T, q @ np.diag([4.0, 1.0, 1.0]) @ q.T
    assert frechet_distance(mu1, a, mu2, b) == pytest.approx(expected, abs=1e-8)
    assert frechet_distance(mu1, a, mu1, a) == pytest.approx(0.0, abs=1e-8)


def test_feature_stats_merge_exactly_and_pickle():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(50, 8))
    whole = FeatureStats(dim=8).update(feats)
    parts = (
        FeatureStats(dim=8).update(feats[:20]).merge(pickle.loads(pickle.dumps(FeatureStats(dim=8).update(feats[20:]))))
    )
    mu, cov = whole.mean_cov()
    assert np.allclose(mu, feats.mean(0)) and np.allclose(cov, np.cov(feats, rowvar=False))
    assert np.allclose(parts.mean_cov()[1], cov, atol=1e-12)
    with pytest.warns(FewFeaturesWarning, match="singular"):
        fvd_from_stats(FeatureStats(dim=8).update(feats[:5]), FeatureStats(dim=8).update(feats[5:10]))


@pytest.fixture(scope="module")
def random_i3d():
    torch.manual_seed(3)
    state = build_inception_i3d().state_dict()
    return state, VideoGptI3D(state, "cpu")


@pytest.mark.slow
def test_fvd_of_a_set_with_itself_is_zero_and_grows_with_noise(random_i3d):
    _, detector = random_i3d
    metric = FvdVideoGpt(detector=detector, clip_length=16, stride=16)
    clips = [real_clip(frames=32, size="64x64", clip=c) for c in ("bikes.mp4", "bigbuckbunny.mp4")]
    rng = np.random.default_rng(0)

    def noisy(seq, sigma):
        y = np.clip(seq.y + rng.normal(0, sigma, seq.y.shape), 0, 255).astype(np.uint8)
        return seq.with_planes(y, seq.u, seq.v)

    def stats(seqs):
        s = FeatureStats()
        for seq in seqs:
            s.update(metric.features(seq))
        return s

    ref = stats(clips)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewFeaturesWarning)
        assert fvd_from_stats(ref, stats(clips)) == pytest.approx(0.0, abs=1e-6)
        small = fvd_from_stats(ref, stats([noisy(c, 8) for c in clips]))
        large = fvd_from_stats(ref, stats([noisy(c, 40) for c in clips]))
    assert 0 < small < large


def test_missing_i3d_is_unavailable_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("GVCBENCH_WEIGHTS", raising=False)
    reason = Fvd().availability()
    assert "i3d_torchscript.pt" in reason and "bec6519f66ea534e" in reason


@pytest.mark.slow
def test_run_records_unavailable_metrics_and_pools_set_level_fvd(random_i3d, tmp_path, monkeypatch):
    state, _ = random_i3d
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setenv("GVCBENCH_WEIGHTS", str(weights))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GVCBENCH_OFFLINE", "1")
    clips = tmp_path / "clips"
    clips.mkdir()
    for c in ("bikes.mp4", "bigbuckbunny.mp4"):
        write_y4m(real_clip(frames=16, size="64x64", clip=c), clips / f"{c.split('.')[0]}.y4m")
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(tmp_path / "run"),
            "jobs": 2,
            "metrics": ["psnr-y", "lpips", "fvd-videogpt"],
            "keep_reconstructions": False,
            "codec": [{"name": "x264", "qps": [30, 45], "params": {"preset": "ultrafast"}}],
        }
    )
    # first without the I3D file: recorded as unavailable, and the run completes
    first = run_benchmark(cfg)
    assert first.done == 4 and "fvd-videogpt" in first.unavailable_metrics
    assert run_benchmark(cfg).skipped == 4  # still unavailable: nothing to redo
    torch.save(state, weights / "i3d_pretrained_400.pt")  # a user-supplied file in the unhashed slot
    with gvcbench_logs(logging.WARNING) as warnings_seen:
        summary = run_benchmark(cfg)
    assert summary.failed == 0 and summary.done == 4  # the jobs are redone now that the metric can run
    assert any("metric lpips is unavailable" in w and "alexnet-owt-7be5be79.pth" in w for w in warnings_seen)
    with ResultStore(tmp_path / "run", create=False) as store:
        rows, sets = store.rows(), store.set_values()
    for r in rows:
        assert "alexnet-owt-7be5be79.pth" in r["metric_errors"]["lpips"]
        # 16 frames make one clip: no per-sequence FVD, but the features feed the set-level value
        assert "at least 2 feature vectors" in r["metric_errors"]["fvd-videogpt"] and "psnr-y" in r["metrics"]
        assert r["provenance"]["fvd-videogpt"]["weights"][0]["published_sha256"] is None
    assert {(s["codec"], s["point"]) for s in sets} == {("x264", "qp30"), ("x264", "qp45")}
    by_point = {s["point"]: s for s in sets}
    assert by_point["qp30"]["sequences"] == ("bigbuckbunny", "bikes") and by_point["qp30"]["features"] == 2
    assert "singular" in by_point["qp30"]["note"]
    assert by_point["qp45"]["value"] > by_point["qp30"]["value"] > 0  # coarser coding, farther features


@pytest.mark.slow
def test_set_level_fvd_is_kept_per_dataset_and_read_with_its_rows(random_i3d, tmp_path, monkeypatch):
    """Two datasets in one store: each keeps its set-level FVD (schema 1 overwrote one with the
    other), and a reader takes the one that pools exactly the rows it shows."""
    from gvcbench.reports.selection import select

    state, _ = random_i3d
    (tmp_path / "weights").mkdir()
    torch.save(state, tmp_path / "weights" / "i3d_pretrained_400.pt")
    monkeypatch.setenv("GVCBENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("GVCBENCH_OFFLINE", "1")
    ids = {}
    for name, clips in (("both", ("bikes.mp4", "bigbuckbunny.mp4")), ("one", ("bikes.mp4",))):
        folder = tmp_path / name
        folder.mkdir()
        for c in clips:
            write_y4m(real_clip(frames=16, size="64x64", clip=c), folder / f"{c.split('.')[0]}.y4m")
        cfg = config_from_mapping(
            {
                "dataset": {"source": str(folder)},
                "output": str(tmp_path / "run"),
                "jobs": 2,
                "metrics": ["psnr-y", "fvd-videogpt"],
                "keep_reconstructions": False,
                "codec": [{"name": "x264", "qps": [30, 45], "params": {"preset": "ultrafast"}}],
            }
        )
        ids[name] = run_benchmark(cfg).run_id
    with ResultStore(tmp_path / "run", create=False) as store:
        values = store.set_values()
        latest, first = select(store), select(store, ids["both"])
    assert len(values) == 4 and len({s["dataset"] for s in values}) == 2  # 2 datasets x 2 points, none lost
    assert {tuple(s["sequences"]) for s in latest.set_values} == {("bikes",)}
    assert all(s["value"] is None and "at least 2 feature vectors" in s["note"] for s in latest.set_values)
    assert {tuple(s["sequences"]) for s in first.set_values} == {("bigbuckbunny", "bikes")}
    assert {r["sequence"] for r in latest.rows} == {"bikes"} and len(first.rows) == 4
