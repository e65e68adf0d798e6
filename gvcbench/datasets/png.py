"""Folders of PNG frames (frame order = sorted file names).

PNG holds RGB, so reading converts to 4:2:0 with the documented matrix and range
(``rgb_to_yuv420``), and writing renders RGB with ``Sequence.rgb``. A folder written by
``write_png_folder`` and read back gives identical RGB pixels; the YUV planes differ
from the original by the rounding of that conversion. A folder with 16-bit frames (grey,
RGB or RGBA) becomes a 10-bit sequence; 8-bit frames make an 8-bit one.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .sequence import ColourInfo, Sequence, frame_rate, rgb_to_yuv420


def png_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())


DEEP_PNG_BIT_DEPTH = 10  # the sequence a folder of 16-bit frames becomes


def _read_png(path: Path) -> np.ndarray:
    """(H, W, 3) RGB: uint8 for an 8-bit frame, uint16 for a 16-bit one."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if any(";16" in str(tile.args) for tile in im.tile):
                return _read_png_16_bit(path)
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # not a PNG, truncated, huge
        raise DatasetError(
            f"{path}: cannot be read as a PNG frame ({exc}); replace or remove this file "
            f"(every .png file in the folder is taken as a frame, in name order)"
        ) from None


def _read_png_16_bit(path: Path) -> np.ndarray:
    """A 16-bit frame as uint16 RGB. Pillow clips 16-bit grey to 255 when it converts to
    RGB (a gradient became white) and keeps only the high byte of 16-bit RGB; OpenCV reads
    the samples as they are."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint16:
        raise ValueError("OpenCV cannot read it as 16-bit samples")
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., 2::-1])  # BGR(A) -> RGB


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
    h, w = images[0].shape[:2]
    if h % 2 or w % 2:
        raise DatasetError(f"{folder}: frames are {w}x{h}; 4:2:0 needs even sizes (crop one row/column)")
    deep = any(im.dtype == np.uint16 for im in images)
    depth = DEEP_PNG_BIT_DEPTH if deep else 8
    rgb = np.stack([im.astype(np.float64) / np.iinfo(im.dtype).max for im in images]) if deep else np.stack(images)
    colour = colour or ColourInfo()
    y, u, v = rgb_to_yuv420(rgb, depth, colour)
    return Sequence(name or folder.name, y, u, v, frame_rate(fps), depth, colour)


def write_png_folder(seq: Sequence, folder: str | Path) -> Path:
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digits = max(4, len(str(seq.num_frames)))
    for i in range(seq.num_frames):
        rgb = np.rint(seq.rgb(i, i + 1)[0] * 255).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"{i:0{digits}d}.png")
    return folder
