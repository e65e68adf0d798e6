"""The Dynamics-Codec bitstream: a versioned header, the key-frame payload, the token
payload, the motion-skip map, the wave.

Layout (big-endian):

    magic "GVDC" | version u8 | header length u16 | header | key-frame length u32 |
    key-frame bytes | token length u32 | token bytes | [versions 3 to 5: skip length u32 |
    skip bytes] | [versions 4 and 5: wave length u32 | wave bytes] | CRC-32 of everything before it

Header (versions 2 to 5): width u16, height u16, frames u16, fps numerator u32, fps
denominator u32, bit depth u8, colour matrix u8, colour range u8, key-frame codec u8,
key-frame QP i8, tokens per frame u16, quantisation step f32, model id (16 bytes ASCII),
token interval u8. Tokens are sent for the inter frames ``sent_frames`` names (every
``interval``-th and the last); version 1 headers (no interval: tokens for every inter
frame) are still read, as interval 1.

The skip map (version 3) is one bit per ``SKIP_CELL`` x ``SKIP_CELL`` cell of the frame,
row by row, packed most significant bit first, the padding bits zero: 1 = the decoder
keeps that cell still (the encoder found its decoded motion further from the original's
than no motion). An empty map (and every version 1 or 2 bitstream) moves every cell.

The wave (version 4; ``waves.py``) is one radial wave's parameters and two coefficients per
inter frame, added to the flows recovered from the tokens; in version 5 the wave is a planar
one (``planar.py``: a direction, a wavenumber, an envelope and four coefficients per inter
frame). A stream is written as the lowest version that holds what it carries: 2 without a
skip map or a wave, 3 with a map alone, 4 with a radial wave.

``parse`` checks everything before anything is decoded: magic, version, lengths against
the bytes present, sane sizes, the CRC, no trailing bytes, a skip map of exactly the
frame's cells, a wave of exactly the clip's inter frames, and token counts that the
header justifies: at most two per quarter-size flow sample of the frame (the tokens code
that flow; more values than it has are no compression), and no more in all than the
token payload's length can hold (``entropy.max_symbols``), so a crafted stream cannot make
the decoder run through millions of values it never sent.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from .entropy import BitstreamError, max_symbols
from .planar import PlanarWave, unpack_planar
from .waves import Wave, unpack_wave

MAGIC = b"GVDC"
VERSION = 5
VERSION_RADIAL = 4  # a radial wave: byte for byte as before planar waves existed
VERSION_WITH_SKIP = 3  # a skip map and no wave: byte for byte as before waves existed
VERSION_WITHOUT_SKIP = 2  # what a stream with no skip map is written as: byte for byte as before maps existed
_HEADERS = {1: struct.Struct(">HHHIIBBBBbHf16s"), 2: struct.Struct(">HHHIIBBBBbHf16sB")}
_HEADERS[3] = _HEADERS[2]  # version 3 adds the skip map after the token payload
_HEADERS[4] = _HEADERS[2]  # version 4 adds the wave after the skip map
_HEADERS[5] = _HEADERS[2]  # version 5: the wave is a planar one
_HEADER = _HEADERS[VERSION]
MAX_INTERVAL = 8
KEYFRAME_CODECS = ("vvenc", "vtm")
MATRICES = ("bt601", "bt709", "bt2020")
RANGES = ("limited", "full")
MAX_SIDE = 16384
MAX_FRAMES = 100000
MAX_TOKENS = 4096
FLOW_SCALE = 4  # the tokens describe a flow on a grid of a quarter of the frame size
SKIP_CELL = 32  # full-size pixels per side of a motion-skip cell (the 12 x 12 token grid's at 384 x 384)


def step_as_sent(step: float) -> float:
    """The quantisation step as the header carries it (float32), so encoder and decoder agree."""
    return struct.unpack(">f", struct.pack(">f", step))[0]


def sent_frames(inter_frames: int, interval: int) -> list[int]:
    """The inter frames (1 = the first after the key frame) whose tokens are sent: every
    ``interval``-th and the last, so the decoder interpolates and never extrapolates."""
    sent = list(range(interval, inter_frames + 1, interval))
    if inter_frames and (not sent or sent[-1] != inter_frames):
        sent.append(inter_frames)
    return sent


def skip_grid(width: int, height: int) -> tuple[int, int]:
    """(rows, columns) of motion-skip cells: the frame in ``SKIP_CELL`` squares, the last
    row and column cut by the frame's edge."""
    return -(-height // SKIP_CELL), -(-width // SKIP_CELL)


def pack_skip(still: np.ndarray) -> bytes:
    """A (rows, columns) boolean map of the cells kept still -> the skip payload; no cell
    still -> no payload at all (what a version 2 bitstream means)."""
    return np.packbits(np.asarray(still, bool).ravel()).tobytes() if np.any(still) else b""


def unpack_skip(payload: bytes, width: int, height: int) -> np.ndarray:
    """The skip payload -> (rows, columns) boolean map of the cells kept still."""
    rows, cols = skip_grid(width, height)
    cells = rows * cols
    size = -(-cells // 8)
    if not payload:
        return np.zeros((rows, cols), bool)
    if len(payload) != size:
        raise BitstreamError(
            f"a skip map of {len(payload)} bytes; a {width}x{height} frame has {cells} cells of "
            f"{SKIP_CELL} px, which take {size} bytes"
        )
    bits = np.unpackbits(np.frombuffer(payload, np.uint8))
    if bits[cells:].any():
        raise BitstreamError("the skip map's padding bits are not zero: the bitstream is corrupt")
    return bits[:cells].astype(bool).reshape(rows, cols)


def max_tokens_per_frame(width: int, height: int) -> int:
    return min(MAX_TOKENS, 2 * -(-width // FLOW_SCALE) * -(-height // FLOW_SCALE))


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    frames: int
    fps_num: int
    fps_den: int
    bit_depth: int
    matrix: str
    range: str
    keyframe_codec: str
    keyframe_qp: int
    tokens: int
    step: float
    model_id: str
    interval: int = 1  # tokens of every interval-th inter frame (and the last) are sent

    def __post_init__(self):
        object.__setattr__(self, "step", step_as_sent(self.step))

    def pack(self) -> bytes:
        return _HEADER.pack(
            self.width,
            self.height,
            self.frames,
            self.fps_num,
            self.fps_den,
            self.bit_depth,
            MATRICES.index(self.matrix),
            RANGES.index(self.range),
            KEYFRAME_CODECS.index(self.keyframe_codec),
            self.keyframe_qp,
            self.tokens,
            self.step,
            self.model_id.encode("ascii")[:16].ljust(16, b"\0"),
            self.interval,
        )

    @staticmethod
    def unpack(raw: bytes, version: int = VERSION) -> Header:
        fields = _HEADERS[version].unpack(raw)
        (w, h, frames, num, den, depth, matrix, rng, codec, qp, tokens, step, model), rest = fields[:13], fields[13:]
        interval = rest[0] if rest else 1
        if not (2 <= w <= MAX_SIDE and 2 <= h <= MAX_SIDE and w % 2 == 0 and h % 2 == 0):
            raise BitstreamError(f"implausible frame size {w}x{h}")
        if not 1 <= frames <= MAX_FRAMES:
            raise BitstreamError(f"implausible frame count {frames}")
        if num == 0 or den == 0:
            raise BitstreamError("frame rate has a zero term")
        if depth not in (8, 10, 12, 16):
            raise BitstreamError(f"implausible bit depth {depth}")
        if matrix >= len(MATRICES) or rng >= len(RANGES) or codec >= len(KEYFRAME_CODECS):
            raise BitstreamError("unknown colour matrix, range or key-frame codec id")
        if not 1 <= tokens <= max_tokens_per_frame(w, h):
            raise BitstreamError(
                f"implausible token count {tokens} per frame for {w}x{h} frames (at most {max_tokens_per_frame(w, h)})"
            )
        if not (step > 0 and step < 1e6):
            raise BitstreamError(f"implausible quantisation step {step}")
        if not 1 <= interval <= MAX_INTERVAL:
            raise BitstreamError(f"implausible token interval {interval} (1 to {MAX_INTERVAL})")
        try:
            model_id = model.rstrip(b"\0").decode("ascii")
        except UnicodeDecodeError:
            raise BitstreamError("model id is not ASCII") from None
        return Header(
            w,
            h,
            frames,
            num,
            den,
            depth,
            MATRICES[matrix],
            RANGES[rng],
            KEYFRAME_CODECS[codec],
            qp,
            tokens,
            float(step),
            model_id,
            interval,
        )


@dataclass(frozen=True)
class Parsed:
    header: Header
    keyframe: bytes
    tokens: bytes
    skip: bytes = b""  # the motion-skip map (``unpack_skip``); empty: every cell moves
    wave: bytes = b""  # the wave (``waves.unpack_wave``, or ``planar.unpack_planar`` if planar); empty: none
    planar: bool = False  # the wave is a planar one (version 5)

    def decoded_wave(self) -> Wave | PlanarWave | None:
        """The wave the decoder adds to the token flows, or None."""
        inter, aspect = self.header.frames - 1, self.header.height / self.header.width
        if self.planar:
            return unpack_planar(self.wave, inter)
        return unpack_wave(self.wave, inter, aspect)


def build(
    header: Header, keyframe: bytes, tokens: bytes, skip: bytes = b"", wave: bytes = b"", planar: bool = False
) -> bytes:
    """The bitstream, in the lowest version that holds its parts: 2 (byte for byte what this
    codec wrote before skip maps) with neither a skip map nor a wave, 3 with a skip map alone,
    4 with a radial wave, 5 with a planar one."""
    head = header.pack()
    parts: tuple[bytes, ...]
    if wave:
        version, parts = (VERSION if planar else VERSION_RADIAL), (keyframe, tokens, skip, wave)
    elif skip:
        version, parts = VERSION_WITH_SKIP, (keyframe, tokens, skip)
    else:
        version, parts = VERSION_WITHOUT_SKIP, (keyframe, tokens)
    body = MAGIC + bytes([version]) + struct.pack(">H", len(head)) + head
    for part in parts:
        body += struct.pack(">I", len(part)) + part
    return body + struct.pack(">I", zlib.crc32(body))


def parse(data: bytes) -> Parsed:
    if len(data) < 4 + 1 + 2 + 4:
        raise BitstreamError(f"{len(data)} bytes: too short to be a Dynamics-Codec bitstream")
    if data[:4] != MAGIC:
        raise BitstreamError(f"not a Dynamics-Codec bitstream (magic {data[:4]!r})")
    version = data[4]
    if version not in _HEADERS:
        known = ", ".join(map(str, _HEADERS))
        raise BitstreamError(f"bitstream version {version}; this decoder reads versions {known}")
    (head_len,) = struct.unpack_from(">H", data, 5)
    if head_len != _HEADERS[version].size:
        raise BitstreamError(f"header of {head_len} bytes; version {version} headers have {_HEADERS[version].size}")
    pos = 7
    parts = []
    header_raw = _take(data, pos, head_len, "header")
    pos += head_len
    names = ["key-frame payload", "token payload"] + (["skip map"] if version >= 3 else [])
    names += ["wave"] if version >= 4 else []
    for name in names:
        (length,) = struct.unpack_from(">I", _take(data, pos, 4, f"{name} length"))
        pos += 4
        parts.append(_take(data, pos, length, name))
        pos += length
    (crc,) = struct.unpack(">I", _take(data, pos, 4, "checksum"))
    if pos + 4 != len(data):
        raise BitstreamError(f"{len(data) - pos - 4} bytes after the end of the bitstream (oversized)")
    if zlib.crc32(data[:pos]) != crc:
        raise BitstreamError("checksum mismatch: the bitstream is corrupt")
    header = Header.unpack(header_raw, version)
    rows = len(sent_frames(header.frames - 1, header.interval))
    claimed = rows * header.tokens
    if claimed > max_symbols(len(parts[1])):
        raise BitstreamError(
            f"the header claims {rows} sent inter frames x {header.tokens} tokens = "
            f"{claimed} values, more than a token payload of {len(parts[1])} bytes can hold "
            f"({max_symbols(len(parts[1]))}): the bitstream is corrupt or crafted"
        )
    skip = parts[2] if len(parts) > 2 else b""
    unpack_skip(skip, header.width, header.height)  # checked here, before anything is decoded
    wave = parts[3] if len(parts) > 3 else b""
    if version >= 4 and not wave:  # ``build`` writes version 3 or 2 when there is no wave
        raise BitstreamError(f"a version {version} bitstream without a wave: the bitstream is corrupt or crafted")
    parsed = Parsed(header, parts[0], parts[1], skip, wave, planar=version == 5)
    parsed.decoded_wave()  # checked here, before anything is decoded
    return parsed


def _take(data: bytes, pos: int, length: int, what: str) -> bytes:
    if pos + length > len(data):
        raise BitstreamError(
            f"truncated: the {what} needs {length} bytes at offset {pos}, only {max(0, len(data) - pos)} are left"
        )
    return data[pos : pos + length]
