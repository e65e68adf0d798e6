"""Running external programs: argument lists only, a timeout, a log file kept per call, each
program in a process group of its own (see ``processes``)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeAlias

from .errors import CodecUnavailable, ToolError
from .processes import run_in_group

LOG_TAIL_LINES = 20

Arg: TypeAlias = str | os.PathLike[str]
"""One program argument: text or a path (``run_tool`` turns each into ``str``)."""


@lru_cache(maxsize=128)
def _sha256_of(path: str, mtime: float, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, remembered while its size and modification time stay the same."""
    st = Path(path).stat()
    return _sha256_of(str(path), st.st_mtime, st.st_size)


@dataclass(frozen=True)
class ToolRun:
    argv: tuple[str, ...]
    seconds: float  # wall time of the child process
    cpu_seconds: float  # user + system CPU time of the child process
    log: Path


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def run_tool(
    argv: Sequence[Arg], log: Path, timeout: float, cwd: Path | None = None, stdout: Path | None = None
) -> ToolRun:
    """Run ``argv`` (no shell), append its output to ``log``, raise ToolError on failure.

    ``stdout`` sends the program's standard output to a file instead of the log (for
    programs that write data there).
    """
    args = [str(a) for a in argv]
    program = Path(args[0]).name
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    before = os.times()
    with open(log, "ab") as log_file:
        log_file.write(("$ " + " ".join(args) + "\n").encode())
        log_file.flush()
        out = open(stdout, "wb") if stdout is not None else log_file
        try:
            status, timed_out = run_in_group(
                args, timeout, stdin=subprocess.DEVNULL, stdout=out, stderr=log_file, cwd=cwd
            )
        except FileNotFoundError:
            raise CodecUnavailable(f"program {args[0]!r} not found") from None
        finally:
            if stdout is not None:
                out.close()
    if timed_out:
        raise ToolError(program, None, _tail(log), timed_out=True, timeout=timeout)
    seconds = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    if status != 0:
        raise ToolError(program, status, _tail(log))
    return ToolRun(tuple(args), seconds, cpu, log)


def capture(argv: list[str], timeout: float = 30) -> str:
    """Run a short query command (a version probe) and return stdout+stderr."""
    with tempfile.TemporaryFile() as out:
        _, timed_out = run_in_group(
            [str(a) for a in argv], timeout, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        out.seek(0)
        text = out.read().decode(errors="replace")
    if timed_out:
        raise ToolError(Path(str(argv[0])).name, None, text[-2000:], timed_out=True, timeout=timeout)
    return text


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The FFmpeg binary: ``GVCBENCH_FFMPEG`` if set, else the one imageio-ffmpeg ships."""
    override = os.environ.get("GVCBENCH_FFMPEG")
    if override:
        if not (shutil.which(override) or Path(override).is_file()):
            raise CodecUnavailable(f"GVCBENCH_FFMPEG={override!r} does not name an executable")
        return override
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - a declared dependency
        raise CodecUnavailable(
            "the PyPI package imageio-ffmpeg is not installed; `pip install imageio-ffmpeg`"
        ) from None
    return imageio_ffmpeg.get_ffmpeg_exe()


@lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    first = capture([ffmpeg_exe(), "-hide_banner", "-version"]).splitlines()
    return first[0].removeprefix("ffmpeg version ").split(" ")[0] if first else "unknown"


@lru_cache(maxsize=1)
def ffmpeg_encoders() -> frozenset[str]:
    text = capture([ffmpeg_exe(), "-hide_banner", "-encoders"])
    names = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    return frozenset(names)
