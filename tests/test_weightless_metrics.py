"""VMAF, XPSNR, the piq metrics and flow-epe on real clips, against the tools called directly."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gvcbench.datasets.y4m import write_y4m
from gvcbench.errors import MetricError, ToolError
from gvcbench.metrics import METRICS
from gvcbench.metrics.temporal import FlowEpe, farneback, luma8
from gvcbench.metrics.torch_input import rgb_uint8, to_tensor
from gvcbench.metrics.vmaf import Vmaf, libvmaf_frames
from gvcbench.metrics.xpsnr import Xpsnr
from gvcbench.tools import ffmpeg_exe

from .conftest import real_clip


@pytest.fixture(scope="module")
def pair():
    ref = real_clip(frames=4, size="128x128", clip="bikes.mp4")
    dist = ref.with_planes((ref.y // 8 * 8).astype(np.uint8), ref.u, ref.v)  # a real distortion: coarse luma
    return ref, dist


def test_vmaf_equals_ffmpeg_libvmaf_called_directly(pair, tmp_path):
    ref, dist = pair
    ours = Vmaf().frame_values(ref, dist)
    write_y4m(ref, tmp_path / "r.y4m")
    write_y4m(dist, tmp_path / "d.y4m")
    subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-i",
            "d.y4m",
            "-i",
            "r.y4m",
            "-lavfi",
            "libvmaf=log_fmt=json:log_path=direct.json",
            "-f",
            "null",
            "-",
        ],
        cwd=tmp_path,
        check=True,
    )
    direct = json.loads((tmp_path / "direct.json").read_text())
    expected = [f["metrics"]["vmaf"] for f in sorted(direct["frames"], key=lambda f: f["frameNum"])]
    assert np.allclose(ours, expected, atol=1e-6)
    assert 0 < ours.mean() < 100
    assert Vmaf().frame_values(ref, ref).mean() > 95


@pytest.mark.parametrize("size", ["18x18", "64x18", "18x64"])
def test_vmaf_scores_the_smallest_frames_it_allows(size):
    """The limit is no stricter than libvmaf: 18 px sides score (16 px ones crash FFmpeg)."""
    ref = real_clip(frames=2, size=size)
    dist = ref.with_planes((ref.y // 8 * 8).astype(np.uint8), ref.u, ref.v)
    assert 0 < Vmaf().frame_values(ref, dist).mean() < 100


@pytest.mark.parametrize("size", ["16x16", "64x16", "16x64"])
def test_vmaf_too_small_is_a_metric_error(size):
    ref = real_clip(frames=2, size=size)
    with pytest.raises(MetricError, match="at least 18x18"):
        Vmaf().frame_values(ref, ref)


def test_vmaf_on_a_file_ffmpeg_cannot_read_is_a_metric_error(tmp_path):
    """FFmpeg failing inside libvmaf is the metric's failure, not the codec's: a MetricError
    (the job keeps its bitstream and other metrics), never a CodecError that fails the job."""
    ref = real_clip(frames=2, size="64x64")
    write_y4m(ref, tmp_path / "ref.y4m")
    broken = tmp_path / "dist.y4m"
    broken.write_bytes((tmp_path / "ref.y4m").read_bytes()[:40])  # the header cut short
    with pytest.raises(MetricError, match="libvmaf filter failed"):
        libvmaf_frames(tmp_path / "ref.y4m", broken, Path("vmaf.json"), tmp_path)


def test_vmaf_timed_out_fails_the_job_so_a_rerun_measures_it(tmp_path):
    """A timeout (or an outside kill: the OOM killer) is not the input's fault: it stays a
    ToolError, so the job fails and the next run tries again instead of settling on "not
    measurable"."""
    ref = real_clip(frames=8, size="256x256")
    write_y4m(ref, tmp_path / "ref.y4m")
    with pytest.raises(ToolError, match="timed out") as caught:
        libvmaf_frames(tmp_path / "ref.y4m", tmp_path / "ref.y4m", Path("vmaf.json"), tmp_path, timeout=0.01)
    assert not isinstance(caught.value, MetricError)


def ffmpeg_xpsnr_stats(first, second, tmp_path) -> np.ndarray:
    """Per-frame XPSNR-Y from FFmpeg's xpsnr filter called directly, read from its stats file."""
    import re

    write_y4m(first, tmp_path / "first.y4m")
    write_y4m(second, tmp_path / "second.y4m")
    graph = "[0:v][1:v]xpsnr=stats_file=stats.txt"
    argv = [ffmpeg_exe(), "-loglevel", "error", "-i", "first.y4m", "-i", "second.y4m", "-lavfi", graph]
    subprocess.run([*argv, "-f", "null", "-"], cwd=tmp_path, check=True)
    text = (tmp_path / "stats.txt").read_text()
    return np.array([float(v) for v in re.findall(r"^n:\s*\d+\s+XPSNR y: (\S+)", text, re.MULTILINE)])


@pytest.fixture(scope="module")
def decoded(tmp_path_factory):
    """A real clip and its real AV1 reconstruction (aom at QP 50)."""
    from gvcbench.bench.plan import make_codec
    from gvcbench.codecs import RatePoint

    ref = real_clip(frames=6, size="96x96", clip="bikes.mp4")
    work = tmp_path_factory.mktemp("aom")
    codec = make_codec("aom", {})
    return ref, codec.decode(codec.encode(ref, RatePoint(qp=50), work, 120), work, 120).sequence


def test_xpsnr_equals_ffmpeg_xpsnr_called_directly(decoded, tmp_path):
    """Same values as the filter's own stats file (4 decimals), the original as its first input:
    the reverse order, libvmaf's, gives other values, so the order is what this pins."""
    ref, dist = decoded
    ours = Xpsnr().frame_values(ref, dist)
    direct = ffmpeg_xpsnr_stats(ref, dist, tmp_path)
    assert len(ours) == len(direct) == 6
    assert np.allclose(ours, direct, atol=6e-5, rtol=0)
    swapped = ffmpeg_xpsnr_stats(dist, ref, tmp_path)
    assert np.abs(swapped - ours).max() > 0.5
    assert 15 < ours.mean() < 60


@pytest.mark.parametrize("metric", [Vmaf, Xpsnr])
def test_file_metrics_read_the_harness_reference_file(metric, tmp_path):
    """The harness hands over the encoder's input Y4M (bench/job.measure): it is what the
    program reads as the original, with the same values as a copy written here."""
    ref = real_clip(frames=2, size="64x64")
    dist = ref.with_planes((ref.y // 8 * 8).astype(np.uint8), ref.u, ref.v)
    m = metric()
    copied = m.frame_values(ref, dist)
    m.reference_file = write_y4m(ref, tmp_path / "input.y4m")
    assert np.array_equal(m.frame_values(ref, dist), copied)
    m.reference_file = write_y4m(dist, tmp_path / "other.y4m")  # read, not the sequence passed
    assert not np.array_equal(m.frame_values(ref, dist), copied)
    m.reference_file = tmp_path / "gone.y4m"  # no such file: a copy of the reference
    assert np.array_equal(m.frame_values(ref, dist), copied)


def test_xpsnr_falls_as_the_distortion_grows():
    ref = real_clip(frames=3, size="64x64")
    coarse = [ref.with_planes((ref.y // q * q).astype(np.uint8), ref.u, ref.v) for q in (4, 8, 16)]
    values = [Xpsnr().frame_values(ref, dist) for dist in coarse]
    assert np.all(values[0] > values[1]) and np.all(values[1] > values[2])
    assert np.all(Xpsnr().frame_values(ref, ref) == 100.0)  # identical: capped as PSNR is


def test_xpsnr_first_frame_is_ffmpegs():
    """FFmpeg's filter takes the first frame's temporal activity against a black frame, so on a
    still clip with the same error in every frame the first scores ~5 dB higher than the rest.
    gvcbench keeps FFmpeg's values; this pins the behaviour (raise spec.version if it changes)."""
    ref = real_clip(frames=1, size="64x64")
    still = ref.with_planes(*(np.repeat(p, 3, axis=0) for p in (ref.y, ref.u, ref.v)))
    values = Xpsnr().frame_values(still, still.with_planes((still.y // 8 * 8).astype(np.uint8), still.u, still.v))
    assert values[1] == values[2] and values[0] - values[1] > 3


@pytest.mark.parametrize("size,ok", [("32x32", False), ("44x46", False), ("46x46", True)])
def test_xpsnr_refuses_frames_too_small_to_weight(size, ok):
    """Below 2025 luma pixels FFmpeg's filter quietly computes plain PSNR: refused instead."""
    ref = real_clip(frames=2, size=size)
    dist = ref.with_planes((ref.y // 8 * 8).astype(np.uint8), ref.u, ref.v)
    if ok:
        assert 0 < Xpsnr().frame_values(ref, dist).mean() < 100
    else:
        with pytest.raises(MetricError, match="at least 2025 luma pixels"):
            Xpsnr().frame_values(ref, dist)


@pytest.mark.parametrize("name,fn", [("ms-gmsd", "multi_scale_gmsd"), ("haarpsi", "haarpsi"), ("vif-p", "vif_p")])
def test_piq_metrics_equal_piq_called_frame_by_frame(name, fn, pair):
    import piq

    ref, dist = pair
    ours = METRICS.get(name)(batch_size=3).frame_values(ref, dist)
    for i in range(ref.num_frames):
        x = to_tensor(rgb_uint8(ref, i, i + 1), "cpu")
        y = to_tensor(rgb_uint8(dist, i, i + 1), "cpu")
        assert abs(ours[i] - getattr(piq, fn)(y, x, data_range=1.0).item()) <= 1e-6


def test_flow_epe_zero_for_identical_and_large_for_frozen_video():
    ref = real_clip(frames=4, size="128x128", clip="bikes.mp4")
    metric = FlowEpe()
    assert np.allclose(metric.frame_values(ref, ref), 0.0)
    frozen = ref.with_planes(np.repeat(ref.y[:1], 4, 0), np.repeat(ref.u[:1], 4, 0), np.repeat(ref.v[:1], 4, 0))
    values = metric.frame_values(ref, frozen)
    motion = [np.linalg.norm(farneback(luma8(ref, t - 1), luma8(ref, t)), axis=-1).mean() for t in (1, 2, 3)]
    assert len(values) == 3 and np.allclose(values, motion, atol=0.01)  # frozen output misses all the motion
    assert values.mean() > 0.5


def test_every_metric_has_direction_and_axis():
    for name in METRICS.names():
        spec = METRICS.get(name).spec
        assert (spec.bd_axis != "x") == spec.lower_better, name


def test_the_metrics_command_lists_every_metric_with_its_direction():
    import os
    import subprocess
    import sys

    from gvcbench.metrics import METRICS

    r = subprocess.run(
        [sys.executable, "-m", "gvcbench", "metrics"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for name in METRICS.names():
        assert any(line.startswith(f"│ {name} ") for line in lines), name
    psnr = next(line for line in lines if line.startswith("│ psnr-y "))
    assert "higher" in psnr and "dB" in psnr and "yes" in psnr
    lpips = next(line for line in lines if line.startswith("│ lpips "))
    assert "lower" in lpips and "1-x" in lpips


@pytest.mark.parametrize("sig", ["TERM", "INT"])
def test_vmaf_whose_ffmpeg_is_signalled_from_outside_fails_the_job(tmp_path, sig):
    """FFmpeg catches SIGTERM and SIGINT and exits with status 255 ("received signal 15"), never
    -15: a `kill` on a stuck FFmpeg, or a batch job being stopped, is no fault of the input and
    must not be stored as "not measurable" (a MetricError, which no later run measures again)."""
    import os
    import signal
    import threading
    import time

    ref = real_clip(frames=8, size="256x256")
    write_y4m(ref, tmp_path / "ref.y4m")
    many = tmp_path / "many.y4m"  # long enough to signal FFmpeg mid-run
    head, _, body = (tmp_path / "ref.y4m").read_bytes().partition(b"\n")
    many.write_bytes(head + b"\n" + body * 60)
    caught: list = []

    def measure():
        try:
            libvmaf_frames(many, many, Path("vmaf.json"), tmp_path, timeout=300)
        except Exception as exc:
            caught.append(exc)

    thread = threading.Thread(target=measure)
    thread.start()
    pid = None
    deadline = time.time() + 30
    while pid is None and time.time() < deadline:
        for entry in os.listdir("/proc"):
            try:
                cmdline = open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace")
            except OSError:
                continue
            if entry.isdigit() and "libvmaf" in cmdline and str(many) in cmdline:
                pid = int(entry)
        time.sleep(0.05)
    assert pid is not None, "FFmpeg did not start"
    time.sleep(0.3)
    os.kill(pid, getattr(signal, f"SIG{sig}"))
    thread.join(60)
    assert caught and isinstance(caught[0], ToolError), caught
    assert not isinstance(caught[0], MetricError), caught[0]
