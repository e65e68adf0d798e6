"""Open any supported sequence file and apply the protocol options (frames, crop, resize)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DatasetError
from ..tools import sha256_file
from .container import CONTAINER_SUFFIXES, read_container
from .png import read_png_folder
from .sequence import ColourInfo, Sequence
from .transform import crop, parse_size, resize
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

    @property
    def display_name(self) -> str:
        return self.name or Path(self.path).stem


def _read_raw(spec: SequenceSpec, path: Path) -> Sequence:
    colour = ColourInfo(spec.matrix or "bt709", spec.range or "limited")
    suffix = path.suffix.lower()
    name = spec.display_name
    if path.is_dir():
        return read_png_folder(path, fps=spec.fps or 25, start=spec.start, frames=spec.frames, name=name,
                               colour=colour)
    if suffix == ".yuv":
        return read_yuv(path, spec.width, spec.height, spec.fps, spec.bit_depth, colour, spec.start,
                        spec.frames, name)
    if suffix == ".y4m":
        seq = read_y4m(path, spec.start, spec.frames, name, matrix=spec.matrix or "bt709")
    elif suffix in CONTAINER_SUFFIXES:
        seq = read_container(path, spec.start, spec.frames, name, matrix=spec.matrix)
    else:
        raise DatasetError(f"{path}: unknown sequence format {suffix!r}; gvcbench reads .yuv, .y4m, "
                           f"{', '.join(CONTAINER_SUFFIXES)} and folders of .png frames")
    if spec.range and spec.range != seq.colour.range:
        seq = seq.with_planes(seq.y, seq.u, seq.v, colour=ColourInfo(seq.colour.matrix, spec.range))
    return seq


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
        actual = sha256_file(path)
        if actual != spec.sha256.lower():
            raise DatasetError(f"{path}: SHA-256 {actual} differs from the manifest's {spec.sha256}; "
                               f"the file changed or is a different one")
    seq = _read_raw(spec, path)
    if path.suffix.lower() != ".yuv":
        _check_declared(spec, seq, path)
    if spec.crop:
        seq = crop(seq, spec.crop)
    if spec.size:
        seq = resize(seq, *parse_size(spec.size))
    if spec.fps and path.suffix.lower() not in (".yuv",) and not path.is_dir():
        if abs(float(seq.fps) - float(spec.fps)) > 1e-3:
            raise DatasetError(f"{path}: the manifest says {spec.fps} fps, the file says {float(seq.fps):g}")
    return seq


