"""Running a benchmark's jobs on a Dask cluster (``distributed``), SLURM/PBS/SGE included.

Workers encode, decode and measure; rows come back to the driver, which alone writes
the store. Inputs reach workers by path when every worker can read the files (a shared
file system, the usual SLURM case) and by value otherwise (the driver reads each
sequence once and scatters it).

Cost per job stays flat from 100 to 100,000 jobs: the driver keeps a bounded window of
tasks in flight (twice the workers' threads) and submits more as results come in; a task
holds as many jobs as take about a second of a worker's time (one job per task while their
cost is unknown, and for jobs that take a second or more), so Dask's own cost per task,
a few ms, is spread over the jobs; results are fetched in the background and written to
the store in one transaction per batch of finished tasks.

A worker that dies costs only the job it was running: a task tells the scheduler when each
of its jobs starts and ends (events), and when a worker dies the driver charges the death
to the job that had started there and not ended; that job then runs alone, and the task's
other jobs (queued behind it, or finished but their rows lost with the worker) are
resubmitted uncharged. A job charged ``retries + 1`` deaths is recorded as failed. A job
that fails for its own reasons comes back as a failed row and is not retried.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ConfigError, GvcbenchError
from ..processes import cancel_owned, is_cancelled, owned_by
from .config import ExecutorConfig, import_keeping_ctrl_c
from .job import execute_job, failed_row
from .plan import Job
from .records import JobResult

log = logging.getLogger(__name__)

PROGRESS_TOPIC = "gvcbench-job-progress"  # {"task", "index", "done"}: a task's job started or ended
SUBMIT_COMMANDS = {"slurm": "sbatch", "pbs": "qsub", "sge": "qsub"}
MAX_UNCHARGED_RESUBMITS = 10  # a job bounced this often by other jobs' dead workers fails
TARGET_TASK_SECONDS = 1.0  # a worker's time per task, once the jobs' cost is known
MAX_TASK_JOBS = 256
TASKS_PER_THREAD = 2  # tasks in flight per worker thread: each has its next one waiting
THREADS_REFRESH_SECONDS = 10.0  # how often the driver asks how many threads the workers have
WORKERS_WATCH_SECONDS = 5.0  # while no task finishes, how often the driver checks that a worker is left
# Dask keeps this many recent messages per connection, task specs included, for debugging
# (default 1000): during a run, fewer, so that the driver's memory stays flat.
RECENT_MESSAGES = 100


def _make_cluster(cfg: ExecutorConfig, workers: int):
    if cfg.cluster == "local":
        from distributed import LocalCluster

        # No dashboard; the scheduler's HTTP server (health checks) takes a free port, not 8787,
        # which another cluster on the machine may hold (Dask then warns "Port 8787 is already in use").
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},
        )
    try:
        dask_jobqueue = import_keeping_ctrl_c("dask_jobqueue")
    except ImportError:
        raise ConfigError(
            "a SLURM/PBS/SGE cluster needs the package dask-jobqueue: `pip install dask-jobqueue`"
        ) from None
    cls = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster, "sge": dask_jobqueue.SGECluster}[
        cfg.cluster
    ]
    submit = SUBMIT_COMMANDS[cfg.cluster]
    if not shutil.which(submit):
        raise ConfigError(
            f"cluster = {cfg.cluster!r} submits workers with {submit}, which is not on PATH here: "
            f"run gvcbench where jobs can be submitted (a login node), or use another cluster kind"
        )
    kwargs: dict[str, Any] = dict(
        cores=cfg.cores,
        processes=1,
        memory=cfg.memory,
        walltime=cfg.walltime,
        job_extra_directives=list(cfg.job_extra),
        python=cfg.python or sys.executable,
        job_script_prologue=list(cfg.prologue),
        job_name="gvcbench-worker",
    )
    if cfg.log_directory:
        kwargs["log_directory"] = cfg.log_directory
    if cfg.queue:
        kwargs["queue"] = cfg.queue
    if cfg.account:
        kwargs["account"] = cfg.account
    cluster = cls(**kwargs)
    if cfg.cluster == "slurm":
        try:
            _check_slurm_accepts(cluster.job_script(), cfg)
        except ConfigError:
            cluster.close()
            raise
    cluster.scale(jobs=workers)
    return cluster


def _check_slurm_accepts(script: str, cfg: ExecutorConfig) -> None:
    """``sbatch --test-only``: SLURM validates partition, resources and limits without
    submitting, so a wrong partition or an impossible request stops the run at once."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="gvcbench-worker-") as f:
        f.write(script)
        f.flush()
        proc = subprocess.run(
            ["sbatch", "--test-only", f.name], capture_output=True, text=True, timeout=60, check=False
        )
    if proc.returncode != 0:
        said = " ".join(line.strip() for line in proc.stderr.splitlines() if line.strip())
        partition = f"partition {cfg.queue!r}" if cfg.queue else "the default partition"
        raise ConfigError(
            f"SLURM refuses the worker job for {partition} ({cfg.cores} core(s), {cfg.memory}, "
            f"walltime {cfg.walltime}): {said}. Check queue, account, cores, memory, walltime and "
            f"job_extra in the executor table of the config."
        )


def _close_cluster(cluster) -> None:
    """Close a cluster and cancel its worker jobs; a worker job whose submission failed makes
    dask-jobqueue's close trip over its own bookkeeping, which must not hide the run's outcome."""
    try:
        cluster.close()
    except AssertionError:
        pass


def worker_environment() -> dict[str, str | None]:
    """What must match between driver and workers: the driver records its own versions with every row."""
    from .job import environment

    env = environment()
    return {
        "gvcbench": env["gvcbench"],
        "python": env["python"],
        "ffmpeg": env["ffmpeg"],
        **{f"package {name}": version for name, version in env["packages"].items()},
    }


def check_worker(codecs: list[tuple[str, str, dict]], paths: list[str]) -> dict:
    """Runs on each worker: its environment, can it use every codec (and with which version),
    can it read the inputs."""
    from .plan import make_codec

    report: dict[str, Any] = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "codecs": {},
        "readable": 0,
        "slurm_job": os.environ.get("SLURM_JOB_ID"),
        "environment": worker_environment(),
    }
    for label, name, params in codecs:
        try:
            codec = make_codec(name, params)
            reason = codec.availability()
            report["codecs"][label] = {
                "ok": reason is None,
                "version": codec.version() if reason is None else None,
                "reason": reason,
            }
        except GvcbenchError as exc:
            report["codecs"][label] = {"ok": False, "version": None, "reason": str(exc)}
    report["readable"] = sum(os.path.exists(p) for p in paths)
    return report


def run_jobs(task: str, packed_jobs: bytes, sources: list | None = None) -> list[JobResult]:
    """Worker side: run a task's jobs one after another, telling the scheduler as each starts
    and ends (the driver charges a worker's death to the job that had started and not ended).

    The jobs come pickled by the driver: the scheduler then holds one bytes object per task,
    not thousands of Python objects (it keeps its recent messages, task specs included)."""
    jobs: list[Job] = pickle.loads(packed_jobs)
    try:
        from distributed import get_worker

        worker = get_worker()
    except ValueError:  # not inside a worker (never in a run)
        worker = None
    rows = []
    with owned_by(task):  # the driver's Ctrl-C stops this task's programs (cancel_owned)
        for index, job in enumerate(jobs):
            if is_cancelled(task):  # nobody waits for the rest
                break
            if worker is not None:
                worker.log_event(PROGRESS_TOPIC, {"task": task, "index": index, "done": False})
            rows.append(execute_job(job, sources[index] if sources else None))
            if worker is not None:
                worker.log_event(PROGRESS_TOPIC, {"task": task, "index": index, "done": True})
    return rows


STOP_SECONDS = 10  # how long a stopped driver waits for the workers to stop its programs


def within(seconds: float, call: Callable[[], Any]) -> bool:
    """Run ``call`` in a daemon thread; True if it returned within ``seconds``, False if it
    raised or has not returned (a frozen scheduler never answers, and the driver must still end;
    a call that fails once the client has closed has nothing left to say)."""
    done: list[bool] = []

    def run() -> None:
        try:
            call()
            done.append(True)
        except Exception as exc:
            log.debug(f"a call to the Dask scheduler failed while the run stopped: {exc!r}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(done)


def stop_run_on_workers(client, prefix: str, futures: list) -> bool:
    """Cancel a run's tasks and kill the programs they run on every worker (``cancel_owned``),
    waiting at most ``STOP_SECONDS`` for a scheduler that may be slow or gone; False when it
    did not answer."""
    stopped: list = []

    def stop() -> None:
        client.cancel(futures)
        stopped.append(client.run(cancel_owned, prefix, on_error="return"))

    if within(STOP_SECONDS, stop):
        count = sum(n for n in stopped[0].values() if isinstance(n, int))
        log.warning(f"stopped this run's tasks on the Dask scheduler; {count} program(s) on its workers killed")
        return True
    log.warning(
        f"the Dask scheduler did not answer within {STOP_SECONDS} s: encodes of this run that its "
        f"workers started may run on until they end (their results are not stored)"
    )
    return False


def task_size(job_seconds: float | None, remaining: int, threads: int) -> int:
    """How many jobs go into the next task: one while their cost is unknown; then as many as
    take about ``TARGET_TASK_SECONDS`` of a worker (``job_seconds`` each), at most
    ``MAX_TASK_JOBS``, and never so many that workers idle while one works through the last
    tasks of the run (``remaining`` jobs are left for ``threads`` worker threads)."""
    if job_seconds is None:
        return 1
    wanted = int(TARGET_TASK_SECONDS / max(job_seconds, 1e-4))
    tail = math.ceil(remaining / (TASKS_PER_THREAD * max(1, threads)))
    return max(1, min(wanted, MAX_TASK_JOBS, tail))


def environment_differences(worker: dict, driver: dict) -> list[str]:
    """``"ffmpeg missing (driver: 7.1)"``: what the worker has, or lacks, where it differs from the driver."""
    return [
        f"{name} {_version_or_missing(worker.get(name))} (driver: {_version_or_missing(driver[name])})"
        for name in driver
        if worker.get(name) != driver[name]
    ]


def _version_or_missing(version: str | None) -> str:
    return "missing" if version is None else str(version)


def _worker_name(address: str, rep: dict) -> str:
    where = f"host {rep['host']}" + (f", SLURM job {rep['slurm_job']}" if rep.get("slurm_job") else "")
    return f"worker {address} ({where})"


NOT_READY = (
    "workers are not ready (install the driver's versions on the workers, or set python/prologue "
    "in the executor table of the config):\n"
)
REFUSED_TOPIC = "gvcbench-worker-refused"


def worker_problems(address: str, rep, versions: dict, driver_env: dict, paths: int = 0) -> list[str]:
    """Why a worker cannot take part (empty when it can): its check failed, its environment
    or a codec version differs from the driver's, or it cannot read ``paths`` input files."""
    if isinstance(rep, BaseException):
        return [
            f"worker {address} cannot run gvcbench's check: {type(rep).__name__}: {rep} "
            f"(is gvcbench installed in the workers' Python?)"
        ]
    who = _worker_name(address, rep)
    problems = []
    differs = environment_differences(rep.get("environment") or {}, driver_env)
    if differs:
        problems.append(f"{who} runs a different environment from the driver: {'; '.join(differs)}")
    for label, status in rep["codecs"].items():
        if not status["ok"]:
            problems.append(f"{who} cannot run {label}: {status['reason']}")
        elif status["version"] != versions[label]:
            problems.append(
                f"{who} has {label} {status['version']}, the "
                f"driver planned with {versions[label]}; results would not be comparable"
            )
    if rep["readable"] < paths:
        problems.append(f"{who} cannot read the input files, which go by path in this run")
    return problems


try:
    from distributed import WorkerPlugin
except ImportError:  # the dask extra is not installed; DaskExecutor says so when used
    WorkerPlugin = object  # type: ignore[misc,assignment]


LATE_CHECK = "gvcbench-late-worker-check"


def late_check_name(run: str, client_id: str = "") -> str:
    """The name of ``run``'s late-worker check; it ends with its driver's client id, so that a
    later run can tell the check of a driver that died (SIGKILL, the OOM killer) from a live one."""
    return f"{LATE_CHECK}-{run}@{client_id}"


def stale_late_checks(dask_scheduler) -> list[str]:
    """Runs on the scheduler: the late-worker checks whose driver is no longer connected. Nobody
    else removes them: they would check every worker that joins against a dead run's codecs,
    environment and inputs, and close those that fail, for as long as the scheduler lives."""
    live = set(dask_scheduler.clients)
    return [
        name
        for name in dask_scheduler.worker_plugins
        if name.startswith(LATE_CHECK + "-") and name.rpartition("@")[2] not in live
    ]


class LateWorkerCheck(WorkerPlugin):
    """The preflight check for workers that join after the run started (a busy queue starts
    them one by one): a worker that is not ready reports why and closes before taking a job."""

    def __init__(self, run: str, codecs, paths, versions, driver_env, client_id: str = ""):
        # One check per run (``run``: its task-key prefix): two runs on a shared scheduler
        # neither replace nor remove each other's, nor stop on each other's refusals.
        self.run, self.name = run, late_check_name(run, client_id)
        self.codecs, self.paths, self.versions, self.driver_env = codecs, paths, versions, driver_env

    async def setup(self, worker):
        rep = check_worker(self.codecs, self.paths)
        problems = worker_problems(worker.address, rep, self.versions, self.driver_env, len(self.paths))
        if problems:  # closes before the worker reads its first task from the scheduler
            worker.log_event(REFUSED_TOPIC, {"run": self.run, "problems": problems})
            worker.loop.add_callback(worker.close, nanny=True, reason="gvcbench: worker not ready")


def queue_report(job_ids: list[str], logs: str | None = None) -> str:
    """What ``squeue`` says about the worker jobs (state and reason), for a timeout message."""
    if not job_ids:
        return "no worker job was accepted (sbatch failed; its error is in the log above)"
    if not shutil.which("squeue"):
        return f"worker job(s) {', '.join(job_ids)} submitted; squeue is not available here to say more"
    proc = subprocess.run(
        ["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i %P %T %r"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    lines = [line.split(maxsplit=3) for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        return (
            f"squeue knows no job {', '.join(job_ids)} any more ({proc.stderr.strip() or 'they ended'}); "
            f"their output files ({f'in {logs}' if logs else 'in the folder gvcbench was started in'}) say why"
        )
    return "; ".join(
        f"job {i} in partition {p} is {s} (reason: {r})"
        for i, p, s, r in (line + [""] * (4 - len(line)) for line in lines)
    )


class DaskExecutor:
    name = "dask"

    def __init__(self, cfg: ExecutorConfig, workers: int):
        self.cfg = cfg
        self.workers = cfg.workers or workers
        self._held: tuple | None = None  # (client, cluster or None), kept from run to run until close()
        if cfg.scheduler and cfg.cluster != "local":
            log.warning(
                f"the run goes to the Dask scheduler at {cfg.scheduler}: cluster = {cfg.cluster!r} and its "
                f"settings in [executor] (workers, cores, memory, walltime, queue, ...) are not used"
            )

    def describe(self) -> str:
        where = self.cfg.scheduler or f"a new {self.cfg.cluster} cluster of {self.workers} worker(s)"
        return f"Dask on {where}"

    def _client(self):
        import dask
        from distributed import Client

        if self.cfg.scheduler:
            try:
                client = Client(self.cfg.scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"cannot reach the Dask scheduler at {self.cfg.scheduler}: {exc}") from None
            self._wait_for_a_worker(client)
            return client, None
        # The driver charges worker deaths itself (see run): the scheduler it starts must not
        # give up on a task because a worker it was merely queued on died, and hands each
        # worker one job at a time.
        with dask.config.set(
            {"distributed.scheduler.allowed-failures": 0, "distributed.scheduler.worker-saturation": 1.0}
        ):
            cluster = _make_cluster(self.cfg, self.workers)
        client = Client(cluster)
        try:
            client.wait_for_workers(1, timeout=self.cfg.start_timeout)
        except TimeoutError:
            message = self._no_worker_message(cluster)
            client.close()
            _close_cluster(cluster)
            raise GvcbenchError(message) from None
        return client, cluster

    def _wait_for_a_worker(self, client) -> None:
        """A scheduler with no worker would hold the run's tasks forever: wait ``start_timeout``
        for one to join, then stop with what to do."""
        if client.nthreads():
            return
        where, wait = self.cfg.scheduler, self.cfg.start_timeout
        log.warning(f"the Dask scheduler at {where} has no worker yet; waiting up to {wait:g} s (start_timeout)")
        try:
            client.wait_for_workers(1, timeout=wait)
        except TimeoutError:
            client.close()
            raise GvcbenchError(
                f"no Dask worker joined the scheduler at {where} within {wait:g} s (start_timeout): "
                f"start workers (`dask worker {where}`), or raise start_timeout in the executor table"
            ) from None

    def _deaths_per_kill(self, client) -> int:
        """The worker deaths one ``KilledWorker`` stands for: the scheduler a run starts gives a task up
        at its worker's first death, a shared one (``--scheduler``) may rerun it elsewhere first."""
        if not self.cfg.scheduler:
            return 1
        try:
            allowed = int(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures))
        except Exception:  # an older or locked-down scheduler: count one death per KilledWorker
            return 1
        if allowed:
            log.info(
                f"the Dask scheduler at {self.cfg.scheduler} itself reruns a task whose worker died, up to "
                f"{allowed} time(s) (allowed-failures): a job it gives up on is charged {allowed + 1} worker deaths "
                f"against retries = {self.cfg.retries} (DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0 on the "
                f"scheduler leaves every rerun to retries)"
            )
        return allowed + 1

    def _no_worker_words(self) -> tuple[str, str, str]:
        """Which scheduler, why its workers may be gone, and how to resume: for the messages of a
        run whose every worker is gone."""
        if self.cfg.scheduler:
            where = self.cfg.scheduler
            return (
                f"at {where}",
                "killed or stopped",
                f"start workers (`dask worker {where}`) and run the same command again",
            )
        if self.cfg.cluster == "local":
            return "of this run's local cluster", "killed", "run the same command again"
        return (
            f"of this run's {self.cfg.cluster} cluster",
            f"their {self.cfg.cluster} jobs ended: cancelled, at their walltime or out of memory; "
            f"their output ({self.cfg.log_directory or 'log_directory'}) says which",
            "run the same command again (it submits new worker jobs; raise walltime if they reached it)",
        )

    def _no_worker_message(self, cluster) -> str:
        if self.cfg.cluster == "local":
            return f"no Dask worker of the local cluster started within {self.cfg.start_timeout:g} s"
        job_ids = [str(job.job_id) for job in getattr(cluster, "workers", {}).values() if getattr(job, "job_id", None)]
        kind = self.cfg.cluster
        partition = f"{kind} partition {self.cfg.queue!r}" if self.cfg.queue else f"{kind}'s default partition"
        return (
            f"no Dask worker started within {self.cfg.start_timeout:g} s (start_timeout) on "
            f"{partition}: {queue_report(job_ids, self.cfg.log_directory)}. The worker jobs are cancelled; "
            f"check queue, account, cores, memory and walltime in the executor table of the config, "
            f"or raise start_timeout if the queue is just busy."
        )

    def preflight(self, client, jobs: list[Job], run: str) -> bool:
        """Check every worker before the run (and, through a plugin named after ``run``, every
        worker that joins later); returns whether inputs go by path."""
        codecs = sorted({(j.codec_label, j.codec_name, json.dumps(j.codec_params, sort_keys=True)) for j in jobs})
        codec_list = [(label, name, json.loads(params)) for label, name, params in codecs]
        versions = {j.codec_label: j.codec_version for j in jobs}
        paths = sorted({j.spec.where for j in jobs})  # a generated clip is no file: inputs then go by value
        driver_env = worker_environment()
        reports = client.run(check_worker, codec_list, paths, on_error="return")
        problems = [p for address, rep in reports.items() for p in worker_problems(address, rep, versions, driver_env)]
        if problems:
            raise GvcbenchError(NOT_READY + "\n".join(problems))
        all_read = all(rep["readable"] == len(paths) for rep in reports.values())
        if self.cfg.shared_fs == "yes" and not all_read:
            raise GvcbenchError("shared_fs = yes, but some workers cannot read the input files")
        by_path = self.cfg.shared_fs == "yes" or (self.cfg.shared_fs == "auto" and all_read)
        log.info(
            f"{len(reports)} Dask worker(s) checked; inputs go by "
            f"{'path (every worker reads the files)' if by_path else 'value (scattered from the driver)'}"
        )
        if self.cfg.scheduler:
            self._remove_stale_checks(client)
        client.register_plugin(
            LateWorkerCheck(run, codec_list, paths if by_path else [], versions, driver_env, client.id)
        )
        return by_path

    def _remove_stale_checks(self, client) -> None:
        """Remove the late-worker checks that killed drivers left on the shared scheduler."""
        try:
            stale = client.run_on_scheduler(stale_late_checks)
            for name in stale:
                client.unregister_worker_plugin(name)
        except Exception:  # an older or locked-down scheduler: leave them
            return
        if stale:
            log.info(f"removed {len(stale)} late-worker check(s) of runs whose driver is gone")

    def _threads_started(self) -> int:
        """The worker threads of a cluster this run starts (its workers may join one by one)."""
        if self.cfg.scheduler:
            return 0
        return self.workers * (1 if self.cfg.cluster == "local" else self.cfg.cores)

    def run(self, jobs: Iterable[Job], on_results: Callable[[list[JobResult]], None]) -> None:
        import dask

        with dask.config.set({"distributed.admin.low-level-log-length": RECENT_MESSAGES}), _without_death_errors():
            self._run(list(jobs), on_results)

    def _connect(self) -> tuple:
        """The client (and the cluster this executor started): the first ``run`` connects, the
        next ones (a rate search's rounds) reuse it, so a SLURM cluster is queued for once."""
        if self._held is None:
            self._held = self._client()
        return self._held

    def close(self) -> None:
        """Disconnect, and stop the cluster this executor started (its worker jobs are cancelled)."""
        if self._held is None:
            return
        client, cluster = self._held
        self._held = None
        client.close()
        if cluster is not None:
            _close_cluster(cluster)

    def _run(self, jobs: list[Job], on_results: Callable[[list[JobResult]], None]) -> None:
        client = self._connect()[0]
        dispatch = _Dispatch(client, jobs, self.cfg.retries, self._threads_started())
        dispatch.no_worker_limit = self.cfg.start_timeout
        dispatch.deaths_per_kill = self._deaths_per_kill(client)
        dispatch.where, dispatch.why, dispatch.resume = self._no_worker_words()
        client.subscribe_topic(PROGRESS_TOPIC, dispatch.on_progress)
        client.subscribe_topic(REFUSED_TOPIC, dispatch.on_refused)
        answered = True  # False once a stopped run's scheduler did not answer
        try:
            by_path = self.preflight(client, jobs, dispatch.prefix)
            if not by_path:
                from .job import _cached_sequence

                for spec in {j.spec for j in jobs}:
                    dispatch.sources[spec] = client.scatter(_cached_sequence(spec), broadcast=False)
            try:
                dispatch.run(on_results)
            except KeyboardInterrupt:
                if self.cfg.scheduler:  # its workers outlive this driver: stop what they run for it
                    answered = stop_run_on_workers(client, dispatch.prefix, list(dispatch.in_flight))
                raise
            if dispatch.lost:
                raise GvcbenchError(self._lost_message())
            if dispatch.refused:
                raise GvcbenchError(
                    NOT_READY + "\n".join(dispatch.refused) + "\nThe jobs that finished are kept; "
                    "run again once the workers match."
                )
        finally:
            if dispatch.lost or not answered:  # nobody to tell; the client's reconnection, cut short, is no news
                with _quiet("distributed.client", "distributed.utils"):
                    self.close()
            else:
                self._leave_scheduler(client, dispatch.prefix)

    def _lost_message(self) -> str:
        where = f"at {self.cfg.scheduler}" if self.cfg.scheduler else "of the cluster this run started"
        return (
            f"the connection to the Dask scheduler {where} was lost mid-run (it stopped, or the "
            f"network failed); the jobs that finished are kept in the store: start the scheduler and "
            f"its workers again and run the same command to resume"
        )

    def _leave_scheduler(self, client, run: str) -> None:
        """Stop listening to this run's events and remove its worker check (a shared scheduler
        outlives the run; a rate search's next round registers its own)."""
        client.unsubscribe_topic(PROGRESS_TOPIC)
        client.unsubscribe_topic(REFUSED_TOPIC)

        def unregister() -> None:
            try:
                client.unregister_worker_plugin(late_check_name(run, client.id))
            except Exception:  # never registered (the preflight stopped the run)
                pass

        if not within(STOP_SECONDS, unregister):  # the next run removes it once this client is gone
            log.warning(f"the Dask scheduler did not answer within {STOP_SECONDS} s; leaving it")


class _DeathErrors(logging.Filter):
    """Drops the scheduler's "Task ... marked as failed because 1 workers died" ERROR: the driver
    reruns or fails that job itself and says so ("rerunning ...: the worker running it died")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Task %s marked as failed because %d workers died")


@contextlib.contextmanager
def _without_death_errors():
    """No scheduler ERROR for a worker's death while a run is on (the scheduler of a cluster the
    run starts lives in the driver and logs to its terminal)."""
    logger, only = logging.getLogger("distributed.scheduler"), _DeathErrors()
    logger.addFilter(only)
    try:
        yield
    finally:
        logger.removeFilter(only)


@contextlib.contextmanager
def _quiet(*loggers: str):
    """Silence ``loggers`` (Dask's own) for the block."""
    saved = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _what(job: Job) -> str:
    return f"{job.codec_label} / {job.sequence} / {job.point.label}"


class _Dispatch:
    """The driver's side of one run on Dask: which jobs wait, which tasks are in flight, and
    what each job was charged. Reacts to each batch of finished tasks without scanning the
    others, and keeps at most ``TASKS_PER_THREAD`` tasks per worker thread in flight, so
    memory and cost per job stay flat however many jobs the plan holds."""

    def __init__(self, client, jobs: list[Job], retries: int, threads: int):
        from distributed import as_completed

        self.client, self.retries, self.threads_started = client, retries, threads
        self.sources: dict = {}  # spec -> its scattered sequence, when inputs go by value
        self.waiting: deque[Job] = deque(jobs)  # not submitted yet; reruns go to the front
        self.alone: deque[Job] = deque()  # charged a worker's death: each runs in a task of its own
        self.in_flight: dict = {}  # future -> its jobs
        self.progress: dict[str, tuple[int, bool]] = {}  # task -> (index of its latest job, whether that job ended)
        self.refused: list[str] = []  # why late workers were not ready
        self.lost = False  # the client lost the scheduler: its tasks are gone, the run stops
        self.deaths: dict[str, int] = {}  # worker deaths charged to the job (it was running there)
        self.bounced: dict[str, int] = {}  # reruns because a worker died with the job queued or its row unsent
        self.errors: dict[str, int] = {}  # Dask errors that were not the job's own failure
        self.job_seconds: float | None = None  # a worker's time per job, from the rows that came back
        self.queue = as_completed(with_results=True, raise_errors=False)
        self.prefix = f"gvcbench-{uuid.uuid4().hex[:12]}-"  # this run's task keys
        self.counter = itertools.count()
        self._threads, self._threads_at = 1, -math.inf
        self.no_worker_limit = math.inf  # seconds without any worker before the run stops
        self.deaths_per_kill = 1  # worker deaths behind one KilledWorker (the scheduler's own reruns first)
        self.where, self.why, self.resume = "?", "?", "?"  # for messages: the scheduler, why no worker, what to do
        self._watched_at = time.monotonic()
        self._no_worker_since: float | None = None  # when the scheduler was first seen without a worker
        self._silent_since: float | None = None  # when the scheduler first did not answer

    def on_progress(self, event) -> None:
        """A job of a task started or ended (a shared scheduler sends other runs' events too)."""
        msg = event[1]
        if isinstance(msg, dict) and str(msg.get("task")).startswith(self.prefix):
            self.progress[msg["task"]] = (msg["index"], msg["done"])

    def on_refused(self, event) -> None:
        """A late worker is not ready for this run: stop the run, keep what finished (a shared
        scheduler sends other runs' refusals too)."""
        if event[1].get("run") != self.prefix:
            return
        self.refused.extend(event[1]["problems"])
        # Runs on the client's event loop, where a blocking call would never return.
        threading.Thread(target=self.client.cancel, args=(self._futures(),), daemon=True).start()

    def _futures(self) -> list:
        for _ in range(5):
            try:
                return list(self.in_flight)
            except RuntimeError:  # the run loop changed the dict meanwhile
                continue
        return []

    def threads(self) -> int:
        """The workers' threads, asked again every ``THREADS_REFRESH_SECONDS`` (workers join late),
        and at least those of the cluster this run started."""
        if time.monotonic() - self._threads_at > THREADS_REFRESH_SECONDS:
            self._threads = max(1, self.threads_started, sum(self.client.nthreads().values()))
            self._threads_at = time.monotonic()
        return self._threads

    def submit(self, jobs: list[Job]) -> None:
        key = f"{self.prefix}{next(self.counter)}"
        sources = [self.sources[j.spec] for j in jobs] if self.sources else None
        future = self.client.submit(run_jobs, key, pickle.dumps(jobs), sources, key=key, pure=False)
        self.in_flight[future] = jobs
        self.queue.add(future)

    def fill(self) -> None:
        """Submit tasks until the window is full or no job waits."""
        if self.lost:  # no scheduler to ask for its workers' threads
            return
        window = TASKS_PER_THREAD * self.threads()
        while (self.alone or self.waiting) and len(self.in_flight) < window and not (self.refused or self.lost):
            if self.alone:
                self.submit([self.alone.popleft()])
                continue
            size = task_size(self.job_seconds, len(self.waiting), self.threads())
            self.submit([self.waiting.popleft() for _ in range(min(size, len(self.waiting)))])

    def run(self, on_results: Callable[[list[JobResult]], None]) -> None:
        self.fill()
        while not self.queue.is_empty():
            rows: list[JobResult] = []
            for future, result in self._next_batch():
                rows += self.settle(future, result)
            self.fill()  # workers get their next tasks before the driver writes the rows
            if rows:
                on_results(rows)

    def _next_batch(self) -> list:
        """The tasks that finished; while none does, check now and then that a worker is left."""
        while not self.queue.has_ready():
            with self.queue.thread_condition:
                self.queue.thread_condition.wait(timeout=0.1)
            if time.monotonic() - self._watched_at > WORKERS_WATCH_SECONDS:
                self._watch_workers()
        return self.queue.next_batch(block=False)

    def _watch_workers(self) -> None:
        """Every worker gone (killed, walltime) leaves the tasks waiting: warn, wait
        ``no_worker_limit`` seconds for one to join, then stop the run."""
        self._watched_at = time.monotonic()
        try:
            workers = len(self.client.nthreads(callback_timeout=WORKERS_WATCH_SECONDS))
        except TimeoutError:  # connected, but no answer: frozen, overloaded or cut off
            self._no_answer()
            return
        except Exception:  # the scheduler is out of reach: its futures are cancelled (settle says so)
            return
        self._silent_since = None
        if workers:
            if self._no_worker_since is not None:
                log.warning(f"a Dask worker joined the scheduler {self.where}; the run goes on")
            self._no_worker_since = None
            return
        if self._no_worker_since is None:
            self._no_worker_since = time.monotonic()
            log.warning(
                f"the Dask scheduler {self.where} has no worker left ({self.why}); the run "
                f"waits up to {self.no_worker_limit:g} s (start_timeout) for one to join"
            )
        elif time.monotonic() - self._no_worker_since > self.no_worker_limit:
            raise GvcbenchError(
                f"the Dask scheduler {self.where} had no worker for {self.no_worker_limit:g} s (start_timeout); "
                f"the jobs that finished are kept in the store; to resume, {self.resume}"
            )

    def _no_answer(self) -> None:
        """The scheduler does not answer: warn, wait ``no_worker_limit`` seconds, then stop the run
        (as for a lost scheduler: no further call to it, which would wait as long)."""
        if self._silent_since is None:
            self._silent_since = time.monotonic() - WORKERS_WATCH_SECONDS
            log.warning(
                f"the Dask scheduler {self.where} does not answer; the run waits up to "
                f"{self.no_worker_limit:g} s (start_timeout) for it"
            )
        elif time.monotonic() - self._silent_since > self.no_worker_limit:
            self.lost = True
            raise GvcbenchError(
                f"the Dask scheduler {self.where} did not answer for {self.no_worker_limit:g} s (start_timeout): it "
                f"is frozen, overloaded or cut off; the jobs that finished are kept in the store; to resume, "
                f"restart it if need be and run the same command again"
            )

    def settle(self, future, result) -> list[JobResult]:
        """The rows a finished task gives; its jobs that must run again go back in line."""
        from distributed import KilledWorker

        jobs = self.in_flight.pop(future)
        progress = self.progress.pop(future.key, None)
        if future.status == "finished" or isinstance(result, list):
            # as_completed handed over the task's rows: they stand, even where the future's status
            # has moved on since (a shared scheduler releasing it after a worker death, say)
            self._learn_cost(result)
            return result
        if self.refused:  # the run stops: unfinished jobs stay unrecorded and run next time
            return []
        if future.status == "cancelled" and getattr(result, "reason", None) == "scheduler-connection-lost":
            self.lost = True  # the run stops: its unfinished jobs stay unrecorded and run next time
            return []
        if future.status == "cancelled":
            return [failed_row(job, "the Dask scheduler cancelled this job") for job in jobs]
        exc = result[1]
        if isinstance(exc, KilledWorker):  # the worker holding this task died
            return self._after_death(jobs, progress or self._last_progress(future.key))
        return self._after_error(jobs, exc)  # a transport or scheduler hiccup, not the jobs' own failure

    def _learn_cost(self, rows: list[JobResult]) -> None:
        seconds = [r.job_seconds for r in rows if r.job_seconds is not None]
        if seconds:
            mean = sum(seconds) / len(seconds)
            self.job_seconds = mean if self.job_seconds is None else 0.7 * self.job_seconds + 0.3 * mean

    def _last_progress(self, key: str) -> tuple[int, bool] | None:
        """The task's latest event as the scheduler has it (the driver may not have it yet)."""
        last = None
        for _, msg in self.client.get_events(PROGRESS_TOPIC):
            if isinstance(msg, dict) and msg.get("task") == key:
                last = (msg["index"], msg["done"])
        return last

    def _after_death(self, jobs: list[Job], progress: tuple[int, bool] | None) -> list[JobResult]:
        """The job that had started and not ended when the worker died is charged and runs
        alone next; the task's other jobs run again uncharged. When no such job is known (its
        start had not reached the scheduler), the job that would have run next is the suspect:
        it runs alone next, uncharged, so that it cannot take the others down again."""
        culprit = suspect = None
        if progress is None:  # no job's start had reached the scheduler
            suspect = jobs[0]
        elif not progress[1]:  # a job had started and not ended
            culprit = jobs[progress[0]]
        elif progress[0] + 1 < len(jobs):  # a job had ended; the next one may have started
            suspect = jobs[progress[0] + 1]
        rows, again = [], []
        if culprit is not None:
            rows += self._charge(culprit)
        for job in jobs:
            if job is culprit:
                continue
            self.bounced[job.key] = self.bounced.get(job.key, 0) + 1
            if self.bounced[job.key] > MAX_UNCHARGED_RESUBMITS:
                rows.append(failed_row(job, f"{self.bounced[job.key]} workers died before this job could finish"))
            elif job is suspect:
                self.alone.append(job)
            else:
                again.append(job)
        if culprit is not None and again:
            log.info(f"a worker died; {len(again)} other job(s) of its task run again, uncharged")
        elif culprit is None:
            log.info(f"a worker died before its task's jobs had ended; its {len(jobs)} job(s) run again, uncharged")
        self.waiting.extendleft(reversed(again))
        return rows

    def _charge(self, job: Job) -> list[JobResult]:
        """A worker died running ``job``: it runs again, alone, or fails after ``retries`` reruns."""
        self.deaths[job.key] = self.deaths.get(job.key, 0) + self.deaths_per_kill
        if self.deaths[job.key] <= self.retries:
            log.info(f"rerunning {_what(job)}: the worker running it died")
            self.alone.append(job)
            return []
        reason = f"the worker running this job died {self.deaths[job.key]} times (killed, out of memory or crashed)"
        return [failed_row(job, reason)]

    def _after_error(self, jobs: list[Job], exc: BaseException) -> list[JobResult]:
        rows, again = [], []
        for job in jobs:
            self.errors[job.key] = self.errors.get(job.key, 0) + 1
            if self.errors[job.key] <= self.retries:
                again.append(job)
            else:
                rows.append(
                    failed_row(job, f"Dask failed this job {self.errors[job.key]} times: {type(exc).__name__}: {exc}")
                )
        if again:
            log.info(f"resubmitting {len(again)} job(s) after a Dask error: {type(exc).__name__}: {exc}")
            self.waiting.extendleft(reversed(again))
        return rows
