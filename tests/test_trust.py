"""Trust under real use (issue 11): one writer per store, dying workers, process groups,
relative output folders, confined work folders, a full or read-only output disk.

Everything here runs the real `gvcbench run` command in a subprocess with a small shell
script codec, and uses real signals, real SQLite files and real mounts.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gvcbench.bench.lock import LOCK_NAME
from gvcbench.bench.store import ResultStore
from gvcbench.datasets.y4m import write_y4m

from .conftest import add_finished_run, real_clip

pytestmark = pytest.mark.slow

# Encoder: copies the source (a y4m) as its "bitstream"; optional behaviours come from the
# environment, which the driver's workers pass on to every program.
ENCODER = r"""#!/bin/sh
# usage: enc INPUT BITSTREAM QP WORKDIR LABEL
[ -n "$TRUST_LOG" ] && echo "$5 $3" >> "$TRUST_LOG"
if [ -n "$TRUST_GRANDCHILD_DIR" ]; then
  sleep 300 &
  echo $! > "$TRUST_GRANDCHILD_DIR/$$.pid"
fi
[ "$3" = "$TRUST_KILL_QP" ] && kill -9 $PPID
[ -n "$TRUST_SLEEP" ] && sleep "$TRUST_SLEEP"
[ -n "$TRUST_FAIL" ] && exit 3
printf '%s' "$5" > "$4/label.txt"
cp "$1" "$2"
"""
DECODER = '#!/bin/sh\ncp "$1" "$2"\n'


def _write_scripts(folder: Path) -> tuple[Path, Path]:
    enc, dec = folder / "enc.sh", folder / "dec.sh"
    enc.write_text(ENCODER)
    dec.write_text(DECODER)
    for p in (enc, dec):
        p.chmod(0o755)
    return enc, dec


def _codec_entry(enc: Path, dec: Path, label: str = "script", qps=(30,), version: str = "script 1") -> str:
    encode = json.dumps([str(enc), "{input}", "{bitstream}", "{qp}", "{workdir}", label])
    decode = json.dumps([str(dec), "{bitstream}", "{output}"])
    fields = {"encode": encode, "decode": decode, "input_format": '"y4m"', "output_format": '"y4m"'}
    params = ", ".join(f"{k} = {v}" for k, v in fields.items()) + f", version = {json.dumps(version)}"
    return textwrap.dedent(f"""
        [[codec]]
        name = "external"
        label = {json.dumps(label)}
        qps = {list(qps)}
        params = {{ {params} }}
        """)


def _setup(
    tmp_path: Path,
    output: str,
    codecs: str,
    clips: int = 1,
    frames: int = 3,
    timeout: int = 120,
    jobs: int = 2,
    size: str = "64x64",
) -> Path:
    data = tmp_path / "clips"
    data.mkdir(exist_ok=True)
    for i in range(clips):
        write_y4m(real_clip(frames=frames, size=size, start=i * 5), data / f"clip{i}.y4m")
    config = tmp_path / "run.toml"
    config.write_text(
        f"output = {json.dumps(output)}\njobs = {jobs}\ntimeout = {timeout}\n"
        f'metrics = ["psnr-y"]\n[dataset]\nsource = "{data}"\n' + codecs
    )
    return config


def _gvcbench(args: list[str], cwd: Path, env: dict | None = None, **kw) -> subprocess.Popen:
    full_env = os.environ | {"GVCBENCH_OFFLINE": "1"} | (env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "gvcbench", *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def _rows(store: Path) -> list[dict]:
    with ResultStore(store, create=False) as st:
        return st.rows()


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its reaper."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _grandchildren_alive(folder: Path) -> list[int]:
    pids = [int(p.read_text()) for p in folder.glob("*.pid")]
    return [pid for pid in pids if _alive(pid)]


def _wait_for(condition, timeout: float = 240, what: str = "") -> None:  # a loaded CI machine starts slowly
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# -- one store, one writer ----------------------------------------------------------------


def test_second_run_on_a_live_folder_stops_at_once_and_the_first_loses_nothing(tmp_path):
    enc, dec = _write_scripts(tmp_path)
    config = _setup(tmp_path, "out", _codec_entry(enc, dec, qps=(30, 31)))
    first = _gvcbench(["run", "-c", str(config)], tmp_path, env={"TRUST_SLEEP": "3"})
    lock = tmp_path / "out" / LOCK_NAME
    _wait_for(lambda: lock.is_file() and lock.read_text(), what="the first run's lock")
    t0 = time.monotonic()
    # the second run fails every job if it gets through (TRUST_FAIL): it must not get through
    code, text = _finish(_gvcbench(["run", "-c", str(config), "--force"], tmp_path, env={"TRUST_FAIL": "1"}))
    assert time.monotonic() - t0 < 30
    assert code == 2 and "another gvcbench run" in text and f"pid {first.pid}" in text
    assert "Traceback" not in text
    code, text = _finish(first)
    assert code == 0, text
    assert "0 failed" in text
    rows = _rows(tmp_path / "out")
    assert len(rows) == 2 and all(r["status"] == "done" for r in rows)


def test_a_finished_row_is_never_replaced_by_a_failed_one(tmp_path):
    enc, dec = _write_scripts(tmp_path)
    config = _setup(tmp_path, "out", _codec_entry(enc, dec))
    code, text = _finish(_gvcbench(["run", "-c", str(config)], tmp_path))
    assert code == 0, text
    before = _rows(tmp_path / "out")
    code, text = _finish(_gvcbench(["run", "-c", str(config), "--force"], tmp_path, env={"TRUST_FAIL": "1"}))
    assert code == 1 and "kept" in text
    after = _rows(tmp_path / "out")
    assert [(r["job_key"], r["status"], r["bytes"], r["finished_at"]) for r in after] == [
        (r["job_key"], r["status"], r["bytes"], r["finished_at"]) for r in before
    ]
    # ... and so are its files: the failed attempt worked in a folder of its own
    for r in after:
        assert (tmp_path / "out" / r["bitstream"]).stat().st_size == r["bytes"]
        assert (tmp_path / "out" / r["reconstruction"]).is_file()


def test_a_forced_rerun_that_fails_reads_as_failed_and_fails_the_gate(tmp_path):
    """The earlier result is kept, but what the latest run did is what its readers see: a
    gate run after a `--force` whose every job failed must not pass on the old rows."""
    enc, dec = _write_scripts(tmp_path)
    config = _setup(tmp_path, "out", _codec_entry(enc, dec, qps=(30, 31)))
    code, text = _finish(_gvcbench(["run", "-c", str(config)], tmp_path))
    assert code == 0, text
    code, text = _finish(_gvcbench(["regress", "out", "--baseline", "base.json", "--save"], tmp_path))
    assert code == 0, text
    first = _run_ids(tmp_path / "out")[0]
    code, text = _finish(_gvcbench(["run", "-c", str(config), "--force"], tmp_path, env={"TRUST_FAIL": "1"}))
    assert code == 1 and "kept" in text
    code, text = _finish(_gvcbench(["regress", "out", "--baseline", "base.json"], tmp_path))
    assert code == 1 and "no regression" not in text, text
    code, text = _finish(_gvcbench(["results", "out", "-f", "csv"], tmp_path))
    assert code == 0 and "failed in the run shown while the store kept an earlier finished result" in text, text
    code, text = _finish(_gvcbench(["results", "out", "-f", "json"], tmp_path))
    seen = json.loads(text[: text.rindex("]") + 1])  # the failed run's rows: its id, no values of the kept ones
    assert {(r["status"], r["run_id"], r["kbps"], r.get("psnr-y")) for r in seen} == {
        ("failed", _run_ids(tmp_path / "out")[-1], None, None)
    }, seen
    code, text = _finish(_gvcbench(["results", "out", "-f", "csv", "--run", first[:8]], tmp_path))
    assert code == 0 and "failed" not in text.split("\n", 1)[1], text  # the first run's view: both done
    # a finished run that planned the jobs and reused the kept rows (what gvcbench did before it
    # retried failed attempts) is no proof the jobs work again either
    add_finished_run(tmp_path / "out", "reused")
    with sqlite3.connect(tmp_path / "out" / "results.sqlite") as db:
        db.execute("INSERT INTO run_jobs (run_id, job_key, codec) SELECT 'reused', job_key, codec FROM jobs")
    db.close()
    # a plain rerun stopped before it tried anything (Ctrl-C) is no proof the jobs work again
    kids = tmp_path / "kids"
    kids.mkdir()
    env = {"TRUST_FAIL": "1", "TRUST_SLEEP": "100", "TRUST_GRANDCHILD_DIR": str(kids)}
    driver = _gvcbench(["run", "-c", str(config)], tmp_path, env=env)
    _wait_for(lambda: len(list(kids.glob("*.pid"))) >= 1, what="the first encode")
    driver.send_signal(signal.SIGINT)
    driver.communicate(timeout=60)
    assert len(_run_ids(tmp_path / "out")) == 4
    # a plain rerun tries the failed jobs again (it reused the old rows, and the gate passed)
    code, text = _finish(_gvcbench(["run", "-c", str(config)], tmp_path, env={"TRUST_FAIL": "1"}))
    assert code == 1 and "failed when last run" in " ".join(text.split()), text
    code, text = _finish(_gvcbench(["regress", "out", "--baseline", "base.json"], tmp_path))
    assert code == 1, text
    code, text = _finish(_gvcbench(["run", "-c", str(config)], tmp_path))  # the codec fixed: run again
    assert code == 0 and "0 failed" in text, text
    code, text = _finish(_gvcbench(["regress", "out", "--baseline", "base.json"], tmp_path))
    assert code == 0, text
    code, text = _finish(_gvcbench(["run", "-c", str(config)], tmp_path))  # and now reused
    assert code == 0 and "failed when last run" not in text, text


def _run_ids(store: Path) -> list[str]:
    with ResultStore(store, create=False) as st:
        return [r["run_id"] for r in st.runs()]


def test_two_configurations_under_one_label_never_share_files(tmp_path):
    enc, dec = _write_scripts(tmp_path)
    first = _setup(tmp_path, "out", _codec_entry(enc, dec, version="script 1"))
    code, text = _finish(_gvcbench(["run", "-c", str(first)], tmp_path))
    assert code == 0, text
    (row1,) = _rows(tmp_path / "out")
    second = tmp_path / "second.toml"
    second.write_text(first.read_text().replace('"script 1"', '"script 2"'))
    code, text = _finish(_gvcbench(["run", "-c", str(second)], tmp_path, env={"TRUST_SLEEP": "0"}))
    assert code == 0, text
    rows = _rows(tmp_path / "out")
    assert len(rows) == 2
    assert len({r["bitstream"] for r in rows}) == 2 and len({r["reconstruction"] for r in rows}) == 2
    kept = next(r for r in rows if r["job_key"] == row1["job_key"])
    assert kept["bitstream"] == row1["bitstream"]
    assert (tmp_path / "out" / kept["bitstream"]).stat().st_size == kept["bytes"]


def test_killed_driver_leaves_no_program_behind_and_its_lock_is_taken_over(tmp_path):
    enc, dec = _write_scripts(tmp_path)
    kids = tmp_path / "kids"
    kids.mkdir()
    config = _setup(tmp_path, "out", _codec_entry(enc, dec, qps=(30, 31, 32, 33)), jobs=1)
    env = {"TRUST_SLEEP": "2", "TRUST_GRANDCHILD_DIR": str(kids)}
    driver = _gvcbench(["run", "-c", str(config)], tmp_path, env=env)
    _wait_for(
        lambda: (tmp_path / "out" / "results.sqlite").is_file() and len(_rows(tmp_path / "out")) >= 1,
        what="a first finished job",
    )
    _wait_for(lambda: len(list(kids.glob("*.pid"))) >= 2, what="the second encode")
    driver.kill()
    driver.communicate()
    _wait_for(lambda: not _grandchildren_alive(kids), timeout=15, what="the codec's children to die")
    code, text = _finish(_gvcbench(["run", "-c", str(config)], tmp_path))
    assert code == 0, text
    assert "did not end properly" in text
    rows = _rows(tmp_path / "out")
    assert len(rows) == 4 and all(r["status"] == "done" for r in rows)


def test_a_copy_of_the_store_file_alone_holds_what_a_killed_run_finished(tmp_path):
    """Users copy results.sqlite, the file the README names, not its -wal; SQLite's default
    left the schema and every finished job in the -wal until the run ended."""
    enc, dec = _write_scripts(tmp_path)
    config = _setup(tmp_path, "out", _codec_entry(enc, dec, qps=(30, 31, 32, 33)), jobs=1)
    driver = _gvcbench(["run", "-c", str(config)], tmp_path, env={"TRUST_SLEEP": "2"})
    _wait_for(
        lambda: (tmp_path / "out" / "results.sqlite").is_file() and len(_rows(tmp_path / "out")) >= 1,
        what="a first finished job",
    )
    driver.kill()
    driver.communicate()
    finished = {r["job_key"] for r in _rows(tmp_path / "out") if r["status"] == "done"}
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "results.sqlite").write_bytes((tmp_path / "out" / "results.sqlite").read_bytes())
    assert {r["job_key"] for r in _rows(tmp_path / "copy") if r["status"] == "done"} == finished
    config.write_text(config.read_text().replace('output = "out"', 'output = "copy"'))
    code, text = _finish(_gvcbench(["run", "-c", str(config)], tmp_path))
    assert code == 0 and f"{len(finished)} already in the store" in " ".join(text.split()), text


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_driver_kills_the_codec_and_its_grandchildren(tmp_path, sig):
    enc, dec = _write_scripts(tmp_path)
    kids = tmp_path / "kids"
    kids.mkdir()
    config = _setup(tmp_path, "out", _codec_entry(enc, dec, qps=(30, 31)))
    driver = _gvcbench(
        ["run", "-c", str(config)], tmp_path, env={"TRUST_SLEEP": "100", "TRUST_GRANDCHILD_DIR": str(kids)}
    )
    _wait_for(lambda: len(list(kids.glob("*.pid"))) >= 2, what="both encodes")
    driver.send_signal(sig)
    output = "".join(driver.communicate(timeout=60))
    _wait_for(lambda: not _grandchildren_alive(kids), timeout=15, what="the codec's children to die")
    assert not [p for p in _codec_processes(enc)], "an encoder outlived the driver"
    # SIGTERM (scancel, `timeout`, `docker stop`) stops the run like Ctrl-C, and says so
    how = "interrupted" if sig == signal.SIGINT else "terminated (SIGTERM)"
    assert driver.returncode == 128 + sig and f"{how}: every finished job is kept" in output, output


def _codec_processes(script: Path) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(script) in stat.read_bytes().decode(errors="replace") and _alive(int(stat.parent.name)):
                found.append(int(stat.parent.name))
        except OSError:
            pass
    return found


def test_timeout_kills_the_whole_process_group(tmp_path):
    enc, dec = _write_scripts(tmp_path)
    kids = tmp_path / "kids"
    kids.mkdir()
    config = _setup(tmp_path, "out", _codec_entry(enc, dec), timeout=2)
    code, text = _finish(
        _gvcbench(["run", "-c", str(config)], tmp_path, env={"TRUST_SLEEP": "100", "TRUST_GRANDCHILD_DIR": str(kids)})
    )
    assert code == 1 and "timed out after 2 s" in text
    assert list(kids.glob("*.pid")) and not _grandchildren_alive(kids)


# -- dying workers ------------------------------------------------------------------------


def test_a_dying_worker_costs_only_its_own_job(tmp_path):
    enc, dec = _write_scripts(tmp_path)
    log = tmp_path / "encodes.log"
    config = _setup(tmp_path, "out", _codec_entry(enc, dec, qps=(30, 31, 32, 33, 34, 35)), clips=2)
    code, _ = _finish(
        _gvcbench(["run", "-c", str(config)], tmp_path, env={"TRUST_KILL_QP": "32", "TRUST_LOG": str(log)})
    )
    assert code == 1
    rows = _rows(tmp_path / "out")
    failed = sorted((r["sequence"], r["qp"]) for r in rows if r["status"] != "done")
    assert failed == [("clip0", 32), ("clip1", 32)]
    assert all("died 2 times" in r["error"] for r in rows if r["status"] != "done")
    assert sum(r["status"] == "done" for r in rows) == 10
    # each other job was encoded once; each killing job twice (the retry)
    lines = log.read_text().split()
    assert lines.count("32") == 4 and len(lines) == 2 * (10 + 4)


# -- paths --------------------------------------------------------------------------------


def test_external_codec_with_a_relative_output_folder(tmp_path):
    enc, dec = _write_scripts(tmp_path)
    config = _setup(tmp_path, "runs/paper", _codec_entry(enc, dec, qps=(30, 34)))
    code, text = _finish(_gvcbench(["run", "-c", str(config)], tmp_path))
    assert code == 0, text
    rows = _rows(tmp_path / "runs" / "paper")
    assert [r["status"] for r in rows] == ["done", "done"]
    assert all((tmp_path / "runs" / "paper" / r["bitstream"]).is_file() for r in rows)


def test_work_folders_stay_inside_the_output_folder_and_apart(tmp_path):
    enc, dec = _write_scripts(tmp_path)
    labels = ["..", "a/b", "my codec", "my_codec", "../../escape"]
    codecs = "".join(_codec_entry(enc, dec, label=lab, version=f"v{i}") for i, lab in enumerate(labels))
    sibling = tmp_path / "keep-me"
    sibling.mkdir()
    (sibling / "precious.txt").write_text("do not delete")
    config = _setup(tmp_path, "out", codecs)
    before = sorted(p.name for p in tmp_path.iterdir())
    for _ in range(2):  # the second run redoes nothing, the third (--force) empties the work folders
        code, text = _finish(_gvcbench(["run", "-c", str(config)], tmp_path))
        assert code == 0, text
    code, text = _finish(_gvcbench(["run", "-c", str(config), "--force"], tmp_path))
    assert code == 0, text
    assert {p.name for p in tmp_path.iterdir()} == set(before) | {"out"}
    assert (sibling / "precious.txt").read_text() == "do not delete"
    rows = _rows(tmp_path / "out")
    out = (tmp_path / "out").resolve()
    folders = set()
    for r in rows:
        bitstream = (tmp_path / "out" / r["bitstream"]).resolve()
        assert bitstream.is_relative_to(out / "jobs")
        assert (bitstream.parent / "label.txt").read_text() == r["codec"]
        folders.add(bitstream.parent)
    assert len(folders) == len(labels)


# -- the output disk ----------------------------------------------------------------------


def _mount(args: list[str]) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip()}); needs root and mount rights")


def test_full_output_disk_stops_the_run_and_keeps_finished_jobs(tmp_path):
    enc, dec = _write_scripts(tmp_path)
    disk = tmp_path / "disk"
    disk.mkdir()
    log = tmp_path / "encodes.log"
    # each job: a 1.2 MB source copy as input, the same as bitstream (kept), a reconstruction
    _mount(["-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)])
    try:
        config = _setup(
            tmp_path,
            str(disk / "out"),
            _codec_entry(enc, dec, qps=(30, 31, 32, 33, 34, 35)),
            frames=50,
            size="128x128",
            jobs=1,
        )
        code, text = _finish(_gvcbench(["run", "-c", str(config)], tmp_path, env={"TRUST_LOG": str(log)}))
        assert code == 2, text
        # ENOSPC reaches either a job's own write or SQLite's ("database or disk is full"),
        # depending on where the disk runs out (lossless x264 reconstructions are smaller than FFV1's)
        assert ("No space left on device" in text or "disk is full" in text) and "Finished jobs are kept" in text
        assert "Traceback" not in text
        encodes = len(log.read_text().splitlines())
        rows = _rows(disk / "out")
        assert encodes <= len(rows) + 1 < 6  # stopped at the first job that hit the full disk
        # a codec's own write can meet the full disk first: that job is stored as failed, saying so
        # (the next run tries it again), and the run stops at the next write of gvcbench's own
        failed = [r for r in rows if r["status"] != "done"]
        assert len(failed) <= 1 and all("No space left on device" in r["error"] for r in failed), failed
    finally:
        subprocess.run(["umount", "-l", str(disk)])


def test_read_only_output_folder_is_one_clear_line(tmp_path):
    enc, dec = _write_scripts(tmp_path)
    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    ro.mkdir()
    _mount(["--bind", str(src), str(ro)])
    try:
        _mount(["-o", "remount,bind,ro", str(ro)])
        config = _setup(tmp_path, str(ro / "out"), _codec_entry(enc, dec))
        code, text = _finish(_gvcbench(["run", "-c", str(config)], tmp_path))
        assert code == 2 and "cannot write to the output folder" in text and "Read-only file system" in text
        assert "Traceback" not in text
    finally:
        subprocess.run(["umount", "-l", str(ro)])


def test_an_output_that_is_a_file_says_so_and_names_the_run_folder_of_a_store(tmp_path):
    """`-o run/results.sqlite` (the path `gvcbench results` takes, and the run's last lines
    print) said only 'cannot write to the output folder ...: File exists'."""
    enc, dec = _write_scripts(tmp_path)
    config = _setup(tmp_path, str(tmp_path / "run"), _codec_entry(enc, dec))
    assert _finish(_gvcbench(["run", "-c", str(config)], tmp_path))[0] == 0
    before = _rows(tmp_path / "run")
    code, text = _finish(
        _gvcbench(["run", "-c", str(config), "-o", str(tmp_path / "run" / "results.sqlite")], tmp_path)
    )
    assert code == 2 and "Traceback" not in text and len(text.strip().splitlines()) == 1, text
    assert f"is a file (the store of the run folder {tmp_path / 'run'}), not a folder" in text, text
    assert _rows(tmp_path / "run") == before  # the store is untouched


def test_store_refuses_to_replace_done_by_failed_at_the_sql_level(tmp_path):
    with ResultStore(tmp_path) as store:
        base = {"job_key": "k", "run_id": "r1", "codec": "c", "codec_name": "x265", "sequence": "s", "point": "qp30"}
        assert store.put(base | {"status": "done", "bytes": 100})
        assert not store.put(base | {"run_id": "r2", "status": "failed", "error": "boom"})
        assert store.put(base | {"run_id": "r3", "status": "done", "bytes": 90})
    con = sqlite3.connect(tmp_path / "results.sqlite")
    assert con.execute("SELECT run_id, status, bytes, error FROM jobs").fetchall() == [("r3", "done", 90, None)]


def test_exports_never_overwrite_the_store(tmp_path):
    enc, dec = _write_scripts(tmp_path)
    config = _setup(tmp_path, "out", _codec_entry(enc, dec))
    code, text = _finish(_gvcbench(["run", "-c", str(config)], tmp_path))
    assert code == 0, text
    store = tmp_path / "out" / "results.sqlite"
    for args in (
        ["results", "out", "-f", "csv", "-o", str(store)],
        ["regress", "out", "--baseline", str(store), "--save"],
        ["regress", "out", "--baseline", str(tmp_path / "b.json"), "--junit", str(store)],
    ):
        if args[0] == "regress" and "--junit" in args:
            assert (
                _finish(_gvcbench(["regress", "out", "--baseline", str(tmp_path / "b.json"), "--save"], tmp_path))[0]
                == 0
            )
        code, text = _finish(_gvcbench(args, tmp_path))
        assert code == 2 and "is a results store" in text, (args, text)
    assert len(_rows(tmp_path / "out")) == 1


def test_a_run_that_cannot_start_leaves_no_output_folder(tmp_path):
    for args in (["--dataset", str(tmp_path / "no-such-clips")], ["--metrics", "psnr-yy"]):
        code, text = _finish(_gvcbench(["run", "--codecs", "x265", "--output", "out", *args], tmp_path))
        assert code == 2 and "Traceback" not in text, text
        assert not (tmp_path / "out").exists(), args


def test_a_run_stopped_on_a_shared_worker_never_fails_another_runs_task(monkeypatch):
    """cancel_owned (a stopped driver's client.run, on the worker's event loop thread) adds to the
    set of cancelled runs while other runs' tasks ask is_cancelled in their own threads: iterating
    the set there raised "Set changed size during iteration", failing another run's job."""
    import threading

    from gvcbench import processes

    monkeypatch.setattr(processes, "_cancelled", {f"gvcbench-{i:012x}-" for i in range(200)})
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a busy worker does
    errors: list = []
    stop = threading.Event()

    def other_runs_task():
        while not stop.is_set():
            try:
                assert not processes.is_cancelled("gvcbench-ffffffffffff-7")
            except RuntimeError as exc:
                errors.append(exc)

    thread = threading.Thread(target=other_runs_task)
    thread.start()
    try:
        for i in range(2000):
            processes.cancel_owned(f"gvcbench-new{i:09x}-")
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(before)
    assert not errors, errors[0]
    assert processes.is_cancelled("gvcbench-new000000001-3") and not processes.is_cancelled("gvcbench-new-3")
