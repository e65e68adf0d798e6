"""Running jobs on a real Dask LocalCluster of worker processes."""

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("distributed")

import distributed

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.events import JobEnded
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore
from gvcbench.errors import ConfigError, GvcbenchError

from .conftest import gvcbench_logs, write_two_clips

pytestmark = pytest.mark.slow  # every test starts a real Dask cluster of worker processes


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return write_two_clips(tmp_path_factory.mktemp("dclips"))


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def _cfg(clips, out, executor, qps=(24, 30, 36, 42), codec=None, **settings):
    """Two workers, PSNR-Y, no reconstructions; x264 ultrafast unless ``codec`` is given."""
    return config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(out),
            "jobs": 2,
            "metrics": ["psnr-y"],
            "keep_reconstructions": False,
            "executor": executor,
            "codec": [codec or {"name": "x264", "qps": list(qps), "params": {"preset": "ultrafast"}}],
            **settings,
        }
    )


def _rows(out):
    with ResultStore(out, create=False) as store:
        return {r["job_key"]: r for r in store.rows()}


def test_dask_results_equal_the_local_pool(clips, cluster, tmp_path):
    run_benchmark(_cfg(clips, tmp_path / "local", {"kind": "local"}))
    with gvcbench_logs() as logs:
        run_benchmark(_cfg(clips, tmp_path / "dask", {"kind": "dask", "scheduler": cluster.scheduler_address}))
    local, dask = _rows(tmp_path / "local"), _rows(tmp_path / "dask")
    assert set(local) == set(dask) and len(local) == 8
    for key in local:
        assert dask[key]["bytes"] == local[key]["bytes"]
        assert dask[key]["metrics"] == local[key]["metrics"]
    assert any("by path" in m for m in logs) and any("2 Dask worker(s) checked" in m for m in logs)


def test_inputs_go_by_value_when_workers_cannot_read_them(clips, cluster, tmp_path):
    cfg = _cfg(
        clips,
        tmp_path / "byvalue",
        {"kind": "dask", "scheduler": cluster.scheduler_address, "shared_fs": "no"},
        qps=(30,),
    )
    with gvcbench_logs() as logs:
        summary = run_benchmark(cfg)
    assert summary.done == 2 and any("by value" in m for m in logs)


def test_a_worker_killed_mid_run_does_not_lose_or_double_jobs(clips, tmp_path):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        with distributed.Client(c) as client:
            pids = list(client.run(os.getpid).values())
        killed = []

        def progress(event):
            if isinstance(event, JobEnded) and not killed:
                os.kill(pids[0], signal.SIGKILL)  # a worker process ends abruptly mid-run
                killed.append(pids[0])

        cfg = _cfg(
            clips,
            tmp_path / "run",
            {"kind": "dask", "scheduler": c.scheduler_address},
            qps=(20, 24, 28, 32, 36, 40, 44, 48),
        )
        summary = run_benchmark(cfg, on_event=progress)
    assert killed and summary.failed == 0 and summary.done == 16
    with sqlite3.connect(tmp_path / "run" / "results.sqlite") as con:
        keys = [k for (k,) in con.execute("SELECT job_key FROM jobs")]
    assert len(keys) == len(set(keys)) == 16


def test_unready_worker_is_named_before_the_run(clips, cluster, tmp_path):
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(tmp_path / "run"),
            "metrics": ["psnr-y"],
            "executor": {"kind": "dask", "scheduler": cluster.scheduler_address},
            "codec": [
                {
                    "name": "external",
                    "label": "mine",
                    "qps": [30],
                    "params": {
                        "encode": [sys.executable, "-c", "pass"],
                        "decode": [sys.executable, "-c", "pass"],
                        "version_command": [sys.executable, "-c", "import os; print(os.getpid())"],
                    },
                }
            ],
        }
    )
    with pytest.raises(GvcbenchError, match=r"worker tcp://127\.0\.0\.1:\d+ .* has mine \d+, the driver planned"):
        run_benchmark(cfg)
    with pytest.raises(ConfigError, match="executor cluster must be one of"):
        config_from_mapping({"executor": {"kind": "dask", "cluster": "kubernetes"}})


def test_killed_driver_resumes_with_dask(clips, tmp_path):
    out = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "gvcbench",
        "run",
        "--dataset",
        str(clips),
        "--codecs",
        "vvenc-ldb",
        "--qps",
        "26,30,34,38,42,46",
        "--metrics",
        "psnr-y",
        "--jobs",
        "1",
        "--executor",
        "dask",
        "--output",
        str(out),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    db = out / "results.sqlite"
    deadline, count = time.time() + 180, 0
    while time.time() < deadline and count < 3:
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    count = con.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the cluster it started
    proc.wait()
    with sqlite3.connect(db) as con:
        first = dict(con.execute("SELECT job_key, finished_at FROM jobs").fetchall())
    assert 3 <= len(first) < 12
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    with sqlite3.connect(db) as con:
        rows = dict(con.execute("SELECT job_key, finished_at FROM jobs").fetchall())
    assert len(rows) == 12 and all(rows[k] == t for k, t in first.items())


KILLER_CODEC = """#!/bin/sh
# encode: killer.sh INPUT BITSTREAM QP. At QP 30 it kills the worker that runs it.
if [ "$3" = 30 ]; then kill -9 "$PPID"; sleep 5; fi
sleep 0.5
cp "$1" "$2"
"""


def _script_codec(tmp_path, name, text, qps, *extra):
    script = tmp_path / f"{name}.sh"
    script.write_text(text)
    script.chmod(0o755)
    return {
        "name": "external",
        "label": name,
        "qps": list(qps),
        "params": {
            "encode": [str(script), "{input}", "{bitstream}", "{qp}", *extra],
            "decode": ["cp", "{bitstream}", "{output}"],
            "output_format": "y4m",
            "version": "1",
        },
    }


def test_a_job_that_kills_its_worker_costs_only_itself(clips, tmp_path):
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips / "bikes.y4m")},
            "output": str(tmp_path / "run"),
            "jobs": 2,
            "metrics": ["psnr-y"],
            "keep_reconstructions": False,
            "executor": {"kind": "dask", "retries": 1},
            "codec": [_script_codec(tmp_path, "killer", KILLER_CODEC, (22, 24, 26, 28, 30, 32, 34))],
        }
    )
    summary = run_benchmark(cfg)
    rows = _rows(tmp_path / "run")
    failed = sorted((r["qp"], r["sequence"]) for r in rows.values() if r["status"] != "done")
    assert failed == [(30, "bikes")], [(r["qp"], r["error"]) for r in rows.values()]
    assert summary.done == 6 and summary.failed == 1
    assert all("the worker running this job died 2 times" in r["error"] for r in rows.values() if r["qp"] == 30)


GRANDCHILD = "86420.75"  # the `sleep` argument that marks the script codec's grandchild

HANGING_CODEC = """#!/bin/sh
# encode: hang.sh INPUT BITSTREAM QP MARKS. The first call starts a grandchild and hangs.
if mkdir "$4/once" 2>/dev/null; then
  sleep {grandchild} &
  echo $$ > "$4/encoder.pid"
  exec sleep 60
fi
cp "$1" "$2"
"""


def _pids_with(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and text in open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace"):
                found.append(int(entry))
        except OSError:
            pass
    return found


def test_a_dead_workers_encoder_group_dies_with_it(clips, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips / "bikes.y4m")},
            "output": str(tmp_path / "run"),
            "jobs": 1,
            "metrics": ["psnr-y"],
            "keep_reconstructions": False,
            "executor": {"kind": "dask"},
            "codec": [_script_codec(tmp_path, "hang", HANGING_CODEC.format(grandchild=GRANDCHILD), (30,), str(marks))],
        }
    )
    killed = []

    def kill_the_worker_mid_encode():
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                encoder = int((marks / "encoder.pid").read_text())
            except (OSError, ValueError):
                time.sleep(0.1)
                continue
            with open(f"/proc/{encoder}/stat") as f:
                worker = int(f.read().rsplit(")", 1)[1].split()[1])
            os.kill(worker, signal.SIGKILL)
            killed.append((worker, encoder))
            return

    killer = threading.Thread(target=kill_the_worker_mid_encode, daemon=True)
    killer.start()
    summary = run_benchmark(cfg)
    killer.join()
    assert killed and summary.done == 1 and summary.failed == 0
    encoder = killed[0][1]
    deadline = time.time() + 10
    while (_pids_with(GRANDCHILD) or _alive(encoder)) and time.time() < deadline:
        time.sleep(0.2)
    strays = _pids_with(GRANDCHILD) + ([encoder] if _alive(encoder) else [])
    for pid in strays:  # never leave them to other tests
        os.kill(pid, signal.SIGKILL)
    assert not strays, "the dead worker's encoder or its grandchild is still running"


def _shared_run_config(tmp_path: Path, address: str, codec: dict, qps, output: str, clips: Path) -> Path:
    """A run.toml for the CLI: ``codec`` (a ``_script_codec``) on bikes.y4m, on the scheduler at ``address``."""
    config = tmp_path / f"{output}.toml"
    config.write_text(
        f'output = {json.dumps(str(tmp_path / output))}\nmetrics = ["psnr-y"]\n'
        f"[dataset]\nsource = {json.dumps(str(clips / 'bikes.y4m'))}\n"
        f'[executor]\nkind = "dask"\nscheduler = {json.dumps(address)}\n'
        f'[[codec]]\nname = "external"\nlabel = {json.dumps(codec["label"])}\nqps = {json.dumps(list(qps))}\n'
        f"[codec.params]\nencode = {json.dumps(codec['params']['encode'])}\n"
        f'decode = ["cp", "{{bitstream}}", "{{output}}"]\noutput_format = "y4m"\nversion = "1"\n'
    )
    return config


def _driver(config: Path) -> subprocess.Popen:
    """`gvcbench run -c CONFIG` in a session of its own, output (both streams) to a pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "gvcbench", "run", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for_encoders(marks: Path, count: int, timeout: float = 120) -> list[Path]:
    """The pid files STUCK_CODEC writes, once ``count`` of them exist (or what exists at the timeout)."""
    deadline = time.time() + timeout
    while len(list(marks.glob("encoder.*.pid"))) < count and time.time() < deadline:
        time.sleep(0.1)
    return list(marks.glob("encoder.*.pid"))


STUCK_MARK = "86421.25"  # the `sleep` argument that marks the stuck encoder
STUCK_CODEC = """#!/bin/sh
# encode: stuck.sh INPUT BITSTREAM QP MARKS. An encode that would take a day.
echo $$ > "$4/encoder.$3.pid"
exec sleep {mark}
"""


def test_ctrl_c_on_the_driver_stops_its_encodes_on_a_shared_schedulers_workers(clips, cluster, tmp_path):
    """A shared scheduler's workers outlive the driver; Ctrl-C (SIGINT to the driver, as a
    terminal sends it) used to leave the run's encoders running there until they ended."""
    marks = tmp_path / "marks"
    marks.mkdir()
    codec = _script_codec(tmp_path, "stuck", STUCK_CODEC.format(mark=STUCK_MARK), (30, 32), str(marks))
    config = _shared_run_config(tmp_path, cluster.scheduler_address, codec, (30, 32), "run", clips)
    driver = _driver(config)
    try:
        _wait_for_encoders(marks, 2)
        encoders = [int(f.read_text()) for f in marks.glob("encoder.*.pid")]
        assert len(encoders) == 2, driver.stdout.read() if driver.poll() is not None else "no encoder started"
        driver.send_signal(signal.SIGINT)
        output = driver.communicate(timeout=60)[0]
        assert driver.returncode == 130, output
        assert "2 program(s) on its workers killed" in output, output
        deadline = time.time() + 10
        while _pids_with(STUCK_MARK) and time.time() < deadline:
            time.sleep(0.2)
        assert not _pids_with(STUCK_MARK), "the stopped run's encoders still run on the workers"
    finally:
        driver.kill()
        for pid in _pids_with(STUCK_MARK):  # never leave them to other tests
            os.kill(pid, signal.SIGKILL)
    assert len(cluster.scheduler_info["workers"]) == 2, "the shared scheduler's workers stay"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


WAITING_CODEC = """#!/bin/sh
# encode: wait.sh INPUT BITSTREAM QP MARKS. QP 24 runs at once, the others wait for MARKS/release.
i=0
while [ "$3" != 24 ] && [ ! -e "$4/release" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
cp "$1" "$2"
"""


def test_a_late_worker_with_another_environment_stops_the_run(clips, tmp_path):
    import gvcbench

    other = tmp_path / "other"
    shutil.copytree(
        Path(gvcbench.__file__).parent, other / "gvcbench", ignore=shutil.ignore_patterns("*.pt", "__pycache__")
    )
    version = other / "gvcbench" / "version.py"  # where the version is written once
    changed = version.read_text().replace(f'__version__ = "{gvcbench.__version__}"', '__version__ = "0.0.1"')
    assert "0.0.1" in changed
    version.write_text(changed)
    marks = tmp_path / "marks"
    marks.mkdir()
    slow = _script_codec(tmp_path, "slow", WAITING_CODEC, (24, 26, 28, 30), str(marks))
    late = []
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        cfg = config_from_mapping(
            {
                "dataset": {"source": str(clips / "bikes.y4m")},
                "output": str(tmp_path / "run"),
                "jobs": 1,
                "metrics": ["psnr-y"],
                "keep_reconstructions": False,
                "executor": {"kind": "dask", "scheduler": c.scheduler_address},
                "codec": [slow],
            }
        )

        def progress(event):  # a worker from another installation joins mid-run
            if isinstance(event, JobEnded) and not late:
                late.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "distributed.cli.dask_worker",
                            c.scheduler_address,
                            "--nthreads",
                            "1",
                            "--no-dashboard",
                        ],
                        cwd=tmp_path,
                        env=os.environ | {"PYTHONPATH": str(other)},
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )

        try:
            with pytest.raises(
                GvcbenchError,
                match=r"worker tcp://\S+ \(host \S+\) runs a different environment "
                r"from the driver: gvcbench 0\.0\.1 \(driver: ",
            ):
                run_benchmark(cfg, on_event=progress)
            assert late[0].wait(timeout=30) is not None  # the refused worker closed itself
        finally:
            (marks / "release").touch()
            for proc in late:
                proc.kill()
    rows = _rows(tmp_path / "run")
    assert [(r["qp"], r["status"]) for r in rows.values()] == [(24, "done")]


def _late_checks(address: str) -> list[str]:
    with distributed.Client(address) as client:
        names = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    return [n for n in names if n.startswith("gvcbench-late-worker-check")]


def test_two_runs_on_one_shared_scheduler_keep_their_own_late_worker_checks(clips, cluster, tmp_path):
    """A second run that ends while the first runs used to replace the first's check for
    workers that join late and then remove it, leaving the first run without any."""
    marks = tmp_path / "marks"
    marks.mkdir()
    executor = {"kind": "dask", "scheduler": cluster.scheduler_address}
    first = config_from_mapping(
        {
            "dataset": {"source": str(clips / "bikes.y4m")},
            "output": str(tmp_path / "first"),
            "metrics": ["psnr-y"],
            "keep_reconstructions": False,
            "executor": executor,
            "codec": [_script_codec(tmp_path, "slow", WAITING_CODEC, (24, 26), str(marks))],
        }
    )
    started: list = []
    summaries: list = []
    thread = threading.Thread(
        target=lambda: summaries.append(run_benchmark(first, on_event=lambda e: started.append(e))), daemon=True
    )
    thread.start()
    try:
        deadline = time.time() + 120
        while not any(isinstance(e, JobEnded) for e in started) and time.time() < deadline:
            time.sleep(0.1)  # QP 24 has ended: the first run's check is registered, QP 26 waits
        checks = _late_checks(cluster.scheduler_address)
        assert len(checks) == 1, checks
        second = _near_free_cfg(_tiny_clips(tmp_path / "tiny"), tmp_path / "second", executor, range(4))
        assert run_benchmark(second).done == 8
        assert _late_checks(cluster.scheduler_address) == checks, "the second run removed the first's check"
    finally:
        (marks / "release").touch()
        thread.join(timeout=120)
    assert summaries and summaries[0].done == 2 and summaries[0].failed == 0
    assert _late_checks(cluster.scheduler_address) == []


def _tiny_clips(folder, count=2):
    from gvcbench.datasets.y4m import write_y4m

    from .conftest import random_sequence

    folder.mkdir()
    for i in range(count):
        write_y4m(random_sequence(frames=2, width=16, height=16, seed=i, name=f"t{i}"), folder / f"t{i}.y4m")
    return folder


def _copy_codec(qps, encode=("cp", "{input}", "{bitstream}")):
    """The `external` codec whose bitstream is its input: a near-free job, the harness's own cost."""
    return {
        "name": "external",
        "label": "copy",
        "qps": list(qps),
        "params": {
            "encode": list(encode),
            "decode": ["cp", "{bitstream}", "{output}"],
            "input_format": "yuv",
            "output_format": "yuv",
            "version": "copy 1",
        },
    }


def _near_free_cfg(clips, out, executor, qps, **codec):
    return _cfg(clips, out, executor, codec=_copy_codec(qps, **codec), keep_bitstreams=False)


def test_task_size_grows_with_cheap_jobs_and_shrinks_at_the_end():
    from gvcbench.bench.dask_executor import MAX_TASK_JOBS, task_size

    assert task_size(None, 10_000, 2) == 1  # cost unknown: one job per task
    assert task_size(2.0, 10_000, 2) == 1  # jobs of seconds: one per task, as before
    assert task_size(0.01, 10_000, 2) == 100  # about a second of a worker's time
    assert task_size(1e-6, 10_000, 2) == MAX_TASK_JOBS
    assert task_size(0.01, 40, 2) == 10  # the last tasks are split among the workers


def test_many_near_free_jobs_run_once_each_in_few_tasks_and_a_bounded_window(tmp_path):
    from gvcbench.bench.dask_executor import PROGRESS_TOPIC, TASKS_PER_THREAD

    clips = _tiny_clips(tmp_path / "clips", count=5)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        most = [0]

        def progress(event):  # tasks the scheduler holds while the run goes on
            most[0] = max(most[0], len(c.scheduler.tasks))

        cfg = _near_free_cfg(clips, tmp_path / "run", {"kind": "dask", "scheduler": c.scheduler_address}, range(60))
        summary = run_benchmark(cfg, on_event=progress)
        with distributed.Client(c) as client:
            tasks = {msg["task"] for _, msg in client.get_events(PROGRESS_TOPIC)}
    assert summary.done == 300 and summary.failed == 0
    with sqlite3.connect(tmp_path / "run" / "results.sqlite") as con:
        keys = [k for (k,) in con.execute("SELECT job_key FROM jobs WHERE status = 'done'")]
    assert len(keys) == len(set(keys)) == 300
    assert len(tasks) <= 100, f"{len(tasks)} tasks for 300 near-free jobs"  # one task per job before
    window = TASKS_PER_THREAD * 2
    assert 0 < most[0] <= 2 * window, f"the scheduler held {most[0]} tasks at once"  # all 300 before


class _Stop(Exception):
    pass


def test_a_run_stopped_mid_window_resumes_with_every_job_once(clips, cluster, tmp_path):
    tiny = _tiny_clips(tmp_path / "clips")
    cfg = _near_free_cfg(tiny, tmp_path / "run", {"kind": "dask", "scheduler": cluster.scheduler_address}, range(60))
    ended = []

    def stop_after_some(event):
        if isinstance(event, JobEnded):
            ended.append(event)
            if len(ended) == 30:
                raise _Stop  # the driver goes away with tasks in flight

    with pytest.raises(_Stop):
        run_benchmark(cfg, on_event=stop_after_some)
    with sqlite3.connect(tmp_path / "run" / "results.sqlite") as con:
        first = dict(con.execute("SELECT job_key, finished_at FROM jobs").fetchall())
    assert 30 <= len(first) < 120
    summary = run_benchmark(cfg)
    assert summary.skipped == len(first) and summary.done == 120 - len(first) and summary.failed == 0
    with sqlite3.connect(tmp_path / "run" / "results.sqlite") as con:
        rows = dict(con.execute("SELECT job_key, finished_at FROM jobs").fetchall())
    assert len(rows) == 120 and all(rows[k] == t for k, t in first.items())


KILL_AT_QP_40 = """#!/bin/sh
# encode: kill40.sh INPUT BITSTREAM QP. At QP 40 it kills the worker that runs it.
# (It waits a moment first: the job's start must reach the scheduler for the death to be charged.)
if [ "$3" = 40 ]; then sleep 0.5; kill -9 "$PPID"; sleep 5; fi
cp "$1" "$2"
"""


def test_a_job_that_kills_its_worker_inside_a_task_of_many_costs_only_itself(tmp_path):
    clips = _tiny_clips(tmp_path / "clips", count=1)
    script = tmp_path / "kill40.sh"
    script.write_text(KILL_AT_QP_40)
    script.chmod(0o755)
    cfg = _near_free_cfg(
        clips,
        tmp_path / "run",
        {"kind": "dask", "retries": 0},
        range(60),
        encode=(str(script), "{input}", "{bitstream}", "{qp}"),
    )
    with gvcbench_logs() as logs:
        summary = run_benchmark(cfg)
    rows = _rows(tmp_path / "run")
    assert len(rows) == 60
    failed = [(r["qp"], r["error"]) for r in rows.values() if r["status"] != "done"]
    assert [qp for qp, _ in failed] == [40] and "the worker running this job died 1 times" in failed[0][1]
    assert summary.done == 59 and summary.failed == 1
    # the killer shared its task with other jobs, which ran again uncharged
    assert any(re.search(r"a worker died; \d+ other job\(s\) of its task run again", m) for m in logs), logs


def _dask_process(folder: Path, cli: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    """``dask scheduler``/``dask worker`` (``cli``: dask_scheduler or dask_worker) as a process group of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", f"distributed.cli.{cli}", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=folder,
        env=os.environ | (env or {}),
    )


def _scheduler_address(file: Path, timeout: float = 30) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            return json.loads(file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise AssertionError(f"the scheduler wrote no {file.name}")


@contextlib.contextmanager
def _scheduler_and_worker(folder: Path, scheduler_env: dict | None = None, worker_env: dict | None = None, nanny=False):
    """A ``dask scheduler`` and one ``dask worker`` started by hand (each a process group of its
    own, killed at the end): the processes and the scheduler's address."""
    file = folder / "scheduler.json"
    scheduler = _dask_process(
        folder,
        "dask_scheduler",
        "--scheduler-file",
        str(file),
        "--port",
        "0",
        "--dashboard-address",
        ":0",
        env=scheduler_env,
    )
    no_nanny = () if nanny else ("--no-nanny",)
    worker = _dask_process(
        folder, "dask_worker", "--scheduler-file", str(file), "--nthreads", "1", *no_nanny, env=worker_env
    )
    try:
        yield SimpleNamespace(address=_scheduler_address(file), scheduler=scheduler, worker=worker)
    finally:
        for proc in (scheduler, worker):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_scheduler_lost_mid_run_stops_it_with_a_message_and_no_failed_rows(clips, cluster, tmp_path):
    with _scheduler_and_worker(tmp_path) as procs:
        address = procs.address
        slow = _script_codec(tmp_path, "slow", '#!/bin/sh\nsleep 0.3\ncp "$1" "$2"\n', range(20, 30))
        cfg = _cfg(clips, tmp_path / "run", {"kind": "dask", "scheduler": address}, codec=slow)

        def kill_the_scheduler(event):
            if isinstance(event, JobEnded):
                os.killpg(procs.scheduler.pid, signal.SIGKILL)

        started = time.perf_counter()
        with pytest.raises(GvcbenchError, match=f"connection to the Dask scheduler at {address} was lost mid-run"):
            run_benchmark(cfg, on_event=kill_the_scheduler)
        assert time.perf_counter() - started < 20  # not the client's reconnection time (30 s)
    rows = _rows(tmp_path / "run")
    assert rows and all(r["status"] == "done" for r in rows.values())  # none recorded as failed
    cfg = _cfg(clips, tmp_path / "run", {"kind": "dask", "scheduler": cluster.scheduler_address}, codec=slow)
    summary = run_benchmark(cfg)  # resumes on another scheduler
    assert summary.skipped == len(rows) and summary.done == 20 - len(rows) and summary.failed == 0
    assert len(_rows(tmp_path / "run")) == 20


def _within(seconds: float, call):
    """What ``call`` raised (None if nothing), failing the test when it still runs after ``seconds``."""
    raised: list = [None]

    def target():
        try:
            call()
        except BaseException as exc:
            raised[0] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return raised[0]


def test_a_scheduler_without_workers_waits_start_timeout_then_says_what_to_do(clips, tmp_path):
    file = tmp_path / "scheduler.json"
    scheduler = _dask_process(
        tmp_path, "dask_scheduler", "--scheduler-file", str(file), "--port", "0", "--dashboard-address", ":0"
    )
    worker = None
    try:
        address = _scheduler_address(file)
        executor = {"kind": "dask", "scheduler": address, "start_timeout": 1}
        error = _within(30, lambda: run_benchmark(_cfg(clips, tmp_path / "first", executor, qps=(30,))))
        assert isinstance(error, GvcbenchError), error
        assert f"no Dask worker joined the scheduler at {address} within 1 s" in str(error)
        worker = _dask_process(tmp_path, "dask_worker", address, "--nthreads", "1", "--no-nanny")
        with gvcbench_logs() as logs:  # a worker that joins while the run waits takes its jobs
            summary = run_benchmark(_cfg(clips, tmp_path / "run", executor | {"start_timeout": 60}, qps=(30,)))
    finally:
        for proc in (scheduler, worker):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert summary.done == 2 and any("has no worker yet; waiting up to 60 s" in m for m in logs)


def test_every_worker_gone_mid_run_is_waited_on_then_stops_the_run(clips, tmp_path, monkeypatch):
    from gvcbench.bench import dask_executor

    monkeypatch.setattr(dask_executor, "WORKERS_WATCH_SECONDS", 0.2, raising=False)
    with _scheduler_and_worker(tmp_path) as procs:
        address = procs.address
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=30)
        slow = _script_codec(tmp_path, "slow", '#!/bin/sh\nsleep 0.3\ncp "$1" "$2"\n', range(20, 30))
        cfg = _cfg(clips, tmp_path / "run", {"kind": "dask", "scheduler": address, "start_timeout": 1}, codec=slow)

        def kill_the_only_worker(event):
            if isinstance(event, JobEnded):
                os.killpg(procs.worker.pid, signal.SIGKILL)

        with gvcbench_logs() as logs:
            error = _within(30, lambda: run_benchmark(cfg, on_event=kill_the_only_worker))
    assert isinstance(error, GvcbenchError), error
    assert f"the Dask scheduler at {address} had no worker for 1 s (start_timeout)" in str(error)
    assert any("has no worker left (killed or stopped); the run waits up to 1 s" in m for m in logs)
    rows = _rows(tmp_path / "run")
    assert rows and all(r["status"] == "done" for r in rows.values())


def test_a_local_cluster_does_not_warn_when_another_holds_port_8787(clips, tmp_path):
    import socket
    import warnings

    holder = socket.socket()
    try:
        holder.bind(("", 8787))
        holder.listen()
    except OSError:
        pass  # something else holds it already
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            summary = run_benchmark(_cfg(clips, tmp_path / "run", {"kind": "dask"}, qps=(30,)))
    finally:
        holder.close()
    assert summary.done == 2
    assert not [w for w in caught if "8787" in str(w.message)], [str(w.message) for w in caught]


def test_a_shared_schedulers_own_reruns_count_against_retries(clips, tmp_path):
    # A scheduler started by hand reruns a task whose worker died (allowed-failures, 3 by default) before the
    # driver hears of it: those deaths count, so a job that kills its worker kills retries + 1 workers, not more.
    kills = tmp_path / "kills"
    allowed_failures = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    with _scheduler_and_worker(tmp_path, scheduler_env=allowed_failures, nanny=True) as procs:
        address = procs.address
        killer = KILLER_CODEC.replace('kill -9 "$PPID"', f'echo x >> {kills}; kill -9 "$PPID"')
        cfg = config_from_mapping(
            {
                "dataset": {"source": str(clips / "bikes.y4m")},
                "output": str(tmp_path / "run"),
                "metrics": ["psnr-y"],
                "keep_reconstructions": False,
                "executor": {"kind": "dask", "scheduler": address, "retries": 1},
                "codec": [_script_codec(tmp_path, "killer", killer, (28, 30))],
            }
        )
        summary = run_benchmark(cfg)
    assert summary.done == 1 and summary.failed == 1
    failed = [r for r in _rows(tmp_path / "run").values() if r["status"] != "done"]
    assert len(kills.read_text().split()) == 2  # retries + 1 deaths, not (retries + 1) * (allowed-failures + 1)
    assert "the worker running this job died 2 times" in failed[0]["error"], failed[0]["error"]


def test_a_rate_search_keeps_one_cluster_for_all_its_rounds(clips, tmp_path, monkeypatch):
    # Each round of a kbps search is a batch of jobs; a new cluster per batch would, on SLURM,
    # queue for new worker jobs every round.
    from gvcbench.bench import dask_executor

    started, rounds, real_make, real_run = [], [], dask_executor._make_cluster, dask_executor.DaskExecutor._run

    def make_cluster(*args):
        started.append(real_make(*args))
        return started[-1]

    def run(self, jobs, on_results):
        rounds.append(len(jobs))
        return real_run(self, jobs, on_results)

    monkeypatch.setattr(dask_executor, "_make_cluster", make_cluster)
    monkeypatch.setattr(dask_executor.DaskExecutor, "_run", run)
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips / "bikes.y4m")},
            "output": str(tmp_path / "run"),
            "jobs": 1,
            "metrics": ["psnr-y"],
            "keep_reconstructions": False,
            "executor": {"kind": "dask"},
            "codec": [{"name": "x264", "kbps": [60], "params": {"preset": "ultrafast"}}],
        }
    )
    summary = run_benchmark(cfg)
    assert len(rounds) >= 2 and summary.failed == 0 and summary.rate_targets[0].status == "ok"
    assert len(started) == 1, f"{len(started)} clusters for {len(rounds)} rounds"
    assert started[0].status.name == "closed"  # and the run closed it


def test_a_worker_without_ffmpeg_is_named_as_missing_it(clips, tmp_path):
    # A worker whose FFmpeg is not there (GVCBENCH_FFMPEG names no program) joins an existing scheduler.
    no_ffmpeg = {"GVCBENCH_FFMPEG": str(tmp_path / "no-ffmpeg")}
    with _scheduler_and_worker(tmp_path, worker_env=no_ffmpeg) as procs:
        address = procs.address
        cfg = _cfg(clips, tmp_path / "run", {"kind": "dask", "scheduler": address, "start_timeout": 30}, qps=(30,))
        with pytest.raises(GvcbenchError) as err:
            run_benchmark(cfg)
    assert re.search(r"runs a different environment from the driver: ffmpeg missing \(driver: \S+\)", str(err.value))
    assert "cannot run x264: GVCBENCH_FFMPEG=" in str(err.value)


def test_a_dead_worker_is_reported_by_the_driver_not_by_a_scheduler_error(clips, tmp_path):
    (tmp_path / "run.toml").write_text(
        "\n".join(
            [
                f'output = "{tmp_path / "run"}"',
                'metrics = ["psnr-y"]',
                "jobs = 1",
                "[dataset]",
                f'source = "{clips / "bikes.y4m"}"',
                "[executor]",
                'kind = "dask"',
                "retries = 0",
                "[[codec]]",
                'name = "external"',
                'label = "killer"',
                "qps = [30]",
                "[codec.params]",
                f'encode = ["{_script_codec(tmp_path, "killer", KILLER_CODEC, (30,))["params"]["encode"][0]}", '
                '"{input}", "{bitstream}", "{qp}"]',
                'decode = ["cp", "{bitstream}", "{output}"]',
                'output_format = "y4m"',
                'version = "1"',
            ]
        )
    )
    r = subprocess.run(
        [sys.executable, "-m", "gvcbench", "run", "-c", str(tmp_path / "run.toml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and "the worker running this job died 1 times" in r.stdout + r.stderr, r.stderr
    assert "marked as failed because" not in r.stderr, r.stderr


def test_a_scheduler_that_stops_answering_stops_the_run_after_start_timeout(clips, tmp_path, monkeypatch):
    from gvcbench.bench import dask_executor

    monkeypatch.setattr(dask_executor, "WORKERS_WATCH_SECONDS", 0.5, raising=False)
    with _scheduler_and_worker(tmp_path) as procs:
        address = procs.address
        slow = _script_codec(tmp_path, "slow", '#!/bin/sh\nsleep 0.3\ncp "$1" "$2"\n', range(20, 30))
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=30)
        cfg = _cfg(clips, tmp_path / "run", {"kind": "dask", "scheduler": address, "start_timeout": 2}, codec=slow)

        def freeze_the_scheduler(event):
            if isinstance(event, JobEnded):
                os.kill(procs.scheduler.pid, signal.SIGSTOP)  # alive and connected, but silent

        with gvcbench_logs() as logs:
            error = _within(40, lambda: run_benchmark(cfg, on_event=freeze_the_scheduler))
    assert isinstance(error, GvcbenchError), error
    assert f"the Dask scheduler at {address} did not answer for 2 s (start_timeout)" in str(error)
    assert any("does not answer; the run waits up to 2 s" in m for m in logs), logs
    rows = _rows(tmp_path / "run")
    assert rows and all(r["status"] == "done" for r in rows.values())


def test_a_scheduler_and_a_jobqueue_cluster_both_given_says_which_is_used():
    from gvcbench.bench.config import ExecutorConfig
    from gvcbench.bench.dask_executor import DaskExecutor

    with gvcbench_logs() as logs:
        DaskExecutor(ExecutorConfig(kind="dask", cluster="slurm", scheduler="tcp://head:8786"), 2)
    assert any("goes to the Dask scheduler at tcp://head:8786: cluster = 'slurm' and its settings" in m for m in logs)


def test_a_tasks_rows_stand_when_its_futures_status_has_moved_on(cluster):
    """as_completed hands over a finished task's rows; on a shared scheduler the future's status
    could read 'cancelled' by the time the driver looked (a worker had died), and the rows
    were taken for an error tuple (IndexError, one run in about ten under load)."""
    from gvcbench.bench.dask_executor import _Dispatch
    from gvcbench.bench.records import JobResult

    with distributed.Client(cluster.scheduler_address) as client:
        dispatch = _Dispatch(client, [], retries=1, threads=1)
        future = type("Future", (), {"key": "gvcbench-x-0", "status": "cancelled"})()  # as the status read then
        rows = [JobResult(job_key="k", codec="c", sequence="s", point="qp30", qp=30, job_seconds=2.0)]
        dispatch.in_flight[future] = []
        assert dispatch.settle(future, rows) == rows and dispatch.job_seconds == 2.0


def test_a_killed_drivers_late_worker_check_is_removed_by_the_next_run(clips, cluster, tmp_path):
    """A driver killed outright (SIGKILL: the OOM killer, SLURM's kill after its grace time)
    cannot remove its check; with a name per run no later run replaced it either, and it went
    on closing every worker that joined and failed the dead run's checks (its inputs deleted, an
    upgraded environment) for as long as the scheduler lived."""
    marks = tmp_path / "marks"
    marks.mkdir()
    codec = _script_codec(tmp_path, "slow", WAITING_CODEC, (24, 26), str(marks))
    config = _shared_run_config(tmp_path, cluster.scheduler_address, codec, (24, 26), "dead", clips)
    driver = subprocess.Popen(
        [sys.executable, "-m", "gvcbench", "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while not _late_checks(cluster.scheduler_address) and time.time() < deadline:
            time.sleep(0.1)
        assert len(_late_checks(cluster.scheduler_address)) == 1
    finally:
        driver.kill()
        driver.wait()
        (marks / "release").touch()
    assert len(_late_checks(cluster.scheduler_address)) == 1, "the killed driver's check stays for now"
    executor = {"kind": "dask", "scheduler": cluster.scheduler_address}
    with gvcbench_logs() as logs:
        assert run_benchmark(_near_free_cfg(_tiny_clips(tmp_path / "tiny"), tmp_path / "next", executor, range(2))).done
    assert _late_checks(cluster.scheduler_address) == []
    assert any("removed 1 late-worker check(s)" in m for m in logs), logs


def test_ctrl_c_with_a_frozen_shared_scheduler_still_ends_the_driver(clips, tmp_path):
    """A scheduler that stops answering (SIGSTOP: a stuck VM, a cut network) must not hold a
    stopped driver: it gives up on the scheduler after STOP_SECONDS and says what may run on."""
    marks = tmp_path / "marks"
    marks.mkdir()
    codec = _script_codec(tmp_path, "stuck", STUCK_CODEC.format(mark=STUCK_MARK), (30,), str(marks))
    with _scheduler_and_worker(tmp_path) as procs:
        config = _shared_run_config(tmp_path, procs.address, codec, (30,), "run", clips)
        driver = _driver(config)
        try:
            assert _wait_for_encoders(marks, 1), "no encoder started"
            os.kill(procs.scheduler.pid, signal.SIGSTOP)
            driver.send_signal(signal.SIGINT)
            output = driver.communicate(timeout=60)[0]  # hung for good before
        finally:
            driver.kill()
            os.kill(procs.scheduler.pid, signal.SIGCONT)
            for pid in _pids_with(STUCK_MARK):
                os.kill(pid, signal.SIGKILL)
    assert driver.returncode == 130, output
    assert "the Dask scheduler did not answer within 10 s" in output and "Traceback" not in output, output
