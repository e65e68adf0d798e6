"""Context-adaptive binary arithmetic coding of integer token residuals (CABAC-style).

* A binary range coder (32-bit range, carry propagation through a cache byte) codes
  each bin with an adaptive probability or, for bypass bins, with probability 1/2. The
  probability is the mean of a fast and a slow estimate (shifts 4 and 7, as VVC's
  dual-rate estimator), so a context learns quickly from the few dozen bins one clip
  gives it and still settles.
* Binarization of a signed integer v: a "zero" bin; for v != 0 a sign bin and the
  magnitude - 1 as a truncated-unary prefix of up to ``PREFIX_BINS`` context-coded bins,
  then, past the prefix, an order-0 Exp-Golomb suffix in bypass bins.
* Contexts are selected as CABAC does, from already-coded neighbours: the token vector
  a value belongs to (first or second half of the row) and the magnitude class of the
  previous value in the row (0, 1, more), six context sets in all, so each learns from
  hundreds of bins per clip rather than a few dozen.

The decoder never reads past its input without noticing, and every loop is bounded, so
corrupt input ends in a ``BitstreamError``, not a hang.
"""

from __future__ import annotations

PROB_BITS = 15
PROB_ONE = 1 << PROB_BITS
FAST, SLOW = 4, 7
TOP = 1 << 24
PREFIX_BINS = 8
MAX_SUFFIX_BITS = 30
MIN_PROB = 1 << 5  # the adaptive probabilities never leave [MIN_PROB, PROB_ONE - MIN_PROB]


def max_symbols(payload_bytes: int) -> int:
    """The most symbols a payload of this many bytes can hold. Every symbol costs at least
    one context-coded bin, and a bin costs at least -log2(1 - MIN_PROB / PROB_ONE) bits
    (~0.0014), so a byte holds at most ~5700 symbols; the decoder's five start-up bytes
    are counted as one more."""
    import math

    per_byte = math.ceil(8 / -math.log2(1 - MIN_PROB / PROB_ONE))
    return (payload_bytes + 1) * per_byte


class BitstreamError(ValueError):
    """The input is not a valid stream of this format (truncated, corrupt or oversized)."""


NEIGHBOUR_CLASSES = 3
VECTORS = 2


class Contexts:
    """Adaptive probabilities (of a 0 bin), two estimates each (fast, slow), for every
    context set: (token vector, neighbour class) x (zero flag, sign, prefix bins)."""

    def __init__(self, positions: int):
        self.positions = positions
        self.width = 2 + PREFIX_BINS
        self.p = [[PROB_ONE // 2, PROB_ONE // 2] for _ in range(VECTORS * NEIGHBOUR_CLASSES * self.width)]

    def select(self, position: int, previous: int) -> int:
        vector = min(VECTORS - 1, position * VECTORS // self.positions)
        neighbour = min(abs(previous), NEIGHBOUR_CLASSES - 1)
        return (vector * NEIGHBOUR_CLASSES + neighbour) * self.width

    @staticmethod
    def index(base: int, element: int) -> int:
        return base + element


def _probability(state: list[int]) -> int:
    return min(max((state[0] + state[1]) >> 1, MIN_PROB), PROB_ONE - MIN_PROB)


def _update(state: list[int], bit: int) -> None:
    if bit:
        state[0] -= state[0] >> FAST
        state[1] -= state[1] >> SLOW
    else:
        state[0] += (PROB_ONE - state[0]) >> FAST
        state[1] += (PROB_ONE - state[1]) >> SLOW


class Encoder:
    def __init__(self):
        self.low = 0
        self.range = 0xFFFFFFFF
        self.cache = 0
        self.cache_size = 1
        self.out = bytearray()

    def _shift_low(self) -> None:
        if self.low < 0xFF000000 or self.low >= (1 << 32):
            carry = self.low >> 32
            temp = self.cache
            while True:
                self.out.append((temp + carry) & 0xFF)
                temp = 0xFF
                self.cache_size -= 1
                if self.cache_size == 0:
                    break
            self.cache = (self.low >> 24) & 0xFF
        self.cache_size += 1
        self.low = (self.low << 8) & 0xFFFFFFFF

    def bit(self, probs: list, i: int, bit: int) -> None:
        bound = (self.range >> PROB_BITS) * _probability(probs[i])
        if bit == 0:
            self.range = bound
        else:
            self.low += bound
            self.range -= bound
        _update(probs[i], bit)
        while self.range < TOP:
            self.range = (self.range << 8) & 0xFFFFFFFF
            self._shift_low()

    def bypass(self, bit: int) -> None:
        self.range >>= 1
        if bit:
            self.low += self.range
        while self.range < TOP:
            self.range = (self.range << 8) & 0xFFFFFFFF
            self._shift_low()

    def finish(self) -> bytes:
        for _ in range(5):
            self._shift_low()
        return bytes(self.out)


class Decoder:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.overread = 0
        self.range = 0xFFFFFFFF
        self.code = 0
        for _ in range(5):
            self.code = ((self.code << 8) | self._byte()) & 0xFFFFFFFFFF
        self.code &= 0xFFFFFFFF

    def _byte(self) -> int:
        if self.pos < len(self.data):
            b = self.data[self.pos]
            self.pos += 1
            return b
        self.overread += 1
        if self.overread > 8:
            raise BitstreamError("token payload is truncated (the arithmetic decoder ran past its end)")
        return 0

    def _normalize(self) -> None:
        while self.range < TOP:
            self.range = (self.range << 8) & 0xFFFFFFFF
            self.code = ((self.code << 8) | self._byte()) & 0xFFFFFFFF

    def bit(self, probs: list, i: int) -> int:
        bound = (self.range >> PROB_BITS) * _probability(probs[i])
        if self.code < bound:
            self.range = bound
            bit = 0
        else:
            self.code -= bound
            self.range -= bound
            bit = 1
        _update(probs[i], bit)
        self._normalize()
        return bit

    def bypass(self) -> int:
        self.range >>= 1
        if self.code >= self.range:
            self.code -= self.range
            bit = 1
        else:
            bit = 0
        self._normalize()
        return bit


def encode_value(enc: Encoder, ctx: Contexts, position: int, value: int) -> None:
    """``position`` is the context base from ``Contexts.select``."""
    p = ctx.p
    enc.bit(p, ctx.index(position, 0), 1 if value else 0)
    if not value:
        return
    enc.bit(p, ctx.index(position, 1), 1 if value < 0 else 0)
    rest = abs(value) - 1
    for k in range(PREFIX_BINS):
        if rest == k:
            enc.bit(p, ctx.index(position, 2 + k), 0)
            return
        enc.bit(p, ctx.index(position, 2 + k), 1)
    _exp_golomb(enc, rest - PREFIX_BINS)


def _exp_golomb(enc: Encoder, value: int) -> None:
    """Order-0 Exp-Golomb in bypass bins: n ones, a zero, then n bits of value + 1 - 2^n."""
    v = value + 1
    n = v.bit_length() - 1
    if n > MAX_SUFFIX_BITS:
        raise ValueError(f"token residual {value} is too large to code")
    for _ in range(n):
        enc.bypass(1)
    enc.bypass(0)
    for shift in range(n - 1, -1, -1):
        enc.bypass((v >> shift) & 1)


def decode_value(dec: Decoder, ctx: Contexts, position: int) -> int:
    """``position`` is the context base from ``Contexts.select``."""
    p = ctx.p
    if not dec.bit(p, ctx.index(position, 0)):
        return 0
    negative = dec.bit(p, ctx.index(position, 1))
    rest = None
    for k in range(PREFIX_BINS):
        if not dec.bit(p, ctx.index(position, 2 + k)):
            rest = k
            break
    if rest is None:
        n = 0
        while dec.bypass():
            n += 1
            if n > MAX_SUFFIX_BITS:
                raise BitstreamError("token payload is corrupt (an Exp-Golomb prefix longer than allowed)")
        v = 1
        for _ in range(n):
            v = (v << 1) | dec.bypass()
        rest = PREFIX_BINS + v - 1
    magnitude = rest + 1
    return -magnitude if negative else magnitude


def encode_residuals(rows: list[list[int]], positions: int) -> bytes:
    """Rows of ``positions`` integers (one row per inter frame) -> bytes."""
    enc, ctx = Encoder(), Contexts(positions)
    for row in rows:
        if len(row) != positions:
            raise ValueError(f"every row needs {positions} values, got {len(row)}")
        previous = 0
        for i, v in enumerate(row):
            encode_value(enc, ctx, ctx.select(i, previous), int(v))
            previous = int(v)
    return enc.finish()


def decode_residuals(data: bytes, count: int, positions: int) -> list[list[int]]:
    if count * positions > max_symbols(len(data)):
        raise BitstreamError(
            f"{count} x {positions} token values cannot be coded in {len(data)} bytes "
            f"(at most {max_symbols(len(data))}): the header or the token payload is corrupt"
        )
    dec, ctx = Decoder(data), Contexts(positions)
    rows = []
    for _ in range(count):
        row, previous = [], 0
        for i in range(positions):
            previous = decode_value(dec, ctx, ctx.select(i, previous))
            row.append(previous)
        rows.append(row)
    # The encoder's flush and the decoder's start-up are the same five bytes, so a valid
    # payload is consumed exactly: anything else is corrupt, truncated or oversized.
    if dec.overread:
        raise BitstreamError("token payload is truncated (the arithmetic decoder ran past its end)")
    if dec.pos != len(data):
        raise BitstreamError(f"token payload has {len(data) - dec.pos} unread bytes; it is corrupt or oversized")
    return rows
