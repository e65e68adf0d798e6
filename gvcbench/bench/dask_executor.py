"""Running a benchmark's jobs on a Dask cluster (``distributed``), SLURM/PBS/SGE included.

Workers encode, decode and measure; rows come back to the driver, which alone writes
the store. Inputs reach workers by path when every worker can read the files (a shared
file system, the usual SLURM case) and by value otherwise (the driver reads each
sequence once and scatters it).

A worker that dies costs only the job it was running: each job tells the scheduler when
it starts (an event), and when a worker dies the driver charges the death to the jobs
that had started there; jobs that were merely queued on it are resubmitted uncharged. A
job charged ``retries + 1`` deaths is recorded as failed. A job that fails for its own
reasons comes back as a failed row and is not retried.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ConfigError, GvcbenchError
from .config import ExecutorConfig
from .job import execute_job, failed_row
from .plan import Job
from .records import JobResult

log = logging.getLogger(__name__)

STARTED_TOPIC = "gvcbench-job-started"
SUBMIT_COMMANDS = {"slurm": "sbatch", "pbs": "qsub", "sge": "qsub"}
MAX_UNCHARGED_RESUBMITS = 10  # a job bounced this often by other jobs' dead workers fails


def _make_cluster(cfg: ExecutorConfig, workers: int):
    if cfg.cluster == "local":
        from distributed import LocalCluster

        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        import dask_jobqueue
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


def run_job(attempt: str, job: Job, source=None) -> JobResult:
    """Worker side: tell the scheduler this attempt has started, then run the job."""
    try:
        from distributed import get_worker

        get_worker().log_event(STARTED_TOPIC, {"attempt": attempt})
    except ValueError:  # not inside a worker (never in a run)
        pass
    return execute_job(job, source)


def environment_differences(worker: dict, driver: dict) -> list[str]:
    return [
        f"{name} {worker.get(name)} (driver: {driver[name]})" for name in driver if worker.get(name) != driver[name]
    ]


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


class LateWorkerCheck(WorkerPlugin):
    """The preflight check for workers that join after the run started (a busy queue starts
    them one by one): a worker that is not ready reports why and closes before taking a job."""

    name = "gvcbench-late-worker-check"

    def __init__(self, codecs, paths, versions, driver_env):
        self.codecs, self.paths, self.versions, self.driver_env = codecs, paths, versions, driver_env

    async def setup(self, worker):
        rep = check_worker(self.codecs, self.paths)
        problems = worker_problems(worker.address, rep, self.versions, self.driver_env, len(self.paths))
        if problems:  # closes before the worker reads its first task from the scheduler
            worker.log_event(REFUSED_TOPIC, {"problems": problems})
            worker.loop.add_callback(worker.close, nanny=True, reason="gvcbench: worker not ready")


def queue_report(job_ids: list[str]) -> str:
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
            f"their output files (log_directory) say why"
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

    def describe(self) -> str:
        where = self.cfg.scheduler or f"a new {self.cfg.cluster} cluster of {self.workers} worker(s)"
        return f"Dask on {where}"

    def _client(self):
        import dask
        from distributed import Client

        if self.cfg.scheduler:
            try:
                return Client(self.cfg.scheduler, timeout="30s"), None
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"cannot reach the Dask scheduler at {self.cfg.scheduler}: {exc}") from None
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

    def _no_worker_message(self, cluster) -> str:
        if self.cfg.cluster == "local":
            return f"no Dask worker of the local cluster started within {self.cfg.start_timeout:g} s"
        job_ids = [str(job.job_id) for job in getattr(cluster, "workers", {}).values() if getattr(job, "job_id", None)]
        partition = f"partition {self.cfg.queue!r}" if self.cfg.queue else "the default partition"
        return (
            f"no Dask worker started within {self.cfg.start_timeout:g} s (start_timeout) on "
            f"{self.cfg.cluster} {partition}: {queue_report(job_ids)}. The worker jobs are cancelled; "
            f"check queue, account, cores, memory and walltime in the executor table of the config, "
            f"or raise start_timeout if the queue is just busy."
        )

    def preflight(self, client, jobs: list[Job]) -> bool:
        """Check every worker before the run (and, through a plugin, every worker that joins
        later); returns whether inputs go by path."""
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
        client.register_plugin(LateWorkerCheck(codec_list, paths if by_path else [], versions, driver_env))
        return by_path

    def run(self, jobs: Iterable[Job], on_result: Callable[[dict], None]) -> None:
        from distributed import KilledWorker, as_completed
        from distributed.client import FutureCancelledError

        jobs = list(jobs)
        client, cluster = self._client()
        started: set[str] = set()
        refused: list[str] = []
        futures: dict = {}

        def on_refused(event) -> None:  # a late worker is not ready: stop the run, keep what finished
            refused.extend(event[1]["problems"])
            pending = []
            for _ in range(5):
                try:
                    pending = list(futures)
                    break
                except RuntimeError:  # the run loop changed the dict meanwhile
                    continue
            # Runs on the client's event loop, where a blocking call would never return.
            threading.Thread(target=client.cancel, args=(pending,), daemon=True).start()

        client.subscribe_topic(STARTED_TOPIC, lambda event: started.add(event[1]["attempt"]))
        client.subscribe_topic(REFUSED_TOPIC, on_refused)
        try:
            by_path = self.preflight(client, jobs)
            sources = {}
            if not by_path:
                from .job import _cached_sequence

                for spec in {j.spec for j in jobs}:
                    sources[spec] = client.scatter(_cached_sequence(spec), broadcast=False)
            attempts: dict[str, int] = {}
            deaths: dict[str, int] = {}  # worker deaths charged to the job (it was running there)
            bounced: dict[str, int] = {}  # resubmits because another job's worker died

            def submit(job: Job):
                attempts[job.key] = attempts.get(job.key, 0) + 1
                attempt = f"job-{job.key}-{attempts[job.key]}"
                args = (attempt, job) if by_path else (attempt, job, sources[job.spec])
                future = client.submit(run_job, *args, key=attempt, pure=False)
                futures[future] = job
                return future

            def was_started(attempt: str) -> bool:
                if attempt in started:
                    return True
                return any(msg.get("attempt") == attempt for _, msg in client.get_events(STARTED_TOPIC))

            queue = as_completed([submit(job) for job in jobs])
            for future in queue:
                job = futures.pop(future)
                if refused:
                    if future.status == "finished":
                        on_result(future.result())
                    continue
                what = f"{job.codec_label} / {job.sequence} / {job.point.label}"
                try:
                    row = future.result()
                except KilledWorker:  # the worker holding this attempt died
                    if was_started(future.key):
                        deaths[job.key] = deaths.get(job.key, 0) + 1
                        if deaths[job.key] <= self.cfg.retries:
                            log.info(f"rerunning {what}: the worker running it died")
                            queue.add(submit(job))
                            continue
                        row = failed_row(
                            job,
                            f"the worker running this job died {deaths[job.key]} times "
                            f"(killed, out of memory or crashed)",
                        )
                    else:
                        bounced[job.key] = bounced.get(job.key, 0) + 1
                        if bounced[job.key] <= MAX_UNCHARGED_RESUBMITS:
                            queue.add(submit(job))
                            continue
                        row = failed_row(job, f"{bounced[job.key]} workers died before this job could start on them")
                except FutureCancelledError:
                    row = failed_row(job, "the Dask scheduler cancelled this job")
                except Exception as exc:  # a transport or scheduler hiccup, not the job's own failure
                    if attempts[job.key] <= self.cfg.retries:
                        log.info(f"resubmitting {what} after a Dask error: {type(exc).__name__}: {exc}")
                        queue.add(submit(job))
                        continue
                    row = failed_row(
                        job, f"Dask failed this job {attempts[job.key]} times: {type(exc).__name__}: {exc}"
                    )
                on_result(row)
            if refused:
                raise GvcbenchError(
                    NOT_READY + "\n".join(refused) + "\nThe jobs that finished are kept; "
                    "run again once the workers match."
                )
        finally:
            client.unsubscribe_topic(STARTED_TOPIC)
            client.unsubscribe_topic(REFUSED_TOPIC)
            if self.cfg.scheduler:  # a shared scheduler outlives the run: leave no check behind
                try:
                    client.unregister_worker_plugin(LateWorkerCheck.name)
                except Exception:  # never registered (the preflight stopped the run)
                    pass
            client.close()
            if cluster is not None:
                _close_cluster(cluster)
