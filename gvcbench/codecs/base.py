"""The Codec interface every adapter implements."""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..datasets.sequence import Sequence
from ..errors import ConfigError


@dataclass(frozen=True)
class RatePoint:
    """One point of a codec's rate ladder: a QP (the usual knob), or a target rate in kbps
    or bits per pixel (reached by a rate search over the codec's declared knob)."""

    qp: int | None = None
    kbps: float | None = None
    bpp: float | None = None

    def __post_init__(self):
        if sum(v is not None for v in (self.qp, self.kbps, self.bpp)) != 1:
            raise ConfigError("a rate point has exactly one of a qp, a target kbps or a target bpp")

    @property
    def label(self) -> str:
        if self.qp is not None:
            return f"qp{self.qp}"
        return f"{self.kbps:g}kbps" if self.kbps is not None else f"{self.bpp:g}bpp"

    def to_dict(self) -> dict:
        if self.qp is not None:
            return {"qp": self.qp}
        return {"kbps": self.kbps} if self.kbps is not None else {"bpp": self.bpp}


@dataclass(frozen=True)
class RateKnob:
    """The whole-number setting a rate search turns to reach a target rate.

    Its value reaches ``encode`` as ``RatePoint(qp=value)``; the rate must fall (not
    necessarily strictly) as the value rises, as it does for a QP.
    """

    name: str  # what reports call it: "QP", "key-frame QP"
    lo: int
    hi: int
    start: int  # the first value probed


@dataclass
class Bitstream:
    """What ``encode`` produced. ``path`` is the file ``decode`` reads; the rate is its size.

    ``parts`` splits the size into named parts where a codec has several (a key frame
    and motion tokens, say); ``info`` carries what ``decode`` needs to rebuild a
    Sequence of the source's format.
    """

    path: Path
    info: dict[str, Any]
    tool_seconds: float = 0.0
    tool_cpu_seconds: float = 0.0
    parts: dict[str, int] = field(default_factory=dict)

    @property
    def num_bytes(self) -> int:
        return self.path.stat().st_size


@dataclass
class Decoded:
    sequence: Sequence
    tool_seconds: float = 0.0
    tool_cpu_seconds: float = 0.0
    bytes_read: int = 0
    adjustments: dict = field(default_factory=dict)  # e.g. a size policy applied (codecs/sizepolicy.py)


@dataclass(frozen=True)
class NoParams:
    pass


def source_info(seq: Sequence) -> dict[str, Any]:
    """What a decoder needs to hand back a Sequence like the source."""
    return {
        "name": seq.name,
        "width": seq.width,
        "height": seq.height,
        "frames": seq.num_frames,
        "fps": [seq.fps.numerator, seq.fps.denominator],
        "bit_depth": seq.bit_depth,
        "matrix": seq.colour.matrix,
        "range": seq.colour.range,
    }


class Codec(ABC):
    """An adapter: it builds and runs the codec's encode and decode on one job.

    Subclasses set ``name``, ``description``, ``Params`` (a frozen dataclass of their
    options, validated at construction), ``default_qps`` and ``qp_range``.

    Target-rate ladders (``kbps = [...]`` in a config) search the knob ``rate_knob()``
    returns: by default the QP over ``qp_range``, named ``rate_knob_name``. An adapter
    without such a knob sets ``rate_knob_name = None``; one with another knob overrides
    ``rate_knob()``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    default_qps: ClassVar[tuple[int, ...]] = ()
    qp_range: ClassVar[tuple[int, int]] = (0, 63)
    stochastic: ClassVar[bool] = False  # its decoder draws noise: runs once per seed
    seed: int | None = None  # set by the harness for stochastic codecs (make_codec)
    default_seed: ClassVar[int] = 0  # the seed of a stochastic codec run without `seeds`
    rate_knob_name: ClassVar[str | None] = "QP"
    rate_knob_note: ClassVar[str | None] = None  # `gvcbench codecs`' knob column where it depends on the options
    needs_params: ClassVar[bool] = False  # cannot be made without options (templates, files): listed as such

    def __init__(self, **params: Any):
        allowed = {f.name for f in dataclasses.fields(self.Params)}
        unknown = set(params) - allowed
        if unknown:
            raise ConfigError(
                f"codec {self.name!r} has no option(s) {', '.join(sorted(unknown))}; "
                f"its options are: {', '.join(sorted(allowed)) or 'none'}"
            )
        try:
            self.params = self.Params(**params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"codec {self.name!r}: {exc}") from None

    # -- what the harness asks --------------------------------------------------
    def availability(self) -> str | None:
        """None when the codec can run here, else the reason it cannot (and what to do)."""
        return None

    @abstractmethod
    def version(self) -> str:
        """The version as the tool itself reports it."""

    def version_warning(self) -> str | None:
        """None when ``version()`` changes with the codec, else why it may not (and what to do)."""
        return None

    def check_point(self, point: RatePoint) -> None:
        if point.qp is None:
            raise ConfigError(f"codec {self.name!r} takes QPs, not target bitrates")
        lo, hi = self.qp_range
        if not lo <= point.qp <= hi:
            raise ConfigError(f"codec {self.name!r}: QP {point.qp} outside its range {lo}..{hi}")

    def rate_knob(self) -> RateKnob | None:
        """The knob a rate search turns, or None when this codec cannot take target rates."""
        if self.rate_knob_name is None:
            return None
        lo, hi = self.qp_range
        ladder = sorted(self.default_qps)
        start = ladder[len(ladder) // 2] if ladder else (lo + hi) // 2
        return RateKnob(self.rate_knob_name, lo, hi, min(max(start, lo), hi))

    def identity(self) -> dict:
        return {"name": self.name, "version": self.version(), "params": dataclasses.asdict(self.params)}

    def identity_json(self) -> str:
        return json.dumps(self.identity(), sort_keys=True)

    @abstractmethod
    def encode(self, seq: Sequence, point: RatePoint, workdir: Path, timeout: float) -> Bitstream: ...

    @abstractmethod
    def decode(self, bitstream: Bitstream, workdir: Path, timeout: float) -> Decoded: ...
