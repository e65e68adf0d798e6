"""The wave tool: one radial wave (water rippling out from a centre) that the encoder fits to
the motion the tokens leave, and the decoder adds to their flows.

No token grid carries ripples: cell-pooled tokens cannot say where rings are whose phase
turns over within a cell, even trained on the true motion with the dense flow as input
(docs/dynamics-codec.md, "Ripple against the truth"). An explicit wave can: per clip a
centre (cx, cy), a wavenumber k (cycles per frame width) and a decay (e-folding distance in
frame widths), per inter frame two coefficients (a, b):

    D_t(p) = exp(-r / decay) (a_t sin 2 pi k r + b_t cos 2 pi k r) (p - c) / r,   r = |p - c|

with coordinates in frame widths. The encoder estimates what the codec's DIS preset cannot
see (``DisFlow("fine")``), fits the wave to what the decoded token flows leave of that motion
on a few frames (``fit_wave``), keeps it when it lowers their end-point error by at least
``MIN_GAIN``, and then fits the coefficients of every inter frame. On real footage no wave is
kept (none of the validation clips moves as one radial wave): the stream is what it was.

Payload (bitstream version 4): cx, cy, k, decay, coefficient scale (float32 each, big-endian),
then (a_t, b_t) for every inter frame as int8 multiples of the scale.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .entropy import BitstreamError
from .frames import SCALE, low_res

_PARAMS = struct.Struct(">fffff")
MIN_GAIN = 0.10  # a wave is sent when it removes at least this share of the decoded flows' end-point error
DETECT_FRAMES = 8  # inter frames (evenly spread) the encoder fits the wave on before deciding
WAVENUMBERS = np.arange(4.0, 40.01, 0.25)  # cycles per frame width searched (the synthetic ripple: 12-22)
DECAYS = (0.15, 0.35, 0.7, 5.0)  # frame widths searched (5: nearly no decay)
CENTRE_SPAN = 0.04  # the centre is searched this far (frame widths) around where the motion points
CENTRE_OUTSIDE = 0.5  # frame widths: how far outside the frame a wave's centre may lie
CENTRE_STEP = 0.005  # a quarter of a ring's spacing at k = 40: a wrong centre shifts the rings
BATCH_VALUES = 2_000_000  # pixel values per array in one batch of the search (~160 MB in all)
MIN_SIZE = 16  # quarter-size pixels: smaller flows hold too few rings to fit


@dataclass(frozen=True)
class Wave:
    cx: float
    cy: float
    k: float
    decay: float
    scale: float  # the coefficients' quantisation step
    coefficients: np.ndarray  # (inter frames, 2) int8: a_t, b_t as multiples of scale

    kind = "radial"

    def __post_init__(self):  # the parameters as the payload carries them, so encoder and decoder agree
        for name in ("cx", "cy", "k", "decay", "scale"):
            object.__setattr__(self, name, float(np.float32(getattr(self, name))))

    def basis(self, height: int, width: int) -> np.ndarray:
        """(2, height, width, 2): its sine and cosine waves on a grid of that size (``radial_basis``)."""
        return radial_basis(height, width, self.cx, self.cy, self.k, self.decay)

    def frame(self, t: int, basis: np.ndarray) -> np.ndarray:
        """(height, width, 2) float32: its displacement at inter frame ``t`` (0-based) on the grid of
        ``basis`` (``Wave.basis``), in the units its coefficients were fitted in (the codec: full-size
        pixels on the full-size frame)."""
        a, b = (float(v) * self.scale for v in self.coefficients[t])
        return (np.float32(a) * basis[0] + np.float32(b) * basis[1]).astype(np.float32)

    def flows(self, height: int, width: int) -> np.ndarray:
        """(inter frames, 2, height, width) float32: every inter frame's displacement (small grids:
        it holds them all at once)."""
        basis = self.basis(height, width)
        return np.stack([self.frame(t, basis).transpose(2, 0, 1) for t in range(len(self.coefficients))])

    def pack(self) -> bytes:
        return pack_wave(self)


def radial_basis(height: int, width: int, cx: float, cy: float, k: float, decay: float) -> np.ndarray:
    """(2, height, width, 2) float32: the sine and the cosine wave of wavenumber ``k`` from
    (cx, cy), displacement along the radius, decaying as exp(-r / decay); positions are pixel
    centres in frame widths, so that rings stay circles in any frame shape. One unit of
    displacement is one pixel of this grid."""
    x, y = (v.reshape(height, width) for v in positions(height, width))
    dx, dy = x - cx, y - cy
    r = np.sqrt(dx * dx + dy * dy) + 1e-6
    envelope = np.exp(-r / decay)
    unit = np.stack([dx / r, dy / r], -1)
    phase = 2 * np.pi * k * r
    sin, cos = (envelope * np.sin(phase))[..., None] * unit, (envelope * np.cos(phase))[..., None] * unit
    return np.stack([sin, cos]).astype(np.float32)


def positions(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the pixel centres of a height x width grid, flattened, in frame widths."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    return ((x + 0.5) / width).ravel(), ((y + 0.5) / width).ravel()


def scorer(rest: np.ndarray):
    """A function of wave parameters (cx, cy, k, decay; arrays of M values, or scalars) that
    gives the (M,) energy of ``rest`` (T, h, w, 2) each of the M waves explains by least
    squares (two coefficients per frame). The searches of ``fit_wave`` evaluate hundreds of
    waves at once this way."""
    t, h, w, _ = rest.shape
    x, y = positions(h, w)
    rx, ry = (rest[..., i].reshape(t, -1).T.astype(np.float64) for i in (0, 1))
    batch = max(1, min(64, BATCH_VALUES // (h * w)))  # waves at once: ~10 arrays of batch x h x w float64

    def energies(cx, cy, k, decay) -> np.ndarray:
        params = [np.atleast_1d(np.asarray(v, np.float64)) for v in (cx, cy, k, decay)]
        out = []
        for i in range(0, max(len(v) for v in params), batch):
            cx_, cy_, k_, decay_ = (v[i : i + batch, None] if len(v) > 1 else v[:, None] for v in params)
            dx, dy = x[None] - cx_, y[None] - cy_
            r = np.sqrt(dx * dx + dy * dy) + 1e-6
            envelope = np.exp(-r / decay_)
            phase = 2 * np.pi * k_ * r
            s, c = envelope * np.sin(phase), envelope * np.cos(phase)
            ux, uy = dx / r, dy / r
            ps, pc = (s * ux) @ rx + (s * uy) @ ry, (c * ux) @ rx + (c * uy) @ ry  # (m, T) projections
            gss, gsc, gcc = (s * s).sum(1)[:, None], (s * c).sum(1)[:, None], (c * c).sum(1)[:, None]
            det = gss * gcc - gsc * gsc + 1e-12
            out.append(((gcc * ps * ps - 2 * gsc * ps * pc + gss * pc * pc) / det).sum(1))  # p^T G^-1 p
        return np.concatenate(out)

    return energies


def coefficient_fit(basis: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function of one frame's motion (H, W, 2) that gives the (2,) least-squares
    coefficients of the two waves of ``basis`` (2, H, W, 2) for it."""
    flat = basis.reshape(2, -1).astype(np.float64)
    gram = flat @ flat.T + 1e-9 * np.eye(2)
    return lambda rest: np.linalg.solve(gram, flat @ rest.reshape(-1).astype(np.float64))


def least_squares(rest: np.ndarray, params: tuple[float, float, float, float]) -> np.ndarray:
    """(T, 2) coefficients of the wave of ``params`` (cx, cy, k, decay) that fit ``rest``
    (T, h, w, 2) best, frame by frame."""
    fit = coefficient_fit(radial_basis(rest.shape[1], rest.shape[2], *params))
    return np.stack([fit(frame) for frame in rest])


def pointed_centre(rest: np.ndarray) -> tuple[float, float]:
    """Where radial displacements point: the least-squares meeting point of the lines through
    each pixel along its displacement (all frames), weighted by its length; in frame widths."""
    t, h, w, _ = rest.shape
    x, y = positions(h, w)
    v = rest.reshape(-1, 2).astype(np.float64)
    length = np.linalg.norm(v, axis=1)
    normal = np.stack([-v[:, 1], v[:, 0]], 1) / (length[:, None] + 1e-12)
    p = np.stack([np.tile(x, t), np.tile(y, t)], 1)
    a = (length[:, None, None] * normal[:, :, None] * normal[:, None, :]).sum(0)
    b = (length[:, None] * normal * (normal * p).sum(1, keepdims=True)).sum(0)
    cx, cy = np.linalg.solve(a + 1e-9 * np.eye(2), b)
    return float(cx), float(cy)


def fit_wave(rest: np.ndarray, max_k: float = float(WAVENUMBERS[-1])) -> tuple[float, float, float, float]:
    """The wave's per-clip parameters (cx, cy, k, decay) that explain most of ``rest``
    (T, h, w, 2), within bounds that keep it a ripple: a centre at most ``CENTRE_OUTSIDE``
    outside the frame, a wavenumber of ``WAVENUMBERS`` up to ``max_k`` (a far centre and a small
    wavenumber would make a pan or a plane wave, which the tokens carry; above the grid's
    Nyquist rate the rings alias), a decay of ``DECAYS``.

    The centre where the displacements point; the wavenumber and decay searched there; then
    the centre searched on a fine grid around it (a centre a fraction of a ring off fits the
    rings out of phase, and a local search does not find its way back: on two of six
    synthetic ripple clips the first centre was 0.02 frame widths off, error 0.92-0.95 of the
    true motion against 0.45 with the searched centre); then all four polished (Nelder-Mead)."""
    from scipy.optimize import minimize

    energies = scorer(rest)
    aspect = rest.shape[1] / rest.shape[2]
    bounds = [(-CENTRE_OUTSIDE, 1 + CENTRE_OUTSIDE), (-CENTRE_OUTSIDE, aspect + CENTRE_OUTSIDE)]
    wavenumbers = WAVENUMBERS[WAVENUMBERS <= max_k]
    bounds += [(float(wavenumbers[0]), float(wavenumbers[-1])), (min(DECAYS), max(DECAYS))]
    cx, cy = (float(np.clip(v, *b)) for v, b in zip(pointed_centre(rest), bounds, strict=False))
    ks, decays = (a.ravel() for a in np.meshgrid(wavenumbers, DECAYS))
    best = int(np.argmax(energies(cx, cy, ks, decays)))
    k, decay = float(ks[best]), float(decays[best])
    offsets = np.arange(-CENTRE_SPAN, CENTRE_SPAN + 1e-9, CENTRE_STEP)
    xs, ys = (a.ravel() for a in np.meshgrid(cx + offsets, cy + offsets))
    best = int(np.argmax(energies(xs, ys, k, decay)))
    lower, upper = np.array(bounds).T
    found = minimize(  # started inside its bounds: the centre grid reaches past them at the frame's margin
        lambda p: -float(energies(*p)[0]),
        np.clip([xs[best], ys[best], k, decay], lower, upper),
        method="Nelder-Mead",
        bounds=bounds,
        options={"xatol": 1e-4, "fatol": 1e-9, "maxiter": 400},
    )
    cx, cy, k, decay = (float(v) for v in found.x)
    return cx, cy, k, decay


def quantised(params: tuple[float, float, float, float], coefficients: np.ndarray) -> Wave:
    """The wave as sent: coefficients as int8 multiples of a scale (float32, like the parameters)."""
    peak = float(np.abs(coefficients).max()) if coefficients.size else 0.0
    scale = float(np.float32(peak / 127)) if peak > 0 else 1.0
    q = np.clip(np.rint(coefficients / scale), -127, 127).astype(np.int8)
    return Wave(*params, scale, q)


def pack_wave(wave: Wave | None) -> bytes:
    if wave is None:
        return b""
    head = _PARAMS.pack(wave.cx, wave.cy, wave.k, wave.decay, wave.scale)
    return head + wave.coefficients.astype(np.int8).tobytes()


def unpack_wave(payload: bytes, inter_frames: int, aspect: float = 1.0) -> Wave | None:
    """The wave payload -> the wave; empty -> None. Checked: its length for the clip's inter
    frames and parameters a wave can have; ``aspect``: the frame's height / width, how far
    down the frame reaches in frame widths (a tall frame's centre may lie past 100)."""
    if not payload:
        return None
    if inter_frames < 1:
        raise BitstreamError("a wave in a clip of one frame, which has no motion to add it to")
    size = _PARAMS.size + 2 * inter_frames
    if len(payload) != size:
        raise BitstreamError(
            f"a wave of {len(payload)} bytes; with {inter_frames} inter frames it takes {size} "
            f"(5 parameters of 4 bytes and 2 bytes a frame)"
        )
    cx, cy, k, decay, scale = _PARAMS.unpack_from(payload)
    finite = all(math.isfinite(v) for v in (cx, cy, k, decay, scale))
    centre = abs(cx) < 100 and -100 < cy < aspect + 100
    if not (finite and centre and 0 < k <= 1000 and 0 < decay <= 1000 and 0 < scale < 1e6):
        raise BitstreamError(
            f"implausible wave (centre {cx:g}, {cy:g}, wavenumber {k:g}, decay {decay:g}, scale {scale:g})"
        )
    coefficients = np.frombuffer(payload, np.int8, offset=_PARAMS.size).reshape(inter_frames, 2).copy()
    if (coefficients == -128).any():  # quantised() writes -127..127: the wave's sign is symmetric
        raise BitstreamError("a wave coefficient of -128, outside the -127..127 the encoder writes")
    return Wave(cx, cy, k, decay, scale, coefficients)


def detection_frames(inter_frames: int) -> list[int]:
    """Indices (0-based, into the inter frames) of the ``DETECT_FRAMES`` frames, evenly spread,
    the last included: the frames the encoder decides on."""
    if inter_frames <= DETECT_FRAMES:
        return list(range(inter_frames))
    return sorted({round(i) for i in np.linspace(inter_frames / DETECT_FRAMES - 1, inter_frames - 1, DETECT_FRAMES)})


def choose_wave(residual: Callable[[int], np.ndarray], inter_frames: int, height: int, width: int) -> Wave | None:
    """The wave the encoder sends, or None. ``residual(i)``: the motion the decoder's token flows
    leave of the fine estimate of inter frame i (0-based), at full size, (height, width, 2) in
    pixels. The wave's parameters are searched on the quarter-size grid (``fit_wave`` on the
    residuals of ``detection_frames``, area-averaged); its coefficients are fitted at full size,
    where the decoder adds it (sampled on the quarter grid and brought up bilinearly, a wave of
    17 cycles a width lost 0.15 of its motion). Kept when it lowers the detection frames' mean
    end-point error by ``MIN_GAIN``; then every frame's coefficients are fitted."""
    h, w = height // SCALE, width // SCALE
    if inter_frames < 2 or min(h, w) < MIN_SIZE:
        return None
    frames = detection_frames(inter_frames)
    rests = {i: residual(i) for i in frames}
    low = np.stack([low_res(rests[i], SCALE, is_flow=True) * SCALE for i in frames]).astype(np.float32)
    params = fit_wave(low, max_k=0.4 * w)  # the quarter grid holds w / 2 cycles a width
    basis = radial_basis(height, width, *params)
    coefficients = coefficient_fit(basis)
    trial = quantised(params, np.stack([coefficients(rests[i]) for i in frames]))
    without = float(np.mean([np.linalg.norm(rests[i], axis=-1).mean() for i in frames]))
    with_wave = float(
        np.mean([np.linalg.norm(rests[i] - trial.frame(j, basis), axis=-1).mean() for j, i in enumerate(frames)])
    )
    if not with_wave < (1 - MIN_GAIN) * without:
        return None  # (not <: nothing left to explain, error 0, sends nothing either)
    every = [coefficients(rests[i] if i in rests else residual(i)) for i in range(inter_frames)]
    return quantised(params, np.stack(every))
