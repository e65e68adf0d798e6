"""The progress of a run as a stream of events, for a progress bar or a notebook.

``run_benchmark(config, on_event=...)`` calls ``on_event`` with each event, in the driver
process, in order: ``JobsPlanned`` first (and again when a target-rate search adds a round
of encodes), then one ``JobFinished`` or ``JobFailed`` per job as the store commits it.
Messages for people (warnings, what the executor is doing) go to the ``gvcbench`` loggers,
not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import error_summary
from .records import JobResult


@dataclass(frozen=True)
class JobsPlanned:
    """``total`` jobs run now (a rate search raises it as it plans further rounds)."""

    total: int


@dataclass(frozen=True)
class JobEnded:
    """A job whose result the store has just committed."""

    result: JobResult

    @property
    def what(self) -> str:
        """'codec / sequence / point', as messages name a job."""
        return f"{self.result.codec} / {self.result.sequence} / {self.result.point}"


@dataclass(frozen=True)
class JobFinished(JobEnded):
    """The job ran and its results are in the store."""


@dataclass(frozen=True)
class JobFailed(JobEnded):
    """The job failed; ``reason`` is its error in one line (``errors.error_summary``; the
    result holds all of it)."""

    @property
    def reason(self) -> str:
        return error_summary(self.result.error)


RunEvent = JobsPlanned | JobFinished | JobFailed
EventSink = Callable[[RunEvent], None]


def ended(result: JobResult) -> JobFinished | JobFailed:
    """The event of a committed job result."""
    return JobFinished(result) if result.status == "done" else JobFailed(result)
