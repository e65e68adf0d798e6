"""The Python API: what the `gvcbench` commands do, for notebooks and scripts.

    import gvcbench

    summary = gvcbench.run("myrun.toml", frames=8)       # or a dict, a RunConfig, or nothing
    results = gvcbench.open_store(summary.store)          # rows, set-level values, .frame()
    bd = gvcbench.bd_table(summary.store, anchor="x265")  # BD-rates with intervals, .frame()
    gvcbench.report(summary.store, anchor="x265", output="report")
    gate = gvcbench.regress(summary.store, baseline="baseline.json")

The keyword options are the command line's (`gvcbench run --frames 8` is
``run(..., frames=8)``), checked the same way and with the same messages; lists are
Python lists instead of comma-separated text. Messages go to the ``gvcbench`` loggers
(``logging.getLogger("gvcbench")``): warnings reach stderr through Python's default
handling, the rest only where logging is configured. The command line is a thin layer
over these functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, GvcbenchError

if TYPE_CHECKING:
    import pandas as pd

    from .bench.config import RunConfig
    from .bench.events import EventSink
    from .bench.records import JobResult, SetValue
    from .bench.runner import RunSummary
    from .reports.bdtables import BDTables
    from .reports.regress import Finding
    from .reports.report import ReportFiles
    from .reports.sources import Sources as Compared

PathLike = str | Path
Sources = PathLike | Sequence[PathLike]


@dataclass(frozen=True)
class RunOverrides:
    """Options laid over a run config, as `gvcbench run`'s options are; None leaves a value as
    the config (or the default) has it."""

    codecs: Sequence[str] | None = None  # labels of the config's entries, or codec names
    dataset: str | None = None
    qps: Sequence[int] | None = None  # for every codec
    kbps: Sequence[float] | None = None  # target rates for every codec, instead of QPs
    metrics: Sequence[str] | None = None
    frames: int | None = None
    start: int | None = None
    crop: str | None = None
    size: str | None = None
    output: PathLike | None = None
    jobs: int | None = None
    timeout: float | None = None
    device: str | None = None
    seeds: int | None = None  # stochastic codecs run with seeds 0..N-1
    executor: str | None = None  # local or dask
    scheduler: str | None = None  # with dask: tcp://HOST:PORT of a running scheduler

    def __post_init__(self):
        for name in ("codecs", "qps", "kbps", "metrics"):
            object.__setattr__(self, name, _list_option(name, getattr(self, name)))

    def apply(self, cfg: RunConfig) -> RunConfig:
        """``cfg`` with these options on top. Every value is checked by the config classes
        themselves, so an option gets the same checks as the same key in a config file."""
        from .bench.config import CodecConfig

        if self.codecs is not None:
            by_label = {c.display: c for c in cfg.codecs}
            cfg = replace(cfg, codecs=tuple(by_label.get(n, CodecConfig(n)) for n in self.codecs))
        if self.qps is not None and self.kbps is not None:
            raise ConfigError("give --qps or --kbps, not both")
        if self.qps is not None:
            if not self.qps:
                raise ConfigError("--qps lists no QP; give whole numbers separated by commas")
            points = tuple(self.qps)
            cfg = _each_codec(cfg, qps=points, kbps=None, bpp=None, tolerance=None)
        if self.kbps is not None:
            cfg = _each_codec(cfg, kbps=tuple(self.kbps), qps=None, bpp=None)
        if self.seeds is not None:
            if self.seeds < 1:
                raise ConfigError(f"--seeds must be at least 1, got {self.seeds}")
            cfg = _each_codec(cfg, seeds=tuple(range(self.seeds)))
        # another source keeps the config's protocol (start, frames, crop, size): options change what they name
        ds = replace(cfg.dataset, source=self.dataset) if self.dataset is not None else cfg.dataset
        cut: dict[str, Any] = {"frames": self.frames, "start": self.start, "crop": self.crop, "size": self.size}
        cfg = replace(cfg, dataset=replace(ds, **{k: v for k, v in cut.items() if v is not None}))
        if self.metrics is not None:
            if not self.metrics:
                raise ConfigError(
                    "--metrics lists no metric; name them separated by commas, "
                    "or leave the option out for the default set"
                )
            cfg = replace(cfg, metrics=tuple(self.metrics))
        plain: dict[str, Any] = {
            "output": str(self.output) if self.output is not None else None,
            "jobs": self.jobs,
            "timeout": self.timeout,
            "device": self.device,
        }
        cfg = replace(cfg, **{k: v for k, v in plain.items() if v is not None})
        if self.executor or self.scheduler:
            chosen: dict[str, Any] = {"kind": self.executor or "dask"}
            if self.scheduler:
                chosen["scheduler"] = self.scheduler
            cfg = replace(cfg, executor=replace(cfg.executor, **chosen))
        return cfg


# the options that take a list in Python (comma-separated text on the command line), with an example
LIST_OPTIONS = {
    "codecs": '["x264", "x265"]',
    "qps": "[22, 27, 32, 37]",
    "kbps": "[5, 8, 12]",
    "metrics": '["psnr-y"]',
    "methods": '["pchip", "cubic"]',
    "sequences": '["campfire_pot"]',
}


def _list_option(name: str, value: Any) -> Any:
    """``value`` where a list belongs: a list, tuple or range as given, a 1-D NumPy array
    (``kbps=np.linspace(5, 15, 4)``) as a list of Python numbers. A bare string or number
    is refused: the string was taken letter by letter ("unknown codec 'x'") and a number
    raised a TypeError. Say what to give instead."""
    if getattr(value, "ndim", None) == 1 and hasattr(value, "tolist"):
        value = value.tolist()
    if value is None or (isinstance(value, Sequence) and not isinstance(value, str | bytes)):
        return value
    raise ConfigError(f"{name} must be a list, e.g. {name}={LIST_OPTIONS[name]}, got {value!r}")


def _each_codec(cfg: RunConfig, **values: Any) -> RunConfig:
    return replace(cfg, codecs=tuple(replace(c, **values) for c in cfg.codecs))


def run_config(config: RunConfig | PathLike | Mapping | None = None, **overrides: Any) -> RunConfig:
    """The run config of a TOML file, a mapping with a config file's keys, a RunConfig or the
    defaults (None), with ``overrides`` (the fields of RunOverrides) on top."""
    from .bench.config import RunConfig, config_from_mapping, load_config

    known = {f.name for f in fields(RunOverrides)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; the options are: {', '.join(sorted(known))}")
    if config is None:
        cfg = RunConfig()
    elif isinstance(config, RunConfig):
        cfg = config
    elif isinstance(config, Mapping):
        cfg = config_from_mapping(dict(config))
    else:
        cfg = load_config(config)
    return RunOverrides(**overrides).apply(cfg)


def run(
    config: RunConfig | PathLike | Mapping | None = None,
    *,
    force: bool = False,
    on_event: EventSink | None = None,
    **overrides: Any,
) -> RunSummary:
    """Encode, decode and measure every codec x sequence x rate point of ``config`` (see
    ``run_config``) into the store in its output folder; finished jobs are reused unless
    ``force``. ``on_event`` sees the run's progress (gvcbench.bench.events). Returns the
    summary: counts, failures, skipped codecs and sequences, ``store`` and ``run_id``."""
    from .bench.runner import run_benchmark

    cfg = run_config(config, **overrides)
    cfg.executor.require_packages()  # before anything is read or written
    return run_benchmark(cfg, force=force, on_event=on_event)


@dataclass
class Results:
    """The job results a store's readers show (by default the latest configuration of each
    codec on the latest run's dataset; ``run`` picks one run), its set-level values and runs.
    Records are frozen (gvcbench.bench.records): ``r.codec``, ``r.kbps``, ``r.metrics["psnr-y"]``."""

    path: Path
    rows: list[JobResult]  # one per job
    set_values: list[SetValue]  # set-level metrics (FVD, FID) per codec and rate point
    runs: list[dict]
    dataset: str = ""
    notes: list[str] = field(default_factory=list)  # what the selection left out, and why
    run_id: str | None = None  # the run asked for with ``run`` (its whole id); None: the default choice

    def frame(self) -> pd.DataFrame:
        """One row per job with its mean metrics as columns (`gvcbench results -f csv`)."""
        from .bench.records import records_frame

        return records_frame(self.rows)

    def per_frame(self) -> pd.DataFrame:
        """One row per job and frame with every per-frame metric (`--per-frame`)."""
        from .reports.table import per_frame_table

        return per_frame_table(self.rows)

    def summary(self) -> tuple[list[str], list[dict]]:
        """(metric names, one mean over sequences per codec and rate point): the table
        `gvcbench run` and `gvcbench results` print."""
        from .reports.table import summary_rows

        return summary_rows(self.rows)


def open_store(path: PathLike = "gvcbench-runs", run: str | None = None) -> Results:
    """The results of a store file or run folder, opened read-only."""
    from .bench.store import ResultStore
    from .reports.selection import select

    with ResultStore(Path(path), create=False) as store:
        chosen = select(store, run)
        where = store.path
    return Results(
        where, chosen.rows, chosen.set_values, chosen.runs, chosen.dataset_label, chosen.notes, chosen.run_id
    )


def _read_for_run(read: Results | Compared, run: str | None, again: str) -> None:
    """Refuse ``run`` beside results already read, unless they were read for that very run:
    they hold the rows of the selection they were read with and nothing else, so the run
    cannot be picked from them (ignoring it showed another run's numbers without a word).
    ``again``: the call that reads the run."""
    if run is None or (read.run_id is not None and read.run_id.startswith(run)):
        return
    how = f"for run {read.run_id[:8]}" if read.run_id else "without run= (each codec's latest run)"
    raise GvcbenchError(
        f"run={run!r} cannot pick a run from results already read {how}: they hold only those rows. "
        f"Read that run with {again}, or pass the store's path with run={run!r}"
    )


def _paths(sources: Sources) -> list[Path]:
    return [Path(sources)] if isinstance(sources, (str, Path)) else [Path(p) for p in sources]


def compare(sources: Sources, run: str | None = None) -> Compared:
    """Stores and imported curves read as one comparison: the rows each store's readers show
    (``run`` picks a run of a single store), with notes on what was left out. Raises when a
    codec label means different settings in two stores."""
    from .reports.sources import load_sources

    paths: list[str | Path] = [*_paths(sources)]
    return load_sources(paths, run)


def bd_table(
    sources: Sources | Compared,
    anchor: str,
    *,
    metrics: Sequence[str] | None = None,
    methods: Sequence[str] = ("pchip",),
    rate: str = "kbps",
    min_points: int = 4,
    min_share: float = 0.5,
    run: str | None = None,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    window: tuple[float, float] | str | None = None,
    common: bool = False,
    group_by: str | None = None,
) -> BDTables:
    """BD-rate and BD-metric of every codec against ``anchor`` (`gvcbench bdrate`): of the
    curve averaged over sequences and the mean of per-sequence BD-rates, with bootstrap
    intervals over sequences, per-seed values for stochastic codecs and, with ``group_by``,
    one table per class of sequences. ``sources``: stores (run folders or .sqlite files) and
    imported curves (.csv/.json), read as one comparison (or what ``compare`` read from
    them; ``run`` then names no other run than the one they were read for). ``methods``:
    pchip and/or cubic."""
    from .reports.bdrate import METHODS
    from .reports.bdtables import bd_tables
    from .reports.sources import Sources as Compared
    from .reports.window import parse_window

    metrics, methods = _list_option("metrics", metrics), _list_option("methods", methods)
    chosen = tuple(methods)
    if not chosen or any(m not in METHODS for m in chosen):
        raise GvcbenchError(f"unknown method {', '.join(chosen) or 'none'!r}; use pchip, cubic or both")
    span = parse_window(window)
    if isinstance(sources, Compared):
        _read_for_run(sources, run, f"gvcbench.api.compare(store, run={run!r})")
    return bd_tables(
        sources if isinstance(sources, Compared) else compare(sources, run),
        anchor,
        list(metrics) if metrics is not None else None,
        chosen,
        rate,
        min_points,
        min_share,
        resamples,
        seed,
        level,
        span,
        common,
        group_by,
    )


def _target_rates(target_kbps: Any) -> list[float]:
    """``target_kbps`` of ``report`` as a list of rates, each a finite positive number, as
    `--target-kbps` requires (a NumPy number or array counts as one or a list)."""
    if hasattr(target_kbps, "tolist"):
        target_kbps = target_kbps.tolist()
    if target_kbps is None:
        return []
    given = [target_kbps] if isinstance(target_kbps, (int, float)) else target_kbps
    ok = isinstance(given, Sequence) and not isinstance(given, str | bytes)
    ok = ok and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in given
    )
    if not ok:
        raise ConfigError(
            f"--target-kbps must be positive numbers separated by commas, e.g. 5,8,12,15 "
            f"(target_kbps=[5, 8, 12, 15]); got {target_kbps!r}"
        )
    return [float(v) for v in given]


def report(
    sources: Sources,
    anchor: str,
    output: PathLike = "gvcbench-report",
    *,
    metrics: Sequence[str] | None = None,
    sequences: Sequence[str] | None = None,
    rate: str = "kbps",
    target_kbps: float | Sequence[float] | None = None,
    window: tuple[float, float] | str | None = None,
    common: bool = False,
    group_by: str | None = None,
    min_points: int = 4,
    min_share: float = 0.5,
    run: str | None = None,
    resamples: int = 1000,
    seed: int = 0,
    lossless: bool = False,
    svg: bool = False,
) -> ReportFiles:
    """Write report.html (self-contained), report.md, results.csv, bdrate.csv, intervals.csv
    and report.json into ``output`` (`gvcbench report`); returns their paths and notes."""
    from .reports.report import write_report
    from .reports.window import parse_window

    metrics, sequences = _list_option("metrics", metrics), _list_option("sequences", sequences)
    targets = _target_rates(target_kbps)
    return write_report(
        _paths(sources),
        anchor,
        Path(output),
        list(metrics) if metrics is not None else None,
        list(sequences) if sequences is not None else None,
        rate,
        targets[0] if len(targets) == 1 else (targets or None),
        run=run,
        min_points=min_points,
        min_share=min_share,
        resamples=resamples,
        seed=seed,
        lossless=lossless,
        window=parse_window(window),
        common=common,
        group_by=group_by,
        svg=svg,
    )


@dataclass
class Gate:
    """The outcome of a regression check against a baseline (`gvcbench regress`)."""

    findings: list[Finding]
    notes: list[str] = field(default_factory=list)  # what the store's row selection left out

    @property
    def failed(self) -> bool:
        """A regression: a worse value beyond tolerance, a new failure, a missing or NaN value,
        or a significant paired test."""
        from .reports.regress import failed

        return failed(self.findings)

    @property
    def exit_code(self) -> int:
        """What `gvcbench regress` exits with: 0 passed, 1 regression, 2 the gate cannot vouch
        (values it could not compare, none compared, or a baseline of something else)."""
        from .reports.regress import verdict

        return verdict(self.findings)

    @property
    def uncomparable(self) -> list[Finding]:
        """The values the gate could not check (the sequence content or a metric's version
        differs from the baseline's): a gate with any of them does not pass."""
        from .reports.regress import uncomparable

        return uncomparable(self.findings)

    @property
    def compared(self) -> int:
        """How many values were compared with the baseline (0: the gate checked nothing)."""
        from .reports.regress import compared

        return compared(self.findings)

    @property
    def counts(self) -> dict[str, int]:
        """Findings per outcome (ok, regressed, improved, ...)."""
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.outcome] = counts.get(f.outcome, 0) + 1
        return dict(sorted(counts.items()))


def _results(store: PathLike | Results, run: str | None) -> Results:
    """The results of a store path for ``run``, or results already read (for that run, if one is named)."""
    if not isinstance(store, Results):
        return open_store(store, run)
    _read_for_run(store, run, f"gvcbench.open_store({str(store.path)!r}, run={run!r})")
    return store


def regress(
    store: PathLike | Results,
    baseline: PathLike,
    *,
    tolerances: PathLike | None = None,
    run: str | None = None,
    test: str | None = None,
    alpha: float | None = None,
) -> Gate:
    """Compare a run (a store, or results from ``open_store``: ``run`` then names no other
    run than the one they were read for) with a baseline JSON (see ``save_baseline``) under
    the tolerances of a TOML file; ``test`` and ``alpha`` override its [significance] table."""
    from .reports.regress import compare, load_baseline, load_tolerances
    from .reports.uncertainty import TESTS

    results = _results(store, run)
    tol = load_tolerances(Path(tolerances) if tolerances is not None else None)
    if test is not None and test not in (*TESTS, "none"):
        raise GvcbenchError(f"--test must be wilcoxon, bootstrap or none, got {test!r}")
    if alpha is not None and not 0 < alpha < 1:
        raise GvcbenchError(f"--alpha must be between 0 and 1, got {alpha}")
    tol = replace(tol, test=test or tol.test, alpha=tol.alpha if alpha is None else alpha)
    findings = compare(results.rows, load_baseline(Path(baseline)), tol, results.set_values)
    return Gate(findings, results.notes)


def not_a_store(path: PathLike | None, option: str) -> None:
    """Refuse to write a file over a results store (a typo such as `-o run/results.sqlite`
    would lose every result)."""
    if path is None:
        return
    try:
        with open(path, "rb") as f:
            is_sqlite = f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return
    if is_sqlite:
        raise GvcbenchError(
            f"{option} {path} is a results store (SQLite file); writing there would destroy it. Name another file"
        )


def save_baseline(
    store: PathLike | Results, baseline: PathLike, anchor: str | None = None, run: str | None = None
) -> dict:
    """Write a store's results (and, with ``anchor``, its BD-rates) as the baseline of ``regress``
    (results from ``open_store``: ``run`` then names no other run than the one they were read for)."""
    from .reports.regress import save_baseline as write

    not_a_store(baseline, "--baseline")  # as the command line refuses it: the store would be lost
    results = _results(store, run)
    unfinished = [r for r in results.runs if r.get("finished") is None and r.get("dataset") is not None]
    if unfinished:
        raise GvcbenchError(
            f"run {unfinished[-1]['run_id'][:8]} of these results has not finished (still running, or "
            f"stopped): a baseline of it would leave its missing points unchecked; run the same command "
            f"again to finish it, then save the baseline"
        )
    return write(results.rows, Path(baseline), anchor, results.set_values)
