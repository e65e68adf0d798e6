"""Reconstructions of another size: pad or crop to the source, recorded in provenance."""

import sys

import numpy as np
import pytest

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore
from gvcbench.datasets.container import read_container
from gvcbench.datasets.y4m import write_y4m
from gvcbench.errors import ConfigError

from .conftest import real_clip

ENC = (
    "import shutil, sys; shutil.copy(sys.argv[1], sys.argv[3] + '/keep.y4m'); open(sys.argv[2], 'wb').write(b'x' * 99)"
)
# The decoder hands back the source cut to 64x48, or grown to 64x96 with zero rows below it.
DEC = """
import sys
import numpy as np
from gvcbench.datasets.y4m import read_y4m
from gvcbench.datasets.yuv import write_yuv
seq = read_y4m(sys.argv[1] + '/keep.y4m')
if sys.argv[3] == 'cut':
    planes = (seq.y[:, :48], seq.u[:, :24], seq.v[:, :24])
else:
    planes = tuple(np.concatenate([p, np.zeros_like(p)[:, :p.shape[1] // 2]], axis=1) for p in (seq.y, seq.u, seq.v))
write_yuv(seq.with_planes(*planes), sys.argv[2])
"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    seq = real_clip(frames=2, size="64x64")
    write_y4m(seq, folder / "bbb.y4m")
    return folder, seq


def _run(folder, out, mode, policy, size):
    params = {
        "encode": [sys.executable, "-c", ENC, "{input}", "{bitstream}", "{workdir}"],
        "decode": [sys.executable, "-c", DEC, "{workdir}", "{output}", mode],
        "output_size": size,
        "qp_min": 1,
        "qp_max": 1,
    }
    if policy:
        params["size_policy"] = policy
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(folder)},
            "output": str(out),
            "jobs": 1,
            "metrics": ["psnr-y"],
            "codec": [{"name": "external", "qps": [1], "params": params}],
        }
    )
    summary = run_benchmark(cfg)
    with ResultStore(out, create=False) as store:
        return summary, store.rows()[0]


@pytest.mark.slow
def test_pad_and_crop_fit_exactly_and_are_recorded(clip, tmp_path):
    folder, seq = clip
    summary, row = _run(folder, tmp_path / "pad", "cut", "pad", "64x48")
    assert summary.failed == 0
    recon = read_container(tmp_path / "pad" / row["reconstruction"])
    want_y = np.concatenate([seq.y[:, :48], np.repeat(seq.y[:, 47:48], 16, axis=1)], axis=1)
    assert np.array_equal(recon.y, want_y)
    assert np.array_equal(recon.u[:, 24:], np.repeat(seq.u[:, 23:24], 8, axis=1))
    record = row["provenance"]["psnr-y"]["reconstruction_size"]
    assert record == {
        "size_policy": "pad",
        "decoded_size": "64x48",
        "source_size": "64x64",
        "how": "right and bottom by edge repetition",
    }
    summary, row = _run(folder, tmp_path / "crop", "grow", "crop", "64x96")
    recon = read_container(tmp_path / "crop" / row["reconstruction"])
    assert np.array_equal(recon.y, seq.y) and np.array_equal(recon.v, seq.v)
    assert row["provenance"]["psnr-y"]["reconstruction_size"]["size_policy"] == "crop"


@pytest.mark.slow
def test_default_refuses_and_wrong_direction_is_an_error(clip, tmp_path):
    folder, _ = clip
    summary, row = _run(folder, tmp_path / "refuse", "cut", None, "64x48")
    assert summary.failed == 1 and "decoded frames are 64x48, the input is 64x64" in row["error"]
    summary, row = _run(folder, tmp_path / "wrong", "grow", "pad", "64x96")
    assert (
        summary.failed == 1 and "size_policy pad: the reconstruction is 64x96, larger than the source" in row["error"]
    )
    with pytest.raises(ConfigError, match="size_policy must be one of refuse, crop, pad"):
        _run(folder, tmp_path / "bad", "cut", "stretch", "64x48")


def test_precomputed_raw_reconstruction_of_another_size_is_padded(clip, tmp_path):
    from gvcbench.datasets.yuv import write_yuv

    folder, seq = clip
    (tmp_path / "recon").mkdir()
    write_yuv(seq.with_planes(seq.y[:, :48], seq.u[:, :24], seq.v[:, :24]), tmp_path / "recon" / "bbb_qp5.yuv")
    (tmp_path / "sizes.csv").write_text("sequence,qp,bytes\nbbb,5,1000\n")
    params = {
        "reconstructions": str(tmp_path / "recon" / "{sequence}_qp{qp}.yuv"),
        "sizes": str(tmp_path / "sizes.csv"),
        "size_policy": "pad",
        "recon_size": "64x48",
    }
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(folder)},
            "output": str(tmp_path / "run"),
            "jobs": 1,
            "metrics": ["psnr-y"],
            "codec": [{"name": "precomputed", "qps": [5], "params": params}],
        }
    )
    assert run_benchmark(cfg).failed == 0
    with ResultStore(tmp_path / "run", create=False) as store:
        row = store.rows()[0]
    recon = read_container(tmp_path / "run" / row["reconstruction"])
    assert np.array_equal(recon.y[:, 48:], np.repeat(seq.y[:, 47:48], 16, axis=1))
    assert row["provenance"]["psnr-y"]["reconstruction_size"]["decoded_size"] == "64x48"
    assert row["bytes"] == 1000
