"""Load a sequence from its source (a file or the generator) and apply the protocol options
(frames, crop, resize)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from ..errors import DatasetError
from ..tools import sha256_file
from .container import CONTAINER_SUFFIXES, read_container
from .png import read_png_folder
from .sequence import ColourInfo, Sequence
from .spec import SequenceSpec, SyntheticSource
from .synthetic import generate
from .transform import crop, parse_size, resize
from .y4m import read_y4m
from .yuv import read_yuv


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


def _generate(source: SyntheticSource, spec: SequenceSpec) -> Sequence:
    """The generated clip, frames ``start`` to ``start + frames`` (the generator draws each
    frame independently, so a window equals the same frames of a longer clip)."""
    count = spec.start + (spec.frames or source.frames)
    seq = generate(source.clip, seed=source.seed, size=source.size, frames=count, fps=source.fps)
    return replace(seq.frames(spec.start, spec.frames), name=spec.display_name)


def _check_declared(spec: SequenceSpec, seq: Sequence, path: Path) -> None:
    for key, actual in (("width", seq.width), ("height", seq.height)):
        declared = getattr(spec, key)
        if declared is not None and declared != actual:
            raise DatasetError(f"{path}: the manifest says {key} {declared}, the file has {actual}")


def _read_file(spec: SequenceSpec) -> Sequence:
    path = Path(str(spec.path)).expanduser()
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
    if spec.fps and path.suffix.lower() != ".yuv" and not path.is_dir():
        if abs(float(seq.fps) - float(Fraction(spec.fps))) > 1e-3:
            raise DatasetError(f"{path}: the manifest says {spec.fps} fps, the file says {float(seq.fps):g}")
    return seq


def load_sequence(spec: SequenceSpec) -> Sequence:
    """The tested clip: the source's frames ``start``..``start + frames``, then ``crop``, then ``size``."""
    seq = _generate(spec.synthetic, spec) if spec.synthetic is not None else _read_file(spec)
    if spec.crop:
        seq = crop(seq, spec.crop)
    if spec.size:
        seq = resize(seq, *parse_size(spec.size))
    return seq
