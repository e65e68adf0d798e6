"""The planar wave: a wave travelling across the frame (grass or crops swaying in wind) that
the encoder fits to the motion the tokens leave, and the decoder adds to their flows.

The 12 x 12 token grid carries sway only in part (the synthetic sway at seed 0: 0.66 of the
true motion's error), and the radial wave (``waves.py``) cannot fit it: its centre stays near
the frame. Per clip a direction ``theta`` (radians, [0, pi)), a wavenumber ``k`` (cycles per
frame width, ``WAVENUMBERS``: below, the tokens carry the motion) and an amplitude envelope on
``ENVELOPE`` x ``ENVELOPE`` bilinear nodes; per inter frame four coefficients, a sine and a
cosine for each direction of displacement:

    D_t(p) = E(p) (a_t sin 2 pi k (p . n) + b_t cos 2 pi k (p . n)),   n = (cos theta, sin theta)

with a_t, b_t 2-vectors and positions in frame widths. Unlike the radial wave, which needs the
fine estimate (DIS medium misses the ripple), it is fitted to the encoder's own estimate (the
analysis flows on the quarter-size grid, which see sway: 0.14 of its true motion against 0.75
for the fine one): theta and k searched on ``DETECT_EVERY``-th frames under a constant
envelope, then envelope and coefficients by alternating least squares. It is sent when it
lowers the end-point error of that estimate, over every inter frame, by ``MIN_GAIN``
(benchmarks/dynamics_planar_wave_oracle.py: of the 8 procedural clips at seed 0 and the 8
validation clips only the sway and grass_seedhead).

Payload (bitstream version 5): theta, k, coefficient scale (float32 each, big-endian), the
envelope's nodes (float32, row by row), then (a_t, b_t) for every inter frame as four int8
multiples of the scale (a_x, b_x, a_y, b_y).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from .entropy import BitstreamError
from .waves import MIN_GAIN, MIN_SIZE

_PARAMS = struct.Struct(">fff")
ENVELOPE = 3  # nodes a side of the amplitude envelope
THETAS = np.radians(np.arange(0.0, 180.0, 7.5))
WAVENUMBERS = np.arange(2.0, 8.01, 0.25)  # cycles per frame width (the synthetic sway: 2-5)
DETECT_EVERY = 6  # the direction and wavenumber are searched on every sixth inter frame
ROUNDS = 8  # alternations of envelope and coefficients


@dataclass(frozen=True)
class PlanarWave:
    theta: float
    k: float
    scale: float  # the coefficients' quantisation step
    envelope: np.ndarray  # (ENVELOPE, ENVELOPE) float32, largest |value| 1
    coefficients: np.ndarray  # (inter frames, 4) int8: a_x, b_x, a_y, b_y as multiples of scale

    kind = "planar"

    def __post_init__(self):  # as the payload carries them, so encoder and decoder agree
        for name in ("theta", "k", "scale"):
            object.__setattr__(self, name, float(np.float32(getattr(self, name))))
        object.__setattr__(self, "envelope", np.asarray(self.envelope, np.float32))

    def basis(self, height: int, width: int) -> np.ndarray:
        """(2, height, width) float32: the sine and cosine wave times the envelope on a grid of that size."""
        return planar_basis(height, width, self.theta, self.k, self.envelope)

    def frame(self, t: int, basis: np.ndarray) -> np.ndarray:
        """(height, width, 2) float32: its displacement at inter frame ``t`` (0-based) on the grid
        of ``basis``, in full-size pixels (the unit its coefficients were fitted in)."""
        ax, bx, ay, by = (np.float32(float(v) * self.scale) for v in self.coefficients[t])
        return np.stack([ax * basis[0] + bx * basis[1], ay * basis[0] + by * basis[1]], -1).astype(np.float32)

    def flows(self, height: int, width: int) -> np.ndarray:
        """(inter frames, 2, height, width) float32: every inter frame's displacement."""
        basis = self.basis(height, width)
        return np.stack([self.frame(t, basis).transpose(2, 0, 1) for t in range(len(self.coefficients))])

    def pack(self) -> bytes:
        head = _PARAMS.pack(self.theta, self.k, self.scale) + self.envelope.astype(">f4").tobytes()
        return head + self.coefficients.astype(np.int8).tobytes()


def envelope_nodes(height: int, width: int, nodes: int = ENVELOPE) -> np.ndarray:
    """(nodes * nodes, height, width): bilinear hat functions of a nodes x nodes grid spanning the
    frame, at pixel centres, so that any grid size samples one continuous envelope."""
    ys, xs = ((np.arange(n) + 0.5) / n * (nodes - 1) for n in (height, width))
    rows, cols = (np.clip(1 - np.abs(v[None] - np.arange(nodes)[:, None]), 0, None) for v in (ys, xs))
    return np.stack([rows[j][:, None] * cols[i][None] for j in range(nodes) for i in range(nodes)])


def travelling(height: int, width: int, theta: float, k: float) -> np.ndarray:
    """(2, height, width) float64: sin and cos of 2 pi k (p . n), positions in frame widths."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = 2 * np.pi * k * (((x + 0.5) / width) * math.cos(theta) + ((y + 0.5) / width) * math.sin(theta))
    return np.stack([np.sin(phase), np.cos(phase)])


def planar_basis(height: int, width: int, theta: float, k: float, envelope: np.ndarray) -> np.ndarray:
    amplitude = np.tensordot(np.asarray(envelope, np.float64).ravel(), envelope_nodes(height, width, len(envelope)), 1)
    return (travelling(height, width, theta, k) * amplitude).astype(np.float32)


def _coefficients(basis: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(T, 4) least-squares a_x, b_x, a_y, b_y of ``basis`` (2, P) for ``target`` (T, P, 2)."""
    gram = basis @ basis.T + 1e-9 * np.eye(2)
    coef = np.linalg.solve(gram, np.einsum("bp,tpc->btc", basis, target).reshape(2, -1)).reshape(2, -1, 2)
    return coef.transpose(1, 2, 0).reshape(-1, 4)  # per frame: (x: sin, cos), (y: sin, cos)


def _moved(coefficients: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(T, P, 2): the displacement of (T, 4) coefficients on ``basis`` (2, P)."""
    c = coefficients.reshape(-1, 2, 2)  # (T, direction, sin/cos)
    return np.einsum("tcb,bp->tpc", c, basis)


def search(rest: np.ndarray, max_k: float = float(WAVENUMBERS[-1])) -> tuple[float, float]:
    """theta and k (of ``WAVENUMBERS`` up to ``max_k``) whose wave, under a constant envelope,
    explains most of ``rest`` (T, h, w, 2)."""
    t, h, w, _ = rest.shape
    target = rest.reshape(t, h * w, 2).astype(np.float64)
    best, found = -1.0, (0.0, float(WAVENUMBERS[0]))
    for theta in THETAS:
        for k in WAVENUMBERS[WAVENUMBERS <= max_k]:
            basis = travelling(h, w, float(theta), float(k)).reshape(2, -1)
            gram = basis @ basis.T + 1e-9 * np.eye(2)
            proj = np.einsum("bp,tpc->tcb", basis, target)  # (T, 2, 2) projections
            explained = float(np.einsum("tcb,bd,tcd->", proj, np.linalg.inv(gram), proj))
            if explained > best:
                best, found = explained, (float(theta), float(k))
    return found


def fit_envelope(rest: np.ndarray, theta: float, k: float, nodes: int = ENVELOPE) -> np.ndarray:
    """(nodes, nodes) envelope, largest |value| 1, by least squares alternating with the frames'
    coefficients (the model is linear in each given the other)."""
    t, h, w, _ = rest.shape
    target = rest.reshape(t, h * w, 2).astype(np.float64)
    waves = travelling(h, w, theta, k).reshape(2, -1)
    hats = envelope_nodes(h, w, nodes).reshape(nodes * nodes, -1)
    weights = np.ones(nodes * nodes)
    for _ in range(ROUNDS):
        coefficients = _coefficients(waves * (weights @ hats), target)
        moving = _moved(coefficients, waves)  # the wave before its envelope, (T, P, 2)
        # the normal equations of the design hats[i, p] * moving[t, p, c], summed over frames and
        # directions per pixel: never the (nodes^2, T * P * 2) design itself (2 GB at 1920 x 1088, 50 frames)
        gram = (hats * np.einsum("tpc,tpc->p", moving, moving)) @ hats.T
        weights = np.linalg.solve(gram + 1e-9 * np.eye(len(hats)), hats @ np.einsum("tpc,tpc->p", moving, target))
    peak = float(np.abs(weights).max())
    return (weights / peak if peak > 0 else np.ones_like(weights)).reshape(nodes, nodes)


def quantised(theta: float, k: float, envelope: np.ndarray, coefficients: np.ndarray) -> PlanarWave:
    peak = float(np.abs(coefficients).max()) if coefficients.size else 0.0
    scale = float(np.float32(peak / 127)) if peak > 0 else 1.0
    q = np.clip(np.rint(coefficients / scale), -127, 127).astype(np.int8)
    return PlanarWave(theta, k, scale, envelope, q)


def epe(flows: np.ndarray) -> float:
    return float(np.linalg.norm(flows, axis=-1).mean())


def choose_planar(rest: np.ndarray) -> PlanarWave | None:
    """The planar wave the encoder sends, or None. ``rest``: (inter frames, h, w, 2) what the
    decoder's token flows leave of the encoder's estimate, on the quarter-size grid in
    full-size pixels. Sent when it lowers their mean end-point error by ``MIN_GAIN``."""
    t, h, w, _ = rest.shape
    max_k = 0.4 * min(h, w)  # the quarter grid holds min(h, w) / 2 cycles: above, the fit sees an alias
    if t < 2 or min(h, w) < MIN_SIZE or max_k < WAVENUMBERS[0]:
        return None
    theta, k = search(rest[DETECT_EVERY - 1 :: DETECT_EVERY] if t >= 2 * DETECT_EVERY else rest, max_k)
    envelope = fit_envelope(rest, theta, k)
    basis = planar_basis(h, w, theta, k, envelope)
    target = rest.reshape(t, h * w, 2).astype(np.float64)
    wave = quantised(theta, k, envelope, _coefficients(basis.reshape(2, -1).astype(np.float64), target))
    if not epe(rest - wave.flows(h, w).transpose(0, 2, 3, 1)) < (1 - MIN_GAIN) * epe(rest):
        return None
    return wave


def unpack_planar(payload: bytes, inter_frames: int) -> PlanarWave:
    """A version 5 wave payload -> the planar wave, checked: its length for the clip's inter
    frames, and values a planar wave can have."""
    if inter_frames < 1:
        raise BitstreamError("a wave in a clip of one frame, which has no motion to add it to")
    nodes = ENVELOPE * ENVELOPE
    size = _PARAMS.size + 4 * nodes + 4 * inter_frames
    if len(payload) != size:
        raise BitstreamError(
            f"a planar wave of {len(payload)} bytes; with {inter_frames} inter frames it takes {size} "
            f"(3 parameters and {nodes} envelope nodes of 4 bytes, 4 bytes a frame)"
        )
    theta, k, scale = _PARAMS.unpack_from(payload)
    envelope = np.frombuffer(payload, ">f4", nodes, _PARAMS.size).astype(np.float32)
    finite = all(math.isfinite(v) for v in (theta, k, scale)) and bool(np.isfinite(envelope).all())
    if not (finite and 0 <= theta < 4 and 0 < k <= 1000 and 0 < scale < 1e6 and np.abs(envelope).max() <= 1.0001):
        raise BitstreamError(
            f"implausible planar wave (direction {theta:g}, wavenumber {k:g}, scale {scale:g}, "
            f"envelope up to {float(np.abs(envelope).max()):g}; at most 1)"
        )
    coefficients = np.frombuffer(payload, np.int8, offset=_PARAMS.size + 4 * nodes).reshape(inter_frames, 4).copy()
    if (coefficients == -128).any():
        raise BitstreamError("a wave coefficient of -128, outside the -127..127 the encoder writes")
    return PlanarWave(theta, k, scale, envelope.reshape(ENVELOPE, ENVELOPE), coefficients)
