"""Report pictures: quality-90 WebP by default, pixel-exact with lossless=True."""

import numpy as np
import pytest
from PIL import Image, ImageSequence

from gvcbench.reports import visual

from .conftest import real_clip


def _comparison():
    ref = real_clip(frames=4, size="64x64", clip="bikes.mp4")
    dist = real_clip(frames=4, size="64x64", clip="bikes.mp4", start=1)
    comp = visual.Comparison("bikes", 10.0)
    comp.panels = [
        visual.Panel("original", "64x64", visual._uint8_rgb(ref)),
        visual.Panel("codec", "qp30", visual._uint8_rgb(dist)),
    ]
    return comp, ref


def test_rgb_conversion_in_chunks_equals_the_whole_clip_at_once():
    ref = real_clip(frames=11, size="64x64")
    assert np.array_equal(visual._uint8_rgb(ref, chunk=4), np.rint(ref.rgb() * 255).astype(np.uint8))


def test_lossless_pictures_are_pixel_exact_and_default_ones_are_smaller(tmp_path):
    comp, _ = _comparison()
    frames = visual.animation_frames(comp)
    exact = visual.save_animation(frames, tmp_path / "exact.webp", 25, lossless=True)
    lossy = visual.save_animation(frames, tmp_path / "lossy.webp", 25)
    with Image.open(exact) as im:
        decoded = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
    assert len(decoded) == len(frames)
    for got, want in zip(decoded, frames):
        assert np.array_equal(got, np.asarray(want))
    assert lossy.stat().st_size < exact.stat().st_size
    grid = visual.frames_grid(comp)
    still = visual.save_still(grid, tmp_path / "grid", lossless=True)
    with Image.open(still) as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(grid))
    small = visual.save_still(grid, tmp_path / "grid_q90")
    assert small.stat().st_size < still.stat().st_size


@pytest.mark.slow
def test_two_sequences_whose_names_differ_only_in_replaced_characters_keep_their_own_pictures(tmp_path):
    """Clips 'a b' and 'a_b' of one folder both wrote frames_a_b.webp (and yt_, strip_): the
    report showed one clip's pictures under both headings, and counted figures it no longer had."""
    import hashlib

    from gvcbench.api import report, run
    from gvcbench.datasets.y4m import write_y4m

    clips = tmp_path / "clips"
    clips.mkdir()
    write_y4m(real_clip(frames=2, size="64x64", clip="bikes.mp4"), clips / "a b.y4m")
    write_y4m(real_clip(frames=2, size="64x64", clip="carphone_pristine.mp4"), clips / "a_b.y4m")
    run(
        {
            "dataset": {"source": str(clips)},
            "output": str(tmp_path / "run"),
            "jobs": 1,
            "metrics": ["psnr-y"],
            "codec": [{"name": c, "qps": [30, 40], "params": {"preset": "ultrafast"}} for c in ("x264", "x265")],
        }
    )
    files = report(tmp_path / "run", anchor="x264", output=tmp_path / "rep", resamples=0)
    pictures = sorted(p.name for p in files.images if p.suffix == ".webp")
    assert len(pictures) == len(set(pictures)) == 6 and all(p.is_file() for p in files.images)
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in files.images if p.name.startswith("frames_")}
    assert len(digests) == 2  # each clip's own frames
    md = files.markdown.read_text()
    first, second = md.split("### a_b\n")
    assert "### a b\n" in first and "frames_a_b-" in first.split("### a b\n")[1] and "frames_a_b.webp" in second
