"""VVC reference software VTM (EncoderApp/DecoderApp), low-delay B by default.

The binaries are found in ``vtm_dir`` (option), then ``$VTM_DIR`` (its ``bin/``), then
PATH; the configuration file in ``cfg_dir``, ``$VTM_DIR/cfg`` or next to the binary.
8-bit input is coded with InternalBitDepth 10 and decoded back to 8 bits (``-d 8``).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path

from ..datasets.yuv import write_yuv
from ..errors import CodecUnavailable
from ..tools import capture, run_tool
from .base import Bitstream, Codec, Decoded, RatePoint, source_info
from .ffmpeg_base import read_decoded_yuv


@dataclass(frozen=True)
class VtmParams:
    vtm_dir: str | None = None
    cfg_dir: str | None = None
    config: str = "encoder_lowdelay_vtm.cfg"
    internal_bit_depth: int = 10
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "extra_args", tuple(self.extra_args))


def _bin_dirs(params: VtmParams) -> list[Path]:
    dirs = []
    for root in (params.vtm_dir, os.environ.get("VTM_DIR")):
        if root:
            dirs += [Path(root) / "bin", Path(root)]
    return dirs


def find_program(params: VtmParams, program: str) -> Path | None:
    for d in _bin_dirs(params):
        if (d / program).is_file() and os.access(d / program, os.X_OK):
            return d / program
    found = shutil.which(program)
    return Path(found) if found else None


def find_config(params: VtmParams, encoder: Path) -> Path | None:
    candidates = []
    if params.cfg_dir:
        candidates.append(Path(params.cfg_dir))
    for root in (params.vtm_dir, os.environ.get("VTM_DIR")):
        if root:
            candidates.append(Path(root) / "cfg")
    candidates += [encoder.parent.parent / "cfg", encoder.parent.parent.parent / "cfg"]
    for d in candidates:
        if (d / params.config).is_file():
            return d / params.config
    return None


@cache
def _program_version(path: str) -> str:
    m = re.search(r"Version\s+(\S+)", capture([path], timeout=30))
    return m.group(1) if m else "unknown"


class VtmLDB(Codec):
    name = "vtm-ldb"
    description = "VVC reference software VTM, encoder_lowdelay_vtm.cfg (low-delay B), fixed QP"
    Params = VtmParams
    default_qps = (37, 42, 47, 52)
    qp_range = (-12, 63)

    def _programs(self) -> tuple[Path, Path, Path]:
        enc = find_program(self.params, "EncoderApp")
        dec = find_program(self.params, "DecoderApp")
        if enc is None or dec is None:
            raise CodecUnavailable(
                "VTM's EncoderApp/DecoderApp not found: build VTM and set VTM_DIR to its folder "
                "(holding bin/ and cfg/), give the codec option vtm_dir, or put the binaries on PATH"
            )
        cfg = find_config(self.params, enc)
        if cfg is None:
            raise CodecUnavailable(
                f"VTM configuration {self.params.config} not found: set VTM_DIR to the "
                f"VTM folder (with cfg/) or give the codec option cfg_dir"
            )
        return enc, dec, cfg

    def availability(self) -> str | None:
        try:
            self._programs()
        except CodecUnavailable as exc:
            return str(exc)
        return None

    def version(self) -> str:
        enc, _, cfg = self._programs()
        return f"VTM {_program_version(str(enc))} ({cfg.name})"

    def encode(self, seq, point: RatePoint, workdir: Path, timeout: float) -> Bitstream:
        self.check_point(point)
        enc, _, cfg = self._programs()
        source = write_yuv(seq, workdir / "input.yuv")
        out = workdir / "bitstream.266"
        fps = Fraction(seq.fps)
        rate = str(fps.numerator) if fps.denominator == 1 else f"{float(fps):.3f}"
        argv = [
            enc,
            "-c",
            cfg,
            "-i",
            source,
            "-b",
            out,
            "-o",
            "",
            "-wdt",
            seq.width,
            "-hgt",
            seq.height,
            "-fr",
            rate,
            "-f",
            seq.num_frames,
            "-q",
            point.qp,
            f"--InputBitDepth={seq.bit_depth}",
            f"--InternalBitDepth={max(self.params.internal_bit_depth, seq.bit_depth)}",
            "--InputChromaFormat=420",
            *self.params.extra_args,
        ]
        run = run_tool(argv, workdir / "encode.log", timeout)
        source.unlink()
        return Bitstream(out, source_info(seq) | {"coded_bit_depth": seq.bit_depth}, run.seconds, run.cpu_seconds)

    def decode(self, bitstream: Bitstream, workdir: Path, timeout: float) -> Decoded:
        _, dec, _ = self._programs()
        out = workdir / "decoded.yuv"
        depth = bitstream.info["bit_depth"]
        run = run_tool([dec, "-b", bitstream.path, "-o", out, "-d", depth], workdir / "decode.log", timeout)
        return Decoded(
            read_decoded_yuv(out, bitstream.info, depth), run.seconds, run.cpu_seconds, bitstream.path.stat().st_size
        )
