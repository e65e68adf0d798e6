"""RD figures (matplotlib): one per metric with every codec, and per-sequence small multiples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..bench.records import JobResult, SetValue
from ..metrics.axes import Axis
from .bdrate import BDError
from .curves import averaged_curve, metric_specs, rd_points, sequence_curve, set_curve

MARKERS = "osD^vP*Xh<>"
MAX_SMALL_MULTIPLES = 36


def _figure(*args, **kw):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kw)


# matplotlib's tab10, fixed per codec so that a codec has one colour in every figure and
# panel of a report and across reports (the colour cycle shifted when a codec was missing)
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
BUILT_IN_COLOURS = {"vvenc-ldb": 0, "x265": 1, "dynamics": 3, "x264": 2, "svtav1": 4, "vtm-ldb": 5, "aom": 6}


def codec_colour(codec: str) -> str:
    """The colour of a codec's curves: built-in adapters' names have their own, other labels
    one chosen by a hash of the label (stable across runs and machines)."""
    import hashlib

    index = BUILT_IN_COLOURS.get(codec)
    if index is None:
        index = int(hashlib.sha1(codec.encode()).hexdigest(), 16) % len(PALETTE)
    return PALETTE[index]


def _style(codec: str, anchor: str | None, index: int) -> dict:
    style = {
        "marker": MARKERS[index % len(MARKERS)],
        "linewidth": 1.6,
        "markersize": 5,
        "label": codec,
        "color": codec_colour(codec),
    }
    if codec == anchor:
        style.update(linestyle="--", color="black", linewidth=2.2, label=f"{codec} (anchor)")
    return style


def _log_rate_axis(ax, minor_labels: bool = True) -> None:
    """Log rate axis with plain numbers (20, 50, 100) instead of 2x10^1."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if minor_labels:

        def leading(v: float) -> int:
            return round(v / 10 ** np.floor(np.log10(v))) if v > 0 else 0

        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if leading(v) in (2, 5) else ""))
    else:  # a small panel: unlabelled minor ticks at 2 and 5 of each decade only (ticks are most of its drawing)
        ax.xaxis.set_minor_locator(LogLocator(10, subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(NullFormatter())


def axis_title(rows: list[JobResult], metric: str, label: str) -> str:
    """``label`` with the metric's unit from its spec, e.g. ``psnr-y (dB)``."""
    unit = metric_specs(rows).get(metric, {}).get("unit")
    return f"{label} ({unit})" if unit and unit != "1" else label


def rd_figure(
    rows: list[JobResult],
    metric: str,
    axis: Axis,
    anchor: str | None,
    rate: str = "kbps",
    log_rate: bool = True,
    set_values: list[SetValue] | None = None,
    window: tuple[float, float] | None = None,
    points: dict | None = None,
):
    """The curve averaged over the sequences each codec completed (or, for a set-level
    metric such as FVD, the set-level values), every codec in one plot. ``points``: the
    metric's ``rd_points``, where the caller has them already."""
    pts = points if points is not None else rd_points(rows, metric)
    codecs = sorted(set(pts) | {s["codec"] for s in set_values or [] if s["metric"] == metric})
    imported = {r.codec: r.imported["source"] for r in rows if r.imported}
    seeded = {r.codec for r in rows if r.seed is not None}
    fig, ax = _figure(figsize=(6.4, 4.4), dpi=110)
    set_level = False
    for i, codec in enumerate(codecs):
        curve = set_curve(rows, set_values or [], codec, metric, axis, rate, codec)
        if curve is not None:
            set_level = True
        else:
            try:
                curve = averaged_curve(pts[codec], axis, rate, codec).curve
            except (BDError, KeyError):
                continue
        order = curve.rates.argsort()
        style = _style(codec, anchor, i)
        if codec in imported:  # published numbers: dotted, and said so in the legend
            style.update(linestyle=":", label=f"{style['label']} (imported: {imported[codec]})")
        (line,) = ax.plot(curve.rates[order], curve.values[order], **style)
        if not set_level and codec in seeded:
            _seed_band(ax, rows, codec, metric, axis, rate, line.get_color())
    if window:  # the rate window BD values were integrated in
        ax.axvspan(*window, color="0.85", alpha=0.5, zorder=0, label=f"BD window {window[0]:g}..{window[1]:g} {rate}")
    ax.set_xlabel(f"rate ({rate}{', log scale' if log_rate else ''})")
    ax.set_ylabel(axis_title(rows, metric, axis.label))
    ax.set_title(f"{axis.label} vs rate, " + ("set-level over the test set" if set_level else "mean over sequences"))
    if log_rate:
        _log_rate_axis(ax)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _seed_band(ax, rows, codec, metric, axis, rate, color) -> None:
    """The spread of a stochastic codec's averaged curve across its seeds: min to max."""
    from .seeds import rows_for_seed, seeds_of

    seeds = seeds_of([r for r in rows if r["codec"] == codec])
    if len(seeds) < 2:
        return
    curves = []
    for seed in seeds:
        pts = rd_points([r for r in rows_for_seed(rows, seed) if r["codec"] == codec], metric)
        try:
            curves.append(averaged_curve(pts[codec], axis, rate, codec).curve)
        except (BDError, KeyError):
            return
    if len({len(c.rates) for c in curves}) != 1:
        return
    rates = np.mean([np.sort(c.rates) for c in curves], axis=0)
    values = np.array([c.values[c.rates.argsort()] for c in curves])
    ax.fill_between(
        rates,
        values.min(0),
        values.max(0),
        color=color,
        alpha=0.25,
        linewidth=0,
        label=f"{codec}: range over {len(seeds)} seeds",
    )


def small_multiples(
    rows: list[JobResult],
    metric: str,
    axis: Axis,
    anchor: str | None,
    rate: str = "kbps",
    limit: int = MAX_SMALL_MULTIPLES,
    points: dict | None = None,
    reuse=None,
):
    """One small RD plot per sequence, the first ``limit`` sequences by name (a figure of
    thousands of axes takes minutes to draw and nobody reads it; the CSV has them all);
    None when no sequence has a value of ``metric``. ``points``: the metric's ``rd_points``,
    where the caller has them already. ``reuse``: the figure this made for another metric;
    where it shows the same sequences, codecs and rate points its lines take the new values
    and it is returned (its panels and ticks kept: most of a fresh figure's cost), else a new
    figure is made. Either way the caller closes the figures (``close``)."""
    pts = points if points is not None else rd_points(rows, metric)
    imported = {r.codec for r in rows if r.imported}
    every = sorted({s for per in pts.values() for s in per})
    if not every:
        return None
    sequences = every[:limit]
    panels = []  # per sequence: (codec index, codec, rates, values) of each curve, in drawing order
    for seq in sequences:
        curves = []
        for i, codec in enumerate(sorted(pts)):
            if seq in pts[codec]:
                c = sequence_curve(pts[codec][seq], axis, rate, codec)
                order = c.rates.argsort()
                curves.append((i, codec, c.rates[order], c.values[order]))
        panels.append(curves)
    shown = "" if len(sequences) == len(every) else f", first {len(sequences)} of {len(every)} sequences"
    title = f"{axis.label} vs rate ({rate}) per sequence{shown}"
    layout = (tuple(sequences), tuple(tuple((i, codec, len(x)) for i, codec, x, _ in cs) for cs in panels), anchor)
    if reuse is not None and getattr(reuse, "_gvcbench_layout", None) == (layout, frozenset(imported)):
        for ax, curves in zip(reuse.axes, panels):
            for line, (_, _, x, y) in zip(ax.lines, curves):
                line.set_data(x, y)
            ax.relim()
            ax.autoscale_view()
        reuse.suptitle(title, fontsize=10, y=1 - 0.15 / reuse.get_size_inches()[1], va="top")
        return reuse
    from matplotlib.ticker import MaxNLocator

    cols = min(4, max(1, len(sequences)))
    nrows = max(1, math.ceil(len(sequences) / cols))
    margins = GRID_MARGINS
    height = nrows * GRID_CELL[1] + margins["top"] + margins["bottom"]
    fig, axes = _figure(nrows, cols, figsize=(GRID_CELL[0] * cols, height), dpi=100, squeeze=False)
    for k, (seq, curves) in enumerate(zip(sequences, panels)):
        ax = axes[k // cols][k % cols]
        for i, codec, x, y in curves:
            style = _style(codec, anchor, i)
            if codec in imported:
                style.update(linestyle=":", label=f"{style['label']} (imported)")
            ax.plot(x, y, **style)
        ax.set_title(seq, fontsize=9)
        _log_rate_axis(ax, minor_labels=False)
        ax.yaxis.set_major_locator(MaxNLocator(5))  # a small panel reads well with few ticks, and draws faster
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    for k in range(len(sequences), nrows * cols):
        axes[k // cols][k % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8)
    fig.suptitle(title, fontsize=10, y=1 - 0.15 / height, va="top")
    _fixed_grid(fig, nrows, cols, margins)
    fig._gvcbench_layout = (layout, frozenset(imported))
    return fig


def close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


# Small multiples: each cell's size and the margins around the grid, in inches. Fixed rather
# than found by tight_layout, which measures every tick label of every panel (most of the
# time of a 36-panel figure) to arrive at about these.
GRID_CELL = (3.2, 2.4)
GRID_MARGINS = {"left": 0.55, "right": 0.15, "top": 0.75, "bottom": 0.75, "gap_x": 0.5, "gap_y": 0.55}


def _fixed_grid(fig, nrows: int, cols: int, margins: dict) -> None:
    width, height = fig.get_size_inches()
    cell_w = (width - margins["left"] - margins["right"] - margins["gap_x"] * (cols - 1)) / cols
    cell_h = (height - margins["top"] - margins["bottom"] - margins["gap_y"] * (nrows - 1)) / nrows
    fig.subplots_adjust(
        left=margins["left"] / width,
        right=1 - margins["right"] / width,
        bottom=margins["bottom"] / height,
        top=1 - margins["top"] / height,
        wspace=margins["gap_x"] / cell_w,
        hspace=margins["gap_y"] / cell_h,
    )


def save(fig, stem: Path, svg: bool = False, keep: bool = False) -> list[Path]:
    """The figure as a compact PNG (first path: the one the HTML embeds) and, with ``svg``,
    as SVG beside it for papers. The PNG is drawn once by Agg and stored with a 256-colour
    adaptive palette: line plots have few colours, so it looks the same at about a third of
    the bytes (the report embeds every PNG). An SVG costs a second full draw, so it is
    written only when asked for (``gvcbench report --svg``)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    image = Image.fromarray(rgba[..., :3]).quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    paths = [stem.with_suffix(".png")]
    image.save(paths[0], optimize=False, dpi=(fig.dpi, fig.dpi))
    if svg:
        paths.append(stem.with_suffix(".svg"))
        fig.savefig(paths[1])
    if not keep:  # kept: the caller draws it again (small_multiples' reuse) and closes it
        plt.close(fig)
    return paths
