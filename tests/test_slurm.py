"""Benchmarks on a real single-node SLURM cluster (.ci/slurm-up.sh) through dask-jobqueue.

The cluster is the one `.ci/run` starts; run alone, these tests start it themselves when
they can (root and the Debian packages slurm-wlm and munge) and are skipped otherwise.
"""

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

import pytest

pytest.importorskip("distributed")
pytest.importorskip("dask_jobqueue")

from gvcbench.bench.config import config_from_mapping, load_config
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore
from gvcbench.datasets.y4m import write_y4m
from gvcbench.errors import ConfigError, GvcbenchError

from .conftest import ROOT, gvcbench_logs, real_clip

pytestmark = pytest.mark.slow

SLURM_DIR = Path(os.environ.get("GVCBENCH_SLURM_DIR", "/tmp/gvcbench-slurm"))
CONF = SLURM_DIR / "slurm.conf"
GRANDCHILD = "97531.25"  # the `sleep` argument that marks the script codec's grandchild


def _sinfo(env) -> str:
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%P %T"], capture_output=True, text=True, timeout=20, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout if proc.returncode == 0 else ""


@pytest.fixture(scope="module")
def slurm():
    """The partition of a running single-node SLURM; SLURM_CONF points at it meanwhile."""
    env = os.environ | {"SLURM_CONF": str(CONF)}
    started = False
    if not (CONF.is_file() and _sinfo(env)):
        if not shutil.which("slurmctld") or os.geteuid() != 0:
            pytest.skip(
                "SLURM is not running and cannot start here: .ci/slurm-up.sh needs root and the "
                "Debian packages slurm-wlm and munge"
            )
        up = subprocess.run([str(ROOT / ".ci" / "slurm-up.sh")], capture_output=True, text=True, timeout=120)
        if up.returncode != 0:
            pytest.skip(f"SLURM cannot start here: {up.stderr.strip()}")
        started = True
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(CONF)
    partition = next(line.split()[0].rstrip("*") for line in _sinfo(env).splitlines() if "*" in line)
    try:
        yield partition
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        if started:
            subprocess.run([str(ROOT / ".ci" / "slurm-down.sh")], timeout=120)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slurm-clips")
    write_y4m(real_clip(frames=3, size="64x64"), folder / "bigbuckbunny.y4m")
    return folder


def _readme_config() -> str:
    """The README's SLURM configuration, exactly as a user copies it."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"```toml\n(# slurm\.toml.*?)```", text, re.S)
    assert match, "README.md lost its slurm.toml example"
    return match.group(1)


def _executor(tmp_path, **extra):
    return {
        "kind": "dask",
        "cluster": "slurm",
        "workers": 1,
        "cores": 1,
        "memory": "1GB",
        "walltime": "00:10:00",
        "start_timeout": 120,
        "log_directory": str(tmp_path / "worker-logs"),
    } | extra


def _rows(out):
    with ResultStore(out, create=False) as store:
        return {r["job_key"]: r for r in store.rows()}


def _strays() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and GRANDCHILD in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(entry.name)
        except OSError:
            pass
    return found


def test_readme_slurm_config_writes_the_same_store_as_the_local_pool(slurm, clips, tmp_path):
    (tmp_path / "clips").symlink_to(clips)
    (tmp_path / "slurm.toml").write_text(_readme_config())
    cfg = load_config(tmp_path / "slurm.toml")
    assert cfg.executor.cluster == "slurm" and cfg.executor.kind == "dask"
    local = (tmp_path / "slurm.toml").read_text().replace('kind = "dask"', 'kind = "local"')
    (tmp_path / "local.toml").write_text(local.replace('output = "runs/slurm"', 'output = "runs/local"'))
    cli = [sys.executable, "-m", "gvcbench", "run", "-c"]
    for name in ("local.toml", "slurm.toml"):
        r = subprocess.run(cli + [name], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    said = r.stdout + r.stderr
    assert "Dask on a new slurm cluster of 2 worker(s)" in said and "by path" in said, said
    local, remote = _rows(tmp_path / "runs" / "local"), _rows(tmp_path / "runs" / "slurm")
    assert set(local) == set(remote) and len(local) == 4
    for key in local:
        assert remote[key]["status"] == local[key]["status"] == "done"
        assert remote[key]["bytes"] == local[key]["bytes"]
        assert remote[key]["metrics"] == local[key]["metrics"]
    assert list((tmp_path / "runs" / "slurm-logs").glob("*.err")), "the worker jobs wrote no log"


def test_workers_that_cannot_see_the_clips_get_them_by_value(slurm, clips, tmp_path):
    # A worker host without the driver's file system: its Python starts in a mount namespace
    # where the clips folder is an empty tmpfs.
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a mount namespace here (unshare -m) to hide the clips from the workers")
    hidden = tmp_path / "python-without-clips"
    hidden.write_text(
        f"#!/bin/sh\nexec unshare -m --propagation private sh -c "
        f'\'mount -t tmpfs tmpfs {clips} && exec {sys.executable} "$@"\' sh "$@"\n'
    )
    hidden.chmod(0o755)
    runs = {}
    for name, executor in (("local", {"kind": "local"}), ("slurm", _executor(tmp_path, python=str(hidden)))):
        cfg = config_from_mapping(
            {
                "dataset": {"source": str(clips)},
                "output": str(tmp_path / name),
                "metrics": ["psnr-y"],
                "keep_reconstructions": False,
                "executor": executor,
                "codec": [{"name": "x265", "qps": [32, 40], "params": {"preset": "ultrafast"}}],
            }
        )
        with gvcbench_logs() as logs:
            summary = run_benchmark(cfg)
        assert summary.done == 2 and summary.failed == 0, summary.failures
        runs[name] = _rows(tmp_path / name)
    assert any("inputs go by value (scattered from the driver)" in m for m in logs), logs
    assert {k: (r["bytes"], r["metrics"]) for k, r in runs["slurm"].items()} == {
        k: (r["bytes"], r["metrics"]) for k, r in runs["local"].items()
    }


def test_worker_with_a_different_environment_is_named(slurm, clips, tmp_path, monkeypatch):
    # The cluster's copy of gvcbench is another version than the driver's: honestly detectable.
    import gvcbench

    monkeypatch.chdir(tmp_path)  # workers start in the driver's folder, first on their sys.path

    shutil.copytree(
        Path(gvcbench.__file__).parent,
        tmp_path / "other" / "gvcbench",
        ignore=shutil.ignore_patterns("*.pt", "__pycache__"),
    )
    version = tmp_path / "other" / "gvcbench" / "version.py"  # where the version is written once
    changed = version.read_text().replace(f'__version__ = "{gvcbench.__version__}"', '__version__ = "0.0.1"')
    assert "0.0.1" in changed
    version.write_text(changed)
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(tmp_path / "run"),
            "metrics": ["psnr-y"],
            "executor": _executor(tmp_path, prologue=[f"export PYTHONPATH={tmp_path / 'other'}"]),
            "codec": [{"name": "x265", "qps": [32]}],
        }
    )
    with pytest.raises(
        GvcbenchError,
        match=r"worker tcp://\S+ \(host \S+, SLURM job \d+\) runs a different "
        rf"environment from the driver: gvcbench 0\.0\.1 \(driver: "
        rf"{re.escape(gvcbench.__version__)}\)",
    ):
        run_benchmark(cfg)
    with sqlite3.connect(tmp_path / "run" / "results.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_queue_that_never_starts_a_worker_times_out_with_what_squeue_says(slurm, clips, tmp_path):
    node = subprocess.run(["sinfo", "-h", "-o", "%N"], capture_output=True, text=True, check=True).stdout.split()[0]
    subprocess.run(["scontrol", "create", "PartitionName=gvcbench-down", f"Nodes={node}", "State=DOWN"], check=True)
    try:
        cfg = config_from_mapping(
            {
                "dataset": {"source": str(clips)},
                "output": str(tmp_path / "run"),
                "metrics": ["psnr-y"],
                "executor": _executor(tmp_path, queue="gvcbench-down", start_timeout=4),
                "codec": [{"name": "x265", "qps": [32]}],
            }
        )
        started = time.perf_counter()
        with pytest.raises(GvcbenchError) as err:
            run_benchmark(cfg)
        assert time.perf_counter() - started < 60
        message = str(err.value)
        assert re.search(
            r"no Dask worker started within 4 s \(start_timeout\) on slurm partition 'gvcbench-down': "
            r"job (\d+) in partition gvcbench-down is PENDING \(reason: PartitionDown\)",
            message,
        ), message
        job = re.search(r"job (\d+) in partition", message).group(1)
        deadline = time.time() + 20
        while time.time() < deadline:  # the run cancelled its worker job
            q = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True)
            if not q.stdout.strip() or "CANCELLED" in q.stdout:
                break
            time.sleep(0.5)
        assert not q.stdout.strip() or "CANCELLED" in q.stdout, q.stdout
    finally:
        subprocess.run(["scontrol", "delete", "PartitionName=gvcbench-down"], check=False)


SLOW_CODEC = """#!/bin/sh
# encode: slow.sh INPUT BITSTREAM QP MARKS. Says which SLURM job runs it, starts a
# grandchild, works a while.
echo "$SLURM_JOB_ID" > "$4/running-$3.tmp" && mv "$4/running-$3.tmp" "$4/running-$3"
sleep {grandchild} &
sleep 3
kill $!
cp "$1" "$2"
rm -f "$4/running-$3"
"""


def _slow_codec_run(clips, tmp_path, executor: dict):
    """A run of SLOW_CODEC (three QPs on the two clips; each encode marks itself running in
    ``marks``) on ``executor``: the config and the marks folder."""
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "slow.sh"
    script.write_text(SLOW_CODEC.format(grandchild=GRANDCHILD))
    script.chmod(0o755)
    codec = {
        "name": "external",
        "label": "slow",
        "qps": [30, 31, 32],
        "params": {
            "encode": [str(script), "{input}", "{bitstream}", "{qp}", str(marks)],
            "decode": ["cp", "{bitstream}", "{output}"],
            "output_format": "y4m",
            "version": "1",
        },
    }
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(tmp_path / "run"),
            "metrics": ["psnr-y"],
            "keep_reconstructions": False,
            "executor": executor,
            "codec": [codec],
        }
    )
    return cfg, marks


def test_scancel_of_a_worker_mid_job_reruns_its_job_and_kills_its_encoder(slurm, clips, tmp_path):
    cfg, marks = _slow_codec_run(clips, tmp_path, _executor(tmp_path, workers=2))
    cancelled = {}

    def cancel_a_running_worker():
        deadline = time.time() + 120
        while time.time() < deadline and not cancelled:
            for mark in marks.glob("running-*[0-9]"):
                job = mark.read_text().strip()
                if job:
                    subprocess.run(["scancel", job], check=True)
                    cancelled.update(slurm_job=job, qp=mark.name.split("-")[1])
                    return
            time.sleep(0.1)

    killer = threading.Thread(target=cancel_a_running_worker, daemon=True)
    killer.start()
    with gvcbench_logs() as logs:
        summary = run_benchmark(cfg)
    killer.join()
    assert cancelled, "no encode was seen running"
    assert summary.failed == 0 and summary.done == 3, summary.failures
    assert f"rerunning slow / bigbuckbunny / qp{cancelled['qp']}: the worker running it died" in logs, logs
    rows = _rows(tmp_path / "run")
    assert sorted(r["qp"] for r in rows.values()) == [30, 31, 32]
    assert all(r["status"] == "done" for r in rows.values())
    deadline = time.time() + 15
    while _strays() and time.time() < deadline:
        time.sleep(0.2)
    assert not _strays(), "the cancelled worker's encoder left its grandchild running"


def test_a_worker_job_slurm_refuses_stops_the_run_at_once(slurm, clips, tmp_path):
    for extra, said in (
        ({"queue": "no-such-partition"}, "invalid partition specified: no-such-partition"),
        ({"memory": "100TB"}, "Requested node configuration is not available"),
    ):
        cfg = config_from_mapping(
            {
                "dataset": {"source": str(clips)},
                "output": str(tmp_path / "run"),
                "metrics": ["psnr-y"],
                "executor": _executor(tmp_path, **extra),
                "codec": [{"name": "x265", "qps": [32]}],
            }
        )
        started = time.perf_counter()
        with pytest.raises(ConfigError, match=rf"SLURM refuses the worker job for .*: .*{said}.*Check queue"):
            run_benchmark(cfg)
        assert time.perf_counter() - started < 30  # not start_timeout (120 s)


def test_no_sbatch_here_is_a_clear_error(clips, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(tmp_path / "run"),
            "metrics": ["psnr-y"],
            "executor": _executor(tmp_path),
            "codec": [{"name": "x265", "qps": [32]}],
        }
    )
    with pytest.raises(ConfigError, match=r"cluster = 'slurm' submits workers with sbatch, which is not on PATH"):
        run_benchmark(cfg)


@pytest.mark.parametrize(
    "bad, said",
    [
        ({"prologue": "module load ffmpeg"}, "prologue must be a list of shell lines"),
        ({"start_timeout": 0}, "start_timeout must be a positive number of seconds"),
        ({"python": 3}, "python must be a string"),
        ({"log_directory": ["logs"]}, "log_directory must be a string"),
        ({"memory": 4}, r'memory must be a size with a unit, e.g. "4GB" or "500MiB", got 4'),
        ({"memory": "lots"}, "memory must be a size with a unit.*got 'lots'"),
    ],
)
def test_cluster_keys_are_checked(bad, said):
    with pytest.raises(ConfigError, match=said):
        config_from_mapping({"executor": {"kind": "dask", "cluster": "slurm"} | bad})


def test_every_worker_job_cancelled_stops_the_run_with_how_to_resume(slurm, clips, tmp_path, monkeypatch):
    from gvcbench.bench import dask_executor

    monkeypatch.setattr(dask_executor, "WORKERS_WATCH_SECONDS", 0.5)
    cfg, marks = _slow_codec_run(clips, tmp_path, _executor(tmp_path, start_timeout=20))

    def cancel_every_worker_job():
        deadline = time.time() + 120
        while time.time() < deadline:
            for mark in marks.glob("running-*[0-9]"):
                if mark.read_text().strip():
                    subprocess.run(["scancel", "--name", "gvcbench-worker"], check=True)
                    return
            time.sleep(0.1)

    killer = threading.Thread(target=cancel_every_worker_job, daemon=True)
    killer.start()
    with pytest.raises(GvcbenchError) as err:
        run_benchmark(cfg)
    killer.join()
    assert (
        "the Dask scheduler of this run's slurm cluster had no worker for 20 s (start_timeout); the jobs that "
        "finished are kept in the store; to resume, run the same command again (it submits new worker jobs"
    ) in str(err.value), str(err.value)
    summary = run_benchmark(cfg)  # resumes with new worker jobs
    assert summary.failed == 0 and summary.done + summary.skipped == 3


def test_ctrl_c_still_interrupts_once_dask_jobqueue_is_imported():
    # dask_jobqueue's import sets SIGINT to sys.exit(): Ctrl-C would end a run with status 0.
    code = (
        "import os, signal, time\n"
        "from gvcbench.bench.config import ExecutorConfig\n"
        "ExecutorConfig(kind='dask', cluster='slurm').require_packages()\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"
        "except KeyboardInterrupt:\n"
        "    raise SystemExit(130)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 130, (r.returncode, r.stderr[-2000:])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_on_a_slurm_run_says_so_exits_128_plus_it_and_cancels_its_workers(
    slurm, clips, tmp_path, sig
):
    """SIGTERM is what the driver gets when its own batch job is cancelled or reaches its
    time limit: it used to die on the spot and leave its worker jobs to start later."""
    (tmp_path / "run.toml").write_text(
        "\n".join(
            [
                f'output = "{tmp_path / "run"}"',
                'metrics = ["psnr-y"]',
                "[dataset]",
                f'source = "{clips}"',
                "[[codec]]",
                'name = "x265"',
                "qps = [22, 26, 30, 34, 38, 42, 46, 50]",
                "[executor]",
                'kind = "dask"',
                'cluster = "slurm"',
                'memory = "1GB"',
                "start_timeout = 120",
                f'log_directory = "{tmp_path / "logs"}"',
            ]
        )
    )
    args = [sys.executable, "-m", "gvcbench", "run", "-c", str(tmp_path / "run.toml")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db, deadline = tmp_path / "run" / "results.sqlite", time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(db) as con:
                if con.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]:
                    break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.05)
    proc.send_signal(sig)
    err = proc.communicate(timeout=60)[1]
    how = "interrupted" if sig == signal.SIGINT else "terminated (SIGTERM)"
    assert proc.returncode == 128 + sig and f"{how}: every finished job is kept" in err, (proc.returncode, err)
    queue = subprocess.run(["squeue", "-h", "-n", "gvcbench-worker", "-o", "%i %T"], capture_output=True, text=True)
    assert "RUNNING" not in queue.stdout and "PENDING" not in queue.stdout, queue.stdout


def test_no_worker_message_names_the_default_partition_and_the_log_folder(slurm, tmp_path):
    from types import SimpleNamespace

    from gvcbench.bench.config import ExecutorConfig
    from gvcbench.bench.dask_executor import DaskExecutor

    cfg = ExecutorConfig(kind="dask", cluster="slurm", start_timeout=5, log_directory=str(tmp_path / "logs"))
    gone = SimpleNamespace(workers={"w": SimpleNamespace(job_id="999999")})  # a job SLURM no longer knows
    message = DaskExecutor(cfg, 1)._no_worker_message(gone)
    assert message.startswith("no Dask worker started within 5 s (start_timeout) on slurm's default partition: ")
    assert "squeue knows no job 999999 any more" in message and f"(in {tmp_path / 'logs'}) say why" in message
