"""Executors run jobs and hand finished rows back to the driver, which alone writes the store."""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable

from .job import execute_job
from .plan import Job

MAX_WORKER_DEATHS = 2  # a job whose worker process died this often is recorded as failed


def _init_worker(parent_pid: int, threads: int) -> None:
    """Worker side: share the cores fairly, and exit when the driver is gone so that a
    killed run leaves no encoders behind."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # read by torch when a metric imports it
    try:  # Linux: our own children (encoders) get SIGKILL when this worker dies
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


class LocalPool:
    """A pool of worker processes on this machine, sized to the cores by default."""

    name = "local"

    def __init__(self, workers: int):
        self.workers = max(1, workers)

    @property
    def threads_per_worker(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.workers)

    def describe(self) -> str:
        return f"local process pool, {self.workers} worker(s); inputs read by path"

    def run(self, jobs: Iterable[Job], on_result: Callable[[dict], None]) -> None:
        pending = {job.key: job for job in jobs}
        deaths: dict[str, int] = {}
        while pending:
            lost = self._run_pool(pending, on_result)
            for key in lost:
                deaths[key] = deaths.get(key, 0) + 1
                if deaths[key] >= MAX_WORKER_DEATHS:
                    from .job import base_row

                    row = base_row(pending.pop(key))
                    row.update({"status": "failed", "finished_at": time.time(),
                                "error": f"the worker process running this job died {deaths[key]} times "
                                         f"(killed, out of memory or crashed)"})
                    on_result(row)

    def _run_pool(self, pending: dict[str, Job], on_result) -> list[str]:
        """Run what is pending; return the keys whose worker died (the pool broke)."""
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(pending)), mp_context=ctx,
                                 initializer=_init_worker, initargs=(os.getpid(), self.threads_per_worker)) as pool:
            futures = {pool.submit(execute_job, job): key for key, job in pending.items()}
            lost = []
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    key = futures.pop(future)
                    try:
                        row = future.result()
                    except BrokenProcessPool:
                        lost.append(key)
                        continue
                    pending.pop(key)
                    on_result(row)
            return lost


def make_executor(config, log=print):
    """The executor a run config asks for: the local pool by default, or Dask."""
    cfg = config.executor
    if cfg.kind == "local":
        return LocalPool(config.workers)
    from .dask_executor import DaskExecutor

    return DaskExecutor(cfg, config.workers, log)
