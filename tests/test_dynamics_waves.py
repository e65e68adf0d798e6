"""Dynamics-Codec's wave tool: the fit finds a radial wave again, the encoder sends one where the
motion is a ripple and none where it is not, and the decoder adds it."""

import numpy as np
import pytest

from gvcbench.bench.plan import make_codec
from gvcbench.codecs import RatePoint
from gvcbench.codecs.dynamics import bitstream as bs
from gvcbench.codecs.dynamics import waves as W
from gvcbench.codecs.dynamics.codec import DEFAULT_WEIGHTS
from gvcbench.errors import ConfigError

needs_weights = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped weights missing")


def _ripple(size: int, frames: int, centre=(0.43, 0.58), k=9.3, decay=0.35, amplitude=2.0) -> np.ndarray:
    """(frames, size, size, 2) a travelling radial wave, its phase turning over the frames."""
    basis = W.radial_basis(size, size, *centre, k, decay)
    phases = np.linspace(0, 3, frames)
    return amplitude * np.stack([np.cos(p) * basis[0] + np.sin(p) * basis[1] for p in phases])


def test_the_fit_finds_a_radial_wave_again_under_noise():
    rng = np.random.default_rng(0)
    rest = _ripple(48, 8) + 0.3 * rng.normal(size=(8, 48, 48, 2))
    cx, cy, k, decay = W.fit_wave(rest.astype(np.float32))
    assert abs(cx - 0.43) < 0.005 and abs(cy - 0.58) < 0.005 and abs(k - 9.3) < 0.05, (cx, cy, k, decay)
    energies = W.scorer(rest)
    assert energies(cx, cy, k, decay)[0] > 0.95 * energies(0.43, 0.58, 9.3, 0.35)[0]


def test_the_centre_search_finds_rings_whose_displacements_point_elsewhere():
    """A wave plus a stronger inward motion towards another point: the lines of the
    displacements meet near that point, a ring spacing and more from the wave's centre."""
    size = 64
    wave = _ripple(size, 8, centre=(0.5, 0.5), k=20.0, amplitude=1.0)
    x, y = W.positions(size, size)
    towards = np.stack([0.525 - x, 0.52 - y], -1).reshape(size, size, 2) * 3
    rest = (wave + towards[None]).astype(np.float32)
    start = W.pointed_centre(rest)
    assert np.hypot(start[0] - 0.5, start[1] - 0.5) > 0.02  # more than a third of a ring off (1 / 20)
    cx, cy, k, _ = W.fit_wave(rest)
    assert abs(cx - 0.5) < 0.003 and abs(cy - 0.5) < 0.003 and abs(k - 20) < 0.1, (start, cx, cy, k)


def test_energies_are_the_least_squares_fit_of_each_wave():
    rng = np.random.default_rng(1)
    rest = rng.normal(size=(5, 20, 28, 2))
    params = (0.4, 0.45, 9.0, 0.35)
    coef = W.least_squares(rest, params)
    fitted = np.einsum("tb,bhwc->thwc", coef, W.radial_basis(20, 28, *params))
    explained = float((rest * rest).sum() - ((rest - fitted) ** 2).sum())
    many = W.scorer(rest)(np.array([0.3, 0.4, 0.5]), 0.45, np.array([8.0, 9.0, 10.0]), 0.35)
    assert np.isclose(many[1], explained, rtol=1e-4) and many.shape == (3,)  # the basis is float32
    # in batches (few waves at once on large grids) or one by one: the same energies
    ks = np.linspace(4, 30, 150)
    energies = W.scorer(rest)
    assert np.allclose(energies(0.4, 0.45, ks, 0.35), [energies(0.4, 0.45, k, 0.35)[0] for k in ks], rtol=1e-9)


def test_a_sent_wave_is_its_coefficients_times_its_basis():
    coefficients = np.array([[127, -3], [0, 64], [-127, 127]], np.int8)
    wave = W.Wave(0.5, 0.4, 12.0, 0.7, 0.02, coefficients)
    flows = wave.flows(24, 32)
    assert np.array_equal(flows[2], wave.frame(2, wave.basis(24, 32)).transpose(2, 0, 1))
    basis = W.radial_basis(24, 32, 0.5, 0.4, 12.0, 0.7)
    assert flows.shape == (3, 2, 24, 32)
    assert np.allclose(flows[1], (64 * 0.02 * basis[1]).transpose(2, 0, 1), atol=1e-6)
    sent = W.quantised((0.5, 0.4, 12.0, 0.7), np.array([[1.0, -0.5], [0.25, 0.0]]))
    assert np.abs(sent.coefficients.astype(float) * sent.scale - [[1.0, -0.5], [0.25, 0.0]]).max() <= sent.scale / 2


def test_detection_frames_are_spread_over_the_clip_and_end_on_its_last_frame():
    assert W.detection_frames(5) == [0, 1, 2, 3, 4]
    frames = W.detection_frames(49)
    assert len(frames) == W.DETECT_FRAMES and frames[-1] == 48 and np.all(np.diff(frames) >= 5)


def test_the_encoder_sends_a_wave_for_a_ripple_and_none_for_other_motion():
    size, n = 256, 12  # full size: the quarter grid the search runs on is 64 x 64
    truth = _ripple(size, n, k=12.0)  # (n, size, size, 2), what the tokens leave
    rng = np.random.default_rng(2)
    noisy = truth + 0.2 * rng.normal(size=truth.shape).astype(np.float32)
    wave = W.choose_wave(lambda i: noisy[i], n, size, size)
    assert wave is not None and wave.coefficients.shape == (n, 2)
    basis = wave.basis(size, size)
    left = np.stack([truth[t] - wave.frame(t, basis) for t in range(n)])
    assert np.linalg.norm(left, axis=-1).mean() < 0.05 * np.linalg.norm(truth, axis=-1).mean()
    # what the tokens already carry leaves nothing to send
    assert W.choose_wave(lambda i: np.zeros_like(truth[i]), n, size, size) is None
    # a sway (a wave travelling in x, not from a centre) and a steady pan are not radial waves
    x = (np.arange(size)[None, :] + 0.5) / size
    sway = [
        np.stack([3 * np.sin(2 * np.pi * (0.1 * t - 3 * x)).repeat(size, 0), np.zeros((size, size))], -1)
        for t in range(n)
    ]
    assert W.choose_wave(lambda i: sway[i].astype(np.float32), n, size, size) is None
    assert W.choose_wave(lambda i: np.full((size, size, 2), i + 1.0, np.float32), n, size, size) is None
    # too small a frame or a single inter frame: nothing is fitted (nor estimated)
    assert W.choose_wave(lambda i: truth[i, :32, :32], n, 32, 32) is None
    assert W.choose_wave(lambda i: truth[i], 1, size, size) is None


@pytest.mark.parametrize("size, k", [(384, 17.4), (384, 22.0), (256, 17.4)])
def test_a_decoded_wave_carries_the_full_size_motion_it_was_fitted_to(size, k):
    """The synthetic ripple's wavenumbers (12-22 cycles a width), the exact motion as what the
    tokens leave: the wave the decoder adds misses under 0.01 of it. A first version fitted and
    rendered the wave on the quarter grid and brought it up bilinearly, as the token flows are:
    it missed 0.15-0.32 (coefficients fitted to the area-averaged motion were also 5-11 % short)."""
    params = (0.47, 0.42, k, 0.35)
    full = W.radial_basis(size, size, *params)
    truth = 3.0 * np.stack([np.cos(p) * full[0] + np.sin(p) * full[1] for p in np.linspace(0, 3, 8)])
    wave = W.choose_wave(lambda i: truth[i], len(truth), size, size)
    basis = wave.basis(size, size)
    decoded = np.stack([wave.frame(t, basis) for t in range(len(truth))])
    error = np.linalg.norm(decoded - truth, axis=-1).mean() / np.linalg.norm(truth, axis=-1).mean()
    assert error < 0.01, error


def test_no_wave_is_searched_above_what_the_quarter_grid_holds():
    """At 256 px the quarter grid holds 32 cycles a width; rings of 30 aliased there into a
    wrong fit. The search stops at 0.4 x the quarter grid's width (25.6 at 256 px)."""
    rest = _ripple(64, 6, k=30.0).astype(np.float32)
    assert W.fit_wave(rest, max_k=25.6)[2] <= 25.6


@pytest.mark.parametrize("bad", [1, 0, "true", None])
def test_waves_must_be_a_boolean(bad):
    with pytest.raises(ConfigError, match="waves must be true or false"):
        make_codec("dynamics", {"keyframe_codec": "vvenc", "waves": bad})


@pytest.mark.slow
@needs_weights
def test_a_synthetic_ripple_is_sent_as_a_wave_and_decoded_closer_to_the_source(tmp_path):
    from gvcbench.datasets.synthetic import generate
    from gvcbench.metrics.psnr import PsnrY

    seq = generate("gravel-ripple", seed=0, size=256, frames=12)
    opts = {"keyframe_preset": "faster", "keyframe_codec": "vvenc"}
    plain, waves = make_codec("dynamics", opts | {"waves": False}), make_codec("dynamics", opts)
    assert "waves=" not in plain.version() and " waves=radial+planar " in waves.version()
    b_plain = plain.encode(seq, RatePoint(qp=37), tmp_path / "p", timeout=120)
    b_wave = waves.encode(seq, RatePoint(qp=37), tmp_path / "w", timeout=120)
    p_plain, p_wave = bs.parse(b_plain.path.read_bytes()), bs.parse(b_wave.path.read_bytes())
    assert (p_plain.keyframe, p_plain.tokens, p_plain.header) == (p_wave.keyframe, p_wave.tokens, p_wave.header)
    assert b_wave.path.read_bytes()[4] == 4 and b_wave.parts["wave"] == len(p_wave.wave) == 20 + 2 * 11
    assert sum(b_wave.parts.values()) == b_wave.num_bytes and "wave" not in b_plain.parts
    psnr = PsnrY()
    without = psnr.frame_values(seq, plain.decode(b_plain, tmp_path / "dp", timeout=120).sequence)
    with_wave = psnr.frame_values(seq, waves.decode(b_wave, tmp_path / "dw", timeout=120).sequence)
    assert with_wave[0] == without[0] and np.mean(with_wave[1:]) > np.mean(without[1:]) + 1.0, (with_wave, without)


@pytest.mark.slow
@needs_weights
def test_real_footage_sends_no_wave_and_its_stream_is_as_before(tmp_path):
    from .conftest import real_clip

    seq = real_clip(frames=10, size="128x128")
    opts = {"keyframe_preset": "faster", "keyframe_codec": "vvenc"}
    b_plain = make_codec("dynamics", opts | {"waves": False}).encode(seq, RatePoint(qp=42), tmp_path / "p", 120)
    b_wave = make_codec("dynamics", opts).encode(seq, RatePoint(qp=42), tmp_path / "w", 120)
    assert b_wave.parts["wave"] == 0 and b_wave.path.read_bytes() == b_plain.path.read_bytes()


def test_a_wave_fitted_to_a_tall_frame_is_accepted_by_the_parser():
    """The fit's centre may lie anywhere within half a frame width of the frame, in frame
    widths: on a frame more than ~100 widths tall (64 x 6464 px, quarter grid 16 x 1616) that
    is past the parser's fixed |cy| < 100, and the encoder wrote a stream its decoder refused."""
    height, width = 6464, 64
    basis = W.radial_basis(height, width, 0.5, 100.6, 5.0, 0.7)
    rest = 2 * np.stack([np.cos(p) * basis[0] + np.sin(p) * basis[1] for p in np.linspace(0, 3, 4)])
    wave = W.choose_wave(lambda i: rest[i], 4, height, width)
    assert wave is not None and wave.cy > 100
    header = bs.Header(width, height, 5, 25, 1, 8, "bt709", "limited", "vvenc", 37, 40, 0.05, "dyn")
    from gvcbench.codecs.dynamics.entropy import encode_residuals

    parsed = bs.parse(bs.build(header, b"key", encode_residuals([[0] * 40] * 4, 40), b"", W.pack_wave(wave)))
    assert W.unpack_wave(parsed.wave, 4, aspect=height / width).cy == wave.cy


def test_the_polish_starts_inside_the_bounds_it_keeps():
    """Motion pointing at a point far outside the frame (a zoom about it): the centre is
    clipped to the bounds, the grid around it reaches past them, and Nelder-Mead was started
    outside its own bounds (scipy's 'Initial guess is not within the specified bounds')."""
    import warnings

    x, y = W.positions(32, 32)
    towards = np.stack([5 - x, 0.5 - y], -1).reshape(32, 32, 2) * 0.3
    rest = np.stack([towards * (t + 1) for t in range(4)]).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cx, cy, _, _ = W.fit_wave(rest)
    assert -W.CENTRE_OUTSIDE <= cx <= 1 + W.CENTRE_OUTSIDE and -W.CENTRE_OUTSIDE <= cy <= 1 + W.CENTRE_OUTSIDE
