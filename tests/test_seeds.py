"""Stochastic codecs: one job per seed, the seed handed to the codec, spread in the reports."""

import logging
import sys

import numpy as np
import pytest

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore
from gvcbench.datasets.y4m import write_y4m
from gvcbench.errors import ConfigError
from gvcbench.reports.bdtables import bd_per_seed
from gvcbench.reports.curves import bd_table
from gvcbench.reports.seeds import seed_table
from gvcbench.reports.table import summary_rows

from .conftest import ROOT, gvcbench_logs, real_clip

NOISY = str(ROOT / "examples" / "noisy_codec.py")
QPS = [22, 28, 34, 40]


def noisy_entry(seeds=(0, 1, 2), **extra):
    return {
        "name": "external",
        "label": "noisy",
        "qps": QPS,
        "seeds": list(seeds),
        "params": {
            "encode": [sys.executable, NOISY, "encode", "{input}", "{bitstream}", "{qp}"],
            "decode": [sys.executable, NOISY, "decode", "{bitstream}", "{output}", "{seed}"],
            "version": "noisy 1",
            "stochastic": True,
            **extra,
        },
    }


def _config(clips, out, **kw):
    return config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(out),
            "jobs": 2,
            "metrics": ["psnr-y"],
            "keep_reconstructions": False,
            "codec": [
                noisy_entry(**kw),
                {"name": "x265", "qps": [24, 30, 36, 42], "seeds": [0, 1, 2], "params": {"preset": "ultrafast"}},
            ],
        }
    )


@pytest.fixture(scope="module")
def seeded_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds")
    (root / "clips").mkdir()
    write_y4m(real_clip(frames=3, size="64x64"), root / "clips" / "bunny.y4m")
    write_y4m(real_clip(frames=3, size="64x64", clip="bikes.mp4"), root / "clips" / "bikes.y4m")
    with gvcbench_logs(logging.WARNING) as warnings:
        summary = run_benchmark(_config(root / "clips", root / "run"))
    with ResultStore(root / "run", create=False) as store:
        return root, summary, warnings, store.records()


@pytest.mark.slow
def test_one_row_per_seed_for_stochastic_codecs_once_for_deterministic(seeded_run):
    root, summary, warnings, rows = seeded_run
    assert summary.failed == 0 and summary.planned == 2 * 4 * 3 + 2 * 4
    noisy = [r for r in rows if r["codec"] == "noisy"]
    assert sorted({r["seed"] for r in noisy}) == [0, 1, 2] and len(noisy) == 24
    assert {r["seed"] for r in rows if r["codec"] == "x265"} == {None}
    assert any("x265 is deterministic" in w for w in warnings)
    # the seed reached the decoder: same bitstream size, different reconstructions
    one = {r["seed"]: r for r in noisy if r["sequence"] == "bunny" and r["point"] == "qp28"}
    assert len({r["bytes"] for r in one.values()}) == 1
    assert len({r["metrics"]["psnr-y"] for r in one.values()}) == 3
    # the seed is part of the job key, and a rerun reuses every job
    assert len({r["job_key"] for r in rows}) == len(rows)
    again = run_benchmark(_config(root / "clips", root / "run"))
    assert again.skipped == again.planned


@pytest.mark.slow
def test_same_seed_same_output(seeded_run, tmp_path):
    root, *_ = seeded_run
    summary = run_benchmark(_config(root / "clips", tmp_path / "again", seeds=(1,)))
    assert summary.failed == 0
    with ResultStore(tmp_path / "again", create=False) as store:
        again = {(r["sequence"], r["point"]): r["metrics"]["psnr-y"] for r in store.rows() if r["codec"] == "noisy"}
    first = {
        (r["sequence"], r["point"]): r["metrics"]["psnr-y"]
        for r in seeded_run[3]
        if r["codec"] == "noisy" and r["seed"] == 1
    }
    assert again == first


@pytest.mark.slow
def test_tables_show_mean_and_spread_across_seeds(seeded_run):
    rows = seeded_run[3]
    _, table = summary_rows(rows)
    noisy = [t for t in table if t["codec"] == "noisy"]
    assert all(t["seeds"] == 3 and t["sequences"] == 2 and t["std"]["psnr-y"] > 0 for t in noisy)
    assert all("std" not in t for t in table if t["codec"] == "x265")
    spread = seed_table(rows, ["psnr-y"])
    assert {s["codec"] for s in spread} == {"noisy"} and all(s["psnr-y"]["seeds"] == 3 for s in spread)


@pytest.mark.slow
def test_bd_rate_per_seed_and_on_the_seed_mean(seeded_run):
    rows = seeded_run[3]
    entries = bd_per_seed(rows, bd_table(rows, "x265"), "x265")
    e = next(x for x in entries if x.codec == "noisy")
    assert set(e.per_seed) == {0, 1, 2} and len(set(e.per_seed.values())) == 3
    assert (
        min(e.per_seed.values()) < e.avg_curve < max(e.per_seed.values())
        or abs(e.avg_curve - np.mean(list(e.per_seed.values()))) < 1.0
    )


def test_templates_with_seed_need_a_stochastic_codec():
    entry = noisy_entry()
    entry["params"]["stochastic"] = False
    with pytest.raises(ConfigError, match="stochastic"):
        from gvcbench.bench.plan import make_codec

        make_codec("external", entry["params"])


@pytest.mark.parametrize("seeds", [[], [1, 1], [-1], ["a"], 3])
def test_bad_seeds_are_config_errors(seeds):
    entry = noisy_entry()
    entry["seeds"] = seeds
    with pytest.raises(ConfigError, match="seeds"):
        config_from_mapping({"codec": [entry]})


def test_dynamics_diffusion_generator_is_stochastic_warp_is_not():
    from gvcbench.codecs.dynamics.codec import DynamicsCodec

    assert not DynamicsCodec().stochastic
    codec = DynamicsCodec(generator="diffusion", diffusion_model="/nowhere", diffusion_seed=7)
    assert codec.stochastic and codec.default_seed == 7


@pytest.mark.slow
def test_report_shows_seed_spread_and_bd_per_seed(seeded_run, tmp_path):
    import json

    from gvcbench.reports.report import write_report

    root = seeded_run[0]
    files = write_report(root / "run", "x265", tmp_path / "rep", resamples=50)
    html, md = files.html.read_text(), files.markdown.read_text()
    assert "Spread across seeds" in html and "per seed" in html and "3 seeds" in html
    assert "## Spread across seeds" in md and "± " in md
    data = json.loads(files.json.read_text())
    noisy = next(b for b in data["bd"] if b["codec"] == "noisy" and b["method"] == "pchip")
    assert set(noisy["per_seed"]) == {"0", "1", "2"}
    assert "too few sequences" in noisy["avg_curve_ci"]["note"]  # two clips: no interval, the reason instead
    assert "too few sequences" in files.intervals.read_text()


@pytest.mark.slow
def test_gate_tests_each_codec_across_sequences_and_seeds(seeded_run, tmp_path):
    """A noisier decoder (same seeds) is a significant regression over 2 clips x 3 seeds;
    x265 with another preset moved on 2 units only: insufficient data."""
    import subprocess
    from xml.etree import ElementTree as ET

    from gvcbench.reports.regress import compare, failed, load_tolerances, make_baseline, write_junit

    root, _, _, base_rows = seeded_run
    noisy = noisy_entry(version="noisy 2")
    noisy["params"]["decode"] = noisy["params"]["decode"] + ["0.6"]
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(root / "clips")},
            "output": str(tmp_path / "cand"),
            "jobs": 2,
            "metrics": ["psnr-y"],
            "keep_reconstructions": False,
            "codec": [noisy, {"name": "x265", "qps": [24, 30, 36, 42], "params": {"preset": "fast"}}],
        }
    )
    assert run_benchmark(cfg).failed == 0
    with ResultStore(tmp_path / "cand", create=False) as store:
        cand = store.records()
    baseline = make_baseline(base_rows, "x265")
    findings = compare(cand, baseline, load_tolerances(None))
    paired = {(f.subject, f.check): f for f in findings if f.check.endswith(" paired")}
    psnr = paired[("noisy across sequences", "psnr-y paired")]
    assert psnr.outcome == "regressed" and "6 pairs" in psnr.message and psnr.candidate < psnr.baseline
    assert paired[("noisy across sequences", "kbps paired")].outcome == "ok"  # same bitstreams
    assert paired[("x265 across sequences", "psnr-y paired")].outcome == "insufficient data"
    assert failed(findings)
    versions = [f for f in findings if f.outcome == "version changed"]
    assert [(f.subject, f.message) for f in versions] == [("noisy", "noisy 1 -> noisy 2")]
    suite = ET.parse(write_junit(findings, tmp_path / "j.xml")).getroot()
    outcomes = {p.get("value") for p in suite.iter("property") if p.get("name") == "outcome"}
    assert {"regressed", "insufficient data", "version changed"} <= outcomes
    # the unchanged run passes, per seed: every pair equal
    same = compare(base_rows, baseline, load_tolerances(None))
    assert not failed(same) and {f.outcome for f in same} == {"ok"}
    # the paired bootstrap agrees; --test none drops the test
    from dataclasses import replace

    boot = compare(cand, baseline, replace(load_tolerances(None), test="bootstrap"))
    assert any(f.check == "psnr-y paired" and f.outcome == "regressed" for f in boot)
    (tmp_path / "b.json").write_text(__import__("json").dumps(baseline))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "gvcbench",
            "regress",
            str(tmp_path / "cand"),
            "--baseline",
            str(tmp_path / "b.json"),
            "--test",
            "none",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "paired" not in r.stdout and "version changed" in r.stdout


def test_significance_settings_are_checked(tmp_path):
    from gvcbench.reports.regress import load_tolerances

    (tmp_path / "t.toml").write_text('[significance]\ntest = "ttest"\n')
    with pytest.raises(ConfigError, match="wilcoxon, bootstrap or none"):
        load_tolerances(tmp_path / "t.toml")
    (tmp_path / "t.toml").write_text(
        '[significance]\ntest = "bootstrap"\nalpha = 0.01\nmin_pairs = 8\ncorrection = "none"\n'
    )
    t = load_tolerances(tmp_path / "t.toml")
    assert (t.test, t.alpha, t.min_pairs, t.correction) == ("bootstrap", 0.01, 8, "none")
    assert load_tolerances(None).correction == "holm"


def test_store_made_before_seeds_gains_the_column_and_keeps_its_rows(tmp_path):
    import sqlite3

    from gvcbench.bench.store import JOB_COLUMNS

    with ResultStore(tmp_path / "old.sqlite") as store:
        pass
    db = sqlite3.connect(tmp_path / "old.sqlite")
    cols = ", ".join(f"{k} {v}" for k, v in JOB_COLUMNS.items() if k != "seed")
    db.executescript(
        f"DROP TABLE jobs; CREATE TABLE jobs ({cols});"
        "INSERT INTO jobs (job_key, run_id, status, codec, codec_name, sequence, point) "
        "VALUES ('k', 'r', 'done', 'x265', 'x265', 's', 'qp32');"
    )
    db.close()
    with ResultStore(tmp_path / "old.sqlite", create=False) as store:
        rows = store.rows()
    assert len(rows) == 1 and rows[0]["seed"] is None


def test_seeds_option_is_checked_like_the_config_key(tmp_path):
    import subprocess

    r = subprocess.run(
        [sys.executable, "-m", "gvcbench", "run", "--codecs", "x265", "--seeds", "0", "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--seeds must be at least 1" in r.stderr and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_gate_cuts_seeded_curves_to_the_points_both_finished(seeded_run):
    """A run that lacks one seed of one point compares its BD-rates over the points both
    finished (it crashed averaging the seeds of rows that had lost their bpp)."""
    from gvcbench.reports.regress import compare, load_tolerances, make_baseline

    _, _, _, base_rows = seeded_run
    baseline = make_baseline(base_rows, "x265")
    lost = next(r for r in base_rows if r.codec == "noisy" and r.point == "qp40" and r.seed == 2)
    findings = compare([r for r in base_rows if r is not lost], baseline, load_tolerances(None))
    bd = [f for f in findings if f.check.startswith("bd-rate")]
    assert bd and all(f.outcome == "ok" for f in bd), [(f.subject, f.outcome, f.message) for f in bd]
