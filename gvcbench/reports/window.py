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
from dataclasses import dataclass

import numpy as np

from ..errors import GvcbenchError
from .bdrate import BDError, Curve, check_curve, pchip_coefficients

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

    def describe(self, unit: str | None = None) -> str:
        unit = unit or self.unit
        parts = []
        if self.window:
            parts.append(f"rate window {self.window[0]:g}..{self.window[1]:g} {unit}")
        if self.common:
            parts.append("one interval shared by every codec")
        return " and ".join(parts) or "the overlap of each pair of curves"


def parse_window(text: str | None) -> Span | None:
    """'5:15' -> (5.0, 15.0); None stays None."""
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise GvcbenchError(f"--window takes LOW:HIGH in the rate unit, such as 5:15; got {text!r}") from None
    if not (0 < lo < hi and math.isfinite(hi)):
        raise GvcbenchError(f"--window {text}: needs 0 < LOW < HIGH")
    return lo, hi


def quality_at(curve: Curve, rates, method: str) -> np.ndarray:
    """The qualities at which ``curve`` has ``rates`` by the interpolation BD-rate integrates
    (log10 rate over quality: PCHIP, or the cubic fit), so that the BD-rate's limits are
    where that interpolant's rate is the window's end (its inverse; reading the BD-metric's
    quality-over-rate interpolant instead put them up to 3 % off in rate). A rate beyond
    what the interpolant reaches at the curve's ends gives the end quality. Each is a root
    of one cubic."""
    q, log_rate = curve.values, np.log10(curve.rates)
    targets = np.log10(np.atleast_1d(np.asarray(rates, dtype=np.float64)))
    if method == "cubic":
        span = q[-1] - q[0]
        coef = np.polyfit(q - q[0], log_rate, 3)  # the same cubic, in s = q - q[0]: better-conditioned roots
        first, last = np.polyval(coef, [0.0, span])
        pieces = [(coef, q[0], 0.0, span)] * len(targets)
    else:
        c = pchip_coefficients(q[None], log_rate[None])[:, 0]  # (4, pieces), each in s = q - q[k]
        first, last = log_rate[0], log_rate[-1]  # PCHIP passes through the points
        ks = np.clip(np.searchsorted(log_rate, targets) - 1, 0, len(q) - 2)
        pieces = [(c[:, k], q[k], 0.0, q[k + 1] - q[k]) for k in ks]
    out = np.empty(len(targets))
    for i, (t, (poly, origin, lo, hi)) in enumerate(zip(targets, pieces)):
        if t <= first:
            out[i] = q[0]
        elif t >= last:
            out[i] = q[-1]
        else:
            guess = float(np.interp(t, log_rate, q)) - origin  # the straight-line reading, to choose a root
            out[i] = origin + _root_near(poly - np.array([0.0, 0.0, 0.0, t]), lo, hi, guess)
    return out


def _root_near(poly: np.ndarray, lo: float, hi: float, guess: float) -> float:
    """The real root of the cubic ``poly`` in [lo, hi] nearest ``guess`` (``guess`` if none)."""
    roots = np.roots(poly)
    real = roots[np.abs(roots.imag) <= 1e-9 * (1 + np.abs(roots.real))].real
    slack = 1e-9 * (1 + abs(hi) + abs(lo))
    inside = real[(real >= lo - slack) & (real <= hi + slack)]
    return float(np.clip(inside[np.argmin(np.abs(inside - guess))], lo, hi)) if len(inside) else guess


def rate_span(curve: Curve, window: Span | None) -> Span | None:
    """The curve's rate extent within the window; None when they do not meet."""
    lo, hi = float(curve.rates.min()), float(curve.rates.max())
    if window:
        lo, hi = max(lo, window[0]), min(hi, window[1])
    return (lo, hi) if lo < hi else None


def quality_span(curve: Curve, window: Span | None, method: str) -> Span | None:
    """The qualities the curve has at rates inside the window."""
    rates = rate_span(curve, window)
    if rates is None:
        return None
    if window is None:
        return float(curve.values.min()), float(curve.values.max())
    lo, hi = (float(v) for v in quality_at(curve, rates, method))
    return (lo, hi) if lo < hi else None


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
