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
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")


def read_png_folder(folder: str | Path, fps: float | Fraction = 25, start: int = 0,
                    frames: int | None = None, name: str | None = None,
                    colour: ColourInfo | None = None) -> Sequence:
    from PIL import Image

    folder = Path(folder)
    files = png_files(folder)
    if not files:
        raise DatasetError(f"{folder}: no .png files in this folder")
    count = len(files) - start if frames is None else frames
    if start >= len(files) or start + count > len(files) or count <= 0:
        raise DatasetError(f"{folder}: asked for {count} frames from frame {start}, the folder has {len(files)}")
    images = []
    for path in files[start:start + count]:
        with Image.open(path) as im:
            images.append(np.asarray(im.convert("RGB")))
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise DatasetError(f"{folder}: frames differ in size: {sorted(shapes)}")
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
