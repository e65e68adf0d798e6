"""benchmarks/paired_deltas.py on a real store: two x264 entries on two real clips."""

import importlib.util
import sqlite3

import numpy as np
import pytest

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark

from .conftest import ROOT, write_two_clips


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("paired_deltas", ROOT / "benchmarks" / "paired_deltas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paired")
    (tmp / "clips").mkdir()
    clips = write_two_clips(tmp / "clips")
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(tmp / "run"),
            "metrics": ["psnr-y"],
            "codec": [
                {"name": "x264", "label": "fast", "qps": [28, 36], "params": {"preset": "ultrafast"}},
                {"name": "x264", "label": "slow", "qps": [28, 36], "params": {"preset": "slow"}},
            ],
        }
    )
    assert run_benchmark(cfg).failed == 0
    return tmp / "run"


def _values(store, label: str) -> dict:
    with sqlite3.connect(store / "results.sqlite") as db:
        value = "json_extract(metrics, '$.\"psnr-y\"')"
        rows = db.execute(f"SELECT sequence, point, {value} FROM jobs WHERE codec = ?", (label,))
        return {(s, p): v for s, p, v in rows}


def test_the_mean_difference_and_the_count_are_those_of_the_pairs(bench, store, capsys):
    fast, slow = _values(store, "fast"), _values(store, "slow")
    d = np.array([slow[k] - fast[k] for k in sorted(fast)])
    args = ["--anchor", "fast", "--codec", "slow", "--metrics", "psnr-y", "--resamples", "200"]
    assert bench.main([str(store), *args]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("| psnr-y "))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == "4" and cells[4].startswith(f"{d.mean():+.4g} ") and cells[5] == f"{(d < 0).sum()} of 4"
    assert "no interval: too few pairs" in cells[4]  # 4 pairs: under the harness's minimum for a bootstrap


def test_excluded_clips_and_unknown_labels(bench, store, capsys):
    args = ["--anchor", "fast", "--codec", "slow", "--metrics", "kbps", "--exclude", "bikes"]
    assert bench.main([str(store), *args]) == 0
    assert "| kbps | 2 |" in capsys.readouterr().out
    assert bench.main([str(store), "--anchor", "fast", "--codec", "nope"]) == 2
    assert "no codec labelled 'nope'" in capsys.readouterr().err
