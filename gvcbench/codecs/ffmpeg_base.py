"""Shared machinery of the adapters that drive encoders through the imageio-ffmpeg binary.

Adapters only say which encoder, which arguments and which raw bitstream format; this
class writes the input, runs FFmpeg, decodes the raw bitstream back to YUV and returns
it at the source's bit depth (rounding right shift, as VTM's output conversion does).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import ClassVar

from ..datasets.input_cache import write_once
from ..datasets.sequence import ColourInfo, Sequence
from ..datasets.y4m import write_y4m
from ..datasets.yuv import read_yuv
from ..errors import CodecError, CodecUnavailable, DatasetError
from ..tools import Arg, capture, ffmpeg_encoders, ffmpeg_exe, ffmpeg_version, run_tool
from .base import Bitstream, Codec, Decoded, RatePoint, source_info


@cache
def _probe_library_version(encoder: str, pix_fmt: str, pattern: str) -> str:
    """Encode one tiny frame and read the encoder library's version from its log/bitstream."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "probe.mkv"
        text = capture(
            [
                ffmpeg_exe(),
                "-hide_banner",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=64x64:rate=25",
                "-frames:v",
                "1",
                "-pix_fmt",
                pix_fmt,
                "-c:v",
                encoder,
                str(out),
            ]
        )
        blob = text + (out.read_bytes().decode("latin-1") if out.exists() else "")
    m = re.search(pattern, blob)
    return m.group(1) if m else "unknown"


class FFmpegCodec(Codec):
    encoder: ClassVar[str]  # FFmpeg encoder name
    raw_format: ClassVar[str]  # FFmpeg muxer that writes the bare bitstream
    suffix: ClassVar[str]
    version_pattern: ClassVar[str]  # regex with one group, matched on the probe's log and output
    probe_pix_fmt: ClassVar[str] = "yuv420p"
    # How gvcbench drives the encoder; part of the version, so a store re-encodes when it
    # changes. 2: vvenc-ldb codes one intra frame (was one a second) and no access unit
    # delimiters, x264/x265 streams carry no encoder-info SEI, svtav1 writes bare OBUs (was IVF).
    settings: ClassVar[int] = 2

    # (folder, content hash of the sequence being encoded): set by the harness so that the
    # jobs of a run encode from one shared Y4M per sequence and bit depth (input_cache.py)
    # instead of each writing its own copy.
    input_cache: tuple[Path, str] | None = None

    def coded_bit_depth(self, seq: Sequence) -> int:
        return seq.bit_depth

    def encoder_args(self, point: RatePoint, seq: Sequence) -> list[str]:
        raise NotImplementedError

    # -- availability and version -----------------------------------------------
    def availability(self) -> str | None:
        try:
            exe = ffmpeg_exe()
        except CodecUnavailable as exc:
            return str(exc)
        if self.encoder not in ffmpeg_encoders():
            return f"the FFmpeg binary {exe} has no {self.encoder} encoder"
        return None

    def _pix_fmt(self, depth: int) -> str:
        return "yuv420p" if depth == 8 else f"yuv420p{depth}le"

    def version(self) -> str:
        reason = self.availability()
        if reason:
            raise CodecUnavailable(f"{self.name}: {reason}")
        lib = _probe_library_version(self.encoder, self.probe_pix_fmt, self.version_pattern)
        return f"{self.encoder} {lib} (ffmpeg {ffmpeg_version()}; gvcbench settings {self.settings})"

    # -- encode / decode ------------------------------------------------------------
    def encode(self, seq: Sequence, point: RatePoint, workdir: Path, timeout: float) -> Bitstream:
        self.check_point(point)
        depth = self.coded_bit_depth(seq)
        source, own_copy = self._input_file(seq, depth, workdir)
        out = workdir / f"bitstream{self.suffix}"
        argv: list[Arg] = [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-y",
            "-i",
            source,
            "-map",
            "0:v:0",
            *self.encoder_args(point, seq),
            "-f",
            self.raw_format,
            out,
        ]
        run = run_tool(argv, workdir / "encode.log", timeout)
        if own_copy:
            source.unlink()
        info = source_info(seq) | {"coded_bit_depth": depth}
        coded = _coded_range(workdir / "encode.log")
        if coded is not None and coded != FFMPEG_RANGE[seq.colour.range]:
            info["coded_range"] = coded  # FFmpeg converted the samples for the encoder: decode converts back
        return Bitstream(out, info, run.seconds, run.cpu_seconds)

    def _input_file(self, seq: Sequence, depth: int, workdir: Path) -> tuple[Path, bool]:
        """The Y4M the encoder reads, and whether it is this job's own (to delete after)."""
        if self.input_cache is not None:
            folder, sequence_hash = self.input_cache
            try:
                return write_once(folder, seq, sequence_hash, depth), False
            except OSError:
                pass  # no shared copy: write our own
        source = workdir / "input.y4m"
        write_y4m(seq.to_bit_depth(depth), source)
        return source, True

    def decode(self, bitstream: Bitstream, workdir: Path, timeout: float) -> Decoded:
        info = bitstream.info
        depth = info["coded_bit_depth"]
        out = workdir / "decoded.yuv"
        argv: list[Arg] = [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-y",
            "-f",
            self.raw_format,
            "-i",
            bitstream.path,
            "-f",
            "rawvideo",
            "-pix_fmt",
            self._pix_fmt(depth),
            *(["-color_range", FFMPEG_RANGE[info["range"]]] if info.get("coded_range") else []),
            out,
        ]
        run = run_tool(argv, workdir / "decode.log", timeout)
        return Decoded(read_decoded_yuv(out, info, depth), run.seconds, run.cpu_seconds, bitstream.path.stat().st_size)


FFMPEG_RANGE = {"limited": "tv", "full": "pc"}  # gvcbench's colour range -> FFmpeg's name for it
_ENCODED_STREAM = re.compile(r"^Output #0.*?^\s*Stream #0:0\S*: Video: [^\n]*?, \w+\((tv|pc)[,)]", re.S | re.M)


def _coded_range(log: Path) -> str | None:
    """The colour range FFmpeg gave the encoder ('tv' or 'pc'; None where the log does not
    say). It differs from the source's where the encoder takes one range only, as the JPEG
    encoders take full range: FFmpeg then converts the samples before encoding, and a
    decoder hands that range back. Read without converting back, a limited-range source's
    reconstruction scored as limited range loses about 16 dB of PSNR-Y."""
    try:
        found = _ENCODED_STREAM.search(log.read_text(errors="replace"))
    except OSError:
        return None
    return found.group(1) if found else None


def read_decoded_yuv(path: Path, info: dict, depth: int) -> Sequence:
    """Read a decoder's raw output and bring it to the source's bit depth."""
    colour = ColourInfo(info["matrix"], info["range"])
    try:
        seq = read_yuv(path, info["width"], info["height"], Fraction(*info["fps"]), depth, colour, name=info["name"])
    except DatasetError as exc:
        raise CodecError(f"the decoder's output does not fit the source format: {exc}") from None
    return seq.to_bit_depth(info["bit_depth"])
