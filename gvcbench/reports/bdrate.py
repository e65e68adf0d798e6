"""Bjøntegaard deltas: our own implementation of both common interpolations.

* ``cubic``: VCEG-M33 — a cubic polynomial through the points, log-rate as a function of
  quality (BD-rate) or quality as a function of log-rate (BD-metric), integrated over
  the overlapping interval.
* ``pchip``: piecewise cubic Hermite interpolation, as in the JVET common-test-condition
  spreadsheet; it does not overshoot between points.

Curves are checked first: too few points, NaN/inf, non-positive rates, quality that does
not rise with rate, and ranges that do not overlap give a ``BDError`` naming the curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GvcbenchError

METHODS = ("pchip", "cubic")
MIN_POINTS = 4


class BDError(GvcbenchError):
    """A BD value cannot be computed honestly for these curves."""


@dataclass(frozen=True)
class Curve:
    """Rate (kbps or bpp) and quality (already on an increasing axis), one point per rate point."""

    label: str
    rates: np.ndarray
    values: np.ndarray

    @staticmethod
    def of(label: str, rates, values) -> Curve:
        return Curve(label, np.asarray(rates, dtype=np.float64), np.asarray(values, dtype=np.float64))


@dataclass(frozen=True)
class BDResult:
    value: float  # percent (BD-rate) or metric units (BD-metric)
    method: str
    interval: tuple[float, float]  # integration interval (quality for BD-rate, log10 rate for BD-metric)
    overlap: float  # interval length / the shorter curve's extent, 1.0 = full overlap

    @property
    def partial(self) -> bool:
        return self.overlap < 0.999


def check_curve(curve: Curve, min_points: int = MIN_POINTS) -> Curve:
    """Validated and sorted by rate."""
    r, v = curve.rates, curve.values
    if r.shape != v.shape or r.ndim != 1:
        raise BDError(f"{curve.label}: rates and values differ in length")
    if len(r) < min_points:
        raise BDError(f"{curve.label}: {len(r)} rate points, BD needs at least {min_points}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(v))):
        raise BDError(f"{curve.label}: NaN or infinite values in the curve ({list(zip(r, v))})")
    if np.any(r <= 0):
        raise BDError(f"{curve.label}: rates must be positive")
    order = np.argsort(r)
    r, v = r[order], v[order]
    if np.any(np.diff(r) <= 0):
        raise BDError(f"{curve.label}: two rate points have the same rate")
    if np.any(np.diff(v) <= 0):
        raise BDError(
            f"{curve.label}: not monotonic — quality does not rise with rate "
            f"(rates {np.round(r, 3).tolist()}, values {np.round(v, 5).tolist()})"
        )
    return Curve(curve.label, r, v)


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Integral over [lo, hi] of the interpolant of y(x), x strictly increasing."""
    if method == "cubic":
        poly = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(poly, hi) - np.polyval(poly, lo))
    if method == "pchip":
        from scipy.interpolate import PchipInterpolator

        return float(PchipInterpolator(x, y).integrate(lo, hi))
    raise BDError(f"unknown BD interpolation {method!r}; use one of {', '.join(METHODS)}")


def _overlap(
    a: np.ndarray, b: np.ndarray, what: str, la: str, lb: str, within: tuple[float, float] | None = None
) -> tuple[float, float, float]:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    if lo >= hi:
        raise BDError(
            f"{lb} vs {la}: the {what} ranges do not overlap "
            f"({la}: [{a.min():.4g}, {a.max():.4g}]; {lb}: [{b.min():.4g}, {b.max():.4g}])"
        )
    if within is not None:  # a window / common interval (reports/window.py): the share of it covered
        wlo, whi = within
        lo, hi = max(lo, wlo), min(hi, whi)
        if lo >= hi:
            raise BDError(f"{lb} vs {la}: no {what} inside the interval [{wlo:.4g}, {whi:.4g}]")
        return lo, hi, float((hi - lo) / (whi - wlo))
    extent = min(a.max() - a.min(), b.max() - b.min())
    return lo, hi, float((hi - lo) / extent)


def bd_rate(
    anchor: Curve,
    test: Curve,
    method: str = "pchip",
    min_points: int = MIN_POINTS,
    within: tuple[float, float] | None = None,
) -> BDResult:
    """Average rate difference of ``test`` against ``anchor`` at equal quality, in percent;
    over the curves' overlap, or only its part inside the quality interval ``within``."""
    a, t = check_curve(anchor, min_points), check_curve(test, min_points)
    lo, hi, overlap = _overlap(a.values, t.values, "quality", a.label, t.label, within)
    ia = _integral(a.values, np.log10(a.rates), lo, hi, method)
    it = _integral(t.values, np.log10(t.rates), lo, hi, method)
    return BDResult(float((10 ** ((it - ia) / (hi - lo)) - 1) * 100), method, (float(lo), float(hi)), overlap)


def bd_metric(
    anchor: Curve,
    test: Curve,
    method: str = "pchip",
    min_points: int = MIN_POINTS,
    within: tuple[float, float] | None = None,
) -> BDResult:
    """Average quality difference of ``test`` against ``anchor`` at equal rate (metric units);
    over the curves' overlap, or only its part inside the rate interval ``within`` (in rate
    units, not log)."""
    a, t = check_curve(anchor, min_points), check_curve(test, min_points)
    la, lt = np.log10(a.rates), np.log10(t.rates)
    logs = None if within is None else (float(np.log10(within[0])), float(np.log10(within[1])))
    lo, hi, overlap = _overlap(la, lt, "rate", a.label, t.label, logs)
    ia = _integral(la, a.values, lo, hi, method)
    it = _integral(lt, t.values, lo, hi, method)
    return BDResult(float((it - ia) / (hi - lo)), method, (float(lo), float(hi)), overlap)
