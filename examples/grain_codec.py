#!/usr/bin/env python3
"""x265 with seeded grain synthesis at the decoder: a stochastic codec for `external`.

    grain_codec.py encode INPUT.y4m BITSTREAM QP
    grain_codec.py decode BITSTREAM OUTPUT.yuv SEED WIDTH HEIGHT [SCALE]

The encoder is x265 (low delay, fixed QP, through the FFmpeg of imageio-ffmpeg); the
decoder decodes it and adds grain drawn from SEED to the luma, as film-grain synthesis
or a generative decoder would: sample noise plus 8x8-block noise, its strength growing
with the QP stored in the bitstream's first byte, times SCALE (default 1). Same seed, same
output.
"""

import subprocess
import sys

import numpy as np


def ffmpeg():
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def encode(src, out, qp):
    params = f"qp={qp}:bframes=0:keyint=-1:scenecut=0:frame-threads=1:pools=1:log-level=error"
    hevc = subprocess.run(
        [
            ffmpeg(),
            "-v",
            "error",
            "-i",
            src,
            "-c:v",
            "libx265",
            "-preset",
            "fast",
            "-x265-params",
            params,
            "-f",
            "hevc",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    with open(out, "wb") as f:
        f.write(bytes([qp]) + hevc)


def decode(bitstream, out, seed, width, height, scale=1.0):
    data = open(bitstream, "rb").read()
    qp = data[0]
    raw = subprocess.run(
        [ffmpeg(), "-v", "error", "-f", "hevc", "-i", "-", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
        input=data[1:],
        check=True,
        capture_output=True,
    ).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height * width * 3 // 2).astype(np.float64)
    n = len(frames)
    strength = (0.4 + 0.08 * max(qp - 22, 0)) * scale
    rng = np.random.default_rng(seed)
    grain = rng.normal(0, strength, (n, height, width))
    blocks = rng.normal(0, strength, (n, -(-height // 8), -(-width // 8)))
    grain += np.repeat(np.repeat(blocks, 8, 1), 8, 2)[:, :height, :width]
    frames[:, : height * width] += grain.reshape(n, -1)
    np.clip(np.round(frames), 0, 255).astype(np.uint8).tofile(out)


if __name__ == "__main__":
    if len(sys.argv) < 5 or sys.argv[1] not in ("encode", "decode"):
        sys.exit(__doc__)
    if sys.argv[1] == "encode":
        encode(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        decode(
            sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), *map(float, sys.argv[7:])
        )
