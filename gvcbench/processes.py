"""Programs in process groups of their own, and a reaper that kills them when we die.

Every program gvcbench runs (encoders, decoders, FFmpeg, a user's script codec) starts a
new session, so its process group holds it and every child it spawns. A timeout, Ctrl-C
or any exception kills the whole group, and so does the program's own end: whatever it
left running in the background is a stray that could later write into a resumed job's
folder. When the process that started a program dies without cleaning up (SIGKILL, a
killed driver whose workers exit, a dead Dask worker), a small reaper process, one per
process that runs programs, sees its pipe close and kills every group still registered.
A Dask task tags the programs it starts (``owned_by``) so that a driver stopped with Ctrl-C
can stop them on a shared scheduler's workers, which outlive it (``cancel_owned``).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from .errors import GvcbenchError

# The reaper reads "+PGID" / "-PGID" lines; at end of input (its parent died or exited)
# it kills every group still registered.
_REAPER_CODE = r"""
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        groups.add(int(line[1:]))
    elif line[:1] == "-":
        groups.discard(int(line[1:]))
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


class _Reaper:
    """The reaper of this process, started on first use (again after a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._owner = 0

    def _pipe(self) -> IO[str]:
        if self._proc is None or self._owner != os.getpid() or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _REAPER_CODE],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                text=True,
            )
            self._owner = os.getpid()
        assert self._proc.stdin is not None
        return self._proc.stdin

    def _send(self, line: str) -> None:
        with self._lock:
            for _ in range(2):  # a reaper that died is replaced once
                try:
                    pipe = self._pipe()
                    pipe.write(line + "\n")
                    pipe.flush()
                    return
                except (BrokenPipeError, OSError):
                    self._proc = None

    def start(self) -> None:
        """Have the reaper running before a program starts, so that registering the
        program is one write (starting Python takes long on a loaded machine)."""
        with self._lock:
            self._pipe()

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}")

    def forget(self, pgid: int) -> None:
        self._send(f"-{pgid}")


REAPER = _Reaper()


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal every process of a group; a group that is already gone is fine."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


_owner = threading.local()  # .tag: the Dask task whose programs this thread starts
_owned: dict[str, set[int]] = {}  # tag -> process groups running now
_cancelled: set[str] = set()  # tag prefixes (a run's) whose programs are stopped
_owned_lock = threading.Lock()


@contextmanager
def owned_by(tag: str) -> Iterator[None]:
    """Programs this thread starts inside belong to ``tag`` (a Dask task's key, which begins
    with its run's prefix), so that ``cancel_owned`` can stop them from another thread."""
    previous = getattr(_owner, "tag", None)
    _owner.tag = tag
    try:
        yield
    finally:
        _owner.tag = previous


def is_cancelled(tag: str) -> bool:
    # tuple() copies the set in one step: iterating it here while cancel_owned adds to it
    # (the worker's event loop thread) raised "Set changed size during iteration"
    return tag.startswith(tuple(_cancelled))


def cancel_owned(prefix: str) -> int:
    """Kill the programs of every task whose tag begins with ``prefix`` and refuse the ones they
    would start next; returns how many were running. For a run whose driver was stopped: a
    shared scheduler's workers would otherwise run its encodes to their end."""
    with _owned_lock:  # under the lock: a group leaves _owned (below) before its leader is reaped
        _cancelled.add(prefix)
        groups = [pgid for tag, pgids in _owned.items() if tag.startswith(prefix) for pgid in pgids]
        for pgid in groups:
            kill_group(pgid)
    return len(groups)


def _refuse_if_cancelled(tag: str | None) -> None:
    if tag is not None and is_cancelled(tag):
        raise GvcbenchError("this run was stopped (its driver was interrupted): no program starts for it")


@contextmanager
def process_group(argv: list[str], **popen_args) -> Iterator[subprocess.Popen]:
    """Start ``argv`` as the leader of a new session; on leaving, kill whatever is left of
    its group (grandchildren included), whether the program finished, timed out or we
    were interrupted."""
    tag = getattr(_owner, "tag", None)
    _refuse_if_cancelled(tag)
    REAPER.start()
    proc = subprocess.Popen(argv, start_new_session=True, **popen_args)
    REAPER.watch(proc.pid)
    if tag is not None:
        with _owned_lock:
            _owned.setdefault(tag, set()).add(proc.pid)
            if is_cancelled(tag):  # cancelled between the check and the start
                kill_group(proc.pid)
    try:
        yield proc
    finally:
        kill_group(proc.pid)
        if tag is not None:  # before the reaping wait frees the group id for reuse
            with _owned_lock:
                _owned.get(tag, set()).discard(proc.pid)
                if not _owned.get(tag, True):
                    del _owned[tag]
        try:
            proc.wait()
        finally:
            REAPER.forget(proc.pid)


def _wait_unreaped(proc: subprocess.Popen, timeout: float | None) -> bool:
    """Wait until the program exits without reaping it (so its process-group id cannot be
    reused before the group is killed); False on timeout."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: reap, a tiny reuse window remains
        try:
            proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def run_in_group(argv: list[str], timeout: float | None, **popen_args) -> tuple[int | None, bool]:
    """Run to the end or the timeout; returns (exit status or None, timed out)."""
    with process_group(argv, **popen_args) as proc:
        finished = _wait_unreaped(proc, timeout)
    # the group is dead and the leader reaped: a zombie leader keeps its own exit status
    return (proc.returncode, False) if finished else (None, True)
