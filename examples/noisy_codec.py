#!/usr/bin/env python3
"""A toy stochastic codec for the `external` adapter: its decoder draws seeded noise.

    noisy_codec.py encode INPUT.y4m BITSTREAM QP
    noisy_codec.py decode BITSTREAM OUTPUT.yuv SEED [NOISE]

The encoder quantises every 8-bit 4:2:0 sample with the step 2**((QP - 4) / 6) and
deflates the indices; the decoder dequantises and, like a generative decoder that
synthesises texture, adds noise drawn from SEED: one offset per 16x16 block and one per
sample, each NOISE (default 1/3) of the step. The same seed gives the same output; other seeds give
other samples of the same bitstream.
"""

import struct
import sys
import zlib

import numpy as np

MAGIC = b"NOISY1"


def read_y4m(path):
    data = open(path, "rb").read()
    end = data.index(b"\n")
    tokens = data[:end].split()
    if tokens[0] != b"YUV4MPEG2":
        sys.exit(f"{path}: not a YUV4MPEG2 file")
    w = h = None
    for t in tokens[1:]:
        if t[:1] == b"W":
            w = int(t[1:])
        elif t[:1] == b"H":
            h = int(t[1:])
        elif t[:1] == b"C" and not t.startswith(b"C420"):
            sys.exit(f"{path}: only 8-bit 4:2:0 input, got {t.decode()}")
    frames, pos, size = [], end + 1, w * h * 3 // 2
    while pos < len(data):
        pos = data.index(b"\n", pos) + 1  # FRAME line
        frames.append(np.frombuffer(data[pos : pos + size], np.uint8))
        pos += size
    return w, h, np.stack(frames)


def step_of(qp):
    return 2.0 ** ((qp - 4) / 6)


def encode(src, out, qp):
    w, h, frames = read_y4m(src)
    idx = np.round(frames.astype(np.float64) / step_of(qp)).astype(np.int16)
    payload = zlib.compress(idx.tobytes(), 9)
    with open(out, "wb") as f:
        f.write(MAGIC + struct.pack("<IIII", w, h, len(frames), qp) + payload)


def decode(bitstream, out, seed, noise=1 / 3):
    data = open(bitstream, "rb").read()
    if data[:6] != MAGIC:
        sys.exit(f"{bitstream}: not a noisy-codec bitstream")
    w, h, n, qp = struct.unpack("<IIII", data[6:22])
    step = step_of(qp)
    idx = np.frombuffer(zlib.decompress(data[22:]), np.int16).reshape(n, w * h * 3 // 2)
    rng = np.random.default_rng(seed)
    frames = idx.astype(np.float64) * step + rng.normal(0, step * noise, idx.shape)
    blocks = rng.normal(0, step * noise, (n, -(-h // 16), -(-w // 16)))
    frames[:, : w * h] += np.repeat(np.repeat(blocks, 16, 1), 16, 2)[:, :h, :w].reshape(n, -1)
    np.clip(np.round(frames), 0, 255).astype(np.uint8).tofile(out)


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6) or sys.argv[1] not in ("encode", "decode"):
        sys.exit(__doc__)
    if sys.argv[1] == "encode":
        encode(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        decode(sys.argv[2], sys.argv[3], int(sys.argv[4]), *map(float, sys.argv[5:]))
