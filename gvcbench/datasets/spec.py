"""What a dataset lists: where each sequence comes from and how to cut the tested clip.

A sequence comes from one of two kinds of source: a file (``path``: .yuv, .y4m, a
container or a folder of PNG frames) or the procedural generator (``synthetic``, a
``SyntheticSource``). The cut options (start, frames, crop, size) are the same for both.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from .sequence import MATRICES, RANGES, frame_rate
from .synthetic import CLIP_BY_NAME
from .transform import protocol_problem

FILE_PROPERTIES = ("width", "height", "fps", "bit_depth", "matrix", "range", "sha256")


def _whole(value, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


@dataclass(frozen=True)
class SyntheticSource:
    """A clip of the procedural scene-dynamics generator (datasets/synthetic.py): the
    scikit-image still and motion model named ``clip``, drawn with ``seed``, ``size`` pixels
    square, ``frames`` frames at ``fps``. The same values give the same samples anywhere."""

    clip: str
    seed: int = 0
    size: int = 384
    frames: int = 50
    fps: int = 25

    def __post_init__(self):
        if self.clip not in CLIP_BY_NAME:
            raise DatasetError(f"unknown synthetic clip {self.clip!r}; known: {', '.join(CLIP_BY_NAME)}")
        if not _whole(self.seed, 0):
            raise DatasetError(f"synthetic clip {self.clip}: seed must be a whole number >= 0, got {self.seed!r}")
        if not _whole(self.size, 16) or self.size % 2:
            raise DatasetError(
                f"synthetic clip {self.clip}: size must be an even whole number of pixels >= 16, got {self.size!r}"
            )
        for key in ("frames", "fps"):
            if not _whole(getattr(self, key), 1):
                raise DatasetError(
                    f"synthetic clip {self.clip}: {key} must be a whole number >= 1, got {getattr(self, key)!r}"
                )

    @classmethod
    def from_mapping(cls, table: Any, where: str) -> SyntheticSource:
        """From a manifest's ``synthetic = { clip = "grass-sway", seed = 1 }`` (or a stored row)."""
        allowed = [f.name for f in fields(cls)]
        if not isinstance(table, dict) or "clip" not in table:
            raise DatasetError(
                f'{where}: synthetic must be a table naming the clip, e.g. synthetic = {{ clip = "grass-sway", '
                f"seed = 0 }}; clips: {', '.join(CLIP_BY_NAME)}"
            )
        unknown = sorted(str(k) for k in table if k not in allowed)
        if unknown:
            raise DatasetError(
                f"{where}: synthetic has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
            )
        try:
            return cls(**table)
        except DatasetError as exc:
            raise DatasetError(f"{where}: {exc}") from None

    def describe(self) -> str:
        return (
            f"synthetic {self.clip}, seed {self.seed}, {self.size}x{self.size}, {self.frames} frames at {self.fps} fps"
        )


SYNTHETIC_SET = "scene-dynamics-synth"


@dataclass(frozen=True)
class SyntheticSet:
    """Generated clips as a dataset: ``clips`` (default: every clip of the generator), each
    drawn with ``seed`` at ``size`` pixels square, ``frames`` frames at ``fps``. The built-in
    set ``scene-dynamics-synth`` is ``SyntheticSet()``. In a run config::

        [dataset.source]
        synthetic = "all"        # or a clip name, or a list of them
        seed = 1
    """

    clips: tuple[str, ...] = tuple(CLIP_BY_NAME)
    seed: int = 0
    size: int = 384
    frames: int = 50
    fps: int = 25

    def __post_init__(self):
        if isinstance(self.clips, str) or not isinstance(self.clips, (list, tuple)) or not self.clips:
            raise DatasetError(
                f'synthetic must be "all", a clip name or a non-empty list of them ({", ".join(CLIP_BY_NAME)}), '
                f"got {self.clips!r}"
            )
        object.__setattr__(self, "clips", tuple(self.clips))
        if len(set(self.clips)) != len(self.clips):
            raise DatasetError(f"synthetic lists a clip twice: {list(self.clips)!r}")
        self.sources()  # each clip and setting checked now

    @classmethod
    def from_mapping(cls, table: Any, where: str) -> SyntheticSet:
        allowed = ["synthetic", "seed", "size", "frames", "fps"]
        if not isinstance(table, dict) or "synthetic" not in table:
            raise DatasetError(
                f"{where} must be a built-in set, a manifest, a folder or a file, or a table of generated clips "
                f'such as {{ synthetic = "all", seed = 1 }}; got {table!r}'
            )
        unknown = sorted(str(k) for k in table if k not in allowed)
        if unknown:
            raise DatasetError(f"{where} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        options = {k: v for k, v in table.items() if k != "synthetic"}
        clips = table["synthetic"]
        if isinstance(clips, str) and clips != "all":  # one clip by name
            clips = [clips]
        try:
            return cls(**options) if clips == "all" else cls(clips, **options)
        except DatasetError as exc:
            raise DatasetError(f"{where}: {exc}") from None

    def sources(self) -> list[SyntheticSource]:
        return [SyntheticSource(c, self.seed, self.size, self.frames, self.fps) for c in self.clips]

    @property
    def name(self) -> str:
        return SYNTHETIC_SET if self == SyntheticSet() else f"{SYNTHETIC_SET} (seed {self.seed}, {self.size}px)"

    def specs(self) -> list[SequenceSpec]:
        return [SequenceSpec(name=source.clip, synthetic=source) for source in self.sources()]


def _fraction(value) -> Fraction | None:
    """A frame rate given as a number or as a string such as '30000/1001'; None if it is neither."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return frame_rate(value)
    except (ValueError, ZeroDivisionError):
        return None


def file_property_problem(key: str, value) -> str | None:
    """Why a declared file property (from a manifest or the API) is invalid; None when valid."""
    if value is None:
        return None
    if key == "name" and not (isinstance(value, str) and value.strip()):
        return f"name must be a non-empty string (quote it in a manifest), got {value!r}"
    if key in ("width", "height") and not _whole(value, 1):
        return f"{key} must be a positive whole number of pixels, got {value!r}"
    if key == "fps":
        rate = _fraction(value)
        if rate is None or rate <= 0:
            return f"fps must be a positive number (or a fraction such as '30000/1001'), got {value!r}"
    if key == "bit_depth" and not (_whole(value, 8) and value <= 16):
        return f"bit_depth must be a whole number from 8 to 16, got {value!r}"
    if key == "matrix" and value not in MATRICES:
        return f"matrix must be one of {', '.join(MATRICES)}, got {value!r}"
    if key == "range" and value not in RANGES:
        return f"range must be one of {', '.join(RANGES)}, got {value!r}"
    if key == "sha256" and not (isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value)):
        return f"sha256 must be 64 hexadecimal digits (the output of sha256sum), got {value!r}"
    return None


@dataclass(frozen=True)
class SequenceSpec:
    """Where a sequence comes from and how to cut it into the tested clip.

    The source is a file (``path``) or a generated clip (``synthetic``), exactly one.
    ``width``/``height``/``fps``/``bit_depth`` describe raw files (for others they are
    checked against the file). ``start``/``frames`` pick frames before ``crop``
    ('square', 'WxH' or 'WxH+X+Y') and ``size`` (resize to 'WxH').
    """

    path: str | None = None
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
    synthetic: SyntheticSource | None = None

    def __post_init__(self):
        self._check_source()
        for key in ("name", *FILE_PROPERTIES):
            problem = file_property_problem(key, getattr(self, key))
            if problem:
                raise DatasetError(f"sequence {self.display_name}: {problem}")
        for key in ("start", "frames", "crop", "size"):
            problem = protocol_problem(key, getattr(self, key))
            if problem:
                raise DatasetError(f"sequence {self.display_name}: {problem}")

    def _check_source(self) -> None:
        if self.synthetic is None:
            if not isinstance(self.path, str) or not self.path:
                raise DatasetError(
                    f"a sequence needs a source: a file name (path) or a synthetic clip, got path {self.path!r}"
                )
            return
        if not isinstance(self.synthetic, SyntheticSource):
            raise DatasetError(f"synthetic must be a SyntheticSource, got {self.synthetic!r}")
        if self.path is not None:
            raise DatasetError(
                f"sequence {self.display_name}: give a file (path) or a synthetic clip, not both ({self.path!r})"
            )
        given = [key for key in FILE_PROPERTIES if getattr(self, key) is not None]
        if given:
            raise DatasetError(
                f"sequence {self.display_name}: {', '.join(given)} describe a file; a synthetic clip "
                f"takes its size, frames and fps in its own table"
            )

    @property
    def display_name(self) -> str:
        if isinstance(self.name, str) and self.name:
            return self.name
        if self.synthetic is not None:
            return self.synthetic.clip
        return Path(str(self.path)).stem

    @property
    def where(self) -> str:
        """Where the sequence comes from, for messages and listings."""
        return self.synthetic.describe() if self.synthetic is not None else str(self.path)

    @classmethod
    def from_record(cls, record: dict) -> SequenceSpec:
        """The spec of a stored row (``sequence_spec``), including rows written before
        synthetic clips had a source kind of their own (their path read ``synth:NAME?seed=S&...``)."""
        record = dict(record)
        synthetic = record.pop("synthetic", None)
        path = record.get("path")
        if isinstance(path, str) and path.startswith(_LEGACY_SYNTH):
            record.pop("path")
            synthetic = _legacy_synthetic(path)
        if isinstance(synthetic, dict):
            synthetic = SyntheticSource.from_mapping(synthetic, "stored sequence")
        return cls(**record, synthetic=synthetic)


_LEGACY_SYNTH = "synth:"


def _legacy_synthetic(path: str) -> SyntheticSource:
    """``synth:NAME?seed=S&size=N&frames=T&fps=F``: the path that rows stored before
    synthetic clips had a source kind of their own."""
    name, _, query = path[len(_LEGACY_SYNTH) :].partition("?")
    options: dict[str, Any] = {"clip": name}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        options[key] = int(value) if value.isdigit() else value
    return SyntheticSource.from_mapping(options, f"stored sequence {path}")
