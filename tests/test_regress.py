"""The regression gate on real runs: unchanged passes, an injected regression fails."""

import json
import math
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
    # a job the baseline never had fails the gate too when it fails (it read "new" and passed)
    smaller = make_baseline(base[1:], None)
    findings = compare(broken, smaller, load_tolerances(None))
    lost = f"{broken[0].codec} / {broken[0].sequence} / {broken[0].point}"
    (first,) = [f for f in findings if f.subject == lost and f.check == "status"]
    assert first.outcome == "new failure" and "not in the baseline" in first.message and failed(findings)
    assert not failed(compare(base, smaller, load_tolerances(None)))
    # a point that failed in the baseline and fails again is listed, not silent, and not a regression
    findings = compare(broken, make_baseline(broken, None), load_tolerances(None))
    (still,) = [f for f in findings if f.subject == lost and f.check == "status"]
    assert still.outcome == "still failing" and "ToolError" in still.message and not failed(findings)
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
        ("[default]\nabs = -1\n", "must be a finite number >= 0"),
        ('[metric."psnr-y"]\nrel = "1%"\n', "must be a finite number >= 0"),
        ("[default]\nabs = inf\n", "an infinite tolerance would pass every change"),
        ("[default]\nabss = 3\n", r"\[default\] has abss; it takes only abs and rel"),
        ("[bd]\nrel = 0.1\n", r"\[bd\] has rel; it takes only abs"),
        ("abs = 0.1\n", r"abs is in no table; put it under \[default\]"),
        ("[default]\nrel = 1\n", "rel is a fraction of the baseline value"),
        ("[metric]\npsnr-y = 0.5\n", "metric.psnr-y must be a table with abs and/or rel"),
        ("default = 3\n", "default must be a table"),
        ("bd = 0.5\n", "bd must be a table"),
        ("[metric.bpp]\nabs = 0\n", r"the gate checks the rate in kbps; write \[metric.kbps\]"),
    ],
)
def test_tolerances_with_a_misspelt_metric_or_a_negative_value_are_refused(tmp_path, text, message):
    from gvcbench.errors import ConfigError
    from gvcbench.reports.regress import load_tolerances

    path = tmp_path / "tol.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_tolerances(path)


def test_baseline_file_parses_as_the_indented_layout_and_old_files_still_load(tmp_path):
    """The baseline is written one entry per line (the C encoder); read back it is the object
    the earlier indented dump held, and a baseline in that older layout loads as before."""
    import json

    from gvcbench.reports.regress import baseline_text, load_baseline

    base = {
        "schema": 1,
        "created": 1.5,
        "anchor": "x265",
        "directions": {"psnr-y": False, "lpips": True},
        "points": [
            {
                "codec": "x264",
                "sequence": 'odd "name", with {braces}\nand é',
                "point": f"qp{q}",
                "seed": None,
                "status": "done",
                "codec_version": "1",
                "sequence_hash": "ab",
                "kbps": 10.0 * q,
                "metrics": {"psnr-y": 30.0 + q / 3, "lpips": 0.1},
                "metric_versions": {"psnr-y": "1", "lpips": None},
            }
            for q in (22, 27)
        ],
        "bd": [{"codec": "x264", "metric": "psnr-y", "method": "pchip", "value": -3.25}],
        "sets": [],
    }
    text = baseline_text(base)
    assert json.loads(text) == json.loads(json.dumps(base, indent=1, sort_keys=True)) == base
    assert len(text.splitlines()) == 14  # 2 braces, 5 other keys, 2 lists of 2 and 1 entries with their brackets
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    new.write_text(text)
    old.write_text(json.dumps(base, indent=1, sort_keys=True))
    assert load_baseline(new) == load_baseline(old) == base


def test_unit_means_equal_numpys_per_group():
    import numpy as np

    from gvcbench.reports.significance import _means

    rng = np.random.default_rng(2)
    groups = [list(rng.normal(30, 5, n)) for n in rng.integers(1, 20, 500)]
    assert _means(groups) == [float(np.mean(g)) for g in groups]


def test_a_bd_rate_that_went_missing_is_explained_by_every_note_of_its_table_entry():
    """The gate computes the averaged curves' BD-rates only; one that went missing is
    explained with the full entry's notes (per-sequence ones included), as before."""
    from gvcbench.bench.records import JobResult
    from gvcbench.reports.curves import bd_table
    from gvcbench.reports.regress import Tolerances

    def rows(broken: bool) -> list[JobResult]:
        out = []
        for seq in ("a", "b", "c"):
            for codec, scale in (("x265", 1.0), ("x264", 1.3)):
                for q, rate in zip((37, 32, 27, 22), (10.0, 20.0, 40.0, 80.0)):
                    value = 30 + 3 * q / 10 if broken and codec == "x264" else 20 + 3 * (rate / 10) ** 0.5
                    out.append(
                        JobResult(
                            job_key=f"{codec}/{seq}/{q}",
                            codec=codec,
                            sequence=seq,
                            point=f"qp{q}",
                            qp=q,
                            kbps=rate * scale,
                            bpp=rate / 1000,
                            sequence_hash="h",
                            metrics={"psnr-y": value},
                            provenance={"psnr-y": {"version": "1", "spec": {"lower_better": False}}},
                        )
                    )
        return out

    base = make_baseline(rows(False), "x265")
    assert base["bd"][0]["value"] is not None
    broken = rows(True)  # x264's quality now falls with rate: no BD-rate at all
    findings = compare(broken, base, Tolerances(test="none"))
    (lost,) = [f for f in findings if f.check == "bd-rate:psnr-y"]
    (entry,) = bd_table(broken, "x265")
    assert lost.outcome == "missing" and lost.message == "; ".join(entry.notes)
    assert "x264 / a / psnr-y" in lost.message  # a per-sequence note


def _gate(*args):
    return subprocess.run(
        [sys.executable, "-m", "gvcbench", "regress", *map(str, args)], capture_output=True, text=True
    )


@pytest.mark.slow
def test_a_baseline_of_other_content_or_metric_versions_does_not_pass(runs, tmp_path):
    """A run on other frames (here 2 instead of 3) shares no comparable value with the
    baseline but its BD-rates; those compare other content too, so the gate cannot vouch
    for the run and exits 2 (it used to pass, the anchor's BD-rates reading "improved")."""
    root, base, _ = runs
    (root / "clips2").mkdir(exist_ok=True)
    write_y4m(real_clip(frames=2, size="64x64"), root / "clips2" / "bunny.y4m")
    other = _run(root / "clips2", tmp_path / "other", "ultrafast")
    findings = compare(other, make_baseline(base, "x265"), load_tolerances(None))
    bd = [f for f in findings if f.check.startswith("bd-rate")]
    assert bd and all(f.outcome == "not comparable" and "sequence content" in f.message for f in bd)
    assert _gate(root / "base", "--baseline", tmp_path / "b.json", "--save", "--anchor", "x265").returncode == 0
    r = _gate(tmp_path / "other", "--baseline", tmp_path / "b.json", "--junit", tmp_path / "j.xml")
    said = " ".join(r.stderr.split())
    assert r.returncode == 2 and "cannot vouch" in said and "other sequence content" in said, r.stdout + r.stderr
    assert "--save" in said and "no regression" not in r.stdout
    suite = ET.parse(tmp_path / "j.xml").getroot()  # a CI reading JUnit must not show green either
    assert int(suite.get("errors")) == len(suite.findall(".//error")) > 0 and suite.get("failures") == "0"
    import gvcbench

    assert gvcbench.regress(tmp_path / "other", tmp_path / "b.json").exit_code == 2
    # a metric whose version changed: its values cannot be compared, whatever they are
    data = json.loads((tmp_path / "b.json").read_text())
    for p in data["points"]:
        p["metric_versions"]["psnr-y"] = "0"
    (tmp_path / "old.json").write_text(json.dumps(data))
    r = _gate(root / "base", "--baseline", tmp_path / "old.json")
    said = " ".join(r.stderr.split())
    assert r.returncode == 2 and "metric versions changed: psnr-y (metric version 0 -> " in said, said
    r = _gate(root / "base", "--baseline", tmp_path / "b.json", "--anchor", "x265")  # --anchor needs --save
    assert r.returncode == 2 and "--anchor goes with --save" in " ".join(r.stderr.split())


@pytest.mark.slow
def test_points_failed_in_the_baseline_are_reported_and_saving_them_warns(runs, tmp_path):
    root, base, _ = runs
    broken = [replace(base[0], status="failed", error="ToolError: x264 exited with status 1")] + list(base[1:])
    findings = compare(base, make_baseline(broken, None), load_tolerances(None))
    new = [f for f in findings if f.outcome == "new"]
    assert len(new) == 1 and "failed in the baseline" in new[0].message
    # --save on a store with a failed job says so
    import shutil
    import sqlite3

    shutil.copytree(root / "base", tmp_path / "run")
    with sqlite3.connect(tmp_path / "run" / "results.sqlite") as db:
        db.execute(
            "UPDATE jobs SET status = 'failed', error = 'ToolError: boom' WHERE rowid = (SELECT min(rowid) FROM jobs)"
        )
    r = _gate(tmp_path / "run", "--baseline", tmp_path / "b.json", "--save")
    said = " ".join(r.stderr.split())
    assert r.returncode == 0 and "1 of these points did not finish" in said and "save the baseline again" in said


def test_a_bd_rate_change_is_said_in_percentage_points_and_direction():
    from gvcbench.reports.regress import _compare_bd_value

    f = _compare_bd_value("BD-rate x264 vs x265", "bd-rate:psnr-y", -56.1537, -49.0157, 0.25)
    assert f.outcome == "regressed"
    assert f.message == (
        "-56.15 % -> -49.02 %, +7.14 percentage points (worse: more bits for the same quality), tolerance 0.25 points"
    )
    assert _compare_bd_value("s", "c", -10.0, -12.0, 0.25).outcome == "improved"


def test_a_failure_reason_keeps_the_last_line_of_a_tool_log():
    from gvcbench.errors import error_summary as failure_reason

    error = "ToolError: python3 exited with status 1; last lines of its log:\n  step 1\n  deliberate failure at qp 40\n"
    assert failure_reason(error) == (
        "ToolError: python3 exited with status 1; last lines of its log: ... deliberate failure at qp 40"
    )
    assert failure_reason("CodecError: plain\nmore") == "CodecError: plain"
    assert failure_reason(None) == ""


@pytest.mark.slow
def test_a_baseline_of_other_sequences_says_so(runs, tmp_path):
    root, base, _ = runs
    elsewhere = [replace(r, sequence="foreman") for r in base]
    findings = compare(elsewhere, make_baseline(base, None), load_tolerances(None))
    why = [f for f in findings if f.check == "coverage"]
    assert failed(findings) and len(why) == 1
    assert "sequences: baseline bunny; this run foreman" in why[0].message
    # the command line: bad input (exit 2), not a regression of this run (exit 1)
    (tmp_path / "clips").mkdir()
    write_y4m(real_clip(frames=2, size="64x64", clip="bikes.mp4"), tmp_path / "clips" / "bikes.y4m")
    _run(tmp_path / "clips", tmp_path / "other", "ultrafast")
    _gate(root / "base", "--baseline", tmp_path / "b.json", "--save")
    r = _gate(tmp_path / "other", "--baseline", tmp_path / "b.json")
    said = " ".join(r.stderr.split())
    assert r.returncode == 2 and "no (codec, sequence, rate point) of this run is in the baseline" in said, said
    assert "sequences: baseline bunny; this run bikes" in said


@pytest.mark.slow
def test_a_bd_rate_is_compared_over_the_points_both_finished(runs):
    """A sequence the baseline lacks changes the averaged curves' BD-rate without any codec
    changing: the gate computes both BD-rates over the shared points, so it neither blames
    the codec nor lets a real change through behind the new sequence."""
    _, base, _ = runs

    def other_sequence(r, x264_rate):  # a second clip on which x264 needs half the bits
        return replace(
            r, sequence="bikes", job_key=r.job_key + "-bikes", kbps=r.kbps * (x264_rate if r.codec == "x264" else 1)
        )

    baseline = make_baseline(base, "x265")
    grown = base + [other_sequence(r, 0.5) for r in base]
    bd = [f for f in compare(grown, baseline, load_tolerances(None)) if f.check.startswith("bd-rate")]
    assert bd and {f.outcome for f in bd} == {"ok"}, bd
    assert all(abs(f.delta) < 1e-9 and "both over the 8 points both finished" in f.message for f in bd)
    # a real change of x264 on the shared clip still fails, the added clip notwithstanding
    worse = [replace(r, kbps=r.kbps * 1.2) if r.codec == "x264" else r for r in base]
    bd = [f for f in compare(worse + [other_sequence(r, 0.3) for r in base], baseline, load_tolerances(None))]
    assert [f.outcome for f in bd if f.check == "bd-rate:psnr-y"] == ["regressed"]
    # the saved BD-rates stand where the run finished exactly the baseline's points
    (same,) = [f for f in compare(base, baseline, load_tolerances(None)) if f.check == "bd-rate:psnr-y"]
    assert "both finished" not in same.message


@pytest.mark.slow
def test_a_metric_the_baseline_does_not_hold_is_named_as_unchecked(runs):
    _, base, _ = runs
    baseline = make_baseline([replace(r, metrics={}) for r in base], None)  # a baseline of the rate alone
    findings = compare(base, baseline, load_tolerances(None))
    new = [f for f in findings if f.subject == "the baseline"]
    assert [(f.check, f.outcome) for f in new] == [("psnr-y", "new")] and "not checked" in new[0].message


def test_junit_stays_valid_xml_with_an_encoders_colour_codes(tmp_path):
    """A failure reason holding a terminal colour code (ESC) made the JUnit file unreadable."""
    from gvcbench.reports.regress import Finding, write_junit

    bad = Finding("x / clip / qp30", "status", "new failure", message="\x1b[31mERROR\x1b[0m: out of memory\x00")
    write_junit(
        [bad, Finding("x / clip / qp30", "psnr-y", "not comparable", message="\x1b[1mv2\x1b[0m")], tmp_path / "j.xml"
    )
    suite = ET.parse(tmp_path / "j.xml").getroot()
    assert suite.find(".//failure").get("message") == "new failure: [31mERROR[0m: out of memory"
    assert suite.get("failures") == "1" and suite.get("errors") == "1"


def _curves(codecs=(("anchor", 1.0), ("test", 0.5)), seqs=("a", "b"), metric="psnr-y", value=None):
    """Synthetic RD rows: one curve per codec and sequence (the test codec needs ``scale`` x the rate)."""
    from tests.test_bdrate import _row

    rates = [10.0, 20.0, 40.0, 80.0]
    rows = []
    for codec, scale in codecs:
        for seq in seqs:
            for qp, r in zip((52, 47, 42, 37), rates):
                v = value(r) if value else 30 + 3 * math.log2(r / 10)
                row = _row(
                    codec,
                    seq,
                    qp,
                    r * scale,
                    v,
                    metric=metric,
                    lower=metric == "fvd",
                    axis="5000-x" if metric == "fvd" else "x",
                )
                rows.append(replace(row, job_key=f"{codec}/{seq}/{qp}"))
    return rows


def test_a_run_whose_anchor_failed_reports_the_bd_rate_missing_when_the_points_differ():
    """The like-for-like recompute raised (anchor not among the rows) instead of a finding."""
    rows = _curves()
    baseline = make_baseline(rows, "anchor")
    broken = [replace(r, status="failed", error="boom", metrics={}) if r.codec == "anchor" else r for r in rows]
    bd = [f for f in compare(broken, baseline, load_tolerances(None)) if f.check.startswith("bd-rate")]
    assert [f.outcome for f in bd] == ["missing"] and failed(bd)


def test_a_rate_of_0_or_less_in_the_run_is_a_regression_not_an_improvement():
    """A finished row with 0 kbps (or less: a broken or hand-edited row) is no result, as every
    curve leaves it out; the gate called it 'improved' (-100 %) and passed."""
    rows = _curves()
    baseline = make_baseline(rows, None)
    for rate in (0.0, -5.0):
        broken = [replace(r, kbps=rate) if r.job_key == "test/a/52" else r for r in rows]
        findings = compare(broken, baseline, load_tolerances(None))
        (f,) = [f for f in findings if f.subject == "test / a / qp52" and f.check == "kbps"]
        assert f.outcome == "regressed" and failed(findings), f
        assert f.message == f"5 -> {rate:g} in this run: a rate of 0 or less is no result (a broken row)"


def test_a_baseline_with_a_rate_of_0_or_less_is_refused_and_not_written(tmp_path):
    """--save wrote a broken row's 0 kbps into the baseline, and every later run with a real
    rate there 'regressed'; a hand-edited baseline with one is refused as well."""
    from gvcbench.errors import GvcbenchError
    from gvcbench.reports.regress import check_baseline, save_baseline

    rows = [replace(r, kbps=0.0) if r.job_key == "test/a/52" else r for r in _curves()]
    with pytest.raises(GvcbenchError) as exc:
        save_baseline(rows, tmp_path / "b.json", "anchor")
    assert "test / a / qp52 has a rate of 0 kbps; a baseline holds only positive rates" in str(exc.value)
    assert not (tmp_path / "b.json").exists()
    base = make_baseline(_curves(), None)
    base["points"][0]["kbps"] = -1.0
    with pytest.raises(GvcbenchError, match="has a rate of -1 kbps"):
        check_baseline(base, "baseline b.json")


def test_a_set_level_bd_rate_over_another_test_set_is_not_comparable():
    """FVD's BD-rate pools the whole set: with a sequence added it cannot be cut to the shared
    points, and recomputing the baseline's from this run's set values hid a regression."""
    from gvcbench.bench.records import SetValue

    def build(shift, seqs):
        rows = _curves(seqs=seqs, metric="fvd", value=lambda r: 450 - 100 * math.log2(r / 10))
        for r in rows:
            r.provenance["fvd"]["spec"]["granularity"] = "set"
        sets = [
            SetValue(c, f"qp{qp}", "fvd", 400 - 100 * math.log2(r / 10) + (shift if c == "test" else 0), tuple(seqs))
            for c in ("anchor", "test")
            for qp, r in zip((52, 47, 42, 37), (10.0, 20.0, 40.0, 80.0))
        ]
        return rows, sets

    rows, sets = build(0.0, ("a", "b"))
    baseline = make_baseline(rows, "anchor", sets)
    same_rows, same_sets = build(60.0, ("a", "b"))
    (same,) = [f for f in compare(same_rows, baseline, load_tolerances(None), same_sets) if f.check == "bd-rate:fvd"]
    assert same.outcome == "regressed"
    grown_rows, grown_sets = build(60.0, ("a", "b", "c"))
    (grown,) = [f for f in compare(grown_rows, baseline, load_tolerances(None), grown_sets) if f.check == "bd-rate:fvd"]
    assert grown.outcome == "not comparable" and "pools the whole test set, and the sets differ" in grown.message


def test_junit_naming_the_baseline_or_the_tolerances_is_refused_before_it_overwrites_them(tmp_path):
    """`gvcbench regress STORE --baseline b.json --junit b.json` wrote the JUnit XML over the
    baseline, and the next gate stopped at "baseline b.json cannot be read"."""
    from typer.testing import CliRunner

    from gvcbench.cli import app

    with ResultStore(tmp_path / "run") as store:
        for row in _curves():
            store.put(replace(row, run_id="r", codec_name=row.codec))
    baseline, tolerances = tmp_path / "b.json", tmp_path / "tol.toml"
    tolerances.write_text("[default]\nabs = 0.1\n")
    saved = CliRunner().invoke(app, ["regress", str(tmp_path / "run"), "--baseline", str(baseline), "--save"])
    assert saved.exit_code == 0, saved.output
    before = baseline.read_text()
    for junit, option in ((baseline, "--baseline"), (tmp_path / "." / "tol.toml", "--tolerances")):
        r = CliRunner().invoke(
            app,
            ["regress", str(tmp_path / "run"), "--baseline", str(baseline), "--tolerances", str(tolerances)]
            + ["--junit", str(junit)],
        )
        assert r.exit_code == 2, r.output
        assert f"is the {option} file: the JUnit XML would overwrite it" in " ".join(r.output.split())
    assert baseline.read_text() == before and tolerances.read_text() == "[default]\nabs = 0.1\n"
    junit = tmp_path / "j.xml"
    ok = CliRunner().invoke(app, ["regress", str(tmp_path / "run"), "--baseline", str(baseline), "--junit", str(junit)])
    assert ok.exit_code == 0 and junit.is_file(), ok.output


@pytest.mark.slow
def test_a_metric_name_typed_short_is_suggested_as_the_names_it_starts(runs, tmp_path):
    """`[metric."psnr"]` in a tolerances file suggested 'xpsnr' (closest in spelling), as
    `--metrics psnr` put it first; a name typed short is the start of the one meant."""
    root, _, _ = runs
    saved = _gate(root / "base", "--baseline", tmp_path / "b.json", "--save", "--anchor", "x265")
    assert saved.returncode == 0, saved.stderr
    (tmp_path / "t.toml").write_text('[metric."psnr"]\nabs = 0.1\n')
    r = _gate(root / "base", "--baseline", tmp_path / "b.json", "--tolerances", tmp_path / "t.toml")
    said = " ".join(r.stderr.split())
    assert r.returncode == 2 and said.endswith("[metric.psnr] names no metric; did you mean 'psnr-y'?"), said
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "gvcbench",
            "run",
            "--dataset",
            root / "clips",
            "--metrics",
            "psnr",
            "-o",
            tmp_path / "r",
        ],
        capture_output=True,
        text=True,
    )
    said = " ".join(run.stderr.split())
    assert run.returncode == 2 and "unknown metric 'psnr'. Did you mean 'psnr-y', 'psnr-yuv', 'xpsnr'?" in said, said
    assert not (tmp_path / "r").exists()
