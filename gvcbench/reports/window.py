"""Where BD values are integrated: a rate window and/or one interval shared by every codec.

Generative codecs are compared at ultra-low rates (5–15 kbps in the Dynamics-Codec
paper). ``--window 5:15`` integrates only there: BD-metric over log-rate in
[5, 15] ∩ both curves; BD-rate over the qualities at which *both* curves' rates lie
inside the window (each curve's quality at the window's ends, by inverting the
interpolation of log-rate over quality that the BD-rate integrates, clipped to the
curve's own points — never extrapolated). ``--common`` intersects those intervals over every codec, so N codecs
are compared on one range instead of N pairwise ranges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import GvcbenchError
from .bdrate import BDError, Curve, check_curve, cubic_fit, pchip_coefficients, rising_rows

Span = tuple[float, float]


@dataclass(frozen=True)
class Scope:
    """The integration limits a BD table asks for."""

    window: Span | None = None  # in the rate unit (kbps or bpp)
    common: bool = False
    unit: str = "kbps"

    @property
    def active(self) -> bool:
        return self.window is not None or self.common

    def describe(self, unit: str | None = None, one_set: bool = True) -> str:
        """What limits the intervals. ``one_set`` False: under ``common``, the codecs were not
        all measured on the same sequences, so each pair's interval comes from averaged curves
        over different ones and is not one interval for all."""
        unit = unit or self.unit
        parts = []
        if self.window:
            parts.append(f"rate window {self.window[0]:g}..{self.window[1]:g} {unit}")
        if self.common and one_set:
            parts.append("one interval shared by every codec")
        elif self.common:
            parts.append(
                "every codec's averaged curve, each over the sequences it shares with the anchor "
                "(the codecs do not share one set of sequences: see the notes)"
            )
        return " and ".join(parts) or "the overlap of each pair of curves"


def parse_window(window: str | Sequence[float] | None) -> Span | None:
    """'5:15' (the command line's text) or (5, 15) (the Python API's pair) -> (5.0, 15.0);
    None stays None. Either way the same check: 0 < LOW < HIGH, both finite."""
    if window is None:
        return None
    if isinstance(window, str):
        shown = window
        try:
            lo, hi = (float(v) for v in window.split(":"))
        except ValueError:
            raise GvcbenchError(f"--window takes LOW:HIGH in the rate unit, such as 5:15; got {window!r}") from None
    else:
        try:
            lo, hi = (float(v) for v in window)
        except (TypeError, ValueError):
            raise GvcbenchError(
                f"window takes (LOW, HIGH) in the rate unit, such as (5, 15) or '5:15'; got {window!r}"
            ) from None
        shown = f"{lo:g}:{hi:g}"
    if not (0 < lo < hi and math.isfinite(hi)):
        raise GvcbenchError(f"--window {shown}: needs 0 < LOW < HIGH")
    return lo, hi


def qualities_at(q: np.ndarray, log_rate: np.ndarray, targets: np.ndarray, method: str) -> np.ndarray:
    """The qualities at which curves (m, n) of quality ``q`` rising with ``log_rate`` (both
    sorted) reach the (m, k) log10 rates ``targets``, by the interpolation the BD-rate
    integrates (log10 rate over quality: PCHIP, or the cubic fit), so that a BD-rate's
    limits are where that interpolant's rate is the window's end (reading the BD-metric's
    quality-over-rate interpolant instead put them up to 3 % off in rate). A rate beyond
    what the interpolant reaches at a curve's ends gives the end quality.

    Each is a root of one cubic: the PCHIP piece the target falls in (in s = q - q_i), or
    the least-squares cubic the BD-rate integrates (bdrate.cubic_fit, in t = (q - centre)
    / half-width, where it is well conditioned). One batch gives each curve the numbers it
    gets alone."""
    m, n = q.shape
    rows = np.arange(m)[:, None].repeat(targets.shape[1], 1)
    if method == "cubic":
        coef, centre, half = cubic_fit(q, log_rate)
        poly = np.broadcast_to(coef[:, None, ::-1], (*targets.shape, 4))  # t^3 .. t^0
        origin, scale = centre[:, None], half[:, None]
        lo, hi = (q[:, :1] - origin) / scale, (q[:, -1:] - origin) / scale
        ends = np.stack([lo[:, 0], hi[:, 0]], 1)
        first, last = ((coef[:, None, :] * ends[..., None] ** np.arange(4)).sum(-1)).T
        lo, hi = np.broadcast_to(lo, targets.shape), np.broadcast_to(hi, targets.shape)
    else:
        c = pchip_coefficients(q, log_rate)  # (4, m, n-1), each piece in s = q - q_i
        ks = np.clip((log_rate[:, None, :] < targets[..., None]).sum(-1) - 1, 0, n - 2)  # searchsorted - 1
        poly = np.moveaxis(c[:, rows, ks], 0, -1)
        origin, scale = q[rows, ks], np.ones(targets.shape)
        lo, hi = np.zeros(targets.shape), q[rows, ks + 1] - q[rows, ks]
        first, last = log_rate[:, 0], log_rate[:, -1]  # PCHIP passes through the points
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 where two rates share a log: an end, replaced below
        guess = (_straight_line(q, log_rate, targets) - origin) / scale  # to choose among the roots
    poly = poly.copy()
    poly[..., 3] -= targets
    out = origin + scale * _roots_near(poly, lo, hi, guess)
    out = np.where(targets <= first[:, None], q[:, :1], out)
    return np.where(targets >= last[:, None], q[:, -1:], out)


def _straight_line(q: np.ndarray, log_rate: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """np.interp(target, log_rate, q) row by row (ends held)."""
    n = q.shape[1]
    k = np.clip((log_rate[:, None, :] <= targets[..., None]).sum(-1) - 1, 0, n - 2)
    rows = np.arange(len(q))[:, None]
    x0, x1, y0, y1 = log_rate[rows, k], log_rate[rows, k + 1], q[rows, k], q[rows, k + 1]
    line = y0 + (y1 - y0) * (targets - x0) / (x1 - x0)
    return np.clip(line, q[:, :1], q[:, -1:])


def _roots_near(poly: np.ndarray, lo: np.ndarray, hi: np.ndarray, guess: np.ndarray) -> np.ndarray:
    """For each cubic ``poly[..., :]`` (highest power first), its real root in [lo, hi]
    nearest ``guess`` (``guess`` where there is none). The roots are np.roots's: the
    eigenvalues of the companion matrix, here of all cubics at once; a cubic whose first
    or last coefficient is zero goes through np.roots itself, which trims them."""
    flat = poly.reshape(-1, 4)
    roots = np.empty((len(flat), 3), complex)
    plain = (flat[:, 0] != 0) & (flat[:, 3] != 0)
    companion = np.zeros((int(plain.sum()), 3, 3))
    companion[:, 0, :] = -flat[plain, 1:] / flat[plain, :1]
    companion[:, 1, 0] = companion[:, 2, 1] = 1.0
    if len(companion):
        roots[plain] = np.linalg.eigvals(companion)
    for i in np.flatnonzero(~plain):
        r = np.roots(flat[i])
        roots[i] = np.concatenate([r, np.full(3 - len(r), np.nan)])  # NaN: not a root
    roots = roots.reshape(*poly.shape[:-1], 3)
    lo, hi, guess = lo[..., None], hi[..., None], guess[..., None]
    real = np.abs(roots.imag) <= 1e-9 * (1 + np.abs(roots.real))
    slack = 1e-9 * (1 + np.abs(hi) + np.abs(lo))
    r = roots.real
    inside = real & (r >= lo - slack) & (r <= hi + slack)
    distance = np.where(inside, np.abs(r - guess), np.inf)
    best = np.take_along_axis(r, distance.argmin(-1)[..., None], -1)
    return np.where(inside.any(-1, keepdims=True), np.clip(best, lo, hi), guess)[..., 0]


def quality_spans(rates: np.ndarray, values: np.ndarray, window: Span | None, method: str) -> np.ndarray:
    """quality_span of each row of (m, n) curves, sorted by rate and checked: (m, 2), NaN
    where the curve has no rising quality interval inside the window."""
    out = np.full((len(rates), 2), np.nan)
    lo, hi = rates[:, 0], rates[:, -1]
    if window:
        lo, hi = np.maximum(lo, window[0]), np.minimum(hi, window[1])
    ok = np.flatnonzero(lo < hi)
    if not len(ok):
        return out
    if window is None:
        out[ok] = values[ok][:, [0, -1]]
        return out
    span = qualities_at(values[ok], np.log10(rates[ok]), np.log10(np.stack([lo[ok], hi[ok]], 1)), method)
    out[ok] = np.where((span[:, :1] < span[:, 1:]), span, np.nan)
    return out


def batch_limits(curves: list[tuple[np.ndarray, np.ndarray]], scope: Scope, method: str) -> np.ndarray:
    """quality_limits row by row: (m, 2) quality limits of m cases, each the intersection of
    the quality spans inside ``scope.window`` of its row of every (rates, values) curve, all
    (m, n_i). NaN where they do not overlap, or one is not rising or misses the window."""
    limits = np.tile([-np.inf, np.inf], (len(curves[0][0]), 1))
    for rates, values in curves:
        rates, values, good = rising_rows(rates, values)
        spans = np.full((len(rates), 2), np.nan)
        spans[good] = quality_spans(rates[good], values[good], scope.window, method)
        limits[:, 0], limits[:, 1] = np.maximum(limits[:, 0], spans[:, 0]), np.minimum(limits[:, 1], spans[:, 1])
    limits[~(limits[:, 0] < limits[:, 1])] = np.nan  # no shared interval: bd_rate's message
    return limits


def rate_span(curve: Curve, window: Span | None) -> Span | None:
    """The curve's rate extent within the window; None when they do not meet."""
    lo, hi = float(curve.rates.min()), float(curve.rates.max())
    if window:
        lo, hi = max(lo, window[0]), min(hi, window[1])
    return (lo, hi) if lo < hi else None


def quality_span(curve: Curve, window: Span | None, method: str) -> Span | None:
    """The qualities the curve has at rates inside the window."""
    lo, hi = quality_spans(curve.rates[None], curve.values[None], window, method)[0].tolist()
    return None if lo != lo else (lo, hi)  # lo != lo: NaN, none


def intersect(spans, what: str, labels: list[str]) -> Span:
    spans = list(spans)
    empty = [label for label, s in zip(labels, spans) if s is None]
    if empty:  # e.g. a cubic fit that falls inside the window
        raise BDError(f"{', '.join(empty)}: no rising quality interval of {what}")
    lo, hi = max(s[0] for s in spans), min(s[1] for s in spans)
    if lo >= hi:
        detail = "; ".join(f"{label}: [{s[0]:.4g}, {s[1]:.4g}]" for label, s in zip(labels, spans))
        raise BDError(f"the {what} of {', '.join(labels)} do not overlap ({detail})")
    return lo, hi


def _members(pair, others, scope: Scope, min_points: int, method: str = "pchip") -> list[Curve]:
    members = list(pair) + (list(others) if scope.common else [])
    members = [check_curve(c, min_points, method) for c in members]
    if scope.window:
        lo, hi = scope.window
        outside = [
            f"{c.label} (rates {c.rates.min():.4g}..{c.rates.max():.4g})"
            for c in members
            if rate_span(c, scope.window) is None
        ]
        if outside:
            raise BDError(f"no points inside the rate window {lo:g}..{hi:g} {scope.unit}: {', '.join(outside)}")
    return members


def _where(scope: Scope) -> str:
    return f" in the rate window {scope.window[0]:g}..{scope.window[1]:g} {scope.unit}" if scope.window else ""


def quality_limits(
    pair: tuple[Curve, Curve], others: list[Curve], scope: Scope, method: str, min_points: int
) -> Span | None:
    """The quality interval of the BD-rate of ``pair`` (anchor, test) under ``scope``;
    ``others`` are the curves of every other codec on the same data (used by ``common``).
    None: no limits beyond the pair's overlap."""
    if not scope.active:
        return None
    members = _members(pair, others, scope, min_points, method)
    return intersect(
        [quality_span(c, scope.window, method) for c in members],
        f"qualities{_where(scope)}",
        [c.label for c in members],
    )


def rate_limits(pair: tuple[Curve, Curve], others: list[Curve], scope: Scope, min_points: int) -> Span | None:
    """The rate interval of the BD-metric of ``pair`` under ``scope`` (see quality_limits)."""
    if not scope.active:
        return None
    members = _members(pair, others, scope, min_points)
    return intersect([rate_span(c, scope.window) for c in members], f"rates{_where(scope)}", [c.label for c in members])
