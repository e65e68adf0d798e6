"""Geometry changes applied while loading: centre/offset crop and resize."""

from __future__ import annotations

import re

import numpy as np

from ..errors import DatasetError
from .sequence import Sequence

_CROP = re.compile(r"^(\d+)x(\d+)(?:\+(\d+)\+(\d+))?$")


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", str(text).strip())
    if not m:
        raise DatasetError(f"invalid size {text!r}; write it as WIDTHxHEIGHT, e.g. 384x384")
    w, h = int(m.group(1)), int(m.group(2))
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise DatasetError(f"invalid size {text!r}; 4:2:0 needs even, positive sizes, e.g. 384x384")
    return w, h


def parse_crop(spec: str) -> tuple[int, int, int | None, int | None] | None:
    """``None`` for 'square', else (w, h, x, y) with x, y None for a centred crop."""
    if spec == "square":
        return None
    m = _CROP.match(str(spec).strip())
    if not m:
        raise DatasetError(f"invalid crop {spec!r}; use 'square', 'WxH' (centred) or 'WxH+X+Y', e.g. 288x288")
    w, h = int(m.group(1)), int(m.group(2))
    if w % 2 or h % 2 or w <= 0 or h <= 0:
        raise DatasetError(f"invalid crop {spec!r}; 4:2:0 needs even, positive sizes")
    x = int(m.group(3)) if m.group(3) is not None else None
    y = int(m.group(4)) if m.group(4) is not None else None
    if (x or 0) % 2 or (y or 0) % 2:  # it was rounded down without a word
        even = f"{w}x{h}+{(x or 0) // 2 * 2}+{(y or 0) // 2 * 2}"
        raise DatasetError(f"invalid crop {spec!r}; 4:2:0 needs even offsets (one chroma sample per two), e.g. {even}")
    return w, h, x, y


def protocol_problem(key: str, value) -> str | None:
    """Why a cut option (start, frames, crop, size) has an invalid value; None when it is valid.

    The one check behind the command line, run configs, manifests and ``SequenceSpec``.
    """
    if value is None:
        return None
    whole = isinstance(value, int) and not isinstance(value, bool)
    if key == "start" and not (whole and value >= 0):
        return f"start must be a whole number >= 0 (the first frame, 0-based), got {value!r}"
    if key == "frames" and not (whole and value >= 1):
        return f"frames must be a whole number >= 1, got {value!r}"
    if key in ("crop", "size"):
        if not isinstance(value, str):
            return f"{key} must be a string such as '384x384', got {value!r}"
        try:
            parse_crop(value) if key == "crop" else parse_size(value)
        except DatasetError as exc:
            return str(exc)
    return None


def crop(seq: Sequence, spec: str) -> Sequence:
    """``spec``: 'square' (largest centred square), 'WxH' (centred) or 'WxH+X+Y'."""
    parsed = parse_crop(spec)
    if parsed is None:
        side = min(seq.width, seq.height) // 2 * 2
        w, h, x, y = side, side, None, None
    else:
        w, h, x, y = parsed
    if x is None or y is None:
        x, y = (seq.width - w) // 2, (seq.height - h) // 2
    x, y = x // 2 * 2, y // 2 * 2  # keep chroma sited on the same samples
    if x < 0 or y < 0 or x + w > seq.width or y + h > seq.height:
        raise DatasetError(f"{seq.name}: crop {w}x{h}+{x}+{y} does not fit in {seq.width}x{seq.height}")
    return seq.with_planes(
        seq.y[:, y : y + h, x : x + w],
        seq.u[:, y // 2 : (y + h) // 2, x // 2 : (x + w) // 2],
        seq.v[:, y // 2 : (y + h) // 2, x // 2 : (x + w) // 2],
    )


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
    return seq.with_planes(
        _resize_plane(seq.y, width, height, peak),
        _resize_plane(seq.u, width // 2, height // 2, peak),
        _resize_plane(seq.v, width // 2, height // 2, peak),
    )
