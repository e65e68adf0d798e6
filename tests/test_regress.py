"""The regression gate on real runs: unchanged passes, an injected regression fails."""

import subprocess
import sys
from dataclasses import replace
from xml.etree import ElementTree as ET

import pytest

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore
from gvcbench.datasets.y4m import write_y4m
from gvcbench.errors import ConfigError
from gvcbench.reports.regress import compare, failed, load_tolerances, make_baseline

from .conftest import real_clip


def _run(clips, out, x264_preset):
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(out),
            "jobs": 2,
            "metrics": ["psnr-y"],
            "keep_reconstructions": False,
            "codec": [
                {"name": "x265", "qps": [24, 30, 36, 42], "params": {"preset": "fast"}},
                {"name": "x264", "qps": [24, 30, 36, 42], "params": {"preset": x264_preset}},
            ],
        }
    )
    assert run_benchmark(cfg).failed == 0
    with ResultStore(out, create=False) as store:
        return store.records()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    (root / "clips").mkdir()
    write_y4m(real_clip(frames=3, size="64x64"), root / "clips" / "bunny.y4m")
    return root, _run(root / "clips", root / "base", "medium"), _run(root / "clips", root / "worse", "ultrafast")


@pytest.mark.slow
def test_unchanged_run_passes(runs):
    _, base, _ = runs
    findings = compare(base, make_baseline(base, "x265"), load_tolerances(None))
    assert not failed(findings) and {f.outcome for f in findings} == {"ok"}
    assert any(f.check == "bd-rate:psnr-y" for f in findings)


@pytest.mark.slow
def test_injected_regression_fails_and_says_what_moved(runs, tmp_path):
    root, base, worse = runs
    findings = compare(worse, make_baseline(base, "x265"), load_tolerances(None))
    assert failed(findings)
    bad = [f for f in findings if f.outcome == "regressed"]
    assert any(f.subject.startswith("x264 /") for f in bad)
    assert any(f.check == "bd-rate:psnr-y" and f.delta > 0 for f in bad)  # more bits for the same PSNR
    assert all(f.subject.startswith(("x264", "BD-rate x264")) for f in bad)  # x265 did not move
    # the CLI: exit 1, a table of what moved, JUnit XML with failures
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gvcbench",
            "regress",
            str(root / "base"),
            "--baseline",
            str(tmp_path / "b.json"),
            "--save",
            "--anchor",
            "x265",
        ],
        check=True,
        capture_output=True,
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "gvcbench",
            "regress",
            str(root / "worse"),
            "--baseline",
            str(tmp_path / "b.json"),
            "--junit",
            str(tmp_path / "j.xml"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "regressed" in r.stdout and "x264" in r.stdout
    suite = ET.parse(tmp_path / "j.xml").getroot()
    assert int(suite.get("failures")) == len([f for f in findings if f.outcome == "regressed"]) > 0
    ok = subprocess.run(
        [sys.executable, "-m", "gvcbench", "regress", str(root / "base"), "--baseline", str(tmp_path / "b.json")],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "no regression" in ok.stdout


@pytest.mark.slow
def test_new_failure_missing_and_tolerances(runs, tmp_path):
    _, base, _ = runs
    baseline = make_baseline(base, None)
    broken = list(base)
    broken[0] = replace(broken[0], status="failed", error="ToolError: x264 exited with status 1")
    findings = compare(broken[:-1], baseline, load_tolerances(None))
    outcomes = {f.outcome for f in findings}
    assert {"new failure", "missing"} <= outcomes and failed(findings)
    # a loose tolerance turns the injected shift into "ok"
    shifted = [replace(r, metrics={"psnr-y": r.metrics["psnr-y"] - 0.3}) for r in base]
    assert failed(compare(shifted, baseline, load_tolerances(None)))
    loose = tmp_path / "t.toml"
    loose.write_text('[metric."psnr-y"]\nabs = 0.5\n')
    assert not failed(compare(shifted, baseline, load_tolerances(loose)))
    loose.write_text('[metric."psnr-y"]\nabsolute = 0.5\n')
    with pytest.raises(ConfigError, match="takes only abs"):
        load_tolerances(loose)


@pytest.mark.parametrize(
    "text, message",
    [
        ('[metric."psnr_y"]\nabs = 0.1\n', "did you mean 'psnr-y'"),
        ("[default]\nabs = -1\n", "must be a number >= 0"),
        ('[metric."psnr-y"]\nrel = "1%"\n', "must be a number >= 0"),
    ],
)
def test_tolerances_with_a_misspelt_metric_or_a_negative_value_are_refused(tmp_path, text, message):
    from gvcbench.errors import ConfigError
    from gvcbench.reports.regress import load_tolerances

    path = tmp_path / "tol.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_tolerances(path)
