"""Readers that can be trusted (issue 11): the newcomer's report without weights, rows chosen
explicitly (no silent mixing of configurations or datasets), read-only stores, a gate
that never passes on garbage, and means of per-sequence BD-rates that say k of n.

Real runs (x264/x265 ultrafast on 64x64, 4-frame cuts of real clips), real SQLite files,
the real CLI in subprocesses.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import SCHEMA_VERSION, ResultStore
from gvcbench.datasets.y4m import write_y4m
from gvcbench.reports.report import write_report

from .conftest import ROOT, real_clip

QPS = [26, 32, 38, 44]
CLIPS = (("bunny", "bigbuckbunny.mp4", 0), ("bikes", "bikes.mp4", 20), ("carphone", "carphone_pristine.mp4", 0))


def gvcbench(*args, cwd=None, env=None, prefix=()):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "gvcbench", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env
    )


def make_clips(folder: Path, names=("bunny", "bikes", "carphone")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, clip, start in CLIPS:
        if name in names:
            write_y4m(real_clip(frames=4, size="64x64", clip=clip, start=start), folder / f"{name}.y4m")
    return folder


def run(clips: Path, out: Path, x265_preset="ultrafast", codecs=("x264", "x265")) -> str:
    presets = {"x264": "ultrafast", "x265": x265_preset}
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(out),
            "jobs": 2,
            "metrics": ["psnr-y"],
            "keep_reconstructions": False,
            "codec": [{"name": c, "qps": QPS, "params": {"preset": presets[c]}} for c in codecs],
        }
    )
    summary = run_benchmark(cfg)
    assert summary.failed == 0
    return summary.run_id


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Three clips, x264 and x265, psnr-y: one run folder the tests copy before changing."""
    root = tmp_path_factory.mktemp("readers")
    clips = make_clips(root / "clips")
    run(clips, root / "run")
    return root


def copy_run(base: Path, tmp_path: Path) -> Path:
    shutil.copytree(base / "run", tmp_path / "run")
    return tmp_path / "run"


def set_metric(store: Path, codec: str, sequence: str, point: str, value) -> None:
    """Overwrite one stored mean (as a broken metric or a hand-edited store would)."""
    db = sqlite3.connect(store / "results.sqlite")
    with db:
        (metrics,) = db.execute(
            "SELECT metrics FROM jobs WHERE codec=? AND sequence=? AND point=?", (codec, sequence, point)
        ).fetchone()
        metrics = json.loads(metrics)
        if value is None:
            metrics.pop("psnr-y")
        else:
            metrics["psnr-y"] = value
        db.execute(
            "UPDATE jobs SET metrics=? WHERE codec=? AND sequence=? AND point=?",
            (json.dumps(metrics), codec, sequence, point),
        )
    db.close()


# -- 1. the newcomer's path -------------------------------------------------------------------


@pytest.mark.slow
def test_readme_run_then_report_without_weights(tmp_path):
    """`gvcbench run` with the default codecs and metrics (no LPIPS/DISTS/FVD weights here, on
    purpose: empty weight folders, downloads off) on a short cut of the built-in set, then the
    README's `gvcbench report gvcbench-runs --anchor vvenc-ldb`, both as written."""
    empty = tmp_path / "no-weights"
    empty.mkdir()
    env = {"GVCBENCH_OFFLINE": "1", "GVCBENCH_WEIGHTS": str(empty), "TORCH_HOME": str(empty)}
    r = gvcbench("run", "--frames", "4", "--size", "64x64", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "lpips" in r.stdout and "Unavailable here" in r.stdout
    assert "gvcbench report gvcbench-runs --anchor vvenc-ldb" in " ".join(r.stdout.split())  # the next command
    r = gvcbench("report", "gvcbench-runs", "--anchor", "vvenc-ldb", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "gvcbench-report"
    page, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    for unmeasured in ("lpips", "dists", "fvd"):
        assert f"<li><b>{unmeasured}</b>" in page.split("Metrics not measured")[1]
        assert f"- {unmeasured}: pretrained file" in md.split("## Metrics not measured")[1]
        assert not list((out / "figures").glob(f"rd_{unmeasured}*"))  # never plotted
    assert "BD-rate on psnr-y" in page and (out / "figures" / "rd_psnr-y.png").is_file()
    data = json.loads((out / "report.json").read_text())
    assert set(data["not_measured"]) >= {"lpips", "dists", "fvd"} and "lpips" not in data["axes"]


# -- 7. no silent mixing ------------------------------------------------------------------------


@pytest.mark.slow
def test_changed_settings_under_one_label_are_not_mixed(base, tmp_path):
    out = copy_run(base, tmp_path)
    with ResultStore(out, create=False) as st:
        first = st.runs()[0]["run_id"]
    second = run(base / "clips", out, x265_preset="superfast", codecs=("x265",))
    with ResultStore(out, create=False) as st:
        assert st.count() == 36  # 12 x264 + 12 x265 ultrafast + 12 x265 superfast: nothing lost
    r = gvcbench("results", out, "-f", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    x265 = [x for x in rows if x["codec"] == "x265"]
    assert len(x265) == 12 and {x["run_id"] for x in x265} == {second}  # the latest configuration only
    assert len([x for x in rows if x["codec"] == "x264"]) == 12  # x264 was not re-run: kept from the first run
    note = " ".join(r.stderr.split())
    assert "x265: showing run " + second[:8] in note and "12 row(s) of run " + first[:8] in note
    assert '"preset": "ultrafast"' in note  # names what was superseded
    table = gvcbench("results", out)
    assert all(" 3 " in line for line in table.stdout.splitlines() if "│ x265" in line)  # seqs 3, not 6
    # --run picks the first run: its x265 ultrafast rows
    old = json.loads(gvcbench("results", out, "-f", "json", "--run", first[:6]).stdout)
    assert {x["codec_params"] for x in old if x["codec"] == "x265"} == {'{"preset": "ultrafast"}'}
    assert len(old) == 24
    saved = gvcbench("regress", out, "--baseline", tmp_path / "b.json", "--save", "--anchor", "x264")
    assert "saved 24 points" in saved.stdout  # one row per codec, sequence and point
    assert gvcbench("regress", out, "--baseline", tmp_path / "b.json").returncode == 0
    bd = gvcbench("bdrate", out, "--anchor", "x264")
    assert "x265: showing run " + second[:8] in " ".join(bd.stderr.split())
    bad = gvcbench("results", out, "--run", "nosuchrun")
    assert bad.returncode == 2 and "no run 'nosuchrun'" in bad.stderr and first[:8] in bad.stderr


def test_an_earlier_run_is_read_under_its_own_labels_after_a_later_run_swapped_them(tmp_path):
    """A later run of the same settings under other labels relabels the rows (its view is
    right); the earlier run, picked with --run, still shows each label's own settings."""
    from gvcbench.reports.selection import select

    clips = make_clips(tmp_path / "clips", names=("bunny",))

    def entries(ultrafast_label, medium_label):
        return [
            {"name": "x264", "label": label, "qps": QPS, "params": {"preset": preset}}
            for label, preset in ((ultrafast_label, "ultrafast"), (medium_label, "medium"))
        ]

    ids = []
    for codecs in (entries("A", "B"), entries("B", "A")):
        cfg = config_from_mapping(
            {"dataset": {"source": str(clips)}, "output": str(tmp_path / "run"), "metrics": ["psnr-y"], "codec": codecs}
        )
        ids.append(run_benchmark(cfg).run_id)
    with ResultStore(tmp_path / "run", create=False) as st:
        for run_id, preset_of_a in ((ids[0], "ultrafast"), (ids[1], "medium"), (None, "medium")):
            rows = select(st, run=run_id).rows
            assert len(rows) == 8
            assert {r.codec_params["preset"] for r in rows if r.codec == "A"} == {preset_of_a}, run_id
            assert {r.codec_params["preset"] for r in rows if r.codec == "B"} == {"ultrafast", "medium"} - {preset_of_a}
    r = gvcbench("results", tmp_path / "run", "-f", "json", "--run", ids[0][:8])
    assert {(x["codec"], x["codec_params"]) for x in json.loads(r.stdout)} == {
        ("A", '{"preset": "ultrafast"}'),
        ("B", '{"preset": "medium"}'),
    }


def test_two_datasets_in_one_store_are_not_averaged(base, tmp_path):
    out = copy_run(base, tmp_path)
    other = make_clips(tmp_path / "other", names=("bunny",))  # a subset: another dataset
    run(other, out, codecs=("x264",))  # its 4 jobs are reused from the first run: same content
    chosen = gvcbench("results", out, "-f", "json")
    rows = json.loads(chosen.stdout)
    assert {(x["codec"], x["sequence"]) for x in rows} == {("x264", "bunny")} and len(rows) == 4
    text = " ".join(chosen.stderr.split())
    assert "the store holds 2 datasets" in text and "x265: not shown" in text
    bd = gvcbench("bdrate", out, "--anchor", "x264")
    # x265 is on the other dataset: the rows shown hold the anchor alone, nothing to compare
    said = " ".join((bd.stdout + bd.stderr).split())
    assert bd.returncode == 2 and not any(line.startswith("│ x265") for line in bd.stdout.splitlines())
    assert "x265: not shown" in said and "nothing to compare" in said, said


def test_set_level_values_are_kept_per_dataset(base, tmp_path):
    out = copy_run(base, tmp_path)
    with ResultStore(out) as st:
        for dataset, value in (("set-a", 10.0), ("set-b", 20.0)):
            st.put_set_value("x264", "qp26", "fvd", value, ["bunny"], 4, None, {}, dataset=dataset, job_keys=["k"])
        values = {(s["dataset"], s["value"]) for s in st.set_values()}
    assert values == {("set-a", 10.0), ("set-b", 20.0)}  # schema 1 kept only the last one


def test_schema_1_store_is_read_and_migrated_without_rerunning(base, tmp_path):
    out = copy_run(base, tmp_path)
    db = sqlite3.connect(out / "results.sqlite")  # back to the layout of schema 1
    with db:
        db.execute("DROP TABLE run_jobs")
        db.execute("CREATE TABLE runs1 AS SELECT run_id, started, finished, config, config_hash, environment FROM runs")
        db.execute("DROP TABLE runs")
        db.execute("ALTER TABLE runs1 RENAME TO runs")
        db.execute("DROP TABLE set_metrics")
        db.execute(
            "CREATE TABLE set_metrics (codec TEXT NOT NULL, point TEXT NOT NULL, metric TEXT NOT NULL, "
            "value REAL, sequences TEXT, features INTEGER, note TEXT, provenance TEXT, computed_at REAL, "
            "PRIMARY KEY (codec, point, metric))"
        )
        db.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
        # a second schema-1 run that re-ran one x265 job (a failure, say) and reused the rest
        db.execute(
            "INSERT INTO runs SELECT 'rerun', started + 1, finished + 1, config, config_hash, environment FROM runs"
        )
        db.execute("UPDATE jobs SET run_id='rerun' WHERE codec='x265' AND sequence='bikes' AND point='qp32'")
    db.close()
    r = gvcbench("results", out, "-f", "json")  # read as it is (read-only: no migration)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 24 and "superseded" not in r.stderr and "not shown" not in r.stderr
    cfg_out = tmp_path / "again"
    shutil.copytree(out, cfg_out)
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(base / "clips")},
            "output": str(cfg_out),
            "jobs": 2,
            "metrics": ["psnr-y"],
            "keep_reconstructions": False,
            "codec": [{"name": c, "qps": QPS, "params": {"preset": "ultrafast"}} for c in ("x264", "x265")],
        }
    )
    summary = run_benchmark(cfg)
    assert summary.skipped == summary.planned == 24  # job keys unchanged by the schema bump
    with ResultStore(cfg_out) as st:
        assert st.schema_version == SCHEMA_VERSION == 4 and len(st.runs()[-1]["jobs"]) == 24


# -- 8. read-only stores -----------------------------------------------------------------------


def _side_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.endswith(("-wal", "-shm", "-journal"))}


def _read_everything(store: Path, tmp_path: Path, **kw) -> None:
    for args in (
        ("results", store),
        ("results", store, "-f", "csv"),
        ("bdrate", store, "--anchor", "x264"),
        ("report", store, "--anchor", "x264", "-o", tmp_path / "rep"),
        ("regress", store, "--baseline", tmp_path / "b.json", "--save", "--anchor", "x264"),
        ("regress", store, "--baseline", tmp_path / "b.json"),
    ):
        r = gvcbench(*args, **kw)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    assert (tmp_path / "rep" / "report.html").is_file()


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="needs root and setpriv to run the readers as an unprivileged user",
)
def test_readers_as_a_user_who_may_not_write_the_store(base, tmp_path_factory):
    """The store sent by someone else: a 0444 file in a 0555 folder, read by a user (nobody) to whom
    the modes apply (root ignores them)."""
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="gvcbench-ro-"))
    try:
        shared.chmod(0o755)
        shutil.copytree(base / "run", shared / "run")
        writable = shared / "out"
        writable.mkdir()
        writable.chmod(0o777)
        (shared / "run" / "results.sqlite").chmod(0o444)
        for folder in sorted((shared / "run").rglob("*"), reverse=True):
            if folder.is_dir():
                folder.chmod(0o555)
        (shared / "run").chmod(0o555)
        nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
        _read_everything(
            shared / "run", writable, prefix=nobody, env={"MPLCONFIGDIR": str(writable / "mpl"), "HOME": str(writable)}
        )
        assert not _side_files(shared / "run")
    finally:
        for p in [shared, *shared.rglob("*")]:
            if p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(shared)


@pytest.mark.slow
def test_readers_write_nothing_to_a_read_only_store(base, tmp_path):
    out = copy_run(base, tmp_path)
    store = out / "results.sqlite"
    before = (store.stat().st_mtime_ns, _side_files(out))
    store.chmod(0o444)
    out.chmod(0o555)
    try:
        _read_everything(out, tmp_path)
        # root ignores modes: prove nothing was written rather than trusting chmod
        assert (store.stat().st_mtime_ns, _side_files(out)) == before
    finally:
        out.chmod(0o755)


@pytest.mark.slow
def test_readers_work_on_a_read_only_mount(base, tmp_path):
    out = copy_run(base, tmp_path)
    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(["mount", "--bind", str(out), str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {made.stderr.decode().strip()}")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True).returncode:
            pytest.skip("cannot remount read-only here")
        with pytest.raises(OSError):
            (mount / "probe").write_text("x")  # really read-only
        _read_everything(mount, tmp_path)
        r = gvcbench("report", mount, "--anchor", "x264", "-o", mount / "rep")  # the report has to go elsewhere
        assert r.returncode == 2 and "give --output a writable folder" in " ".join(r.stderr.split())
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_reader_sees_rows_still_in_the_write_ahead_log(base, tmp_path):
    """A run that is writing (or was killed) leaves committed rows in the -wal file."""
    out = copy_run(base, tmp_path)
    writer = ResultStore(out)
    writer.db.execute("PRAGMA wal_autocheckpoint=0")
    with writer.db:
        writer.db.execute("UPDATE jobs SET kbps = 12345.0 WHERE codec='x264' AND point='qp26'")
    try:
        assert (out / "results.sqlite-wal").stat().st_size > 0
        rows = json.loads(gvcbench("results", out, "-f", "json").stdout)
        assert sum(r["kbps"] == 12345.0 for r in rows) == 3
    finally:
        writer.close()


@pytest.mark.slow
def test_a_store_damaged_behind_its_schema_is_one_clear_error_with_exit_2(base, tmp_path):
    out = copy_run(base, tmp_path)
    store = out / "results.sqlite"
    with sqlite3.connect(store) as db:  # the page that holds the first jobs' rows
        page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(store.read_bytes())
    data[(page - 1) * size : page * size] = b"\xff" * size
    store.write_bytes(bytes(data))
    before = store.read_bytes()
    for args in (
        ("results", out),
        ("bdrate", out, "--anchor", "x264"),
        ("report", out, "--anchor", "x264", "-o", tmp_path / "rep"),
        ("regress", out, "--baseline", tmp_path / "b.json", "--save"),
    ):
        r = gvcbench(*args)
        said = " ".join(r.stderr.split())
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stdout, r.stderr)
        assert "cannot be read" in said and "the file is damaged; restore it from a copy" in said, said
    assert store.read_bytes() == before


def test_only_damage_is_called_damage(base, tmp_path):
    """A programming error (a closed store) stays one; a store SQLite cannot lock is not "damaged"."""
    from gvcbench.bench.store import _is_damage

    store = ResultStore(copy_run(base, tmp_path), create=False)
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.count()
    assert _is_damage(sqlite3.DatabaseError("database disk image is malformed"))
    assert _is_damage(sqlite3.OperationalError("Could not decode to UTF-8 column 'job_key' with text 'x'"))
    assert not _is_damage(sqlite3.OperationalError("database is locked"))


def test_a_latest_run_with_no_finished_job_yet_is_noted(base, tmp_path):
    """A run that has planned its jobs and finished none (starting, or stopped early) has no
    rows: readers said nothing, so an empty table, or an earlier run's rows, came without a word."""
    empty = tmp_path / "empty"
    with ResultStore(empty) as st:
        st.start_run("0123456789abcdef", {"dataset": {"source": "clips"}}, "h", {}, ["k1", "k2", "k3"], "d")
    r = gvcbench("results", empty)
    said = " ".join(r.stdout.split()) + " ".join(r.stderr.split())
    assert r.returncode == 0 and "the latest run 01234567" in said, said
    assert "has not finished (still running, or stopped): 0 of its 3 planned jobs have results;" in said, said
    out = copy_run(base, tmp_path)
    with ResultStore(out) as st:
        st.start_run("fedcba9876543210", {"dataset": {"source": "clips"}}, "h", {}, ["k1", "k2"], "d")
    r = gvcbench("bdrate", out, "--anchor", "x264")
    said = " ".join((r.stdout + r.stderr).split())
    assert "0 of its 2 planned jobs have results; the rows shown are from earlier runs" in said, said


def test_a_run_asked_for_in_a_store_without_runs_is_refused(tmp_path):
    """A store that holds no run yet answered `--run abc` with an empty table and exit 0,
    where a store with runs says there is no such run."""
    with ResultStore(tmp_path / "fresh"):
        pass
    r = gvcbench("results", tmp_path / "fresh", "--run", "abc")
    said = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == 2 and "error: no run 'abc' with rows in this store; runs: none" in said, said
    assert gvcbench("results", tmp_path / "fresh").returncode == 0


# -- 9. the gate never passes on garbage --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("value", [float("nan"), float("inf"), None])
def test_gate_fails_on_nan_inf_or_missing_candidate_values(base, tmp_path, value):
    out = copy_run(base, tmp_path)
    assert gvcbench("regress", out, "--baseline", tmp_path / "b.json", "--save", "--anchor", "x264").returncode == 0
    set_metric(out, "x265", "bikes", "qp32", value)
    r = gvcbench("regress", out, "--baseline", tmp_path / "b.json")
    assert r.returncode == 1, r.stdout
    line = next(line for line in r.stdout.splitlines() if "x265 / bikes / qp32" in line)
    assert ("regressed" if value is not None else "missing") in line


@pytest.mark.parametrize(
    "content, says",
    [
        ("[]", "not a gvcbench baseline"),
        ('{"schema": 1, "points": []}', "holds no points"),
        ('{"schema": 7, "points": []}', "has schema 7"),
        ('{"schema": 1, "points": [{"codec": "x264"}]}', "lacks codec, sequence"),
        (
            '{"schema": 1, "points": [{"codec": "x264", "sequence": "bunny", "point": "qp26", "status": "done", '
            '"kbps": NaN, "metrics": {}}]}',
            "no finite value for kbps",
        ),
        (
            '{"schema": 1, "points": [{"codec": "x264", "sequence": "bunny", "point": "qp26", "status": "failed", '
            '"metrics": {}}]}',
            "no finished point",
        ),
    ],
)
def test_malformed_baseline_exits_2(base, tmp_path, content, says):
    (tmp_path / "b.json").write_text(content)
    r = gvcbench("regress", base / "run", "--baseline", tmp_path / "b.json")
    assert r.returncode == 2 and says in " ".join(r.stderr.split()), r.stdout + r.stderr


def test_gate_that_compares_nothing_does_not_pass(base, tmp_path):
    out = copy_run(base, tmp_path)
    gvcbench("regress", out, "--baseline", tmp_path / "b.json", "--save")
    data = json.loads((tmp_path / "b.json").read_text())
    for p in data["points"]:
        p["sequence_hash"] = "other content"  # every point: not comparable
    (tmp_path / "b.json").write_text(json.dumps(data))
    r = gvcbench("regress", out, "--baseline", tmp_path / "b.json")
    said = " ".join(r.stderr.split())
    assert r.returncode == 2 and "cannot vouch" in said and "other sequence content" in said


# -- 11. summaries never overstate ----------------------------------------------------------------


@pytest.mark.slow
def test_mean_of_per_sequence_bd_rates_says_k_of_n(base, tmp_path):
    out = copy_run(base, tmp_path)
    for seq in ("bikes", "carphone"):  # two of three sequences lose a valid curve
        set_metric(out, "x265", seq, "qp38", float("nan"))
    r = gvcbench("bdrate", out, "--anchor", "x264", "--method", "both")
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith("│ x265")]
    assert len(rows) == 2 and all("1 of 3" in line and line.count("n/a") >= 1 for line in rows)
    assert all(line.count("[") <= 1 for line in rows)  # one note reference per row, the notes below
    text = " ".join(r.stdout.split())
    assert "only 1 of 3 sequences have a valid BD-rate (at least 50 % needed)" in text
    assert text.count("x265 / psnr-y (psnr-y)") == 1  # pchip and cubic share one group of notes
    shown = gvcbench("bdrate", out, "--anchor", "x264", "--min-share", "0.3")
    assert "1 of 3" in shown.stdout and "over 1 of 3 sequences" in " ".join(shown.stdout.split())
    files = write_report(out, "x264", tmp_path / "rep", max_visual=0)
    assert "mean per-seq n/a (1 of 3 seqs)" in files.html.read_text()
    assert "| x265 | psnr-y | pchip |" in files.markdown.read_text()
    assert "| n/a | 1 of 3 |" in files.markdown.read_text()
    entry = next(e for e in json.loads(files.json.read_text())["bd"] if e["method"] == "pchip")
    assert entry["per_sequence_mean"] is None and (entry["contributed"], entry["sequences"]) == (1, 3)
    csv = files.bd_csv.read_text().splitlines()
    assert csv[0].startswith("codec,metric,axis,method,rate,avg_curve,per_sequence_mean,contributed,sequences")
    assert ",,1,3," in csv[1]


@pytest.mark.slow
def test_run_summary_shows_this_runs_rows_only(base, tmp_path):
    out = copy_run(base, tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'output = "{out}"\nmetrics = ["psnr-y"]\njobs = 2\n[dataset]\nsource = "{base / "clips"}"\n'
        f'[[codec]]\nname = "x265"\nqps = {QPS}\nparams = {{ preset = "superfast" }}\n'
    )
    r = gvcbench("run", "-c", cfg)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("│ x265")]
    assert len(lines) == 4 and all(" 3 " in line for line in lines)  # 3 sequences, not 6 of two configurations
    assert not any(line.startswith("│ x264") for line in r.stdout.splitlines())
    assert f"gvcbench report {out} --anchor x265" in " ".join(r.stdout.split())


def test_a_report_of_metrics_none_of_which_was_measured_says_so(tmp_path):
    """`gvcbench report STORE --anchor A --metrics lpips` on a store where LPIPS was recorded
    unavailable (no weights) wrote an empty report (a bdrate.csv of its header only, no RD
    figure) and exited 0 without a word in the terminal; `bdrate --metrics lpips` stops with
    the reason. Now report stops the same way, before writing anything."""
    from gvcbench.bench.records import JobResult

    why = "pretrained file alexnet-owt-7be5be79.pth is not on this machine"
    with ResultStore(tmp_path / "run") as store:
        for codec, scale in (("A", 1.0), ("B", 0.9)):
            for k, qp in enumerate((22, 27, 32, 37)):
                store.put(
                    JobResult.from_dict(
                        {
                            "job_key": f"{codec}{qp}",
                            "run_id": "r",
                            "codec": codec,
                            "codec_name": codec,
                            "sequence": "s",
                            "sequence_hash": "0" * 64,
                            "point": f"qp{qp}",
                            "qp": qp,
                            "status": "done",
                            "kbps": scale * 100 / (k + 1),
                            "bpp": scale / (k + 1),
                            "metrics": {"psnr-y": 40.0 - 3 * k},
                            "metric_errors": {"lpips": why, "dists": why},
                            "provenance": {"psnr-y": {"spec": {"lower_better": False}}},
                        }
                    )
                )
    for args in (["--metrics", "lpips"], ["--metrics", "lpips,dists"]):
        r = gvcbench("report", tmp_path / "run", "--anchor", "A", "-o", tmp_path / "rep", *args)
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"error: metric 'lpips' was not measured in these jobs: {why}" in r.stderr
        assert not (tmp_path / "rep").exists()
    # A metric with values beside it: the report is written and lists LPIPS as not measured.
    r = gvcbench("report", tmp_path / "run", "--anchor", "A", "-o", tmp_path / "rep", "--metrics", "psnr-y,lpips")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"- lpips: {why}" in (tmp_path / "rep" / "report.md").read_text()


def test_a_run_id_typed_in_other_case_is_refused_with_the_id_as_written(tmp_path):
    """`--run AB12CD34` for run ab12cd34… said only 'no run'; ids are not folded (several runs
    could match), so the error names the one run whose id matches but for case."""
    clips = make_clips(tmp_path / "clips", names=("bunny",))
    out = tmp_path / "run"
    made = gvcbench(
        "run", "--dataset", clips, "--codecs", "x264", "--qps", "40", "--metrics", "psnr-y", "-o", out, "--frames", 2
    )
    assert made.returncode == 0, made.stderr
    with ResultStore(out, create=False) as st:
        run_id = st.runs()[0]["run_id"]
    first_letter = next(i for i, c in enumerate(run_id) if c.isalpha())  # uuid hex: all digits 1 in 3e6
    meant = run_id[: max(8, first_letter + 1)]
    typed = meant.upper()
    for command in ("results", "bdrate", "regress"):
        extra = {"bdrate": ["--anchor", "x264"], "regress": ["--baseline", tmp_path / "b.json", "--save"]}
        bad = gvcbench(command, out, "--run", typed, *extra.get(command, []))
        said = " ".join(bad.stderr.split())
        assert bad.returncode == 2 and said.startswith(f"error: no run {typed!r} with rows in this store"), said
        assert f"(run ids are case-sensitive); did you mean {meant!r}?" in said, said
    assert not (tmp_path / "b.json").exists()
    assert gvcbench("results", out, "--run", run_id[:8]).returncode == 0
    other = gvcbench("results", out, "--run", "ffffffff" if not run_id.startswith("f") else "00000000")
    assert other.returncode == 2 and "did you mean" not in other.stderr, other.stderr
