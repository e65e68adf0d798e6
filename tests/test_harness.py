"""The run as a whole: planning, execution in worker processes, the store, resume."""

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore
from gvcbench.datasets.y4m import write_y4m
from gvcbench.tools import ffmpeg_exe

from .conftest import external_run, gvcbench_logs, real_clip, write_two_clips

FF = ffmpeg_exe()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return write_two_clips(tmp_path_factory.mktemp("clips"))


def _config(clips, out, codecs, **extra):
    return config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(out),
            "jobs": 2,
            "metrics": ["psnr-y", "psnr-yuv"],
            "codec": codecs,
            **extra,
        }
    )


@pytest.mark.slow
def test_run_stores_one_row_per_job_with_rates_and_metrics(clips, tmp_path):
    cfg = _config(
        clips,
        tmp_path / "run",
        [
            {"name": "x264", "qps": [30, 40], "params": {"preset": "ultrafast"}},
            {"name": "x265", "qps": [35], "params": {"preset": "ultrafast"}},
        ],
    )
    summary = run_benchmark(cfg)
    assert (summary.planned, summary.done, summary.failed) == (6, 6, 0)
    with ResultStore(tmp_path / "run", create=False) as store:
        rows = store.rows()
        runs = store.runs()
    assert len(rows) == 6 and len({r["job_key"] for r in rows}) == 6
    for r in rows:
        bitstream = Path(cfg.output, r["bitstream"])
        assert r["bytes"] == bitstream.stat().st_size
        assert r["kbps"] == pytest.approx(r["bytes"] * 8 / (3 / 25) / 1000)
        assert r["bpp"] == pytest.approx(r["bytes"] * 8 / (64 * 64 * 3))
        assert len(r["frame_metrics"]["psnr-y"]) == 3 and r["metrics"]["psnr-y"] > 20
        assert r["codec_version"].startswith(("libx264", "libx265"))
    assert runs[0]["environment"]["ffmpeg"] and runs[0]["config_hash"] == cfg.config_hash()
    assert runs[0]["environment"]["packages"]["numpy"] and "packages" not in rows[0]  # once per run, not per row
    # Same command again: nothing redone.
    again = run_benchmark(cfg)
    assert (again.skipped, again.done) == (6, 0)
    forced = run_benchmark(cfg, force=True)
    assert forced.done == 6


@pytest.mark.slow
def test_asking_for_other_metrics_keeps_the_ones_measured_before(clips, tmp_path):
    """A job runs again for a metric it lacks; the values of metrics not asked for this time
    stay (they were deleted: a rerun with another metric list lost hours of LPIPS or VTM)."""
    x264 = [{"name": "x264", "qps": [30, 40], "params": {"preset": "ultrafast"}}]
    first = run_benchmark(_config(clips, tmp_path / "run", x264, metrics=["psnr-y", "flow-epe"]))
    with ResultStore(tmp_path / "run", create=False) as store:
        before = {r.job_key: r for r in store.records()}
    second = run_benchmark(_config(clips, tmp_path / "run", x264, metrics=["psnr-y", "psnr-yuv"]))
    assert first.done == second.done == 4  # psnr-yuv was missing: every job ran again
    with ResultStore(tmp_path / "run", create=False) as store:
        after = {r.job_key: r for r in store.records()}
    for key, row in after.items():
        assert set(row.metrics) == {"psnr-y", "flow-epe", "psnr-yuv"}
        assert row.metrics["flow-epe"] == before[key].metrics["flow-epe"]
        assert row.frame_metrics["flow-epe"] == before[key].frame_metrics["flow-epe"]
        assert row.provenance["flow-epe"] == before[key].provenance["flow-epe"]
    third = run_benchmark(_config(clips, tmp_path / "run", x264, metrics=["psnr-y", "flow-epe"]))
    assert (third.done, third.skipped) == (0, 4)  # nothing to measure again


@pytest.mark.slow
def test_a_metric_unavailable_on_this_machine_keeps_its_stored_values(clips, tmp_path):
    """A rerun where FFmpeg has no libvmaf (or LPIPS weights are missing) must not replace the
    stored VMAF by "unavailable"; a bitstream of another size drops them, with a warning."""
    x264 = [{"name": "x264", "qps": [30, 40], "params": {"preset": "ultrafast"}}]
    run_benchmark(_config(clips, tmp_path / "run", x264, metrics=["psnr-y", "vmaf"]))
    with ResultStore(tmp_path / "run", create=False) as store:
        before = {r.job_key: r.metrics["vmaf"] for r in store.records()}
    no_vmaf = tmp_path / "ffmpeg"
    no_vmaf.write_text(
        f'#!/bin/sh\nfor a in "$@"; do [ "$a" = "-filters" ] && {{ "{FF}" "$@" | grep -v libvmaf; exit 0; }}; done\n'
        f'exec "{FF}" "$@"\n'
    )
    no_vmaf.chmod(0o755)
    from gvcbench import tools
    from gvcbench.metrics.vmaf import has_libvmaf

    def forget():  # the driver probes FFmpeg once per process
        tools.ffmpeg_exe.cache_clear()
        has_libvmaf.cache_clear()

    os.environ["GVCBENCH_FFMPEG"] = str(no_vmaf)  # the workers inherit it
    forget()
    try:
        assert not has_libvmaf()
        second = run_benchmark(_config(clips, tmp_path / "run", x264, metrics=["psnr-y", "vmaf", "psnr-yuv"]))
    finally:
        del os.environ["GVCBENCH_FFMPEG"]
        forget()
    assert second.done == 4
    with ResultStore(tmp_path / "run", create=False) as store:
        rows = store.records()
    assert {r.job_key: r.metrics["vmaf"] for r in rows} == before and all("vmaf" not in r.metric_errors for r in rows)
    # another bitstream size: the stored values belong to another encode and go, said aloud
    db = sqlite3.connect(tmp_path / "run" / "results.sqlite")
    with db:
        db.execute("UPDATE jobs SET bytes = bytes + 1")
    db.close()
    with gvcbench_logs(logging.WARNING) as warnings:
        run_benchmark(_config(clips, tmp_path / "run", x264, metrics=["psnr-y", "ms-gmsd"]))
    assert sum("are not kept" in w for w in warnings) == 4
    with ResultStore(tmp_path / "run", create=False) as store:
        assert all(set(r.metrics) == {"psnr-y", "ms-gmsd"} for r in store.records())


@pytest.mark.slow
def test_failures_are_rows_and_do_not_stop_other_jobs(clips, tmp_path):
    dropper = [
        FF,
        "-y",
        "-loglevel",
        "error",
        "-i",
        "{bitstream}",
        "-frames:v",
        "2",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "{output}",
    ]
    enc = [
        FF,
        "-y",
        "-loglevel",
        "error",
        "-i",
        "{input}",
        "-c:v",
        "libx264",
        "-qp",
        "{qp}",
        "-f",
        "h264",
        "{bitstream}",
    ]
    cfg = _config(
        clips,
        tmp_path / "run",
        [
            {"name": "x264", "qps": [30], "params": {"preset": "ultrafast"}},
            {
                "name": "external",
                "label": "drops-frames",
                "qps": [30],
                "params": {"encode": enc, "decode": dropper, "version": "t"},
            },
            {
                "name": "external",
                "label": "crashes",
                "qps": [30],
                "params": {"encode": [sys.executable, "-c", "import sys; sys.exit(9)"], "decode": dropper},
            },
            {"name": "vtm-ldb", "params": {"vtm_dir": str(tmp_path / "no-vtm")}},
        ],
    )
    old = os.environ.pop("VTM_DIR", None)
    try:
        with gvcbench_logs(logging.WARNING) as warnings:
            summary = run_benchmark(cfg)
    finally:
        if old:
            os.environ["VTM_DIR"] = old
    assert summary.done == 2 and summary.failed == 4 and not summary.ok
    assert "vtm-ldb" in summary.skipped_codecs and any("skipping codec vtm-ldb" in w for w in warnings)
    with ResultStore(tmp_path / "run", create=False) as store:
        by = {(r["codec"], r["sequence"]): r for r in store.rows()}
    assert "decoded 2 frames, the input has 3" in by[("drops-frames", "bikes")]["error"]
    assert "exited with status 9" in by[("crashes", "bikes")]["error"]
    assert by[("x264", "bikes")]["status"] == "done"


@pytest.mark.slow
def test_unavailable_metric_is_recorded_not_dropped(clips, tmp_path):
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(tmp_path / "run"),
            "metrics": ["psnr-y", "ms-ssim"],
            "codec": [{"name": "x264", "qps": [30]}],
        }
    )
    run_benchmark(cfg)
    with ResultStore(tmp_path / "run", create=False) as store:
        row = store.rows()[0]
    assert row["status"] == "done" and "psnr-y" in row["metrics"]
    assert "at least 161x161" in row["metric_errors"]["ms-ssim"]


def test_frames_too_small_for_vmaf_keep_the_other_metrics(clips, tmp_path):
    """libvmaf crashes FFmpeg on frames with a side under 18 px; that used to fail the whole
    job, PSNR included. Now VMAF is recorded as not measurable and PSNR is kept."""
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips), "size": "64x16"},
            "output": str(tmp_path / "run"),
            "metrics": ["psnr-y", "vmaf"],
            "codec": [{"name": "x264", "qps": [30]}],
        }
    )
    summary = run_benchmark(cfg)
    assert (summary.done, summary.failed) == (2, 0)
    with ResultStore(tmp_path / "run", create=False) as store:
        rows = store.rows()
    for row in rows:
        assert row["status"] == "done" and "psnr-y" in row["metrics"] and "vmaf" not in row["metrics"]
        assert "VMAF needs frames of at least 18x18" in row["metric_errors"]["vmaf"], row["metric_errors"]


def _cli(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "gvcbench", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw
    )


@pytest.mark.slow
def test_killed_run_resumes_without_redoing_finished_jobs(clips, tmp_path):
    out = tmp_path / "run"
    args = [
        "run",
        "--dataset",
        str(clips),
        "--codecs",
        "vvenc-ldb",
        "--qps",
        "30,34,38,42,46,50",
        "--metrics",
        "psnr-y",
        "--jobs",
        "1",
        "--output",
        str(out),
    ]
    proc = _cli(*args)
    db = out / "results.sqlite"
    deadline = time.time() + 120
    count = 0
    while time.time() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    count = con.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
            if count >= 3:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as con:
        first = dict(con.execute("SELECT job_key, finished_at FROM jobs").fetchall())
    assert 3 <= len(first) < 12, "the kill came too late to test resuming"
    result = subprocess.run([sys.executable, "-m", "gvcbench", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(first)} already in the store" in result.stdout
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT job_key, finished_at, status FROM jobs").fetchall()
    assert len(rows) == 12 and len({r[0] for r in rows}) == 12
    assert all(r[2] == "done" for r in rows)
    after = {r[0]: r[1] for r in rows}
    assert all(after[k] == t for k, t in first.items()), "a finished job was redone"


@pytest.mark.slow
def test_cli_results_exports(clips, tmp_path):
    out = tmp_path / "run"
    cfg = _config(clips, out, [{"name": "x264", "qps": [30], "params": {"preset": "ultrafast"}}])
    run_benchmark(cfg)
    for fmt in ("csv", "json", "parquet"):
        target = tmp_path / f"r.{fmt}"
        r = subprocess.run(
            [sys.executable, "-m", "gvcbench", "results", str(out), "-f", fmt, "-o", str(target)],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
    import pandas as pd

    assert len(pd.read_csv(tmp_path / "r.csv")) == 2
    assert len(json.loads((tmp_path / "r.json").read_text())) == 2
    assert set(pd.read_parquet(tmp_path / "r.parquet")["psnr-y"].round(3)) == set(
        pd.read_csv(tmp_path / "r.csv")["psnr-y"].round(3)
    )
    r = subprocess.run(
        [sys.executable, "-m", "gvcbench", "results", str(tmp_path / "missing")], capture_output=True, text=True
    )
    assert r.returncode == 2 and "no results store" in r.stderr


@pytest.mark.slow
def test_cli_bad_inputs_exit_2_with_a_message(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "gvcbench", "run", "--codecs", "vvenc", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "unknown codec 'vvenc'" in r.stderr and "vvenc-ldb" in r.stderr
    cfg = tmp_path / "c.toml"
    cfg.write_text('outptu = "x"\n')
    r = subprocess.run([sys.executable, "-m", "gvcbench", "run", "-c", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown key 'outptu'" in r.stderr


@pytest.mark.slow
def test_a_failed_job_line_says_what_the_codec_said(clips, tmp_path):
    """The terminal's "failed" line of a crashing command-line codec ends with what it wrote
    last, not with "last lines of its log:" and nothing after it."""
    crash = "import sys; sys.stderr.write('encoder exploded on purpose'); sys.exit(3)"
    config = external_run(
        tmp_path,
        tmp_path / "run",
        clips,
        [sys.executable, "-c", crash],
        [sys.executable, "-c", "pass"],
        label="crashes",
        metrics=["psnr-y"],
    )
    r = subprocess.run([sys.executable, "-m", "gvcbench", "run", "-c", str(config)], capture_output=True, text=True)
    said = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == 1 and "last lines of its log: ... encoder exploded on purpose" in said, said


@pytest.mark.slow
def test_a_renamed_codec_entry_reuses_its_jobs_under_the_new_label(clips, tmp_path):
    """Same settings, new label: nothing is encoded again, and the rows carry the new label
    (they kept the old one, so `bdrate --anchor NEW` failed)."""

    def run(label, qps=(30, 40)):
        cfg = _config(clips, tmp_path / "run", [{"name": "x264", "label": label, "qps": list(qps)}])
        with gvcbench_logs(logging.WARNING) as warnings:
            return run_benchmark(cfg), warnings

    first, _ = run("alpha")
    second, warnings = run("beta")
    assert first.done == 4 and second.done == 0 and second.skipped == 4
    assert any("stored under the label 'alpha'" in w for w in warnings)
    with ResultStore(tmp_path / "run", create=False) as store:
        assert {r["codec"] for r in store.rows()} == {"beta"}
    # renamed with another ladder: the shared job (QP 40) takes gamma; beta keeps QP 30, and
    # the second run's curve is read whole, under its labels, with --run
    third, warnings = run("gamma", (40, 50))
    assert third.done == 2 and third.skipped == 2
    assert any(
        "the other jobs of 'beta' keep it, so its earlier curve shows whole only with --run" in w for w in warnings
    )
    from gvcbench.reports.selection import select

    with ResultStore(tmp_path / "run", create=False) as store:
        assert {(r["codec"], r["qp"]) for r in store.rows()} == {("beta", 30), ("gamma", 40), ("gamma", 50)}
        assert {(r.codec, r.qp) for r in select(store).rows} == {("beta", 30), ("gamma", 40), ("gamma", 50)}
        assert {(r.codec, r.qp) for r in select(store, run=second.run_id).rows} == {("beta", 30), ("beta", 40)}


@pytest.mark.slow
def test_a_partly_renamed_setting_never_shares_a_label_with_another(clips, tmp_path):
    """Run 1: A = ultrafast, B = medium; run 2: B = ultrafast at two of A's QPs. No label may
    then hold both settings (one curve averaged ultrafast and medium rows), in any view."""
    from gvcbench.reports.selection import select

    def entry(label, preset, qps=(30, 34, 38, 42)):
        return {"name": "x264", "label": label, "qps": list(qps), "params": {"preset": preset}}

    first = run_benchmark(_config(clips, tmp_path / "run", [entry("A", "ultrafast"), entry("B", "medium")]))
    second = run_benchmark(_config(clips, tmp_path / "run", [entry("B", "ultrafast", (30, 34))]))
    assert second.skipped == second.planned == 4
    with ResultStore(tmp_path / "run", create=False) as store:
        for run_id in (None, first.run_id, second.run_id):
            presets: dict = {}
            for r in select(store, run=run_id).rows:
                presets.setdefault(r.codec, set()).add(r.codec_params["preset"])
            assert all(len(p) == 1 for p in presets.values()), (run_id, presets)
        assert {r.codec_params["preset"] for r in select(store).rows if r.codec == "B"} == {"ultrafast"}
        assert len(select(store, run=first.run_id).rows) == 16
        # A's curve in the default view lacks the 4 jobs now under B: a note says so and where
        said = " ".join(" ".join(select(store).notes).split())
        assert f"A: 4 job(s) of run {first.run_id[:8]} under this label now carry another" in said, said
        assert "4 under 'B'" in said and f"--run {first.run_id[:8]} shows it whole" in said, said


def test_a_run_from_before_schema_4_keeps_its_labels_after_a_later_rename(clips, tmp_path):
    """A run recorded before schema 4 has no label per job; the migration gives it the
    labels its rows carry then, so a later rename does not take its rows out of `--run`."""
    from gvcbench.reports.selection import select

    def entry(label, preset, qps=(30, 34)):
        return {"name": "x264", "label": label, "qps": list(qps), "params": {"preset": preset}}

    first = run_benchmark(_config(clips, tmp_path / "run", [entry("A", "ultrafast"), entry("B", "medium")]))
    db = sqlite3.connect(tmp_path / "run" / "results.sqlite")  # back to the layout of schema 3
    with db:
        db.execute("ALTER TABLE run_jobs DROP COLUMN codec")
        db.execute("ALTER TABLE run_jobs DROP COLUMN failed")
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    db.close()
    run_benchmark(_config(clips, tmp_path / "run", [entry("C", "ultrafast", (30,))]))  # migrates, renames one
    with ResultStore(tmp_path / "run", create=False) as store:
        old = select(store, run=first.run_id).rows
        assert sorted((r.codec, r.point) for r in old) == sorted(
            (c, f"qp{q}") for c in "AB" for q in (30, 34) for _ in range(2)
        ), [(r.codec, r.point) for r in old]


@pytest.mark.slow
def test_a_killed_latest_run_is_said_to_be_unfinished(clips, tmp_path):
    """The default view shows the latest run; when it was killed, the readers say so and
    name the codec it planned but has no result of yet (they used to say that codec "was
    not run on the dataset shown")."""
    out = tmp_path / "run"
    run_benchmark(_config(clips, out, [{"name": "x264", "qps": [30, 40], "params": {"preset": "ultrafast"}}]))
    (tmp_path / "clips2").mkdir()
    write_y4m(real_clip(frames=3, size="64x64", clip="bikes.mp4", start=30), tmp_path / "clips2" / "other.y4m")
    args = ["run", "--dataset", str(tmp_path / "clips2"), "--codecs", "vvenc-ldb,x264", "--qps", "30,34,38,42,46,50"]
    proc = _cli(*args, "--metrics", "psnr-y", "--jobs", "1", "--output", str(out))
    deadline, count = time.time() + 120, 0
    while time.time() < deadline and count < 1:
        with sqlite3.connect(out / "results.sqlite") as con:
            count = con.execute("SELECT COUNT(*) FROM jobs WHERE sequence = 'other'").fetchone()[0]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    r = subprocess.run([sys.executable, "-m", "gvcbench", "results", str(out)], capture_output=True, text=True)
    said = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == 0 and "has not finished (still running, or stopped)" in said, said
    assert "x264: not shown — the latest run planned it on the dataset shown" in said, said
    # a baseline of an unfinished run would leave its missing points unchecked for good
    r = subprocess.run(
        [sys.executable, "-m", "gvcbench", "regress", str(out), "--baseline", str(tmp_path / "b.json"), "--save"],
        capture_output=True,
        text=True,
    )
    said = " ".join(r.stderr.split())
    assert r.returncode == 2 and "has not finished" in said and not (tmp_path / "b.json").exists(), said


@pytest.mark.slow
def test_values_of_an_older_metric_version_are_measured_again(clips, tmp_path):
    """A store written when a metric had another version (here psnr-y "0", set in the stored
    provenance as an older gvcbench would have left it) is not reused for that metric: the
    jobs run again, with a warning, and the store then holds the current version."""
    cfg = _config(clips, tmp_path / "run", [{"name": "x264", "qps": [30], "params": {"preset": "ultrafast"}}])
    run_benchmark(cfg)
    db = tmp_path / "run" / "results.sqlite"
    with sqlite3.connect(db) as con:
        for key, prov in con.execute("SELECT job_key, provenance FROM jobs").fetchall():
            old = json.loads(prov)
            old["psnr-y"]["version"] = "0"
            con.execute("UPDATE jobs SET provenance = ? WHERE job_key = ?", (json.dumps(old), key))
    with gvcbench_logs(logging.WARNING) as warnings:
        again = run_benchmark(cfg)
    assert again.done == 2 and again.skipped == 0
    assert any("2 stored job(s) hold psnr-y of version 0; this gvcbench measures version 1" in w for w in warnings)
    with sqlite3.connect(db) as con:
        assert {json.loads(p)["psnr-y"]["version"] for (p,) in con.execute("SELECT provenance FROM jobs")} == {"1"}
    assert run_benchmark(cfg).skipped == 2  # and then they are reused
    # asking for fewer metrics than the store holds reuses the jobs (it crashed with KeyError)
    fewer = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(tmp_path / "run"),
            "metrics": ["psnr-y"],
            "codec": [{"name": "x264", "qps": [30], "params": {"preset": "ultrafast"}}],
        }
    )
    assert run_benchmark(fewer).skipped == 2


@pytest.mark.slow
def test_a_metric_that_failed_is_tried_again_under_a_new_version(clips, tmp_path):
    """MS-SSIM cannot measure 64x64 frames: the failure is kept with the version it failed
    under, so a new version of the metric tries again instead of reusing the failure."""
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(tmp_path / "run"),
            "metrics": ["psnr-y", "ms-ssim"],
            "codec": [{"name": "x264", "qps": [30], "params": {"preset": "ultrafast"}}],
        }
    )
    run_benchmark(cfg)
    with ResultStore(tmp_path / "run", create=False) as store:
        keys = [r["job_key"] for r in store.rows()]
        same = store.status_of(keys, {"psnr-y": "1", "ms-ssim": "1"})
        assert all(settled == {"psnr-y", "ms-ssim"} for _, settled, _ in same.values())
        stale = store.status_of(keys, {"psnr-y": "1", "ms-ssim": "2"})
        assert all(settled == {"psnr-y"} for _, settled, _ in stale.values())
        assert store.stale_versions == {("ms-ssim", "1"): 2}


@pytest.mark.slow
def test_a_failed_jobs_error_names_the_folder_its_files_are_in(clips, tmp_path):
    """Errors name files of the job's staging folder (NAME.new), which is renamed when the
    job ends; the stored error names the folder as it is afterwards."""
    codec = {
        "name": "external",
        "label": "silent",
        "qps": [30],
        "params": {"encode": [sys.executable, "-c", "pass", "{bitstream}"], "decode": [sys.executable, "-c", "pass"]},
    }
    run_benchmark(_config(clips, tmp_path / "run", [codec]))
    with ResultStore(tmp_path / "run", create=False) as store:
        errors = [r["error"] for r in store.rows()]
    assert errors and all("wrote no bitstream at" in e and ".new" not in e for e in errors), errors
    for e in errors:
        folder = Path(e.split("wrote no bitstream at ")[1].split(" ")[0]).parent
        assert folder.is_dir(), folder
