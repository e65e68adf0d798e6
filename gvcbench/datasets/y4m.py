"""YUV4MPEG2 (.y4m) files, 4:2:0 only, 8 to 16 bits."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .sequence import ColourInfo, Sequence
from .yuv import frame_bytes_of, split_planes

_CHROMA_BY_DEPTH = {8: "420jpeg", 9: "420p9", 10: "420p10", 12: "420p12", 14: "420p14", 16: "420p16"}
_DEPTH_BY_CHROMA = {"420": 8, "420jpeg": 8, "420paldv": 8, "420mpeg2": 8, "420p9": 9, "420p10": 10,
                    "420p12": 12, "420p14": 14, "420p16": 16}


def _parse_header(line: bytes, path: Path) -> dict:
    tokens = line.decode("ascii", errors="replace").split()
    if not tokens or tokens[0] != "YUV4MPEG2":
        raise DatasetError(f"{path}: not a YUV4MPEG2 file (first bytes {line[:9]!r})")
    info = {"chroma": "420jpeg", "range": "limited"}
    for tok in tokens[1:]:
        key, val = tok[0], tok[1:]
        if key == "W":
            info["width"] = int(val)
        elif key == "H":
            info["height"] = int(val)
        elif key == "F":
            num, _, den = val.partition(":")
            info["fps"] = Fraction(int(num), int(den or 1))
        elif key == "C":
            info["chroma"] = val
        elif key == "X" and val.upper().startswith("COLORRANGE="):
            info["range"] = "full" if val.split("=", 1)[1].upper() == "FULL" else "limited"
    if info["chroma"] not in _DEPTH_BY_CHROMA:
        raise DatasetError(f"{path}: chroma format C{info['chroma']} is not supported; gvcbench reads 4:2:0 "
                           f"only (convert with ffmpeg -pix_fmt yuv420p)")
    if "width" not in info or "height" not in info or "fps" not in info:
        raise DatasetError(f"{path}: Y4M header lacks W, H or F: {line!r}")
    return info


def read_y4m(path: str | Path, start: int = 0, frames: int | None = None, name: str | None = None,
             matrix: str = "bt709") -> Sequence:
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
    payloads, pos = [], end + 1
    while pos < len(data):
        line_end = data.find(b"\n", pos)
        if line_end < 0 or not data.startswith(b"FRAME", pos):
            raise DatasetError(f"{path}: broken frame header at byte {pos} (after {len(payloads)} frames)")
        pos = line_end + 1
        if pos + frame_bytes > len(data):
            raise DatasetError(f"{path}: frame {len(payloads)} is truncated ({len(data) - pos} of "
                               f"{frame_bytes} bytes); the file is incomplete")
        payloads.append((pos, pos + frame_bytes))
        pos += frame_bytes
    total = len(payloads)
    count = total - start if frames is None else frames
    if start >= total or start + count > total or count <= 0:
        raise DatasetError(f"{path}: asked for {count} frames from frame {start}, the file holds {total}")
    dtype = np.uint8 if depth == 8 else np.dtype("<u2")
    raw = np.concatenate([np.frombuffer(data[a:b], dtype=dtype) for a, b in payloads[start:start + count]])
    y, u, v = split_planes(raw, count, w, h)
    if depth > 8:
        y, u, v = (p.astype(np.uint16) for p in (y, u, v))
    return Sequence(name or path.stem, y.copy(), u.copy(), v.copy(), info["fps"], depth,
                    ColourInfo(matrix, info["range"]))


def write_y4m(seq: Sequence, path: str | Path) -> Path:
    path = Path(path)
    fps = Fraction(seq.fps)
    header = (f"YUV4MPEG2 W{seq.width} H{seq.height} F{fps.numerator}:{fps.denominator} Ip A1:1 "
              f"C{_CHROMA_BY_DEPTH.get(seq.bit_depth, '420p16')} "
              f"XCOLORRANGE={'FULL' if seq.colour.range == 'full' else 'LIMITED'}\n")
    if seq.bit_depth not in _CHROMA_BY_DEPTH:
        raise DatasetError(f"Y4M cannot carry {seq.bit_depth}-bit samples; use 8, 9, 10, 12, 14 or 16")
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        for i in range(seq.num_frames):
            f.write(b"FRAME\n")
            f.write(frame_bytes_of(seq, i))
    return path
