"""Open any supported sequence file and apply the protocol options (frames, crop, resize)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..errors import DatasetError
from ..tools import sha256_file
from .container import CONTAINER_SUFFIXES, read_container
from .png import read_png_folder
from .sequence import MATRICES, RANGES, ColourInfo, Sequence
from .transform import crop, parse_size, protocol_problem, resize
from .y4m import read_y4m
from .yuv import read_yuv


@dataclass(frozen=True)
class SequenceSpec:
    """Where a sequence lives and how to cut it into the tested clip.

    ``width``/``height``/``fps``/``bit_depth`` describe raw files (for others they are
    checked against the file). ``start``/``frames`` pick frames before ``crop``
    ('square', 'WxH' or 'WxH+X+Y') and ``size`` (resize to 'WxH').
    """

    path: str
    name: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    bit_depth: int | None = None
    matrix: str | None = None
    range: str | None = None
    start: int = 0
    frames: int | None = None
    crop: str | None = None
    size: str | None = None
    sha256: str | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if not isinstance(self.path, str) or not self.path:
            raise DatasetError(f"a sequence's path must be a file name, got {self.path!r}")
        for key in ("name", "width", "height", "fps", "bit_depth", "matrix", "range", "sha256"):
            problem = file_property_problem(key, getattr(self, key))
            if problem:
                raise DatasetError(f"sequence {self.display_name}: {problem}")
        for key in ("start", "frames", "crop", "size"):
            problem = protocol_problem(key, getattr(self, key))
            if problem:
                raise DatasetError(f"sequence {self.display_name}: {problem}")

    @property
    def display_name(self) -> str:
        return self.name if isinstance(self.name, str) and self.name else Path(str(self.path)).stem


def _fraction(value) -> Fraction | None:
    """A frame rate given as a number or as a string such as '30000/1001'; None if it is neither."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return Fraction(value) if not isinstance(value, float) or math.isfinite(value) else None
    except (ValueError, ZeroDivisionError):
        return None


def file_property_problem(key: str, value) -> str | None:
    """Why a declared file property (from a manifest or the API) is invalid; None when valid."""
    if value is None:
        return None
    if key == "name" and not (isinstance(value, str) and value.strip()):
        return f"name must be a non-empty string (quote it in a manifest), got {value!r}"
    if key in ("width", "height") and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return f"{key} must be a positive whole number of pixels, got {value!r}"
    if key == "fps":
        rate = _fraction(value)
        if rate is None or rate <= 0:
            return f"fps must be a positive number (or a fraction such as '30000/1001'), got {value!r}"
    if key == "bit_depth" and not (isinstance(value, int) and not isinstance(value, bool) and 8 <= value <= 16):
        return f"bit_depth must be a whole number from 8 to 16, got {value!r}"
    if key == "matrix" and value not in MATRICES:
        return f"matrix must be one of {', '.join(MATRICES)}, got {value!r}"
    if key == "range" and value not in RANGES:
        return f"range must be one of {', '.join(RANGES)}, got {value!r}"
    if key == "sha256" and not (isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value)):
        return f"sha256 must be 64 hexadecimal digits (the output of sha256sum), got {value!r}"
    return None


def _read_raw(spec: SequenceSpec, path: Path) -> Sequence:
    colour = ColourInfo(spec.matrix or "bt709", spec.range or "limited")
    suffix = path.suffix.lower()
    name = spec.display_name
    if path.is_dir():
        return read_png_folder(path, fps=spec.fps or 25, start=spec.start, frames=spec.frames, name=name, colour=colour)
    if suffix == ".yuv":
        return read_yuv(path, spec.width, spec.height, spec.fps, spec.bit_depth, colour, spec.start, spec.frames, name)
    if suffix == ".y4m":
        seq = read_y4m(path, spec.start, spec.frames, name, matrix=spec.matrix or "bt709")
    elif suffix in CONTAINER_SUFFIXES:
        seq = read_container(path, spec.start, spec.frames, name, matrix=spec.matrix)
    else:
        raise DatasetError(
            f"{path}: unknown sequence format {suffix!r}; gvcbench reads .yuv, .y4m, "
            f"{', '.join(CONTAINER_SUFFIXES)} and folders of .png frames"
        )
    if spec.range and spec.range != seq.colour.range:
        seq = seq.with_planes(seq.y, seq.u, seq.v, colour=ColourInfo(seq.colour.matrix, spec.range))
    return seq


# What reading a damaged or unexpected file can raise from numpy, PyAV, Pillow or the OS.
_READ_ERRORS = (OSError, ValueError, EOFError, ArithmeticError, IndexError, MemoryError)


def _read_checked(spec: SequenceSpec, path: Path) -> Sequence:
    """``_read_raw``, with any library or OS error turned into a DatasetError naming the file,
    so one unreadable clip is skipped like any other bad sequence instead of ending the run."""
    try:
        return _read_raw(spec, path)
    except _READ_ERRORS as exc:
        raise DatasetError(
            f"{path}: cannot be read ({type(exc).__name__}: {exc}); check that the file is "
            f"complete and in a format gvcbench reads, or remove it from the dataset"
        ) from None


def _load_synthetic(spec: SequenceSpec) -> Sequence:
    from dataclasses import replace

    from .synthetic import generate, parse_synth_path

    args = parse_synth_path(spec.path)
    frames = args.get("frames", 50)
    seq = generate(**{**args, "frames": spec.start + (spec.frames or frames)})
    seq = seq.frames(spec.start, spec.frames)
    if spec.name:
        seq = replace(seq, name=spec.name)
    if spec.crop:
        seq = crop(seq, spec.crop)
    if spec.size:
        seq = resize(seq, *parse_size(spec.size))
    return seq


def _check_declared(spec: SequenceSpec, seq: Sequence, path: Path) -> None:
    for key, actual in (("width", seq.width), ("height", seq.height)):
        declared = getattr(spec, key)
        if declared is not None and declared != actual:
            raise DatasetError(f"{path}: the manifest says {key} {declared}, the file has {actual}")


def load_sequence(spec: SequenceSpec) -> Sequence:
    if spec.path.startswith("synth:"):
        return _load_synthetic(spec)
    path = Path(spec.path).expanduser()
    if not path.exists():
        raise DatasetError(f"sequence file {path} does not exist")
    if spec.sha256 and path.is_file():
        try:
            actual = sha256_file(path)
        except OSError as exc:
            raise DatasetError(f"{path}: cannot be read to check its SHA-256 ({exc})") from None
        if actual != spec.sha256.lower():
            raise DatasetError(
                f"{path}: SHA-256 {actual} differs from the manifest's {spec.sha256}; "
                f"the file changed or is a different one"
            )
    seq = _read_checked(spec, path)
    if path.suffix.lower() != ".yuv":
        _check_declared(spec, seq, path)
    if spec.crop:
        seq = crop(seq, spec.crop)
    if spec.size:
        seq = resize(seq, *parse_size(spec.size))
    if spec.fps and path.suffix.lower() not in (".yuv",) and not path.is_dir():
        if abs(float(seq.fps) - float(Fraction(spec.fps))) > 1e-3:
            raise DatasetError(f"{path}: the manifest says {spec.fps} fps, the file says {float(seq.fps):g}")
    return seq
