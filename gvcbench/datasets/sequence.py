"""The unit of content: YUV 4:2:0 planes with frame rate and colour information."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from ..errors import DatasetError

# Kr, Kb of the Y'CbCr matrices we know; RGB conversion uses exactly these.
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}
RANGES = ("limited", "full")


@dataclass(frozen=True)
class ColourInfo:
    matrix: str = "bt709"
    range: str = "limited"

    def __post_init__(self):
        if self.matrix not in MATRICES:
            raise DatasetError(f"unknown colour matrix {self.matrix!r}; use one of {', '.join(MATRICES)}")
        if self.range not in RANGES:
            raise DatasetError(f"unknown colour range {self.range!r}; use 'limited' or 'full'")


NTSC_BASES = (24, 30, 48, 60, 120, 240)  # rates whose NTSC variants are 1000/1001 of them


def decimal_rate(value: float | str) -> Fraction:
    """A frame rate written as a decimal: 29.97, 59.94 and 23.976 (and the like) are the
    NTSC rates 30000/1001, 60000/1001 and 24000/1001, which they abbreviate (read as 2997/100,
    a rate differs by 0.003 %, and so does every kbps); any other decimal is itself."""
    rate = Fraction(str(value))
    if "/" in str(value):  # a fraction, as written
        return rate
    for base in NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if rate != base and abs(rate - ntsc) < Fraction(1, 200):
            return ntsc
    return rate


def frame_rate(value: float | str | Fraction) -> Fraction:
    """A frame rate from a Fraction or an int as it is, from a decimal by ``decimal_rate``."""
    return decimal_rate(value) if isinstance(value, float | str) else Fraction(value)


@dataclass(frozen=True, eq=False)
class Sequence:
    """Frames as three plane arrays: y (T, H, W), u and v (T, H/2, W/2).

    8-bit content is stored as uint8, 9..16-bit content as uint16 with the sample values
    (not shifted). ``fps`` is a Fraction so 30000/1001 stays exact.
    """

    name: str
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    fps: Fraction
    bit_depth: int = 8
    colour: ColourInfo = field(default_factory=ColourInfo)

    def __post_init__(self):
        if self.y.ndim != 3 or self.u.ndim != 3 or self.v.ndim != 3:
            raise DatasetError(f"{self.name}: planes must be (frames, height, width) arrays")
        t, h, w = self.y.shape
        if h % 2 or w % 2:
            raise DatasetError(f"{self.name}: 4:2:0 needs even width and height, got {w}x{h}")
        if self.u.shape != (t, h // 2, w // 2) or self.v.shape != (t, h // 2, w // 2):
            raise DatasetError(
                f"{self.name}: chroma planes {self.u.shape}/{self.v.shape} do not fit 4:2:0 of luma {self.y.shape}"
            )
        if not 8 <= self.bit_depth <= 16:
            raise DatasetError(f"{self.name}: bit depth {self.bit_depth} outside 8..16")
        want = np.uint8 if self.bit_depth == 8 else np.uint16
        for plane in (self.y, self.u, self.v):
            if plane.dtype != want:
                raise DatasetError(
                    f"{self.name}: {self.bit_depth}-bit planes must be {want.__name__}, got {plane.dtype}"
                )
        object.__setattr__(self, "fps", frame_rate(self.fps).limit_denominator(1001000))
        if self.fps <= 0:
            raise DatasetError(f"{self.name}: fps must be positive, got {self.fps}")

    # -- geometry -----------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return self.y.shape[0]

    @property
    def height(self) -> int:
        return self.y.shape[1]

    @property
    def width(self) -> int:
        return self.y.shape[2]

    @property
    def max_value(self) -> int:
        return (1 << self.bit_depth) - 1

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * 3 // 2 * (1 if self.bit_depth == 8 else 2)

    def describe(self) -> str:
        return (
            f"{self.name}: {self.width}x{self.height}, {self.num_frames} frames, "
            f"{float(self.fps):g} fps, {self.bit_depth}-bit, {self.colour.matrix}/{self.colour.range}"
        )

    # -- derived sequences ----------------------------------------------------------
    def with_planes(self, y, u, v, **changes) -> Sequence:
        return replace(self, y=y, u=u, v=v, **changes)

    def frames(self, start: int = 0, count: int | None = None) -> Sequence:
        if start < 0 or start >= self.num_frames:
            raise DatasetError(f"{self.name}: start frame {start} outside 0..{self.num_frames - 1}")
        stop = self.num_frames if count is None else start + count
        if count is not None and (count <= 0 or stop > self.num_frames):
            raise DatasetError(
                f"{self.name}: asked for {count} frames from frame {start}, but the sequence has {self.num_frames}"
            )
        return self.with_planes(self.y[start:stop], self.u[start:stop], self.v[start:stop])

    def to_bit_depth(self, bit_depth: int) -> Sequence:
        """Shift to another bit depth (left shift up, rounding right shift down), as VTM does."""
        if bit_depth == self.bit_depth:
            return self
        dtype = np.uint8 if bit_depth == 8 else np.uint16
        diff = bit_depth - self.bit_depth

        def conv(p):
            p = p.astype(np.int32)
            if diff > 0:
                return (p << diff).astype(dtype)
            return np.clip((p + (1 << (-diff - 1))) >> -diff, 0, (1 << bit_depth) - 1).astype(dtype)

        return self.with_planes(conv(self.y), conv(self.u), conv(self.v), bit_depth=bit_depth)

    # -- identity -----------------------------------------------------------------
    def content_hash(self) -> str:
        """SHA-256 over samples and the properties that change their meaning."""
        h = hashlib.sha256()
        h.update(
            f"{self.width}x{self.height}x{self.num_frames}:{self.bit_depth}:{self.fps}:"
            f"{self.colour.matrix}:{self.colour.range}".encode()
        )
        for plane in (self.y, self.u, self.v):
            h.update(np.ascontiguousarray(plane).tobytes())
        return h.hexdigest()

    # -- colour -------------------------------------------------------------------
    def rgb(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start, stop) as float32 RGB in [0, 1], shape (T, H, W, 3).

        Chroma is upsampled by sample repetition; the matrix and range are the
        sequence's own (``colour``), and values are clipped to [0, 1].
        """
        return yuv_to_rgb(self.y[start:stop], self.u[start:stop], self.v[start:stop], self.bit_depth, self.colour)


def rgb_uint8(seq: Sequence, start: int, stop: int) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB of frames start..stop-1 (the sequence's matrix and range, as
    if written to PNG): the one 8-bit RGB conversion of perceptual metrics and Dynamics-Codec."""
    return np.rint(seq.rgb(start, stop) * 255.0).astype(np.uint8)


def _normalised(y, u, v, bit_depth, colour):
    scale = float(1 << (bit_depth - 8))
    yf = y.astype(np.float32) / scale
    uf = u.astype(np.float32) / scale
    vf = v.astype(np.float32) / scale
    if colour.range == "limited":
        return (yf - 16) / 219, (uf - 128) / 224, (vf - 128) / 224
    peak = (1 << bit_depth) - 1
    mid = 1 << (bit_depth - 1)
    return y.astype(np.float32) / peak, (u.astype(np.float32) - mid) / peak, (v.astype(np.float32) - mid) / peak


def yuv_to_rgb(y, u, v, bit_depth: int, colour: ColourInfo) -> np.ndarray:
    kr, kb = MATRICES[colour.matrix]
    kg = 1 - kr - kb
    yn, un, vn = _normalised(y, u, v, bit_depth, colour)
    un = un.repeat(2, axis=-2).repeat(2, axis=-1)
    vn = vn.repeat(2, axis=-2).repeat(2, axis=-1)
    r = yn + 2 * (1 - kr) * vn
    b = yn + 2 * (1 - kb) * un
    g = (yn - kr * r - kb * b) / kg
    return np.clip(np.stack([r, g, b], axis=-1), 0.0, 1.0)


def rgb_to_yuv420(rgb: np.ndarray, bit_depth: int = 8, colour: ColourInfo = ColourInfo()):
    """RGB frames (T, H, W, 3), float in [0, 1] or uint8, to 4:2:0 planes.

    Chroma is the mean of each 2x2 block (centred siting), then rounded.
    """
    if rgb.dtype == np.uint8:
        rgb = rgb.astype(np.float32) / 255.0
    kr, kb = MATRICES[colour.matrix]
    kg = 1 - kr - kb
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    yn = kr * r + kg * g + kb * b
    un = (b - yn) / (2 * (1 - kb))
    vn = (r - yn) / (2 * (1 - kr))
    t, h, w = yn.shape
    un = un.reshape(t, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    vn = vn.reshape(t, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    scale = float(1 << (bit_depth - 8))
    peak = (1 << bit_depth) - 1
    if colour.range == "limited":
        ys, us, vs = (16 + 219 * yn) * scale, (128 + 224 * un) * scale, (128 + 224 * vn) * scale
    else:
        mid = 1 << (bit_depth - 1)
        ys, us, vs = yn * peak, un * peak + mid, vn * peak + mid
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    return tuple(np.clip(np.rint(p), 0, peak).astype(dtype) for p in (ys, us, vs))
