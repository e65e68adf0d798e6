"""Results made elsewhere: reconstruction files plus bitstream sizes.

For codecs whose code or weights are not public. ``reconstructions`` is a path template
(``{sequence}``, ``{qp}``, ``{point}``) naming a decoded file (.yuv at the source's
format, .y4m or a container); the size comes from a bitstream file (``bitstreams``
template, whose size is the rate) or a CSV table (``sizes``: columns sequence, qp, bytes).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..datasets.loader import SequenceSpec, load_sequence
from ..errors import CodecError, ConfigError, DatasetError
from .base import Bitstream, Codec, Decoded, RatePoint, source_info
from .sizepolicy import check_policy, fit_to_source, parse_size


@dataclass(frozen=True)
class PrecomputedParams:
    reconstructions: str = ""
    bitstreams: str | None = None
    sizes: str | None = None
    version: str = "declared"
    size_policy: str = "refuse"  # refuse | crop | pad: reconstructions of another size (codecs/sizepolicy.py)
    recon_size: str | None = None  # WxH of raw .yuv reconstructions when it is not the source's

    def __post_init__(self):
        check_policy(self.size_policy)
        parse_size(self.recon_size, "recon_size")
        if not self.reconstructions:
            raise ConfigError(
                "the precomputed codec needs 'reconstructions', a path template such as 'recon/{sequence}_qp{qp}.yuv'"
            )
        if (self.bitstreams is None) == (self.sizes is None):
            raise ConfigError(
                "the precomputed codec needs exactly one of 'bitstreams' (path template) "
                "or 'sizes' (CSV with sequence,qp,bytes)"
            )


def _sizes_table(path: str) -> dict[tuple[str, str], int]:
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise ConfigError(f"precomputed sizes table {path} cannot be read: {exc}") from None
    table = {}
    for row in rows:
        try:
            table[(row["sequence"], str(row["qp"]))] = int(row["bytes"])
        except (KeyError, ValueError):
            raise ConfigError(
                f"{path}: needs columns sequence, qp, bytes with whole byte counts; bad row {row}"
            ) from None
    return table


class Precomputed(Codec):
    name = "precomputed"
    description = "reconstructions and bitstream sizes made elsewhere"
    Params = PrecomputedParams
    qp_range = (-1000, 1000)
    rate_knob_name = None  # rates were fixed elsewhere: nothing to search
    needs_params = True

    def version(self) -> str:
        return self.params.version

    def _fields(self, seq_name: str, point: RatePoint) -> dict:
        return {"sequence": seq_name, "qp": point.qp, "point": point.label}

    def encode(self, seq, point: RatePoint, workdir: Path, timeout: float) -> Bitstream:
        fields = self._fields(seq.name, point)
        recon = Path(self.params.reconstructions.format(**fields))
        if not recon.exists():
            raise CodecError(f"precomputed reconstruction {recon} does not exist")
        if self.params.bitstreams:
            path = Path(self.params.bitstreams.format(**fields))
            if not path.is_file():
                raise CodecError(f"precomputed bitstream {path} does not exist")
        else:
            sizes = _sizes_table(self.params.sizes)
            key = (seq.name, str(point.qp))
            if key not in sizes:
                raise CodecError(f"{self.params.sizes} has no row for sequence {seq.name!r}, qp {point.qp}")
            # A stand-in file of the declared size keeps "rate = bytes of the file" true.
            path = workdir / "declared.bin"
            with open(path, "wb") as f:
                f.truncate(sizes[key])
        info = source_info(seq) | {"reconstruction": str(recon)}
        return Bitstream(path, info)

    def decode(self, bitstream: Bitstream, workdir: Path, timeout: float) -> Decoded:
        info = bitstream.info
        width, height = parse_size(self.params.recon_size, "recon_size") or (info["width"], info["height"])
        spec = SequenceSpec(
            path=info["reconstruction"],
            name=info["name"],
            width=width,
            height=height,
            fps=info["fps"][0] / info["fps"][1],
            bit_depth=info["bit_depth"],
            matrix=info["matrix"],
            range=info["range"],
        )
        try:
            seq = load_sequence(spec)
        except DatasetError as exc:
            raise CodecError(f"precomputed reconstruction unreadable: {exc}") from None
        seq, record = fit_to_source(
            seq.to_bit_depth(info["bit_depth"]), info["width"], info["height"], self.params.size_policy
        )
        return Decoded(
            seq, 0.0, 0.0, bitstream.path.stat().st_size, adjustments={"reconstruction_size": record} if record else {}
        )
