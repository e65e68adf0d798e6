"""Any command-line codec described by encode/decode command templates.

Placeholders in the templates: {input} (source file), {bitstream}, {output} (decoded
file), {qp}, {width}, {height}, {fps}, {frames}, {bit_depth}, {workdir}, and
{seed} for a codec declared ``stochastic`` (run once per seed of its entry); every path
is absolute, and the programs run in the job's folder. The
source is written as .y4m or .yuv (``input_format``) and the decoder must write
``output_format`` (.yuv: raw 4:2:0 at the source's size and bit depth, or .y4m).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..datasets.y4m import read_y4m, write_y4m
from ..datasets.yuv import write_yuv
from ..errors import CodecError, ConfigError
from ..tools import capture, run_tool
from .base import Bitstream, Codec, Decoded, RatePoint, source_info
from .ffmpeg_base import read_decoded_yuv
from .sizepolicy import check_policy, fit_to_source, parse_size

FORMATS = ("y4m", "yuv")
PLACEHOLDERS = (
    "input",
    "bitstream",
    "output",
    "qp",
    "width",
    "height",
    "fps",
    "frames",
    "bit_depth",
    "workdir",
    "seed",
)


def check_template(key: str, template: tuple[str, ...]) -> None:
    """Refuse a template whose placeholders are unknown or malformed when the run is
    planned, not after every job has encoded."""
    import string

    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    for arg in template:
        try:
            fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(str(arg)) if f is not None]
        except ValueError as exc:
            raise ConfigError(
                f"external codec {key} argument {arg!r}: {exc}; a literal brace is written {{{{ or }}}}"
            ) from None
        for name, spec, conversion in fields:
            if name == "kbps":  # never filled: a target rate is reached by searching {qp}
                raise ConfigError(
                    f"external codec {key} argument {arg!r}: there is no {{kbps}}; gvcbench hands a codec QPs "
                    f"({{qp}}), and an entry with kbps = [...] reaches each target by searching the QP"
                )
            if name.split(".")[0].split("[")[0] not in PLACEHOLDERS:
                raise ConfigError(
                    f"external codec {key} argument {arg!r} uses unknown placeholder {{{name}}}; known: "
                    f"{known} (a literal brace is written {{{{ or }}}})"
                )
            if name not in PLACEHOLDERS or spec or conversion:
                raise ConfigError(
                    f"external codec {key} argument {arg!r}: placeholders are bare names such as {{qp}}, "
                    f"without a format, conversion, attribute or index (the decode step sees every value as "
                    f"text); known: {known}"
                )


@dataclass(frozen=True)
class ExternalParams:
    encode: tuple[str, ...] = ()
    decode: tuple[str, ...] = ()
    input_format: str = "y4m"
    output_format: str = "yuv"
    version: str | None = None
    version_command: tuple[str, ...] = ()
    qp_min: int = 0
    qp_max: int = 63
    default_qps: tuple[int, ...] = field(default_factory=tuple)
    stochastic: bool = False  # its decoder draws noise from {seed}
    size_policy: str = "refuse"  # refuse | crop | pad: decoded frames of another size (codecs/sizepolicy.py)
    output_size: str | None = None  # WxH of a raw .yuv decoder output when it is not the source's

    def __post_init__(self):
        check_policy(self.size_policy)
        parse_size(self.output_size, "output_size")
        for key in ("encode", "decode", "version_command", "default_qps"):
            object.__setattr__(self, key, tuple(getattr(self, key)))
        if not self.encode or not self.decode:
            raise ConfigError("the external codec needs 'encode' and 'decode' command templates (lists of arguments)")
        check_template("encode", self.encode)
        check_template("decode", self.decode)
        for key in ("input_format", "output_format"):
            if getattr(self, key) not in FORMATS:
                raise ConfigError(f"external codec {key} must be one of {', '.join(FORMATS)}")
        uses_seed = any("{seed}" in str(arg) for arg in self.encode + self.decode)
        if uses_seed and not self.stochastic:
            raise ConfigError(
                "the external codec's templates use {seed} but it is not declared stochastic; "
                "add stochastic = true to its params (and seeds = [0, 1, 2] to its entry)"
            )


class ExternalCodec(Codec):
    name = "external"
    description = "any command-line codec from encode/decode command templates"
    Params = ExternalParams
    needs_params = True
    rate_knob_note = "QP if the encode template has {qp}"

    def __init__(self, **params):
        super().__init__(**params)
        self.qp_range = (self.params.qp_min, self.params.qp_max)
        self.default_qps = self.params.default_qps
        self.stochastic = self.params.stochastic

    def rate_knob(self):
        """Only a template that passes ``{qp}`` to the encoder has a knob to search."""
        if not any("{qp}" in str(arg) for arg in self.params.encode):
            return None
        return super().rate_knob()

    def availability(self) -> str | None:
        for template in (self.params.encode, self.params.decode):
            program = template[0]
            if not (shutil.which(program) or Path(program).is_file()):
                return f"program {program!r} not found (not on PATH and not a file)"
        return None

    def version(self) -> str:
        if self.params.version_command:
            lines = capture(list(self.params.version_command)).strip().splitlines()
            return lines[0] if lines else "unknown"
        return self.params.version or "unversioned"

    def version_warning(self) -> str | None:
        if self.params.version or self.params.version_command:
            return None
        return (
            "has no 'version' in [codec.params]: it is stored as 'unversioned', so stored results are reused even "
            "after its programs change; set version (and change it with them) so a changed program is re-run"
        )

    @staticmethod
    def _fill(template, values: dict) -> list[str]:
        try:
            args = [str(arg).format(**values) for arg in template]
        except (KeyError, IndexError) as exc:
            raise ConfigError(
                f"external codec template uses unknown placeholder {exc}; known: {', '.join(sorted(values))}"
            ) from None
        return [_absolute_if_local(arg, first=i == 0) for i, arg in enumerate(args)]

    def encode(self, seq, point: RatePoint, workdir: Path, timeout: float) -> Bitstream:
        self.check_point(point)
        workdir = Path(workdir).absolute()  # the program runs in workdir: relative paths would point elsewhere
        source = workdir / f"input.{self.params.input_format}"
        (write_y4m if self.params.input_format == "y4m" else write_yuv)(seq, source)
        out = workdir / "bitstream.bin"
        values = {
            "input": source,
            "bitstream": out,
            "output": workdir / f"decoded.{self.params.output_format}",
            "qp": point.qp,
            "width": seq.width,
            "height": seq.height,
            "fps": float(seq.fps),
            "frames": seq.num_frames,
            "bit_depth": seq.bit_depth,
            "workdir": workdir,
            "seed": self.seed if self.seed is not None else self.default_seed,
        }
        run = run_tool(self._fill(self.params.encode, values), workdir / "encode.log", timeout, cwd=workdir)
        if not out.is_file():
            raise CodecError(f"the encode command ran but wrote no bitstream at {out} ({{bitstream}})")
        source.unlink(missing_ok=True)
        info = source_info(seq) | {"values": {k: str(v) for k, v in values.items()}}
        return Bitstream(out, info, run.seconds, run.cpu_seconds)

    def decode(self, bitstream: Bitstream, workdir: Path, timeout: float) -> Decoded:
        values = dict(bitstream.info["values"])
        output = Path(values["output"])
        workdir = Path(workdir).absolute()
        run = run_tool(self._fill(self.params.decode, values), workdir / "decode.log", timeout, cwd=workdir)
        if not output.is_file():
            raise CodecError(f"the decode command ran but wrote nothing at {output} ({{output}})")
        info = bitstream.info
        if self.params.output_format == "y4m":
            seq = read_y4m(output, name=info["name"], matrix=info["matrix"]).to_bit_depth(info["bit_depth"])
        else:
            size = parse_size(self.params.output_size, "output_size")
            layout = info | {"width": size[0], "height": size[1]} if size else info
            seq = read_decoded_yuv(output, layout, info["bit_depth"])
        seq, record = fit_to_source(seq, info["width"], info["height"], self.params.size_policy)
        return Decoded(
            seq,
            run.seconds,
            run.cpu_seconds,
            bitstream.path.stat().st_size,
            adjustments={"reconstruction_size": record} if record else {},
        )


def _absolute_if_local(arg: str, first: bool) -> str:
    """The programs run in the job's folder, so a relative path written in a template (the
    program, or a script such as ``examples/codec.py``) is made absolute from the folder
    gvcbench was started in, where the user wrote it: the program itself, an argument with
    a path separator, or a bare file name with an extension (``codec.py``), that names a
    file there. A bare word (``encode``) stays a word even where a file has that name."""
    if os.path.isabs(arg) or not (first or os.sep in arg or "." in arg.strip(".")):
        return arg
    return os.path.abspath(arg) if os.path.exists(arg) else arg
