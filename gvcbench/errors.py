"""One small exception hierarchy. Every message says what was wrong and what to do."""


class GvcbenchError(Exception):
    """Base class of every error gvcbench raises on purpose."""


class ConfigError(GvcbenchError):
    """A configuration file or command-line option is invalid."""


class DatasetError(GvcbenchError):
    """A sequence or dataset cannot be read or is inconsistent."""


class CodecError(GvcbenchError):
    """A codec failed while encoding or decoding one job."""


class CodecUnavailable(GvcbenchError):
    """A codec cannot run on this machine (binary or model missing)."""


class ToolError(CodecError):
    """An external program exited badly or timed out."""

    def __init__(
        self, program: str, status: int | None, log_tail: str, *, timed_out: bool = False, timeout: float | None = None
    ):
        self.program = program
        self.status = status
        self.log_tail = log_tail
        self.timed_out = timed_out
        if timed_out:
            head = f"{program} timed out after {timeout:g} s"
        elif status is not None and status < 0:  # Python's returncode for a program ended by a signal
            head = f"{program} was killed by signal {_signal_name(-status)}"
        else:
            head = f"{program} exited with status {status}"
        tail = log_tail.strip()
        super().__init__(f"{head}; last lines of its log:\n{tail}" if tail else head)


def _signal_name(number: int) -> str:
    """``11 (SIGSEGV: it crashed)``: a signal's number and name, and what the usual ones mean."""
    import signal

    try:
        name = signal.Signals(number).name
    except ValueError:
        return str(number)
    meaning = {
        "SIGSEGV": "it crashed",
        "SIGBUS": "it crashed",
        "SIGABRT": "it aborted",
        "SIGKILL": "out of memory, or killed",
    }
    return f"{number} ({name}: {meaning[name]})" if name in meaning else f"{number} ({name})"


def error_summary(error: str | None) -> str:
    """A stored job error in one line: its first line and, when that only introduces a
    tool's log (a ToolError's "...; last lines of its log:"), the log's last line, which
    usually says what went wrong."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    if not lines:
        return ""
    if len(lines) > 1 and lines[0].endswith(":"):
        return f"{lines[0]} ... {lines[-1]}"
    return lines[0]


class MetricError(GvcbenchError):
    """A metric cannot be computed on the given input."""


class StoreError(GvcbenchError):
    """The results store is unreadable or of an unknown schema."""


class UnknownNameError(GvcbenchError, KeyError):
    """A registry lookup failed; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
