"""YUV4MPEG2 (.y4m) files, 4:2:0 only, 8 to 16 bits."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from .sequence import ColourInfo, Sequence
from .yuv import frame_bytes_of, split_planes

_CHROMA_BY_DEPTH = {8: "420jpeg", 9: "420p9", 10: "420p10", 12: "420p12", 14: "420p14", 16: "420p16"}
_DEPTH_BY_CHROMA = {
    "420": 8,
    "420jpeg": 8,
    "420paldv": 8,
    "420mpeg2": 8,
    "420p9": 9,
    "420p10": 10,
    "420p12": 12,
    "420p14": 14,
    "420p16": 16,
}


def _header_number(tok: str, path: Path) -> int:
    try:
        value = int(tok[1:])
    except ValueError:
        value = 0
    if value <= 0:
        what = "width" if tok[0] == "W" else "height"
        raise DatasetError(
            f"{path}: broken Y4M header: {tok[0]} (the frame {what}) must be a positive whole "
            f"number, got {tok[1:]!r}; the file is damaged or was not written by a Y4M writer: "
            f"re-create it (e.g. ffmpeg -i SOURCE -pix_fmt yuv420p out.y4m)"
        )
    return value


def _header_rate(tok: str, path: Path) -> Fraction:
    num, _, den = tok[1:].partition(":")
    try:
        rate = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        rate = Fraction(0)
    if rate <= 0:
        raise DatasetError(
            f"{path}: broken Y4M header: F (the frame rate) must be NUM:DEN with positive whole "
            f"numbers, e.g. F25:1, got {tok[1:]!r}; the file is damaged or was written wrongly: "
            f"re-create it, or convert it with ffmpeg -r RATE"
        )
    return rate


def _parse_header(line: bytes, path: Path) -> dict:
    tokens = line.decode("ascii", errors="replace").split()
    if not tokens or tokens[0] != "YUV4MPEG2":
        raise DatasetError(
            f"{path}: not a YUV4MPEG2 file (first bytes {line[:9]!r}); a .y4m file starts with "
            f"'YUV4MPEG2 W... H... F...': re-create it, or give it the suffix of its real format"
        )
    info: dict[str, Any] = {"chroma": "420jpeg", "range": "limited"}
    for tok in tokens[1:]:
        key, val = tok[0], tok[1:]
        if key == "W":
            info["width"] = _header_number(tok, path)
        elif key == "H":
            info["height"] = _header_number(tok, path)
        elif key == "F":
            info["fps"] = _header_rate(tok, path)
        elif key == "C":
            info["chroma"] = val
        elif key == "X" and val.upper().startswith("COLORRANGE="):
            info["range"] = "full" if val.split("=", 1)[1].upper() == "FULL" else "limited"
    if info["chroma"] not in _DEPTH_BY_CHROMA:
        raise DatasetError(
            f"{path}: chroma format C{info['chroma']} is not supported; gvcbench reads 4:2:0 "
            f"only (convert with ffmpeg -pix_fmt yuv420p)"
        )
    if "width" not in info or "height" not in info or "fps" not in info:
        raise DatasetError(
            f"{path}: Y4M header lacks W, H or F: {line[:80]!r}; re-create the file "
            f"(e.g. ffmpeg -i SOURCE -pix_fmt yuv420p out.y4m)"
        )
    if info["width"] % 2 or info["height"] % 2:
        raise DatasetError(
            f"{path}: frames are {info['width']}x{info['height']}; 4:2:0 needs even sizes "
            f"(crop one row/column when converting, e.g. ffmpeg -vf crop=trunc(iw/2)*2:trunc(ih/2)*2)"
        )
    return info


def read_y4m(
    path: str | Path, start: int = 0, frames: int | None = None, name: str | None = None, matrix: str = "bt709"
) -> Sequence:
    path = Path(path)
    data = path.read_bytes()
    end = data.find(b"\n")
    if end < 0:
        raise DatasetError(f"{path}: no Y4M header line")
    info = _parse_header(data[:end], path)
    w, h = info["width"], info["height"]
    depth = _DEPTH_BY_CHROMA[info["chroma"]]
    sample = 1 if depth == 8 else 2
    frame_bytes = w * h * 3 // 2 * sample
    payloads: list[tuple[int, int]] = []
    pos = end + 1
    while pos < len(data):
        line_end = data.find(b"\n", pos)
        if line_end < 0 or not data.startswith(b"FRAME", pos):
            raise DatasetError(f"{path}: broken frame header at byte {pos} (after {len(payloads)} frames)")
        pos = line_end + 1
        if pos + frame_bytes > len(data):
            raise DatasetError(
                f"{path}: frame {len(payloads)} is truncated ({len(data) - pos} of "
                f"{frame_bytes} bytes); the file is incomplete"
            )
        payloads.append((pos, pos + frame_bytes))
        pos += frame_bytes
    total = len(payloads)
    if total == 0:
        raise DatasetError(f"{path}: holds a Y4M header but no frames; the file is incomplete")
    count = total - start if frames is None else frames
    if start >= total or start + count > total or count <= 0:
        raise DatasetError(f"{path}: asked for {count} frames from frame {start}, the file holds {total}")
    dtype = np.uint8 if depth == 8 else np.dtype("<u2")
    raw = np.concatenate([np.frombuffer(data[a:b], dtype=dtype) for a, b in payloads[start : start + count]])
    y, u, v = split_planes(raw, count, w, h)
    if depth > 8:
        y, u, v = (p.astype(np.uint16) for p in (y, u, v))
    return Sequence(
        name or path.stem, y.copy(), u.copy(), v.copy(), info["fps"], depth, ColourInfo(matrix, info["range"])
    )


def write_y4m(seq: Sequence, path: str | Path) -> Path:
    path = Path(path)
    fps = Fraction(seq.fps)
    header = (
        f"YUV4MPEG2 W{seq.width} H{seq.height} F{fps.numerator}:{fps.denominator} Ip A1:1 "
        f"C{_CHROMA_BY_DEPTH.get(seq.bit_depth, '420p16')} "
        f"XCOLORRANGE={'FULL' if seq.colour.range == 'full' else 'LIMITED'}\n"
    )
    if seq.bit_depth not in _CHROMA_BY_DEPTH:
        raise DatasetError(f"Y4M cannot carry {seq.bit_depth}-bit samples; use 8, 9, 10, 12, 14 or 16")
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        for i in range(seq.num_frames):
            f.write(b"FRAME\n")
            f.write(frame_bytes_of(seq, i))
    return path
