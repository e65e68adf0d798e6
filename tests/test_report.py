"""The report from a real run: files, escaping, and the page in a real headless Chromium."""

import json
import shutil
import subprocess
import sys

import pytest

import gvcbench
from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.runner import run_benchmark
from gvcbench.datasets.y4m import write_y4m
from gvcbench.reports.report import clear_old_figures, write_report

from .conftest import real_clip

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ODD_NAME = "<img src=x onerror=alert(1)>&amp"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    clips = root / "clips"
    clips.mkdir()
    write_y4m(real_clip(frames=4, size="64x64"), clips / "bunny.y4m")
    write_y4m(real_clip(frames=4, size="64x64", clip="bikes.mp4", start=20), clips / f"{ODD_NAME}.y4m")
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(clips)},
            "output": str(root / "run"),
            "jobs": 2,
            "metrics": ["psnr-y", "psnr-yuv"],
            "codec": [
                {"name": "x264", "qps": [26, 32, 38, 44], "params": {"preset": "ultrafast"}},
                {"name": "x265", "qps": [26, 32, 38, 44], "params": {"preset": "ultrafast"}},
            ],
        }
    )
    summary = run_benchmark(cfg)
    assert summary.failed == 0
    return root / "run"


@pytest.fixture(scope="module")
def report(run_folder, tmp_path_factory):
    return write_report(run_folder, "x264", tmp_path_factory.mktemp("out"))


@pytest.mark.slow
def test_report_files_and_content(report):
    page = report.html.read_text()
    assert "BD-rate on psnr-y" in page and "x265" in page
    assert ODD_NAME not in page and "&lt;img src=x onerror=alert(1)&gt;&amp;amp" in page  # escaped everywhere
    assert "http://" not in page and "https://" not in page  # nothing fetched from the network
    data = json.loads(report.json.read_text())
    assert {e["method"] for e in data["bd"]} == {"pchip", "cubic"}
    assert set(data["curves"]["psnr-y"]) == {"x264", "x265"}
    md = report.markdown.read_text()
    assert "| x265 | psnr-y | pchip |" in md
    # what a reader pasting the table into a paper needs: the sign convention and the BD-metric
    assert "negative means fewer bits than the anchor for the same quality" in " ".join(md.split())
    for e in data["bd"]:  # the HTML table shows the BD-metric too (n/a where the rates do not overlap)
        if e["method"] == "pchip":
            assert f"BD-{e['axis']} {'n/a' if e['bd_metric'] is None else format(e['bd_metric'], '+.2f')}<" in page
    assert report.csv.read_text().count("\n") == 17  # header + 16 jobs
    kinds = {p.suffix for p in report.images}
    assert {".png", ".webp"} <= kinds and ".svg" not in kinds  # SVG only on request (--svg)


@pytest.mark.slow
def test_svg_figures_on_request(run_folder, tmp_path):
    from xml.etree import ElementTree

    from PIL import Image

    files = write_report(run_folder, "x264", tmp_path / "out", resamples=0, svg=True)
    svgs = [p for p in files.images if p.suffix == ".svg"]
    pngs = [p for p in files.images if p.suffix == ".png"]
    assert svgs and {p.with_suffix(".png") for p in svgs} <= set(pngs)  # beside every figure's PNG
    assert ElementTree.parse(svgs[0]).getroot().tag.endswith("svg")
    with Image.open(pngs[0]) as png:  # the embedded PNG: a palette image of the figure's size
        assert png.mode == "P" and png.size[0] > 300


@pytest.mark.slow
def test_missing_reconstructions_are_a_note_not_a_crash(run_folder, tmp_path):
    shutil.copytree(run_folder, tmp_path / "copy")
    for mkv in (tmp_path / "copy").rglob("reconstruction.mkv"):
        mkv.unlink()
    files = write_report(tmp_path / "copy", "x264", tmp_path / "out")
    assert any("reconstruction" in n and "missing" in n for n in files.notes)
    assert "No visual comparison could be drawn" in files.html.read_text()


@pytest.mark.slow
def test_a_second_report_into_the_same_folder_leaves_only_its_own_figures(run_folder, tmp_path):
    """A report used to leave the figures of an earlier one in figures/ (its SVGs, metrics and
    sequences it no longer shows): stale numbers beside current ones. A user's files stay."""
    figures = tmp_path / "rep" / "figures"
    rows = gvcbench.open_store(run_folder).rows
    kbps = sorted({round(r.kbps) for r in rows if r.codec == "x265" and r.sequence == "bunny"})
    first = write_report(run_folder, "x264", tmp_path / "rep", resamples=0, svg=True, target_kbps=kbps[1:3])
    assert {p.name for p in first.images} >= {"rd_psnr-yuv.svg", "matched_bunny.png", "strip_bunny.webp"}
    (figures / "my notes.txt").write_text("mine")
    (figures / "rd_curve.png").write_text("mine too")  # named like a figure, but no report wrote it
    (figures / "drafts").mkdir()
    second = write_report(run_folder, "x264", tmp_path / "rep", resamples=0, metrics=["psnr-y"], sequences=["bunny"])
    users = {figures / "my notes.txt", figures / "rd_curve.png", figures / "drafts"}
    assert set(figures.iterdir()) == set(second.images) | users
    assert len(second.images) < len(first.images) and (figures / "rd_curve.png").read_text() == "mine too"
    # a folder with no report of ours in it: its figures/ is the user's alone
    paper = tmp_path / "paper"
    (paper / "figures").mkdir(parents=True)
    (paper / "figures" / "rd_psnr-y.png").write_text("the paper's")
    write_report(run_folder, "x264", paper, resamples=0, metrics=["psnr-yuv"], sequences=["bunny"], max_visual=0)
    assert (paper / "figures" / "rd_psnr-y.png").read_text() == "the paper's"


def test_only_the_figures_an_earlier_report_wrote_are_cleared(tmp_path):
    figures = tmp_path / "figures"
    figures.mkdir()
    ours = ["rd_psnr-y.png", "rd_psnr-y.svg", "rd_ms-ssim_per_sequence.png", "over_time_vmaf.svg",
            "matched_bunny.png", "frames_bunny.webp", "yt_a_b.webp", "strip_bunny.webp"]  # fmt: skip
    theirs = ["rd_psnr-y.pdf", "my_rd_psnr-y.png", "frames_bunny.png", "rd_.png", "notes.txt", "rd_x y.png"]
    for name in ours + theirs:
        (figures / name).write_bytes(b"x")
    (figures / "rd_sub.png").mkdir()  # a folder with a figure's name is not ours either
    (tmp_path / "escape.png").write_bytes(b"x")
    clear_old_figures(tmp_path)  # no report.json: no report of ours was written here
    assert len(list(figures.iterdir())) == len(ours) + len(theirs) + 1
    listed = ["rd_psnr-y.png", "yt_a_b.webp", "../escape.png", "never-written.png", 7]
    (tmp_path / "report.json").write_text(json.dumps({"figures": listed}))
    clear_old_figures(tmp_path)  # the figures its report.json lists, inside figures/ only
    assert not (figures / "rd_psnr-y.png").exists() and not (figures / "yt_a_b.webp").exists()
    assert (tmp_path / "escape.png").exists() and len(list(figures.iterdir())) == len(ours) + len(theirs) - 1
    (tmp_path / "report.json").write_text(json.dumps({"anchor": "x264"}))  # written before reports listed them
    clear_old_figures(tmp_path)
    assert sorted(p.name for p in figures.iterdir()) == sorted([*theirs, "rd_sub.png"])


@pytest.mark.slow
def test_report_cli(run_folder, tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "gvcbench",
            "report",
            str(run_folder),
            "--anchor",
            "x264",
            "-o",
            str(tmp_path / "rep"),
            "--sequences",
            "bunny",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rep" / "report.html").is_file()
    r = subprocess.run(
        [sys.executable, "-m", "gvcbench", "bdrate", str(run_folder), "--anchor", "x264"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "x265" in r.stdout and "psnr-y" in r.stdout


@pytest.mark.slow
def test_report_and_bdrate_take_the_same_fewest_points(run_folder, tmp_path):
    """A 3-point curve gets a BD-rate from `report --min-points 3` as from `bdrate` (report had
    no such option); fewer than 2 points is refused by both."""
    three = tmp_path / "run"
    shutil.copytree(run_folder, three)
    import sqlite3

    db = sqlite3.connect(three / "results.sqlite")
    with db:
        db.execute("DELETE FROM jobs WHERE codec = 'x265' AND qp = 44")
    db.close()
    bd = gvcbench.report(three, "x264", tmp_path / "rep", min_points=3, resamples=0).bd_csv.read_text()
    header, *rows = [line.split(",") for line in bd.splitlines()]
    (row,) = [r for r in rows if r[:2] == ["x265", "psnr-y"] and "pchip" in r]
    assert float(row[header.index("avg_curve")]) < 0, bd  # a value, not n/a
    for command in ("bdrate", "report"):
        r = subprocess.run(
            [sys.executable, "-m", "gvcbench", command, str(three), "--anchor", "x264", "--min-points", "1"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert r.returncode == 2 and "--min-points must be a whole number of at least 2" in r.stderr, r.stderr


@pytest.mark.slow
@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian chromium and chromium-driver are not installed")
def test_report_in_headless_chromium(report, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1400,2000",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.get(report.html.as_uri())
        state = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);"
        )
        assert len(state) >= 9
        broken = [s for s in state if not (s[1] and s[2] > 0 and s[3] > 0)]
        assert not broken, f"images not decoded: {broken}"
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10000
    finally:
        driver.quit()


@pytest.mark.slow
def test_matched_rate_comparison_at_several_targets(run_folder, tmp_path):
    import numpy as np
    from PIL import Image

    from gvcbench.bench.store import ResultStore
    from gvcbench.reports import matched

    with ResultStore(run_folder, create=False) as store:
        rows = [r for r in store.records() if r["sequence"] == "bunny"]
    targets = sorted({round(r["kbps"]) for r in rows if r["codec"] == "x265"})[1:3]
    comps = matched.comparisons(rows, "bunny", "x264", run_folder, targets)
    for comp, target in zip(comps, targets):
        for panel in comp.panels[1:]:
            mine = [r for r in rows if r["codec"] == panel.label]
            best = min(mine, key=lambda r: abs(np.log(r["kbps"] / target)))
            assert panel.caption.startswith(f"{best['point']}, ")
    grid = np.asarray(matched.matched_rate_grid(comps))
    x = matched.slice_x(64)
    assert x == 30
    # The original's first frame in the first block carries the red slice marks; the others not.
    assert (grid[:, x - 1] == [255, 0, 0]).all(axis=-1).sum() >= 64 * len(comps) * 3
    assert not (grid[:, 64 + x - 1] == [255, 0, 0]).all(axis=-1).any()
    files = write_report(run_folder, "x264", tmp_path / "rep", sequences=["bunny"], target_kbps=targets)
    png = tmp_path / "rep" / "figures" / "matched_bunny.png"
    assert png in files.images and Image.open(png).size == (grid.shape[1], grid.shape[0])
    assert f"every codec at {targets[0]:g}, {targets[1]:g} kbps" in files.html.read_text()


@pytest.mark.slow
def test_quality_over_time_at_matched_rates(run_folder, tmp_path):
    from gvcbench.bench.store import ResultStore
    from gvcbench.reports import overtime

    with ResultStore(run_folder, create=False) as store:
        rows = store.records()
    x265 = sorted((r for r in rows if r["codec"] == "x265" and r["sequence"] == "bunny"), key=lambda r: r["kbps"])
    picked = overtime.closest_rows(rows, "bunny", "psnr-y", x265[1]["kbps"] * 1.01)
    assert picked["x265"]["job_key"] == x265[1]["job_key"] and set(picked) == {"x264", "x265"}
    fig = overtime.quality_over_time(rows, ["bunny"], "psnr-y", x265[1]["kbps"], "x264")
    lines = fig.axes[0].get_lines()
    assert [list(line.get_ydata()) for line in lines if line.get_label().startswith("x265")] == [
        x265[1]["frame_metrics"]["psnr-y"]
    ]
    assert fig.axes[0].get_ylabel() == "psnr-y (dB)"
    files = write_report(run_folder, "x264", tmp_path / "rep", metrics=["psnr-y"], sequences=["bunny"])
    assert tmp_path / "rep" / "figures" / "over_time_psnr-y.png" in files.images
    assert "psnr-y per frame, each codec at its rate point closest to" in files.html.read_text()
    # without a stated rate each sequence's panel uses that sequence's own rate (the anchor's
    # median point there), not the first sequence's: the clips' rates differ
    seqs = sorted({r["sequence"] for r in rows})
    median = {s: sorted(r["kbps"] for r in rows if r["codec"] == "x264" and r["sequence"] == s)[1] for s in seqs}
    fig = overtime.quality_over_time(rows, seqs, "psnr-y", median, "x264")
    for ax, s in zip(fig.axes, seqs):
        x264 = next(line for line in ax.get_lines() if line.get_label().startswith("x264"))
        assert x264.get_label().endswith(f"{median[s]:.1f} kbps") and f"closest to {median[s]:g} kbps" in ax.get_title()


@pytest.mark.slow
def test_rd_axes_carry_the_metrics_unit(run_folder):
    from gvcbench.metrics.axes import parse_axis
    from gvcbench.reports.plots import rd_figure

    rows = gvcbench.open_store(run_folder).rows
    fig = rd_figure(rows, "psnr-y", parse_axis("x", "psnr-y"), "x264")
    assert fig.axes[0].get_ylabel() == "psnr-y (dB)"
    assert fig.axes[0].get_xlabel() == "rate (kbps, log scale)"
    # a codec keeps its colour whatever else is plotted (the colour cycle used to shift)
    alone = rd_figure([r for r in rows if r["codec"] == "x265"], "psnr-y", parse_axis("x", "psnr-y"), None)

    def colour(f, label):
        return next(line.get_color() for line in f.axes[0].get_lines() if line.get_label().startswith(label))

    assert colour(fig, "x265") == colour(alone, "x265") == "#ff7f0e"
