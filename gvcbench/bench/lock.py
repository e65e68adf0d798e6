"""One writer per store: the driver of a run holds an exclusive lock on its output folder.

The lock is an ``flock`` on a file in the folder, so the kernel drops it when the driver
dies however it dies; the file's text names the holder. A run that finds the text of a
holder that is gone (killed before it could clear it) takes the lock over and says so.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from ..errors import GvcbenchError

LOCK_NAME = ".gvcbench-run.lock"


class RunLocked(GvcbenchError):
    """Another live run is writing to the same output folder."""


class OutputUnwritable(GvcbenchError):
    """The output folder cannot be written (read-only, full): the run stops, nothing is lost."""


def _describe(holder: dict) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    return f"pid {holder.get('pid')} on {holder.get('host')}, started {started}"


class RunLock:
    """``RunLock(folder)``: a run's lock on its output folder. ``name`` and ``writer`` lock
    one file for another kind of writer (``dynamics train`` on its weights file)."""

    def __init__(self, folder: str | Path, name: str = LOCK_NAME, writer: str = "gvcbench run", target=None):
        self.path = Path(folder) / name
        self.writer, self.target = writer, target or self.path.parent
        self._fd: int | None = None
        self.took_over: str | None = None  # the holder a killed run left behind, if any

    def acquire(self) -> RunLock:
        folder = self.path.parent
        if folder.exists() and not folder.is_dir():  # mkdir says only 'File exists'
            store = f" (the store of the run folder {folder.parent})" if folder.name == "results.sqlite" else ""
            raise OutputUnwritable(
                f"the output folder {folder} is a file{store}, not a folder; give the run folder with --output"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputUnwritable(
                f"cannot write to the output folder {self.path.parent}: {exc.strerror}; "
                f"choose a writable folder with --output"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            who = _describe(holder) if holder else "another process"
            raise RunLocked(
                f"another {self.writer} ({who}) is writing to {self.target}; wait until it "
                f"ends, or give this run another --output"
            ) from None
        previous = _read(fd)
        if previous:
            self.took_over = _describe(previous)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "argv": sys.argv}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise OutputUnwritable(
                f"cannot write to the output folder {self.path.parent}: {exc.strerror}; "
                f"free some space or choose another folder with --output"
            ) from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty file: the run ended properly
        except OSError:
            pass
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read(fd: int) -> dict:
    try:
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        return json.loads(text) if text else {}
    except (OSError, ValueError):
        return {"pid": "?", "host": "?"}
