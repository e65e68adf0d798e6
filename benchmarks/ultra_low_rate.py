"""Where generative codecs live: dynamics, vvenc-ldb and vtm-ldb at 5/8/12/15 kbps.

    python benchmarks/ultra_low_rate.py                          # the paper's protocol: 50 frames, every clip
    python benchmarks/ultra_low_rate.py --frames 16 --sequences 2 --vtm-frames 8 --vtm-sequences 1

Runs target-rate ladders (each codec's rate knob searched per sequence for the rate
closest to each target) on ../shared/datasets/scene-dynamics and prints the achieved
rates, then BD-rate in the 5–15 kbps window on VMAF, MS-SSIM and PSNR (LPIPS, DISTS and
FVD where their weights are on this machine). VTM is far slower than vvenc, so it runs
in a store of its own on ``--vtm-sequences`` clips: on the same frames, its store and
the main one are read as one comparison (anchor vtm-ldb); on other frames
(``--vtm-frames``), vvenc-ldb and dynamics run again beside it on exactly those frames,
since BD values only ever compare curves of the same content. Stores stay in
``--output`` and resume.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.datasets import resolve_dataset
from gvcbench.metrics import METRICS
from gvcbench.reports.curves import bd_table
from gvcbench.reports.sources import load_sources

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scene-dynamics"
BASE_METRICS = ["vmaf", "ms-ssim", "psnr-y"]
WEIGHTED = ["lpips", "dists", "fvd"]
console = Console(width=180)


def metrics_here() -> list[str]:
    """The weight-free metrics, and the perceptual ones whose weights are present."""
    return BASE_METRICS + [m for m in WEIGHTED if METRICS.get(m)(device="cpu").availability() is None]


def run_store(out: Path, codecs: list[str], args, frames: int, sequences: int | None, metrics: list[str]):
    source = args.dataset
    if sequences is not None:  # a folder with links to the first clips, so the store's dataset is that subset
        folder = out / "clips"
        folder.mkdir(parents=True, exist_ok=True)
        for spec in resolve_dataset(args.dataset).specs[:sequences]:
            link = folder / Path(spec.path).name
            if not link.exists():
                link.symlink_to(Path(spec.path).resolve())
        source = str(folder)
    entries = []
    for name in codecs:
        entry = {"name": name, "kbps": args.targets, "tolerance": args.tolerance}
        if name == "vvenc-ldb":
            entry["params"] = {"preset": args.vvenc_preset}
        entries.append(entry)
    cfg = config_from_mapping(
        {
            "output": str(out),
            "jobs": args.jobs,
            "metrics": metrics,
            "dataset": {"source": source, "frames": frames},
            "codec": entries,
        }
    )
    started = time.perf_counter()
    summary = run_benchmark(cfg)  # its warnings and progress lines: the logging set up in main()
    return summary, time.perf_counter() - started


def print_targets(title: str, outcomes) -> None:
    table = Table(title=title)
    for col in ("codec", "sequence", "target kbps", "achieved kbps", "error", "knob", "probes", "outcome"):
        table.add_column(col, justify="right" if col in ("target kbps", "achieved kbps", "error", "probes") else "left")
    for o in outcomes:
        table.add_row(
            o.codec,
            o.sequence,
            f"{o.target:g}",
            "-" if o.achieved is None else f"{o.achieved:.2f}",
            "-" if o.achieved is None else f"{100 * (o.achieved / o.target - 1):+.1f} %",
            "-" if o.value is None else f"{o.knob} {o.value}",
            str(len(o.probes)),
            o.status,
        )
    console.print(table)


def print_bd(stores: list[Path], anchor: str, window, metrics: list[str], min_points: int) -> None:
    sources = load_sources(stores)
    rows, sets = sources.rows, sources.set_values
    have = {m for r in rows if r["status"] == "done" for m in (r["metrics"] or {})}
    entries = bd_table(
        rows,
        anchor,
        [m for m in metrics if m in have],
        ("pchip",),
        "kbps",
        min_points,
        sets,
        window=window,
        common=True,
    )
    table = Table(title=f"BD against {anchor}, {entries[0].scope if entries else ''}")
    for col in ("codec", "axis", "BD-rate (avg curve)", "mean per-seq", "BD-metric", "seqs", "interval", "notes"):
        table.add_column(col)
    fmt = lambda v, unit="%": "n/a" if v is None else f"{v:+.2f}{unit}"  # noqa: E731
    for e in entries:
        table.add_row(
            e.codec,
            e.axis,
            fmt(e.avg_curve),
            fmt(e.per_sequence_mean),
            fmt(e.bd_metric, ""),
            str(e.sequences),
            e.interval_text(),
            " | ".join(e.notes),
        )
    console.print(table)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("gvcbench").setLevel(logging.INFO)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default=str(DATASET))
    ap.add_argument("--output", default="runs/ultra-low-rate")
    ap.add_argument("--targets", default="5,8,12,15", help="target kbps, comma-separated")
    ap.add_argument("--window", default="5:15", help="BD window in kbps")
    ap.add_argument("--tolerance", default="0.1", help="fraction, or 'nearest'")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--sequences", type=int, default=None, help="first N clips (default: all)")
    ap.add_argument("--vtm-frames", type=int, default=None, help="frames for the VTM comparison (default: --frames)")
    ap.add_argument("--vtm-sequences", type=int, default=None)
    ap.add_argument("--no-vtm", action="store_true")
    ap.add_argument("--vvenc-preset", default="medium")
    ap.add_argument("--jobs", type=int, default=0)
    ap.add_argument("--min-points", type=int, default=4, help="fewest rate points a BD curve may have")
    args = ap.parse_args()
    args.targets = [float(t) for t in args.targets.split(",")]
    args.tolerance = args.tolerance if args.tolerance == "nearest" else float(args.tolerance)
    lo, hi = (float(v) for v in args.window.split(":"))
    metrics = metrics_here()
    console.print(f"metrics: {', '.join(metrics)}; targets {args.targets} kbps; BD window {lo:g}..{hi:g} kbps")
    out = Path(args.output)
    main_summary, main_wall = run_store(
        out / "main", ["dynamics", "vvenc-ldb"], args, args.frames, args.sequences, metrics
    )
    print_targets(f"achieved rates, {args.frames} frames", main_summary.rate_targets)
    print_bd([out / "main"], "vvenc-ldb", (lo, hi), metrics, args.min_points)
    console.print(
        f"wall time (dynamics + vvenc-ldb, {args.frames} frames): {main_wall:.0f} s, "
        f"{main_summary.done} encodes run now, {main_summary.skipped} reused",
        highlight=False,
    )
    if args.no_vtm:
        return
    frames = args.vtm_frames or args.frames
    same = frames == args.frames
    codecs = ["vtm-ldb"] if same else ["vtm-ldb", "vvenc-ldb", "dynamics"]
    vtm_summary, vtm_wall = run_store(
        out / "vtm",
        codecs,
        args,
        frames,
        args.vtm_sequences if args.vtm_sequences is not None else args.sequences,
        metrics,
    )
    if "vtm-ldb" in vtm_summary.skipped_codecs:
        console.print(f"vtm-ldb skipped: {vtm_summary.skipped_codecs['vtm-ldb']}", highlight=False)
        return
    print_targets(f"achieved rates, {frames} frames (the VTM comparison)", vtm_summary.rate_targets)
    print_bd([out / "vtm", out / "main"] if same else [out / "vtm"], "vtm-ldb", (lo, hi), metrics, args.min_points)
    console.print(
        f"wall time ({' + '.join(codecs)}, {frames} frames): {vtm_wall:.0f} s, "
        f"{vtm_summary.done} encodes run now, {vtm_summary.skipped} reused",
        highlight=False,
    )


if __name__ == "__main__":
    main()
