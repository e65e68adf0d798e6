"""`gvcbench report`: one self-contained HTML page plus Markdown, CSV and JSON, from a store.

Everything comes from the store (and, for visual comparisons, the original clips and
the reconstructions the run kept). All text that comes from results or file names is
escaped; images are embedded as data URIs so the page makes no network requests.
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..bench.records import JobResult
from ..errors import GvcbenchError, error_summary
from . import matched, overtime, plots, uncertainty, visual
from .bdtables import bd_tables
from .curves import (
    MIN_SHARE,
    BDEntry,
    averaged_curve,
    grouped_notes,
    measured_metrics,
    metric_axes,
    rd_points_of,
    scope_text,
    unmeasured_metrics,
)
from .seeds import seed_spread_text, seed_table
from .sources import load_sources
from .table import bd_frame, frame_table

E = html.escape


@dataclass
class ReportFiles:
    html: Path
    markdown: Path
    csv: Path
    json: Path
    bd_csv: Path | None = None
    images: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    intervals: Path | None = None  # intervals.csv: every BD-rate and set-level interval, with its method
    bd_by_class_csv: Path | None = None  # bdrate_by_class.csv: with --group-by, bdrate.csv's rows per class


# The names of the files a report writes into figures/: rd_, over_time_ and matched_ here,
# frames_, yt_ and strip_ in visual.render (the part after the prefix made by _safe). Used
# only for a report folder whose report.json predates its "figures" list.
FIGURE_NAME = re.compile(r"(?:rd|over_time)_[\w-]+\.(?:png|svg)|matched_[\w-]+\.png|(?:frames|yt|strip)_[\w-]+\.webp")


def earlier_figures(out: Path) -> list[Path]:
    """The figures an earlier report wrote into ``out``/figures, as its report.json lists
    them (older report.json files list none: then the files named as a report names its
    figures). A folder without report.json holds no report of ours: nothing there is ours."""
    try:
        listed = json.loads((out / "report.json").read_text()).get("figures")
    except (OSError, ValueError, AttributeError):
        return []
    figdir = out / "figures"
    if isinstance(listed, list):
        names = [n for n in listed if isinstance(n, str) and n == Path(n).name]
    else:
        names = [p.name for p in figdir.iterdir() if FIGURE_NAME.fullmatch(p.name)] if figdir.is_dir() else []
    return [figdir / n for n in names if (figdir / n).is_symlink() or (figdir / n).is_file()]


BY_CLASS_CSV = "bdrate_by_class.csv"


def _write_by_class_csv(path: Path, group_by: str | None, classes: dict) -> Path | None:
    """bdrate.csv's columns for each class of ``--group-by``, the class first (a column named
    after the manifest field). Without classes, one an earlier report of ours left is removed:
    it would pass for this report's."""
    import pandas as pd

    if not group_by or not classes:
        if path.exists() and (path.parent / "report.json").exists():
            path.unlink()
        return None
    frames = [bd_frame(es).assign(**{group_by: value}) for value, es in classes.items()]
    table = pd.concat(frames, ignore_index=True)
    table[[group_by, *(c for c in table.columns if c != group_by)]].to_csv(path, index=False)
    return path


def clear_old_figures(out: Path) -> None:
    """Remove the figures an earlier report wrote (``earlier_figures``): a figure of a metric
    or sequence this report leaves out (or an SVG it does not ask for) would pass for a
    current one. Every other file is the user's and stays."""
    for path in earlier_figures(out):
        try:
            path.unlink()
        except OSError as exc:
            raise GvcbenchError(
                f"cannot remove the earlier report's figure {path} ({exc.strerror}); "
                "remove it yourself or write the report to another folder (-o)"
            ) from exc


def _data_uri(path: Path) -> str:
    mime = {
        ".png": "image/png",
        ".svg": "image/svg+xml",
        ".webp": "image/webp",
        ".gif": "image/gif",
        ".jpg": "image/jpeg",
    }[path.suffix]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _fmt(v, unit="%") -> str:
    return "n/a" if v is None else f"{v:+.2f}{unit}"


def _bd_html(entries: list[BDEntry], anchor: str, metrics: list[str], axes) -> str:
    codecs = sorted({e.codec for e in entries})
    head = "".join(f"<th>BD-rate on {E(axes[m].label)}</th>" for m in metrics)
    body = []
    for codec in codecs:
        cells = []
        for m in metrics:
            e = next((x for x in entries if x.codec == codec and x.metric == m), None)
            if e is None:
                cells.append("<td>n/a</td>")
                continue
            mark = "<sup>*</sup>" if e.notes else ""
            avg_ci = _ci(e.avg_curve_ci) if e.avg_curve is not None else ""
            per_ci = _ci(e.per_sequence_ci) if e.per_sequence_mean is not None else ""
            cells.append(
                f"<td><b>{E(_fmt(e.avg_curve))}</b> <small>{E(avg_ci)}</small>{mark}<br>"
                f"<small>mean per-seq {E(_fmt(e.per_sequence_mean))} ({E(e.share)} seqs) {E(per_ci)}<br>"
                f"BD-{E(e.axis)} {E(_fmt(e.bd_metric, ''))}<br>"
                f"on {E(e.interval_text())}</small>"
                + (f"<br><small>per seed {E(seed_spread_text(e.per_seed))}</small>" if e.per_seed else "")
                + "</td>"
            )
        source = next((e.imported for e in entries if e.codec == codec and e.imported), None)
        mark = f"<br><small>imported: {E(source)}</small>" if source else ""
        body.append(f"<tr><th>{E(codec)}{mark}</th>{''.join(cells)}</tr>")
    groups = "".join(
        f"<li><b>{E(head)}</b><ul>{''.join(f'<li>{E(n)}</li>' for n in notes)}</ul></li>"
        for head, notes in grouped_notes(entries)
    )
    return (
        f"<table class='bd'><tr><th>codec vs {E(anchor)}</th>{head}</tr>{''.join(body)}</table>"
        f"<p class='hint'>Bold: BD-rate of the RD curve averaged over sequences (rate and metric averaged "
        f"at each rate point, as the Dynamics-Codec paper does); small: mean of per-sequence BD-rates and "
        f"how many of the sequences both codecs have (k of n) gave one; n/a below half. "
        f"PCHIP interpolation; negative means fewer bits than the anchor for the same quality. "
        f"Brackets: {_ci_methods(entries)}. Per seed: mean ± standard deviation of the averaged-curve "
        f"BD-rate computed with each seed of a stochastic codec alone. "
        f"BD-metric (BD-axis): the mean quality difference at equal rate, in the axis' units "
        f"(positive: better than the anchor). "
        f"Under each number: the quality interval of its BD-rate and the rate interval of its BD-metric, "
        f"limited by {E(scope_text(entries))}. "
        f"<sup>*</sup>: see the notes below.</p>"
        + (f"<h3>Notes per codec and metric</h3><ul class='notes'>{groups}</ul>" if groups else "")
    )


def median_rates(rows, sequences: list[str], anchor: str) -> dict[str, float]:
    """Per sequence with finished jobs, the rate its pictures are shown at by default."""
    done: dict[str, list] = {}
    for r in rows:
        if r["status"] == "done" and r["sequence"] in sequences:
            done.setdefault(r["sequence"], []).append(r)
    return {s: visual.median_rate(rs, anchor) for s, rs in done.items()}


def _target_text(target: float | dict[str, float]) -> str:
    if isinstance(target, dict):
        return "the anchor's median rate point on each sequence (its rate in each panel's title)"
    return f"{target:g} kbps"


def _ci(interval) -> str:
    if interval is None:
        return ""
    return interval.text() if interval.ok else f"(no interval: {interval.note})"


def _ci_methods(entries) -> str:
    methods = sorted({c.method for e in entries for c in (e.avg_curve_ci, e.per_sequence_ci) if c is not None and c.ok})
    level = next((c.level for e in entries for c in (e.avg_curve_ci, e.per_sequence_ci) if c is not None), 0.95)
    return f"{100 * level:g} % intervals, " + ("; ".join(methods) if methods else "none computed")


def _spread_html(spread: list[dict], metrics: list[str]) -> str:
    if not spread:
        return ""
    head = "".join(f"<th>{E(m)}</th>" for m in ["kbps", *metrics])

    def cell(v) -> str:
        return "<td>n/a</td>" if v is None else f"<td>{v['mean']:.4f} ± {v['std']:.4f}</td>"

    body = "".join(
        f"<tr><td>{E(s['codec'])}</td><td>{E(s['point'])}</td><td>{len(s['seeds'])}</td>"
        + "".join(cell(s.get(m)) for m in ["kbps", *metrics])
        + "</tr>"
        for s in spread
    )
    return (
        f"<h2>Spread across seeds</h2><table class='rows'><tr><th>codec</th><th>point</th><th>seeds</th>{head}"
        f"</tr>{body}</table><p class='hint'>Stochastic codecs: mean over sequences for each seed, then mean ± "
        f"standard deviation across seeds.</p>"
    )


def _sets_html(sets: list[dict]) -> str:
    if not sets:
        return ""
    body = []
    for s in sets:
        value = "n/a" if s["value"] is None else f"{s['value']:.3f}"
        body.append(
            f"<tr><td>{E(s['codec'])}</td><td>{E(s['metric'])}</td><td>{E(s['point'])}</td><td>{value}</td>"
            f"<td>{E(_ci(s['interval']).replace('%', ''))}</td><td>{s['clips']}</td>"
            f"<td style='text-align:left'>{E(s['interval'].method)}</td></tr>"
        )
    return (
        f"<h2>Set-level values</h2><table class='rows'><tr><th>codec</th><th>metric</th><th>point</th><th>value"
        f"</th><th>interval</th><th>clips</th><th>interval method</th></tr>{''.join(body)}</table>"
    )


def _write_intervals_csv(path: Path, entries: list[BDEntry], sets: list[dict]) -> Path:
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "kind",
                "codec",
                "metric",
                "axis",
                "method",
                "point",
                "value",
                "low",
                "high",
                "level",
                "interval_method",
                "units",
                "note",
                "seed_mean",
                "seed_std",
                "seeds",
            ]
        )
        for e in entries:
            from .seeds import spread

            mean, std, n = spread((e.per_seed or {}).values())
            seeded = [mean, std, n] if e.per_seed else ["", "", ""]
            for kind, value, c in (
                ("bd-rate averaged curve", e.avg_curve, e.avg_curve_ci),
                ("bd-rate mean per sequence", e.per_sequence_mean, e.per_sequence_ci),
            ):
                c = c or uncertainty.Interval(None, None, 0.95, "none", 0, "not computed")
                w.writerow(
                    [
                        kind,
                        e.codec,
                        e.metric,
                        e.axis,
                        e.method,
                        "",
                        value,
                        c.low,
                        c.high,
                        c.level,
                        c.method,
                        c.n,
                        c.note or "",
                        *(seeded if kind.endswith("curve") else ["", "", ""]),
                    ]
                )
        for s in sets:
            c = s["interval"]
            w.writerow(
                [
                    "set-level",
                    s["codec"],
                    s["metric"],
                    "",
                    "",
                    s["point"],
                    s["value"],
                    c.low,
                    c.high,
                    c.level,
                    c.method,
                    c.n,
                    c.note or "",
                    "",
                    "",
                    "",
                ]
            )
    return path


def _point(row: JobResult) -> str:
    return row.point if row.seed is None else f"{row.point} seed {row.seed}"


def _rows_html(rows: list[JobResult], metrics: list[str]) -> str:
    head = "".join(f"<th>{E(m)}</th>" for m in metrics)
    body = []
    nan = float("nan")
    for r in rows:
        if r.status != "done":
            body.append(
                f"<tr class='failed'><td>{E(r.codec)}</td><td>{E(r.sequence)}</td><td>{E(_point(r))}</td>"
                f"<td colspan='{len(metrics) + 2}'>failed: {E((r.error or '').splitlines()[0])}</td></tr>"
            )
            continue
        values = r.metrics or {}
        vals = "".join(f"<td>{values.get(m, nan):.4f}</td>" for m in metrics)
        body.append(
            f"<tr><td>{E(r.codec)}</td><td>{E(r.sequence)}</td><td>{E(_point(r))}</td>"
            f"<td>{r.kbps:.2f}</td><td>{r.bpp:.5f}</td>{vals}</tr>"
        )
    return (
        f"<table class='rows'><tr><th>codec</th><th>sequence</th><th>point</th><th>kbps</th><th>bpp</th>{head}"
        f"</tr>{''.join(body)}</table>"
    )


def _provenance(rows: list[JobResult]) -> dict:
    prov: dict = {}
    seen: set[int] = set()
    for r in rows:
        if id(r.provenance) in seen:  # rows read from a store share equal provenance records
            continue
        seen.add(id(r.provenance))
        for name, p in (r.provenance or {}).items():
            prov.setdefault(name, p)
    return prov


CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}tr.failed td{color:#a00;text-align:left}.hint{color:#555;font-size:90%}
img{max-width:100%;border:1px solid #ddd}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:85%}
figure{margin:1em 0}figcaption{color:#555;font-size:90%}"""


def _report_metrics(rows, set_values, asked: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """(metrics to tabulate and plot: those with values; metrics not measured -> why)."""
    measured = measured_metrics(rows, set_values)
    missing = unmeasured_metrics(rows, set_values)
    if asked:
        unknown = [m for m in asked if m not in measured and m not in missing]
        if unknown:
            raise GvcbenchError(
                f"metric(s) {', '.join(unknown)} have no values in the store; it holds {', '.join(measured) or 'none'}"
            )
        missing = {m: why for m, why in missing.items() if m in asked}
        if not any(m in measured for m in asked):  # a report of nothing: say why, as `bdrate` does
            name = next(m for m in asked if m in missing)
            raise GvcbenchError(f"metric {name!r} was not measured in these jobs: {missing[name]}")
        return [m for m in asked if m in measured], missing
    return measured, missing


def write_report(
    store_location: Path | list[Path],
    anchor: str,
    out: Path,
    metrics: list[str] | None = None,
    sequences: list[str] | None = None,
    rate: str = "kbps",
    target_kbps: float | list[float] | None = None,
    max_visual: int = 3,
    run: str | None = None,
    min_points: int = 4,
    min_share: float = MIN_SHARE,
    resamples: int = uncertainty.DEFAULT_RESAMPLES,
    seed: int = uncertainty.DEFAULT_SEED,
    level: float = uncertainty.DEFAULT_LEVEL,
    lossless: bool = False,
    window: tuple[float, float] | None = None,
    common: bool = False,
    group_by: str | None = None,
    svg: bool = False,
) -> ReportFiles:
    """A report of one store, or of several stores and imported curves read as one comparison
    (reports/sources.py); imported rows take part in BD tables and plots only."""
    locations: list[str | Path] = (
        list(store_location) if isinstance(store_location, (list, tuple)) else [store_location]
    )
    sources = load_sources(locations, run)
    rows, runs, set_values, run_folder = sources.rows, sources.runs, sources.set_values, sources.run_folder
    measured = sources.measured
    if not rows:
        raise GvcbenchError(f"{', '.join(map(str, locations))}: the store holds no jobs")
    axes = metric_axes(rows)
    metrics, missing = _report_metrics(rows, set_values, metrics)
    points = rd_points_of(rows, metrics)  # once, for the BD tables, the figures and report.json
    bd = bd_tables(
        sources,
        anchor,
        metrics,
        ("pchip", "cubic"),
        rate,
        min_points=min_points,
        min_share=min_share,
        resamples=resamples,
        seed=seed,
        level=level,
        window=window,
        common=common,
        group_by=group_by if metrics else None,
        points=points,
    )
    entries, sets, classes = bd.entries, bd.sets, bd.by_class
    spread = seed_table(measured, metrics)
    out.mkdir(parents=True, exist_ok=True)
    figdir = out / "figures"
    figdir.mkdir(exist_ok=True)
    clear_old_figures(out)
    files = ReportFiles(
        out / "report.html",
        out / "report.md",
        out / "results.csv",
        out / "report.json",
        out / "bdrate.csv",
        intervals=out / "intervals.csv",
    )
    files.notes += sources.notes

    # Pictures of the sequences are drawn in the background (decoding and image encoding
    # run in C, mostly without the GIL) while matplotlib draws the RD figures here.
    seq_names = sequences or sorted({r.sequence for r in measured if r.done})[:max_visual]
    if run_folder is None:  # imported results only: no reconstructions to draw
        if seq_names:
            files.notes.append("visual comparisons need a gvcbench run folder (reconstructions); none was given")
        seq_names = []
    picture_folder = run_folder or Path(".")
    targets = (
        list(target_kbps)
        if isinstance(target_kbps, (list, tuple))
        else ([target_kbps] if target_kbps is not None else [])
    )
    with ThreadPoolExecutor(1) as background:
        pictures = background.submit(
            visual.render_all,
            measured,
            seq_names,
            anchor,
            picture_folder,
            figdir,
            targets[0] if targets else None,
            lossless,
        )
        rd_imgs = []
        grid = None  # the per-sequence figure, redrawn for each metric where its layout allows
        for m in metrics:
            paths = plots.save(
                plots.rd_figure(rows, m, axes[m], anchor, rate, set_values=set_values, window=window, points=points[m]),
                figdir / f"rd_{_safe(m)}",
                svg,
            )
            figure = plots.small_multiples(rows, m, axes[m], anchor, rate, points=points[m], reuse=grid)
            if grid is not None and figure is not grid:
                plots.close(grid)
            grid = figure if figure is not None else grid
            multi = (
                plots.save(figure, figdir / f"rd_{_safe(m)}_per_sequence", svg, keep=True) if figure is not None else []
            )
            rd_imgs.append((m, paths[0], multi[0] if multi else None))
            files.images += paths + multi
        if grid is not None:
            plots.close(grid)
        rendered, notes = pictures.result()
    files.notes += notes
    visuals = [(v.comparison, v.grid, v.yt, v.column, v.animation) for v in rendered]
    for v in rendered:
        files.images += [v.grid, v.yt, v.animation]
    matched_imgs = []
    for seq in seq_names if len(targets) > 1 else []:  # every codec at each stated rate (reports/matched.py)
        try:
            grid = matched.matched_rate_grid(matched.comparisons(measured, seq, anchor, picture_folder, targets))
        except (GvcbenchError, OSError) as exc:
            grid = None
            files.notes.append(f"matched-rate comparison of {seq}: {exc}")
        if grid is not None:
            path = figdir / f"matched_{visual.figure_stem(seq)}.png"
            grid.save(path)
            files.images.append(path)
            matched_imgs.append((seq, path))

    time_imgs = []
    for m in metrics:  # per-frame views at matched rates (reports/overtime.py)
        # the first stated rate, or on each sequence the anchor's median rate point there
        target = targets[0] if targets else median_rates(measured, seq_names, anchor)
        fig = overtime.quality_over_time(measured, seq_names, m, target, anchor) if target else None
        if fig is not None:
            paths = plots.save(fig, figdir / f"over_time_{_safe(m)}", svg)
            files.images += paths
            time_imgs.append((m, paths[0], target))

    frame_table(measured).to_csv(files.csv, index=False)
    bd_frame(entries).to_csv(files.bd_csv, index=False)
    files.bd_by_class_csv = _write_by_class_csv(out / BY_CLASS_CSV, group_by, classes)
    _write_intervals_csv(out / "intervals.csv", entries, sets)
    prov = _provenance(measured)
    curves: dict[str, dict] = {}
    for m in metrics:
        pts = points[m]
        curves[m] = {}
        for codec in pts:
            try:
                avg = averaged_curve(pts[codec], axes[m], rate, codec)
            except GvcbenchError:
                continue
            curves[m][codec] = {
                "rate": avg.curve.rates.tolist(),
                "axis_values": avg.curve.values.tolist(),
                "points": avg.points,
                "sequences": avg.sequences,
            }
    payload = {
        "anchor": anchor,
        "rate_unit": rate,
        "generated": time.time(),
        "dataset": sources.dataset_label,
        "axes": {m: axes[m].label for m in metrics},
        "not_measured": missing,
        "bd": [asdict(e) | {"per_sequence_share": e.share} for e in entries],
        "curves": curves,
        "runs": runs,
        "provenance": prov,
        "notes": files.notes,
        "intervals": {
            "resamples": resamples,
            "seed": seed,
            "level": level,
            "unit": "sequences (BD-rate), clips (set-level values)",
        },
        "set_values": [s | {"interval": asdict(s["interval"])} for s in sets],
        "seed_spread": spread,
        "sources": {label: where for label, where in sources.origins.items()},
        "bd_by_class": {"field": group_by, "classes": {v: [asdict(e) for e in es] for v, es in classes.items()}}
        if group_by
        else None,
        "imported": sources.imported,
        "figures": sorted({p.name for p in files.images if p.parent == figdir}),  # what the next report clears
    }
    files.json.write_text(json.dumps(payload, indent=1, default=str))
    pchip = [e for e in entries if e.method == "pchip"]
    extra_html = _spread_html(spread, metrics) + _sets_html(sets)
    files.html.write_text(
        _html(
            runs,
            anchor,
            metrics,
            axes,
            pchip,
            rd_imgs,
            visuals,
            measured,
            prov,
            files.notes,
            missing,
            sources.dataset_label,
            extra_html,
            lossless,
            sources.imported,
            (targets, matched_imgs),
            time_imgs,
            (group_by, {value: [e for e in es if e.method == "pchip"] for value, es in classes.items()}),
        )
    )
    files.markdown.write_text(
        _markdown(anchor, metrics, axes, entries, rd_imgs, visuals, out, files.notes, missing)
        + _markdown_by_class(anchor, group_by, classes)
        + _markdown_failed(rows)
        + _markdown_uncertainty(entries, spread, sets, metrics)
    )
    return files


def _markdown_failed(rows: list[JobResult], shown: int = 20) -> str:
    """The failed jobs of the report, as the HTML page lists them (the first ``shown``)."""
    failed = [r for r in rows if not r.done and not r.is_search_probe]
    if not failed:
        return ""
    lines = ["", f"## Failed jobs ({len(failed)})", ""]
    lines += [f"- {r.codec} / {r.sequence} / {_point(r)}: {error_summary(r.error)}" for r in failed[:shown]]
    if len(failed) > shown:
        lines.append(f"- {len(failed) - shown} more: `gvcbench results` with `-f csv` has every error")
    return "\n".join(lines) + "\n"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def _html(
    runs,
    anchor,
    metrics,
    axes,
    entries,
    rd_imgs,
    visuals,
    rows,
    prov,
    notes,
    missing,
    dataset,
    extra_html="",
    lossless=False,
    imported=None,
    matched_rates=((), ()),
    time_imgs=(),
    by_class=(None, {}),
) -> str:
    env = runs[-1]["environment"] if runs else {}
    meta = {
        "dataset": dataset,
        "runs shown": ", ".join(r["run_id"][:8] for r in runs),
        "last run": runs[-1]["run_id"] if runs else "",
        "config hash": runs[-1]["config_hash"] if runs else "",
        "gvcbench": env.get("gvcbench"),
        "python": env.get("python"),
        "ffmpeg": env.get("ffmpeg"),
        "machine": env.get("platform"),
        "codec versions": "; ".join(f"{k}: {v}" for k, v in (env.get("codecs") or {}).items()),
    }
    meta_html = "".join(
        f"<tr><th>{E(str(k))}</th><td style='text-align:left'>{E(str(v))}</td></tr>" for k, v in meta.items()
    )
    rd_html = "".join(
        f"<figure><img alt='RD curve {E(m)}' src='{_data_uri(main)}'><figcaption>{E(axes[m].label)} "
        f"against rate, averaged over sequences</figcaption></figure>"
        + (f"<figure><img alt='RD curves per sequence {E(m)}' src='{_data_uri(multi)}'></figure>" if multi else "")
        for m, main, multi in rd_imgs
    )
    vis_html = "".join(
        f"<h3>{E(c.sequence)} (closest points to {c.target_kbps:.1f} kbps)</h3>"
        f"<figure><img alt='frames {E(c.sequence)}' src='{_data_uri(grid)}'><figcaption>original and each codec "
        f"at the rate point closest to {c.target_kbps:.1f} kbps; rate under each row</figcaption></figure>"
        f"<figure><img alt='y-t slices {E(c.sequence)}' src='{_data_uri(yt)}'><figcaption>y-t space-time slices: "
        f"columns {col}..{col + visual.SLICE_WIDTH - 1} of every frame, time running left to right"
        "</figcaption></figure>"
        f"<figure><img alt='animation {E(c.sequence)}' src='{_data_uri(anim)}'><figcaption>animated strip "
        f"({'lossless WebP' if lossless else 'WebP quality 90; pixel-exact pictures: gvcbench report --lossless'})"
        f"</figcaption></figure>"
        for c, grid, yt, col, anim in visuals
    )
    if not visuals:  # over-time plots need no reconstruction; the pictures do
        vis_html = "<p>No visual comparison could be drawn (see notes).</p>"
    targets, matched_imgs = matched_rates
    vis_html += "".join(
        f"<h3>{E(seq)}: every codec at {E(', '.join(f'{t:g}' for t in targets))} kbps</h3>"
        f"<figure><img alt='matched rates {E(seq)}' src='{_data_uri(path)}'><figcaption>per stated rate, the "
        f"original and each codec's reconstruction closest to it over 10 frames; the red lines on the first "
        f"frame mark the y-t slice</figcaption></figure>"
        for seq, path in matched_imgs
    )
    vis_html += "".join(
        f"<figure><img alt='{E(m)} over time' src='{_data_uri(path)}'><figcaption>{E(m)} per frame, each codec "
        f"at its rate point closest to {_target_text(target)}</figcaption></figure>"
        for m, path, target in time_imgs
    )
    note_html = "".join(f"<li>{E(n)}</li>" for n in notes)
    missing_html = "".join(f"<li><b>{E(n)}</b>: {E(reason)}</li>" for n, reason in sorted(missing.items()))
    imported_html = "".join(
        f"<li><b>{E(label)}</b>: {E(source)}</li>" for label, source in sorted((imported or {}).items())
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>gvcbench report</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<style>{CSS}</style></head><body>
<h1>gvcbench report</h1>
<table>{meta_html}</table>
<h2>BD-rate against {E(anchor)}</h2>
{_bd_html(entries, anchor, metrics, axes) if metrics else "<p>No metric has values in this store.</p>"}
{extra_html}
{
        "".join(
            f"<h3>{E(by_class[0])} = {E(value)}</h3>{_bd_html(es, anchor, metrics, axes)}"
            for value, es in by_class[1].items()
        )
    }
{f"<h3>Imported curves (published numbers, not measured here)</h3><ul>{imported_html}</ul>" if imported else ""}
{
        f"<h2>Metrics not measured</h2><p class='hint'>No values in the store; not tabulated or plotted.</p>"
        f"<ul>{missing_html}</ul>"
        if missing
        else ""
    }
<h2>Rate-distortion curves</h2>
{rd_html}
<h2>Visual comparison</h2>
{vis_html}
{f"<h3>Notes</h3><ul>{note_html}</ul>" if notes else ""}
<h2>Per-sequence results</h2>
{_rows_html(rows, metrics)}
<h2>Metric provenance</h2>
<pre>{E(json.dumps(prov, indent=1, sort_keys=True))}</pre>
</body></html>
"""


def _cell(text: str) -> str:
    """Text for a cell of a Markdown table: a '|' in a codec label ('x265 | slow') ended the
    cell there and moved every number after it into the next column."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _markdown_bd_table(entries) -> list[str]:
    lines = [
        "| codec | axis | method | BD-rate % (averaged curve) | mean of per-sequence BD-rates % | sequences (k of n) "
        "| BD-metric | interval |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for e in entries:
        codec = _cell(e.codec + (f" (imported: {e.imported})" if e.imported else ""))
        lines.append(
            f"| {codec} | {e.axis} | {e.method} | {_fmt(e.avg_curve)} | {_fmt(e.per_sequence_mean)} | "
            f"{e.share} | {_fmt(e.bd_metric, '')} | {e.interval_text()} |"
        )
    return lines


def _markdown_by_class(anchor, group_by, classes) -> str:
    """One BD table per value of the ``--group-by`` field, as report.html has them."""
    if not group_by:
        return ""
    lines = []
    for value, es in classes.items():
        lines += ["", f"## BD-rate against {anchor}, {group_by} = {value}", "", *_markdown_bd_table(es)]
    return "\n".join(lines) + "\n"


def _markdown(anchor, metrics, axes, entries, rd_imgs, visuals, out, notes, missing) -> str:
    lines = ["# gvcbench report", "", f"## BD-rate against {anchor}", "", *_markdown_bd_table(entries)]
    scope = scope_text(entries)
    lines += [
        "",
        "BD-rate: the mean rate difference at equal quality, in percent; negative means fewer bits "
        "than the anchor for the same quality. BD-metric: the mean quality difference at equal rate, "
        "in the axis' units; positive means better than the anchor (every axis rises with quality). "
        "Averaged curve: rate and metric averaged over sequences at each rate point. The mean of "
        "per-sequence BD-rates is over the k of n sequences that gave one (n/a below the minimum share). "
        f"Intervals: {scope}.",
        "",
    ]
    for head, group in grouped_notes(entries):
        lines += [f"- {head}"] + [f"  - {n}" for n in group]
    if missing:
        lines += ["", "## Metrics not measured", ""] + [f"- {m}: {why}" for m, why in missing.items()]
    lines += ["", "## RD curves", ""]
    for m, main, multi in rd_imgs:
        lines += [f"![{axes[m].label}]({main.relative_to(out)})"]
        if multi:
            lines += [f"![{axes[m].label} per sequence]({multi.relative_to(out)})"]
        lines += [""]
    lines += ["## Visual comparison", ""]
    for c, grid, yt, _col, anim in visuals:
        lines += [
            f"### {c.sequence}",
            "",
            f"![frames]({grid.relative_to(out)})",
            f"![y-t]({yt.relative_to(out)})",
            f"![strip]({anim.relative_to(out)})",
            "",
        ]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _markdown_uncertainty(entries, spread, sets, metrics) -> str:
    lines = [
        "",
        "## Intervals",
        "",
        f"{_ci_methods(entries)}.",
        "",
        "| codec | axis | method | BD-rate (averaged curve) | interval | mean per-seq | interval | per seed |",
        "| --- | --- | --- | ---: | --- | ---: | --- | --- |",
    ]
    for e in entries:
        lines.append(
            f"| {_cell(e.codec)} | {e.axis} | {e.method} | {_fmt(e.avg_curve)} | {_ci(e.avg_curve_ci)} | "
            f"{_fmt(e.per_sequence_mean)} | {_ci(e.per_sequence_ci)} | {seed_spread_text(e.per_seed)} |"
        )
    if spread:
        lines += [
            "",
            "## Spread across seeds",
            "",
            "Mean over sequences per seed; mean ± standard deviation across seeds.",
            "",
            "| codec | point | seeds | " + " | ".join(["kbps", *metrics]) + " |",
            "| --- | --- | ---: | " + " | ".join("---:" for _ in ["kbps", *metrics]) + " |",
        ]
        for s in spread:
            cells = [
                "n/a" if s.get(m) is None else f"{s[m]['mean']:.4f} ± {s[m]['std']:.4f}" for m in ["kbps", *metrics]
            ]
            head = f"| {_cell(s['codec'])} | {_cell(s['point'])} | {len(s['seeds'])} | "
            lines.append(head + " | ".join(cells) + " |")
    if sets:
        lines += [
            "",
            "## Set-level values",
            "",
            "| codec | metric | point | value | interval | clips | interval method |",
            "| --- | --- | --- | ---: | --- | ---: | --- |",
        ]
        for s in sets:
            v = "n/a" if s["value"] is None else f"{s['value']:.3f}"
            lines.append(
                f"| {_cell(s['codec'])} | {s['metric']} | {_cell(s['point'])} | {v} | "
                f"{_ci(s['interval']).replace('%', '')} | {s['clips']} | {s['interval'].method} |"
            )
    return "\n".join(lines) + "\n"
