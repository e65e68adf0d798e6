"""Running a benchmark's jobs on a Dask cluster (``distributed``), SLURM/PBS/SGE included.

Workers encode, decode and measure; rows come back to the driver, which alone writes
the store. Inputs reach workers by path when every worker can read the files (a shared
file system, the usual SLURM case) and by value otherwise (the driver reads each
sequence once and scatters it). A worker that dies mid-job has its job rerun elsewhere,
up to ``retries`` times; a job that fails for its own reasons comes back as a failed row
and is not retried.
"""
from __future__ import annotations

import json
import os
import socket
import time
from typing import Callable, Iterable

from ..errors import ConfigError, GvcbenchError
from .config import ExecutorConfig
from .job import base_row, execute_job
from .plan import Job


def _make_cluster(cfg: ExecutorConfig, workers: int):
    if cfg.cluster == "local":
        from distributed import LocalCluster

        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        import dask_jobqueue
    except ImportError:
        raise ConfigError("a SLURM/PBS/SGE cluster needs the package dask-jobqueue: "
                          "`pip install dask-jobqueue`") from None
    cls = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster,
           "sge": dask_jobqueue.SGECluster}[cfg.cluster]
    kwargs = dict(cores=cfg.cores, processes=1, memory=cfg.memory, walltime=cfg.walltime,
                  job_extra_directives=list(cfg.job_extra))
    if cfg.queue:
        kwargs["queue"] = cfg.queue
    if cfg.account:
        kwargs["account"] = cfg.account
    cluster = cls(**kwargs)
    cluster.scale(jobs=workers)
    return cluster


def check_worker(codecs: list[tuple[str, str, dict]], paths: list[str]) -> dict:
    """Runs on each worker: can it use every codec (and with which version), can it read the inputs."""
    from .plan import make_codec

    report = {"host": socket.gethostname(), "pid": os.getpid(), "codecs": {}, "readable": 0}
    for label, name, params in codecs:
        try:
            codec = make_codec(name, params)
            reason = codec.availability()
            report["codecs"][label] = {"ok": reason is None, "version": codec.version() if reason is None else None,
                                       "reason": reason}
        except GvcbenchError as exc:
            report["codecs"][label] = {"ok": False, "version": None, "reason": str(exc)}
    report["readable"] = sum(os.path.exists(p) for p in paths)
    return report


def _killed_row(job: Job, error: str) -> dict:
    row = base_row(job)
    row.update({"status": "failed", "finished_at": time.time(), "error": error})
    return row


class DaskExecutor:
    name = "dask"

    def __init__(self, cfg: ExecutorConfig, workers: int, log: Callable[[str], None] = print):
        self.cfg = cfg
        self.workers = cfg.workers or workers
        self.log = log

    def describe(self) -> str:
        where = self.cfg.scheduler or f"a new {self.cfg.cluster} cluster of {self.workers} worker(s)"
        return f"Dask on {where}"

    def _client(self):
        import dask
        from distributed import Client

        dask.config.set({"distributed.scheduler.allowed-failures": self.cfg.retries})
        if self.cfg.scheduler:
            try:
                return Client(self.cfg.scheduler, timeout="30s"), None
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"cannot reach the Dask scheduler at {self.cfg.scheduler}: {exc}") from None
        cluster = _make_cluster(self.cfg, self.workers)
        client = Client(cluster)
        client.wait_for_workers(1, timeout=600)
        return client, cluster

    def preflight(self, client, jobs: list[Job]) -> bool:
        """Check every worker before the run; returns whether inputs go by path."""
        codecs = sorted({(j.codec_label, j.codec_name, json.dumps(j.codec_params, sort_keys=True)) for j in jobs})
        codec_list = [(label, name, json.loads(params)) for label, name, params in codecs]
        versions = {j.codec_label: j.codec_version for j in jobs}
        paths = sorted({j.spec.path for j in jobs})
        reports = client.run(check_worker, codec_list, paths)
        problems = []
        for address, rep in reports.items():
            for label, status in rep["codecs"].items():
                if not status["ok"]:
                    problems.append(f"worker {address} ({rep['host']}) cannot run {label}: {status['reason']}")
                elif status["version"] != versions[label]:
                    problems.append(f"worker {address} ({rep['host']}) has {label} {status['version']}, the "
                                    f"driver planned with {versions[label]}; results would not be comparable")
        if problems:
            raise GvcbenchError("workers are not ready:\n" + "\n".join(problems))
        all_read = all(rep["readable"] == len(paths) for rep in reports.values())
        if self.cfg.shared_fs == "yes" and not all_read:
            raise GvcbenchError("shared_fs = yes, but some workers cannot read the input files")
        by_path = self.cfg.shared_fs == "yes" or (self.cfg.shared_fs == "auto" and all_read)
        self.log(f"{len(reports)} Dask worker(s) checked; inputs go by "
                 f"{'path (every worker reads the files)' if by_path else 'value (scattered from the driver)'}")
        return by_path

    def run(self, jobs: Iterable[Job], on_result: Callable[[dict], None]) -> None:
        from distributed import KilledWorker, as_completed
        from distributed.client import FutureCancelledError

        jobs = list(jobs)
        client, cluster = self._client()
        try:
            by_path = self.preflight(client, jobs)
            sources = {}
            if not by_path:
                from .job import _cached_sequence

                for spec in {j.spec for j in jobs}:
                    sources[spec] = client.scatter(_cached_sequence(spec), broadcast=False)
            futures, attempts = {}, {}

            def submit(job: Job):
                args = (job,) if by_path else (job, sources[job.spec])
                attempts[job.key] = attempts.get(job.key, 0) + 1
                future = client.submit(execute_job, *args, key=f"job-{job.key}-{attempts[job.key]}", pure=False)
                futures[future] = job
                return future

            queue = as_completed([submit(job) for job in jobs])
            for future in queue:
                job = futures.pop(future)
                try:
                    row = future.result()
                except KilledWorker as exc:  # the scheduler gave up: workers died running it
                    row = _killed_row(job, f"the workers running this job died {self.cfg.retries + 1} times ({exc})")
                except FutureCancelledError:
                    row = _killed_row(job, "the Dask scheduler cancelled this job")
                except Exception as exc:  # a transport or scheduler hiccup, not the job's own failure
                    if attempts[job.key] <= self.cfg.retries:
                        self.log(f"resubmitting {job.codec_label} / {job.sequence} / {job.point.label} after a "
                                 f"Dask error: {type(exc).__name__}: {exc}")
                        queue.add(submit(job))
                        continue
                    row = _killed_row(job, f"Dask failed this job {attempts[job.key]} times: "
                                           f"{type(exc).__name__}: {exc}")
                on_result(row)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
