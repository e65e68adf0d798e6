"""FID through pytorch-fid: our frame pipeline and pooled value against pytorch-fid's own
(image files, its InceptionV3 loaded from the torch hub cache, its Fréchet distance), and
the whole path in real `gvcbench run`s, with the weights and without.

The FID Inception weights cannot be had here, so the real architecture gets seeded random
weights (He-initialised convolutions, so activations stay finite); the resolver's table
names the published SHA-256, which such a file cannot have, so the tests put the random
file's hash in the table (in the driver and, through a sitecustomize, in the workers).
"""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from gvcbench import weights as W
from gvcbench.bench.store import ResultStore
from gvcbench.datasets.y4m import write_y4m
from gvcbench.metrics.fid import WEIGHTS_FILE, Fid
from gvcbench.metrics.frechet import FeatureStats, frechet_distance, frechet_from_features
from gvcbench.metrics.setmetric import decode_features
from gvcbench.metrics.torch_input import rgb_uint8

from .conftest import real_clip

ROOT = Path(__file__).resolve().parents[1]


def random_fid_weights(seed: int = 0) -> dict:
    """A state dict for pytorch-fid's FID Inception (torchvision's Inception3 layout, 1008 classes)."""
    import torchvision

    torch.manual_seed(seed)
    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net.state_dict()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fid-weights")
    path = folder / WEIGHTS_FILE
    torch.save(random_fid_weights(), path)
    return path


def _accept(monkeypatch, path: Path) -> None:
    """The random file stands in for the published one: its hash goes in the resolver's table."""
    entry = dataclasses.replace(W.KNOWN[WEIGHTS_FILE], sha256=W.sha256(path))
    monkeypatch.setitem(W.KNOWN, WEIGHTS_FILE, entry)


def _pairs(frames: int):
    """(reference, reconstruction) of two real clips; the 'reconstruction' is the same clip
    a few frames later (a real, different video)."""
    return [
        (
            real_clip(frames=frames, size="64x64", clip=c),
            real_clip(frames=frames, size="64x64", clip=c, start=3),
        )
        for c in ("bikes.mp4", "bigbuckbunny.mp4")
    ]


def _write_pngs(seqs, folder: Path) -> None:
    from PIL import Image

    folder.mkdir()
    for k, seq in enumerate(seqs):
        for i, frame in enumerate(rgb_uint8(seq, 0, seq.num_frames)):
            Image.fromarray(frame).save(folder / f"{k:02d}-{i:03d}.png")


@pytest.mark.slow
def test_fid_equals_pytorch_fid_on_the_same_frames(weights_file, tmp_path, monkeypatch):
    """pytorch-fid reads PNG files, loads its own InceptionV3 from the torch hub cache and
    computes its Fréchet distance; gvcbench reads the sequences, resolves the same file,
    pools two jobs through the set-metric interface. 64-d features (pytorch-fid's first block)
    keep it cheap; with 70 frames a side the covariances are regular."""
    from pytorch_fid import fid_score
    from pytorch_fid.inception import InceptionV3

    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    os.link(weights_file, hub / WEIGHTS_FILE)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GVCBENCH_WEIGHTS", raising=False)
    _accept(monkeypatch, weights_file)
    pairs = _pairs(frames=35)
    _write_pngs([r for r, _ in pairs], tmp_path / "ref")
    _write_pngs([d for _, d in pairs], tmp_path / "dist")

    theirs = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[64]]).eval()
    stats = [
        fid_score.compute_statistics_of_path(str(tmp_path / side), theirs, 16, 64, "cpu", 0) for side in ("ref", "dist")
    ]
    expected = fid_score.calculate_frechet_distance(*stats[0], *stats[1])

    metric = Fid(dims=64, batch_size=7)
    blobs = [metric.job_features(metric.features(r), metric.features(d)) for r, d in pairs]
    pooled = metric.pool(blobs)
    state = metric.state(blobs[0]).merge(metric.state(blobs[1]))
    mu, cov = state.reference.mean_cov()
    assert pooled.count == 70 and pooled.note is None
    assert np.allclose(mu, stats[0][0], rtol=1e-5, atol=1e-6)
    assert np.allclose(cov, stats[0][1], rtol=1e-4, atol=1e-6)
    assert expected > 0 and pooled.value == pytest.approx(expected, rel=1e-4)

    # Our Fréchet distances against pytorch-fid's on these real statistics
    ours = frechet_distance(*stats[0], *stats[1])
    assert ours == pytest.approx(expected, rel=1e-9)
    ref_f = np.concatenate([decode_features(b["reference"]) for b in blobs])
    dist_f = np.concatenate([decode_features(b["distorted"]) for b in blobs])
    scale = np.trace(stats[0][1]) + np.trace(stats[1][1])  # the terms that cancel down to the distance
    assert frechet_from_features(ref_f, dist_f) == pytest.approx(expected, abs=1e-7 * scale)


@pytest.mark.slow
def test_fewer_frames_than_dimensions_use_the_exact_form_and_say_so(weights_file, tmp_path, monkeypatch):
    monkeypatch.setenv("GVCBENCH_WEIGHTS", str(weights_file.parent))
    _accept(monkeypatch, weights_file)
    metric = Fid(dims=64)
    ref, dist = _pairs(frames=6)[0]
    rf, df = metric.features(ref), metric.features(dist)
    assert rf.dtype == np.float32 and rf.shape == (6, 64)
    pooled = metric.pool([metric.job_features(rf, df)])
    assert "6 reference feature vectors of dimension 64" in pooled.note
    mu_r, cov_r = FeatureStats(64).update(rf).mean_cov()
    mu_d, cov_d = FeatureStats(64).update(df).mean_cov()
    # the same quantity as the square-root form (less exactly computed on singular covariances)
    assert pooled.value == pytest.approx(frechet_distance(mu_r, cov_r, mu_d, cov_d), rel=1e-5)
    assert pooled.value == pytest.approx(metric.sequence_value(rf, df), rel=1e-12)


def test_missing_fid_weights_are_unavailable_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GVCBENCH_WEIGHTS", str(tmp_path / "empty"))
    reason = Fid().availability()
    assert WEIGHTS_FILE in reason and str(tmp_path / "empty" / WEIGHTS_FILE) in reason
    assert "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" in reason


def _gvcbench(args, env_extra: dict, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ) | env_extra
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env_extra.get("PYTHONPATH"), str(ROOT)) if p)
    return subprocess.run(
        [sys.executable, "-m", "gvcbench", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900
    )


def _run_config(tmp_path: Path) -> Path:
    clips = tmp_path / "clips"
    clips.mkdir()
    for c in ("bikes.mp4", "bigbuckbunny.mp4"):
        write_y4m(real_clip(frames=3, size="64x64", clip=c), clips / f"{c.split('.')[0]}.y4m")
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            output = "{tmp_path / "run"}"
            jobs = 2
            metrics = ["psnr-y", "fid"]
            keep_reconstructions = false
            [dataset]
            source = "{clips}"
            [[codec]]
            name = "x264"
            qps = [30, 45]
            params = {{ preset = "ultrafast" }}
            """
        )
    )
    return cfg


@pytest.mark.slow
def test_fid_in_a_real_run_pools_every_sequence_per_point(weights_file, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    digest = W.sha256(weights_file)
    (site / "sitecustomize.py").write_text(
        "import dataclasses\nfrom gvcbench import weights as W\n"
        f"W.KNOWN[{WEIGHTS_FILE!r}] = dataclasses.replace(W.KNOWN[{WEIGHTS_FILE!r}], sha256={digest!r})\n"
    )
    env = {
        "GVCBENCH_WEIGHTS": str(weights_file.parent),
        "TORCH_HOME": str(tmp_path / "torch"),
        "GVCBENCH_OFFLINE": "1",
        "PYTHONPATH": str(site),
    }
    done = _gvcbench(["run", "-c", str(_run_config(tmp_path))], env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    with ResultStore(tmp_path / "run", create=False) as store:
        rows, sets = store.rows(), store.set_values()
    assert len(rows) == 4 and all(r["status"] == "done" for r in rows)
    for r in rows:
        assert r["metrics"]["fid"] > 0 and r["features"]["fid"]["reference"]["shape"] == [3, 2048]
        assert r["provenance"]["fid"]["weights"][0]["sha256"] == digest
    by_point = {s["point"]: s for s in sets if s["metric"] == "fid"}
    assert set(by_point) == {"qp30", "qp45"}
    for s in by_point.values():
        assert list(s["sequences"]) == ["bigbuckbunny", "bikes"] and s["features"] == 6 and s["value"] > 0
        assert "6 reference feature vectors of dimension 2048" in s["note"]
    assert by_point["qp45"]["value"] > by_point["qp30"]["value"]  # coarser coding, farther features
    # the original's features were computed once per sequence and shared by both rate points
    assert len(list((tmp_path / "run" / "cache" / "reference").glob("fid-*.npy"))) == 2
    reported = _gvcbench(["report", str(tmp_path / "run"), "--anchor", "x264", "-o", "rep"], env, tmp_path)
    assert reported.returncode == 0, reported.stdout + reported.stderr
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert "fid" in data["axes"] and "fid" not in data["not_measured"]


@pytest.mark.slow
def test_fid_without_weights_is_recorded_not_measured_and_reported(tmp_path):
    empty = tmp_path / "weights"
    empty.mkdir()
    env = {"GVCBENCH_WEIGHTS": str(empty), "TORCH_HOME": str(tmp_path / "torch"), "GVCBENCH_OFFLINE": "1"}
    done = _gvcbench(["run", "-c", str(_run_config(tmp_path))], env, tmp_path)
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 0, out
    assert "metric fid is unavailable" in out and WEIGHTS_FILE in out
    with ResultStore(tmp_path / "run", create=False) as store:
        rows, sets = store.rows(), store.set_values()
    assert len(rows) == 4 and all(r["status"] == "done" and "psnr-y" in r["metrics"] for r in rows)
    assert all(WEIGHTS_FILE in r["metric_errors"]["fid"] for r in rows) and not sets
    reported = _gvcbench(["report", str(tmp_path / "run"), "--anchor", "x264", "-o", "rep"], env, tmp_path)
    assert reported.returncode == 0, reported.stdout + reported.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    not_measured = md.split("## Metrics not measured", 1)[1]
    assert "- fid:" in not_measured and WEIGHTS_FILE in not_measured and str(empty / WEIGHTS_FILE) in not_measured
