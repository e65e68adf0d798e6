"""Compressed containers (.mp4, .mkv, .webm, .avi, .mov) through PyAV.

Reading converts each decoded frame to yuv420p (8-bit sources) or yuv420p10le/16le
(deeper sources) without any other processing; a file whose frames are not 4:2:0 (4:4:4,
4:2:2, RGB, grey) gets a warning that its converted copy is what is measured. Writing is lossless: FFV1 in .mkv,
x264 at QP 0 in .mp4 (8-bit only), so a write/read round trip is bit exact.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .sequence import ColourInfo, Sequence

_MATRIX = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}
_AV_MATRIX = {"bt709": 1, "bt601": 6, "bt2020": 9}
CONTAINER_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")
_FOUR_TWO_ZERO = ("420", "nv12", "nv21", "p010", "p016")  # pixel formats that are 4:2:0 YUV already

log = logging.getLogger(__name__)


def _note_conversion(path: Path, pix_fmt: str, fmt: str) -> None:
    """Codecs and metrics see 4:2:0: say so where the file's frames are not (4:4:4, 4:2:2,
    RGB or grey), since its chroma is then measured on a converted copy."""
    if not any(tag in pix_fmt for tag in _FOUR_TWO_ZERO):
        log.warning(f"{path.name}: its frames are {pix_fmt}; gvcbench converts them to 4:2:0 ({fmt}) and measures that")


def _plane(frame, index: int, dtype) -> np.ndarray:
    plane = frame.planes[index]
    itemsize = np.dtype(dtype).itemsize
    arr = np.frombuffer(plane, dtype=dtype).reshape(plane.height, plane.line_size // itemsize)
    return arr[:, : plane.width]


def _depth_of(pix_fmt: str) -> int:
    for depth in (16, 14, 12, 10, 9):
        if f"p{depth}" in pix_fmt:
            return depth
    return 8


def read_container(
    path: str | Path, start: int = 0, frames: int | None = None, name: str | None = None, matrix: str | None = None
) -> Sequence:
    import av

    path = Path(path)
    try:
        container = av.open(str(path))
    except Exception as exc:  # PyAV raises many FFmpeg error types
        raise DatasetError(f"{path}: cannot open as a video file ({exc})") from None
    with container:
        if not container.streams.video:
            raise DatasetError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        fps = stream.average_rate or stream.guessed_rate
        if not fps:
            raise DatasetError(f"{path}: the container states no frame rate; convert it to .y4m with -r")
        depth = _depth_of(stream.codec_context.pix_fmt or "yuv420p")
        fmt = "yuv420p" if depth == 8 else ("yuv420p10le" if depth <= 10 else "yuv420p16le")
        _note_conversion(path, stream.codec_context.pix_fmt or "yuv420p", fmt)
        out_depth = 8 if depth == 8 else (10 if depth <= 10 else 16)
        dtype = np.uint8 if out_depth == 8 else np.dtype("<u2")
        ys, us, vs, colour = [], [], [], None
        decoded = 0
        try:
            for index, frame in enumerate(container.decode(stream)):
                decoded = index + 1
                if index < start:
                    continue
                if frames is not None and index >= start + frames:
                    break
                if colour is None:
                    full = frame.color_range == 2
                    auto = "bt709" if frame.height >= 720 else "bt601"
                    colour = ColourInfo(matrix or _MATRIX.get(frame.colorspace, auto), "full" if full else "limited")
                f = frame.reformat(format=fmt) if frame.format.name != fmt else frame
                ys.append(_plane(f, 0, dtype).copy())
                us.append(_plane(f, 1, dtype).copy())
                vs.append(_plane(f, 2, dtype).copy())
        except av.error.FFmpegError as exc:
            usable = (
                f"; its first {decoded} frame(s) decode, so asking for at most {decoded - start} frame(s) "
                f"(--frames) would use only those"
                if decoded > start
                else ""
            )
            raise DatasetError(
                f"{path}: decoding failed after {decoded} frame(s) ({exc}); the file is damaged or "
                f"truncated (an interrupted download or copy?): replace it with a complete copy"
                f"{usable}"
            ) from None
    got = len(ys)
    if got == 0 or (frames is not None and got < frames):
        if decoded == 0:
            raise DatasetError(f"{path}: decodes to no frames at all; the file is empty or damaged")
        raise DatasetError(
            f"{path}: asked for {frames if frames else 'all'} frames from frame {start}, but the "
            f"file holds {decoded}; ask for at most {max(decoded - start, 0)} from there "
            f"(frames, --frames) or start earlier"
        )
    y, u, v = (np.stack(p).astype(np.uint8 if out_depth == 8 else np.uint16) for p in (ys, us, vs))
    return Sequence(name or path.stem, y, u, v, fps=Fraction(fps), bit_depth=out_depth, colour=colour or ColourInfo())


def write_container(seq: Sequence, path: str | Path, fast: bool = False) -> Path:
    """Write losslessly: FFV1 in .mkv (any depth), x264 QP 0 in .mp4 (8-bit).

    ``fast``: 8-bit .mkv as x264 QP 0 (lossless too) with the ultrafast preset on one
    thread, several times faster to write and to read than FFV1 and a little smaller;
    deeper content stays FFV1."""
    import av

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mkv" and fast and seq.bit_depth == 8:
        codec, options = "libx264", {"qp": "0", "preset": "ultrafast", "threads": "1"}
    elif suffix == ".mkv":
        codec, options = "ffv1", {"level": "3", "slicecrc": "1"}
    elif suffix == ".mp4":
        if seq.bit_depth != 8:
            raise DatasetError(
                f"{path}: lossless .mp4 output is 8-bit only; write {seq.bit_depth}-bit content as .mkv, .y4m or .yuv"
            )
        codec, options = "libx264", {"qp": "0", "preset": "medium"}
    else:
        raise DatasetError(f"{path}: gvcbench writes .mkv and .mp4 containers; got {suffix!r}")
    dtype: np.dtype
    if seq.bit_depth == 8:
        fmt, dtype = "yuv420p", np.dtype(np.uint8)
    elif seq.bit_depth <= 10:
        fmt, dtype = "yuv420p10le", np.dtype("<u2")
    else:
        fmt, dtype = "yuv420p16le", np.dtype("<u2")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(seq.fps), options=options)
        stream.width, stream.height, stream.pix_fmt = seq.width, seq.height, fmt
        stream.codec_context.color_range = 2 if seq.colour.range == "full" else 1
        stream.codec_context.colorspace = _AV_MATRIX[seq.colour.matrix]
        for i in range(seq.num_frames):
            frame = av.VideoFrame(seq.width, seq.height, fmt)
            for index, plane in enumerate((seq.y, seq.u, seq.v)):
                dst = frame.planes[index]
                itemsize = np.dtype(dtype).itemsize
                buf = np.zeros((dst.height, dst.line_size // itemsize), dtype=dtype)
                buf[:, : dst.width] = plane[i]
                dst.update(buf.tobytes())
            frame.pts = i
            frame.color_range = 2 if seq.colour.range == "full" else 1
            frame.colorspace = _AV_MATRIX[seq.colour.matrix]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
