"""Geometry changes applied while loading: centre/offset crop and resize."""
from __future__ import annotations

import re

import numpy as np

from ..errors import DatasetError
from .sequence import Sequence

_CROP = re.compile(r"^(\d+)x(\d+)(?:\+(\d+)\+(\d+))?$")


def parse_size(text: str, what: str = "size") -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", str(text).strip())
    if not m:
        raise DatasetError(f"invalid {what} {text!r}; write it as WIDTHxHEIGHT, e.g. 384x384")
    return int(m.group(1)), int(m.group(2))


def crop(seq: Sequence, spec: str) -> Sequence:
    """``spec``: 'square' (largest centred square), 'WxH' (centred) or 'WxH+X+Y'."""
    if spec == "square":
        side = min(seq.width, seq.height) // 2 * 2
        w, h, x, y = side, side, None, None
    else:
        m = _CROP.match(str(spec).strip())
        if not m:
            raise DatasetError(f"invalid crop {spec!r}; use 'square', 'WxH' or 'WxH+X+Y'")
        w, h = int(m.group(1)), int(m.group(2))
        x = int(m.group(3)) if m.group(3) is not None else None
        y = int(m.group(4)) if m.group(4) is not None else None
    if x is None:
        x, y = (seq.width - w) // 2, (seq.height - h) // 2
    x, y = x // 2 * 2, y // 2 * 2  # keep chroma sited on the same samples
    if w % 2 or h % 2 or w <= 0 or h <= 0:
        raise DatasetError(f"{seq.name}: crop {w}x{h} must have even, positive sizes for 4:2:0")
    if x < 0 or y < 0 or x + w > seq.width or y + h > seq.height:
        raise DatasetError(f"{seq.name}: crop {w}x{h}+{x}+{y} does not fit in {seq.width}x{seq.height}")
    return seq.with_planes(seq.y[:, y:y + h, x:x + w], seq.u[:, y // 2:(y + h) // 2, x // 2:(x + w) // 2],
                           seq.v[:, y // 2:(y + h) // 2, x // 2:(x + w) // 2])


def _resize_plane(plane: np.ndarray, width: int, height: int, peak: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((plane.shape[0], height, width), dtype=plane.dtype)
    for i, frame in enumerate(plane):
        img = Image.fromarray(frame.astype(np.float32), mode="F")
        res = np.asarray(img.resize((width, height), Image.Resampling.LANCZOS))
        out[i] = np.clip(np.rint(res), 0, peak).astype(plane.dtype)
    return out


def resize(seq: Sequence, width: int, height: int) -> Sequence:
    """Lanczos resize of each plane (chroma to half the size)."""
    if width % 2 or height % 2:
        raise DatasetError(f"resize target {width}x{height} must have even sizes for 4:2:0")
    if (width, height) == (seq.width, seq.height):
        return seq
    peak = seq.max_value
    return seq.with_planes(_resize_plane(seq.y, width, height, peak),
                           _resize_plane(seq.u, width // 2, height // 2, peak),
                           _resize_plane(seq.v, width // 2, height // 2, peak))
