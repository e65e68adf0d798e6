"""Executors run jobs and hand finished rows back to the driver, which alone writes the store.

An executor's ``run(jobs, on_results)`` calls ``on_results`` with each batch of finished rows
(the driver writes a batch in one transaction); a run may call ``run`` several times (a rate
search's rounds) and calls ``close()`` once at its end."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from multiprocessing import connection

from ..processes import REAPER
from .job import execute_job
from .plan import Job
from .records import JobResult

MAX_WORKER_DEATHS = 2  # a job whose worker process died this often is recorded as failed


def _init_worker(parent_pid: int, threads: int) -> None:
    """Worker side: share the cores fairly, and exit when the driver is gone; the reaper of
    ``processes`` then kills the programs the worker was running."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # read by torch when a metric imports it
    REAPER.start()
    try:  # Linux: this worker gets SIGKILL when the driver dies
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch():
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()


class _Worker:
    """One worker process and the pipe the driver talks to it through."""

    def __init__(self, ctx, threads: int):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, os.getpid(), threads))
        self.process.start()
        child.close()
        self.job: Job | None = None

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


def _worker_main(conn, parent_pid: int, threads: int) -> None:
    """Worker side: run the jobs the driver sends, one at a time, until told to stop."""
    _init_worker(parent_pid, threads)
    try:
        while True:
            job = conn.recv()
            if job is None:
                return
            conn.send(execute_job(job))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        return  # the driver is stopping; run_tool has already killed the job's programs


class LocalPool:
    """Worker processes on this machine, sized to the cores by default.

    The driver hands each worker one job at a time and knows which job every worker
    holds, so a worker that dies (a codec that kills it, the OOM killer) costs only its
    own job: that job is retried on a fresh worker and recorded as failed after
    ``MAX_WORKER_DEATHS`` deaths, while every other job runs normally. The driver wakes
    on each finished job or dead worker, never scanning the pending jobs, and gives the
    worker its next job before writing the finished row (no worker idles during a commit).
    """

    name = "local"

    def __init__(self, workers: int):
        self.workers = max(1, workers)

    @property
    def threads_per_worker(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.workers)

    def describe(self) -> str:
        return f"local process pool, {self.workers} worker(s); inputs read by path"

    def run(self, jobs: Iterable[Job], on_results: Callable[[list[JobResult]], None]) -> None:
        queue = deque(jobs)
        deaths: dict[str, int] = {}
        ctx = multiprocessing.get_context("spawn")
        pool = [_Worker(ctx, self.threads_per_worker) for _ in range(min(self.workers, len(queue)))]
        try:
            while queue or any(w.job for w in pool):
                for worker in pool:
                    if worker.job is None and queue:
                        worker.job = queue.popleft()
                        worker.conn.send(worker.job)
                busy = [w for w in pool if w.job is not None]
                ready = connection.wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for i, worker in enumerate(pool):
                    if worker.job is None or (worker.conn not in ready and worker.process.sentinel not in ready):
                        continue
                    row = self._receive(worker)
                    if row is not None:
                        worker.job = None
                        if queue:  # its next job first: the worker runs while the driver writes the row
                            worker.job = queue.popleft()
                            worker.conn.send(worker.job)
                        on_results([row])
                        continue
                    job, worker.job = worker.job, None
                    worker.kill()
                    pool[i] = _Worker(ctx, self.threads_per_worker)
                    deaths[job.key] = deaths.get(job.key, 0) + 1
                    if deaths[job.key] >= MAX_WORKER_DEATHS:
                        on_results([worker_died_row(job, deaths[job.key])])
                    else:
                        queue.appendleft(job)
        finally:
            self._shut_down(pool)

    def close(self) -> None:
        """Nothing to release: each ``run`` starts and stops its own worker processes."""

    @staticmethod
    def _receive(worker: _Worker) -> JobResult | None:
        """The finished row, or None when the worker died instead."""
        try:
            if worker.conn.poll():
                return worker.conn.recv()
        except (EOFError, OSError):
            pass
        return None

    @staticmethod
    def _shut_down(pool: list[_Worker]) -> None:
        for worker in pool:
            if worker.job is None:
                worker.stop()
        deadline = time.monotonic() + 5
        for worker in pool:
            if worker.job is None:
                worker.process.join(max(0.0, deadline - time.monotonic()))
            worker.kill()  # still running a job: interrupted (Ctrl-C, an error in the driver)


def worker_died_row(job: Job, deaths: int) -> JobResult:
    """The row of a job whose worker process died ``deaths`` times while running it."""
    from .job import failed_row

    return failed_row(
        job, f"the worker process running this job died {deaths} times (killed, out of memory or crashed)"
    )


def make_executor(config):
    """The executor a run config asks for: the local pool by default, or Dask."""
    cfg = config.executor
    if cfg.kind == "local":
        return LocalPool(config.workers)
    cfg.require_packages()
    from .dask_executor import DaskExecutor

    return DaskExecutor(cfg, config.workers)
