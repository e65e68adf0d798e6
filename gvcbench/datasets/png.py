"""Folders of PNG frames (frame order = sorted file names).

PNG holds RGB, so reading converts to 4:2:0 with the documented matrix and range
(``rgb_to_yuv420``), and writing renders RGB with ``Sequence.rgb``. A folder written by
``write_png_folder`` and read back gives identical RGB pixels; the YUV planes differ
from the original by the rounding of that conversion.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .sequence import ColourInfo, Sequence, rgb_to_yuv420


def png_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # not a PNG, truncated, huge
        raise DatasetError(
            f"{path}: cannot be read as a PNG frame ({exc}); replace or remove this file "
            f"(every .png file in the folder is taken as a frame, in name order)"
        ) from None


def read_png_folder(
    folder: str | Path,
    fps: float | Fraction = 25,
    start: int = 0,
    frames: int | None = None,
    name: str | None = None,
    colour: ColourInfo | None = None,
) -> Sequence:
    folder = Path(folder)
    files = png_files(folder)
    if not files:
        raise DatasetError(f"{folder}: no .png files in this folder")
    count = len(files) - start if frames is None else frames
    if start >= len(files) or start + count > len(files) or count <= 0:
        raise DatasetError(f"{folder}: asked for {count} frames from frame {start}, the folder has {len(files)}")
    images = [_read_png(path) for path in files[start : start + count]]
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        first = images[0].shape
        odd, im = next((path, im) for path, im in zip(files[start:], images) if im.shape != first)
        raise DatasetError(
            f"{folder}: frames differ in size ({odd.name} is {im.shape[1]}x{im.shape[0]}, "
            f"{files[start].name} is {first[1]}x{first[0]}); all frames of a sequence must "
            f"have one size"
        )
    rgb = np.stack(images)
    h, w = rgb.shape[1:3]
    if h % 2 or w % 2:
        raise DatasetError(f"{folder}: frames are {w}x{h}; 4:2:0 needs even sizes (crop one row/column)")
    colour = colour or ColourInfo()
    y, u, v = rgb_to_yuv420(rgb, 8, colour)
    return Sequence(name or folder.name, y, u, v, Fraction(fps), 8, colour)


def write_png_folder(seq: Sequence, folder: str | Path) -> Path:
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digits = max(4, len(str(seq.num_frames)))
    for i in range(seq.num_frames):
        rgb = np.rint(seq.rgb(i, i + 1)[0] * 255).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"{i:0{digits}d}.png")
    return folder
