"""The planar wave tool: found where a wave travels across the frame, not sent where it does
not help, its payload round trips through the bitstream and damaged ones are refused."""

import struct

import numpy as np
import pytest

from gvcbench.bench.plan import make_codec
from gvcbench.codecs import RatePoint
from gvcbench.codecs.dynamics import bitstream as B
from gvcbench.codecs.dynamics import planar as P
from gvcbench.codecs.dynamics.codec import DEFAULT_WEIGHTS
from gvcbench.codecs.dynamics.entropy import BitstreamError, encode_residuals

HEADER = B.Header(384, 384, 13, 25, 1, 8, "bt709", "limited", "vvenc", 37, 40, 0.05, "dyn-v1-abcdef")


def _travelling(frames=12, size=96, theta=np.radians(30.0), k=3.5, seed=0):
    """A wave travelling along ``theta``, its amplitude falling from top to bottom, moving
    along x and a little along y, plus estimator-like noise: (frames, size, size, 2) pixels."""
    rng = np.random.default_rng(seed)
    waves = P.travelling(size, size, theta, k)
    amplitude = np.linspace(3.0, 0.5, size)[:, None] * np.ones(size)
    phases = 2 * np.pi * 0.7 * np.arange(frames) / 25
    polarisation = np.array([1.0, 0.2])[:, None, None]
    moved = np.stack([amplitude * (np.cos(p) * waves[0] + np.sin(p) * waves[1]) * polarisation for p in phases])
    return (moved.transpose(0, 2, 3, 1) + rng.normal(0, 0.1, (frames, size, size, 2))).astype(np.float32)


def test_a_travelling_wave_is_found_and_carried():
    rest = _travelling()
    wave = P.choose_planar(rest)
    assert wave is not None
    assert abs(np.degrees(wave.theta) - 30.0) < 4 and abs(wave.k - 3.5) < 0.2
    left = rest - wave.flows(96, 96).transpose(0, 2, 3, 1)
    assert P.epe(left) < 0.35 * P.epe(rest)  # what is left is mostly the noise
    assert np.abs(wave.envelope).max() == pytest.approx(1.0)
    assert wave.envelope[0].mean() > 2 * wave.envelope[-1].mean()  # the amplitude falls downwards


def test_no_planar_wave_where_it_would_not_help():
    rng = np.random.default_rng(1)
    shape = (12, 96, 96, 2)
    assert P.choose_planar(np.zeros(shape, np.float32)) is None  # nothing left to explain
    assert P.choose_planar(rng.normal(0, 1, shape).astype(np.float32)) is None  # noise
    pan = np.broadcast_to(np.arange(12)[:, None, None, None] * np.array([1.0, 0.5]), shape)
    assert P.choose_planar(pan.astype(np.float32)) is None  # a pan: the tokens' motion, not a wave
    assert P.choose_planar(_travelling()[:1]) is None  # one frame
    assert P.choose_planar(_travelling(size=12)) is None  # too small to hold a wave


def test_the_payload_round_trips_through_a_version_5_bitstream():
    wave = P.choose_planar(_travelling())
    tokens = encode_residuals([[0] * 40] * 12, 40)
    data = B.build(HEADER, b"key", tokens, b"", wave.pack(), planar=True)
    assert data[4] == 5
    parsed = B.parse(data)
    back = parsed.decoded_wave()
    assert isinstance(back, P.PlanarWave) and back.theta == wave.theta and back.k == wave.k
    assert np.array_equal(back.envelope, wave.envelope) and np.array_equal(back.coefficients, wave.coefficients)
    assert np.array_equal(back.flows(384, 384), wave.flows(384, 384))
    assert B.build(HEADER, b"key", tokens, b"", b"\x00" * 32)[4] == 4  # a radial wave: version 4, as before


@pytest.mark.parametrize(
    "damage, says",
    [
        (lambda p: p[:-1], "a planar wave of 95 bytes; with 12 inter frames it takes 96"),
        (lambda p: struct.pack(">f", np.nan) + p[4:], "implausible planar wave"),
        (lambda p: p[:4] + struct.pack(">f", 0.0) + p[8:], "implausible planar wave"),
        (lambda p: p[:12] + struct.pack(">f", 3.0) + p[16:], "implausible planar wave"),
        (lambda p: p[:-1] + b"\x80", "a wave coefficient of -128"),
    ],
)
def test_damaged_planar_payloads_are_refused(damage, says):
    payload = P.choose_planar(_travelling()).pack()
    data = B.build(HEADER, b"key", encode_residuals([[0] * 40] * 12, 40), b"", damage(payload), planar=True)
    with pytest.raises(BitstreamError, match=says):
        B.parse(data)


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped weights missing")
def test_synthetic_sway_is_sent_with_a_planar_wave_and_decoded_closer_to_the_source(tmp_path):
    from gvcbench.datasets.synthetic import generate
    from gvcbench.metrics.psnr import PsnrY

    seq = generate("grass-sway", seed=0, size=256, frames=13)
    opts = {"keyframe_preset": "faster", "keyframe_codec": "vvenc"}
    plain, waves = make_codec("dynamics", opts | {"waves": False}), make_codec("dynamics", opts)
    b_plain = plain.encode(seq, RatePoint(qp=37), tmp_path / "p", timeout=120)
    b_wave = waves.encode(seq, RatePoint(qp=37), tmp_path / "w", timeout=120)
    p_plain, p_wave = B.parse(b_plain.path.read_bytes()), B.parse(b_wave.path.read_bytes())
    assert (p_plain.keyframe, p_plain.tokens, p_plain.header) == (p_wave.keyframe, p_wave.tokens, p_wave.header)
    assert b_wave.path.read_bytes()[4] == 5 and p_wave.planar and b_wave.parts["wave"] == 12 + 36 + 4 * 12
    psnr = PsnrY()
    without = psnr.frame_values(seq, plain.decode(b_plain, tmp_path / "dp", timeout=120).sequence)
    with_wave = psnr.frame_values(seq, waves.decode(b_wave, tmp_path / "dw", timeout=120).sequence)
    assert with_wave[0] == without[0] and np.mean(with_wave[1:]) > np.mean(without[1:]) + 0.3, (with_wave, without)


def test_fitting_the_envelope_holds_no_array_per_node_of_every_frame():
    """The envelope's least squares from its 9 x 9 normal equations: memory a few times the
    flows', not nine times every frame's (2 GB at 1920 x 1088 and 50 frames)."""
    import tracemalloc

    rest = np.random.default_rng(0).normal(0, 1, (24, 64, 64, 2)).astype(np.float32)
    tracemalloc.start()
    try:
        P.fit_envelope(rest, 0.5, 3.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * rest.nbytes, peak / rest.nbytes


def test_no_wavenumber_is_searched_above_what_the_quarter_grid_holds():
    """On a 16-pixel quarter grid (a 64-pixel frame) a wave of 7-8 cycles a width aliases: the
    encoder would fit and judge the alias while the decoder adds the true wave at full size."""
    rest = _travelling(size=16, k=7.0)
    assert P.search(rest, max_k=0.4 * 16)[1] <= 6.4
    wave = P.choose_planar(rest)
    assert wave is None or wave.k <= 6.4
