"""Raw planar YUV 4:2:0 files (.yuv): 8-bit, or 16-bit little-endian words for 9..16 bits."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .sequence import ColourInfo, Sequence, decimal_rate, frame_rate

# name_WxH_FPS[_10bit|_8bit] as used in JVET/MPEG test material, e.g. BasketballDrive_1920x1080_50.yuv
_NAME = re.compile(r"_(\d+)x(\d+)_(\d+(?:\.\d+)?)(?:fps)?(?:_(\d+)bit)?(?:_|\.|$)", re.IGNORECASE)


def parse_yuv_name(path: str | Path) -> dict:
    """Width, height, fps (and bit depth when named) from a conventional file name."""
    m = _NAME.search(Path(path).name)
    if not m:
        raise DatasetError(
            f"{path}: cannot tell the size of a raw .yuv file from its name; name it like "
            f"'clip_1920x1080_25.yuv' or give width, height and fps explicitly"
        )
    info = {"width": int(m.group(1)), "height": int(m.group(2)), "fps": decimal_rate(m.group(3))}
    if m.group(4):
        info["bit_depth"] = int(m.group(4))
    return info


def _named_bit_depth(path: Path) -> int | None:
    m = _NAME.search(path.name)
    return int(m.group(4)) if m and m.group(4) else None


def _frame_geometry(width: int, height: int, bit_depth: int) -> tuple[int, np.dtype]:
    bytes_per_sample = 1 if bit_depth == 8 else 2
    return width * height * 3 // 2 * bytes_per_sample, np.dtype(np.uint8 if bit_depth == 8 else "<u2")


def read_yuv(
    path: str | Path,
    width: int | None = None,
    height: int | None = None,
    fps: float | Fraction | None = None,
    bit_depth: int | None = None,
    colour: ColourInfo | None = None,
    start: int = 0,
    frames: int | None = None,
    name: str | None = None,
) -> Sequence:
    path = Path(path)
    if width is None or height is None or fps is None:
        parsed = parse_yuv_name(path)
        width = width or parsed["width"]
        height = height or parsed["height"]
        fps = fps or parsed["fps"]
        bit_depth = bit_depth or parsed.get("bit_depth")
    elif bit_depth is None:  # size and rate given (a manifest): a name's _10bit still counts
        bit_depth = _named_bit_depth(path)
    depth_named = bit_depth is not None
    bit_depth = bit_depth or 8
    if width <= 0 or height <= 0:
        raise DatasetError(
            f"{path}: a frame size of {width}x{height} is impossible; give the real width and "
            f"height (in the file name, e.g. clip_1920x1080_25.yuv, or in a manifest)"
        )
    if width % 2 or height % 2:
        raise DatasetError(f"{path}: 4:2:0 needs even width and height, got {width}x{height}")
    frame_bytes, dtype = _frame_geometry(width, height, bit_depth)
    size = path.stat().st_size
    if size % frame_bytes:
        raise DatasetError(
            f"{path}: file size {size} bytes is not a whole number of {width}x{height} "
            f"{bit_depth}-bit 4:2:0 frames ({frame_bytes} bytes each; {size / frame_bytes:.3f} frames). "
            f"Check width, height and bit depth."
        )
    total = size // frame_bytes
    if start >= total:
        raise DatasetError(f"{path}: start frame {start} but the file holds {total} frames")
    count = total - start if frames is None else frames
    if count <= 0 or start < 0:
        raise DatasetError(f"{path}: asked for {count} frames from frame {start}; give frames >= 1 and start >= 0")
    if start + count > total:
        raise DatasetError(f"{path}: asked for {count} frames from frame {start}, the file holds {total}")
    raw: np.ndarray = np.fromfile(
        path, dtype=dtype, count=count * frame_bytes // np.dtype(dtype).itemsize, offset=start * frame_bytes
    )
    if not depth_named:
        _refuse_deep_samples_read_as_8_bit(path, raw, width, height)
    y, u, v = split_planes(raw, count, width, height)
    if bit_depth > 8:
        y, u, v = (p.astype(np.uint16) for p in (y, u, v))
    return Sequence(name or path.stem, y, u, v, frame_rate(fps), bit_depth, colour or ColourInfo())


def _refuse_deep_samples_read_as_8_bit(path: Path, raw: np.ndarray, width: int, height: int) -> None:
    """A 10-bit file whose bit depth nobody named is read as 8-bit: twice the frames, each
    half garbage, and plausible numbers. Its every second byte is the high byte of a sample
    (below 16 up to 12 bits) while the others span the range; 8-bit pictures never look so."""
    high, low = raw[1::2], raw[::2]
    if high.size and int(high.max()) < 16 and int(low.max()) >= 16:
        raise DatasetError(
            f"{path}: read as 8-bit (no bit depth given), but every second byte is below 16, as in "
            f"16-bit little-endian samples of 9 to 12 bits; name the file like "
            f"'clip_{width}x{height}_25_10bit.yuv' or give bit_depth = 10 in the manifest"
        )


def split_planes(raw: np.ndarray, count: int, width: int, height: int):
    frames = raw.reshape(count, -1)
    ysz, csz = width * height, (width // 2) * (height // 2)
    y = frames[:, :ysz].reshape(count, height, width)
    u = frames[:, ysz : ysz + csz].reshape(count, height // 2, width // 2)
    v = frames[:, ysz + csz :].reshape(count, height // 2, width // 2)
    return y, u, v


def frame_bytes_of(seq: Sequence, index: int) -> bytes:
    dtype = np.uint8 if seq.bit_depth == 8 else np.dtype("<u2")
    return b"".join(np.ascontiguousarray(p[index], dtype=dtype).tobytes() for p in (seq.y, seq.u, seq.v))


def write_yuv(seq: Sequence, path: str | Path) -> Path:
    path = Path(path)
    with open(path, "wb") as f:
        for i in range(seq.num_frames):
            f.write(frame_bytes_of(seq, i))
    return path
