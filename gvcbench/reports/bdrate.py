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

from collections.abc import Callable
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


LARGEST_LOG_RATIO = float(np.log10(np.finfo(np.float64).max))  # 10 ** more overflows

CUBIC_POINTS = 4  # a least-squares cubic through fewer points is not determined


def check_curve(curve: Curve, min_points: int = MIN_POINTS, method: str = "pchip") -> Curve:
    """Validated and sorted by rate."""
    r, v = curve.rates, curve.values
    if r.shape != v.shape or r.ndim != 1:
        raise BDError(f"{curve.label}: rates and values differ in length")
    if len(r) < min_points:
        raise BDError(f"{curve.label}: {len(r)} rate points, BD needs at least {min_points}")
    if method == "cubic" and len(r) < CUBIC_POINTS:
        raise BDError(
            f"{curve.label}: {len(r)} rate points; the cubic fit needs at least {CUBIC_POINTS} "
            f"(pchip works from {min_points})"
        )
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(v))):
        points = ", ".join(f"({float(a):g}, {float(b):g})" for a, b in zip(r, v))
        raise BDError(f"{curve.label}: NaN or infinite values in the curve (rate, value: {points})")
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


# -- PCHIP in NumPy ---------------------------------------------------------------------------
# The same interpolant as scipy's PchipInterpolator (Fritsch-Carlson slopes, its one-sided
# three-point end slopes), integrated and evaluated in closed form: building a PPoly object
# per curve was most of the time of a BD table over thousands of sequences. Every function
# takes a batch of curves, x and y of shape (m, n), x strictly increasing along each row;
# tests/test_bdrate.py checks them against scipy.


def _pchip_end_slope(h0, h1, m0, m1):
    """scipy's end-point slope: a one-sided three-point estimate, zeroed where its sign
    differs from the first secant's and limited to 3 x that secant where the secants change sign."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    d = np.where(np.sign(d) != np.sign(m0), 0.0, d)
    limit = (np.sign(m0) != np.sign(m1)) & (np.abs(d) > 3.0 * np.abs(m0))
    return np.where(limit, 3.0 * m0, d)


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Slopes at the points: weighted harmonic means of the neighbouring secants inside
    (zero at local extrema and flat secants), scipy's end rule at both ends."""
    h = np.diff(x, axis=-1)
    m = np.diff(y, axis=-1) / h
    d = np.empty_like(y)
    if y.shape[-1] == 2:
        d[..., 0] = d[..., 1] = m[..., 0]
        return d
    m0, m1 = m[..., :-1], m[..., 1:]
    flat = (np.sign(m1) != np.sign(m0)) | (m1 == 0) | (m0 == 0)
    w1 = 2 * h[..., 1:] + h[..., :-1]
    w2 = h[..., 1:] + 2 * h[..., :-1]
    safe0, safe1 = np.where(flat, 1.0, m0), np.where(flat, 1.0, m1)
    d[..., 1:-1] = np.where(flat, 0.0, 1.0 / ((w1 / safe0 + w2 / safe1) / (w1 + w2)))
    d[..., 0] = _pchip_end_slope(h[..., 0], h[..., 1], m[..., 0], m[..., 1])
    d[..., -1] = _pchip_end_slope(h[..., -1], h[..., -2], m[..., -1], m[..., -2])
    return d


def _hermite_coefficients(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(4, m, n-1): per piece, c0 s^3 + c1 s^2 + c2 s + c3 in s = x - x_i (scipy's CubicHermiteSpline)."""
    d = pchip_slopes(x, y)
    h = np.diff(x, axis=-1)
    secant = np.diff(y, axis=-1) / h
    t = (d[..., :-1] + d[..., 1:] - 2 * secant) / h
    return np.stack([t / h, (secant - d[..., :-1]) / h - t, d[..., :-1], y[..., :-1]])


def pchip_coefficients(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(4, m, n-1): the PCHIP interpolants' cubic pieces, c0 s^3 + c1 s^2 + c2 s + c3 in s = x - x_i."""
    return _hermite_coefficients(x, y)


def _piece(x: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index of the piece each ``at[k, j]`` falls in (the end pieces extend outwards)."""
    n = x.shape[-1]
    idx = (at[..., :, None] >= x[..., None, 1:-1]).sum(-1)  # searchsorted(x, at, 'right') - 1, clipped
    return np.minimum(idx, n - 2)


def _pick(c: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.take_along_axis(c, idx[None].repeat(4, 0), axis=-1)


def pchip_eval(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The interpolants of the rows of y(x) at the points ``at`` (m, k)."""
    c = _hermite_coefficients(x, y)
    idx = _piece(x, at)
    s = at - np.take_along_axis(x, idx, axis=-1)
    c0, c1, c2, c3 = _pick(c, idx)
    return ((c0 * s + c1) * s + c2) * s + c3


def pchip_integral(x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integral over [lo, hi] (each of shape (m,)) of each row's interpolant."""
    c = _hermite_coefficients(x, y)
    h = np.diff(x, axis=-1)
    whole = ((c[0] * h / 4 + c[1] / 3) * h + c[2] / 2) * h * h + c[3] * h  # each piece's integral
    before = np.concatenate([np.zeros_like(h[..., :1]), np.cumsum(whole, axis=-1)], axis=-1)
    at = np.stack([lo, hi], axis=-1)
    idx = _piece(x, at)
    s = at - np.take_along_axis(x, idx, axis=-1)
    c0, c1, c2, c3 = _pick(c, idx)
    area = np.take_along_axis(before, idx, axis=-1) + (((c0 * s / 4 + c1 / 3) * s + c2 / 2) * s + c3) * s
    return area[..., 1] - area[..., 0]


# -- the cubic fit, batched ------------------------------------------------------------------
# VCEG-M33's cubic: the least-squares cubic through the points (through them, for 4 points).
# np.polyfit solves one small system per call, and a BD table over thousands of sequences
# (or a bootstrap over them) makes hundreds of thousands of calls. These fit a batch of curves
# at once, in the variable t = (x - centre) / half-width, where the Vandermonde matrix is well
# conditioned (np.polyfit's columns x^3..1 at x ~ 40 dB are nearly parallel), by a batched QR
# solve; the polynomial, and so its integral, is the same one. tests/test_bdrate.py checks them
# against np.polyfit.


def _cubic_frame(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and half-width of each row of x (m, n)."""
    lo, hi = x.min(axis=-1), x.max(axis=-1)
    return (lo + hi) / 2, np.maximum((hi - lo) / 2, np.finfo(np.float64).tiny)


def cubic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares cubics of the rows of y(x), (m, n) with n >= 4: coefficients (m, 4) of
    t^0..t^3 in t = (x - centre) / half, with each row's centre and half (m,)."""
    centre, half = _cubic_frame(x)
    t = (x - centre[:, None]) / half[:, None]
    vander = t[..., None] ** np.arange(4)  # (m, n, 4)
    q, r = np.linalg.qr(vander)
    rhs = (q * y[..., None]).sum(axis=-2)  # Q^T y, summed in the same order whatever the batch
    return np.linalg.solve(r, rhs[..., None])[..., 0], centre, half


def cubic_integral(x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integral over [lo, hi] (each of shape (m,)) of each row's least-squares cubic."""
    coef, centre, half = cubic_fit(x, y)
    powers = np.arange(1, 5)

    def primitive(at):  # of the cubic in t, at t(at)
        t = (at - centre) / half
        return (coef / powers * t[:, None] ** powers).sum(-1)

    return (primitive(hi) - primitive(lo)) * half


def cubic_eval(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Each row's least-squares cubic at the points ``at`` (m, k)."""
    coef, centre, half = cubic_fit(x, y)
    t = (at - centre[:, None]) / half[:, None]
    return (coef[:, None, :] * t[..., None] ** np.arange(4)).sum(-1)


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Integral over [lo, hi] of the interpolant of y(x), x strictly increasing."""
    if method not in METHODS:
        raise BDError(f"unknown BD interpolation {method!r}; use one of {', '.join(METHODS)}")
    integral = cubic_integral if method == "cubic" else pchip_integral
    return float(integral(x[None], y[None], np.array([lo]), np.array([hi]))[0])


def _overlap(
    a: np.ndarray, b: np.ndarray, what: str, la: str, lb: str, within: tuple[float, float] | None = None
) -> tuple[float, float, float]:
    """The shared interval of two ranges and its share of the shorter one (or of ``within``).
    Rates come in log10; messages give them as rates."""

    def shown(x: float) -> float:
        return float(10**x) if what == "rate" else float(x)

    def span(lo, hi) -> str:
        return f"[{shown(lo):.4g}, {shown(hi):.4g}]"

    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    if lo >= hi:
        raise BDError(
            f"{lb} vs {la}: the {what} ranges do not overlap "
            f"({la}: {span(a.min(), a.max())}; {lb}: {span(b.min(), b.max())})"
        )
    if within is not None:  # a window / common interval (reports/window.py): the share of it covered
        wlo, whi = within
        lo, hi = max(lo, wlo), min(hi, whi)
        if lo >= hi:
            raise BDError(f"{lb} vs {la}: no {what} inside the interval {span(wlo, whi)}")
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
    a, t = check_curve(anchor, min_points, method), check_curve(test, min_points, method)
    lo, hi, overlap = _overlap(a.values, t.values, "quality", a.label, t.label, within)
    ia = _integral(a.values, np.log10(a.rates), lo, hi, method)
    it = _integral(t.values, np.log10(t.rates), lo, hi, method)
    log_ratio = (it - ia) / (hi - lo)  # mean log10 of the rate ratio
    if not log_ratio <= LARGEST_LOG_RATIO:
        raise BDError(
            f"{t.label} vs {a.label}: no finite BD-rate: between qualities {lo:.4g} and {hi:.4g} the interpolated "
            f"rates differ by a factor above 10^308 on average ({method} through these points swings far beyond "
            f"them; pchip does not)"
        )
    return BDResult(float((10**log_ratio - 1) * 100), method, (float(lo), float(hi)), overlap)


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
    a, t = check_curve(anchor, min_points, method), check_curve(test, min_points, method)
    la, lt = np.log10(a.rates), np.log10(t.rates)
    logs = None if within is None else (float(np.log10(within[0])), float(np.log10(within[1])))
    lo, hi, overlap = _overlap(la, lt, "rate", a.label, t.label, logs)
    ia = _integral(la, a.values, lo, hi, method)
    it = _integral(lt, t.values, lo, hi, method)
    return BDResult(float((it - ia) / (hi - lo)), method, (float(lo), float(hi)), overlap)


# -- many pairs at once ------------------------------------------------------------------------
# A BD table over thousands of sequences, and a bootstrap over them, asks for the same
# computation thousands of times. These give bd_rate's numbers for a batch of pairs, one
# NumPy pass per curve length, with the same operations per pair (so the same floats).


def rising_rows(rates: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by rate, and which rows check_curve accepts (its conditions, row by row)."""
    good = np.isfinite(rates).all(1) & np.isfinite(values).all(1) & (rates > 0).all(1)
    order = np.argsort(rates, axis=1)
    rates, values = np.take_along_axis(rates, order, 1), np.take_along_axis(values, order, 1)
    with np.errstate(invalid="ignore"):  # inf - inf in a row already refused above
        good &= (np.diff(rates, axis=1) > 0).all(1) & (np.diff(values, axis=1) > 0).all(1)
    return rates, values, good


def bd_rate_arrays(
    anchor_rates: np.ndarray,
    anchor_values: np.ndarray,
    test_rates: np.ndarray,
    test_values: np.ndarray,
    method: str = "pchip",
    min_points: int = MIN_POINTS,
    within: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """BD-rates (%) of the rows of (m, n) arrays, each pair over its overlap (or its part
    inside the pair's row of ``within``, (m, 2) quality limits), as bd_rate gives them;
    with each pair's quality interval (lo, hi) and overlap share. NaN where bd_rate raises a BDError."""
    if method not in METHODS:
        raise BDError(f"unknown BD interpolation {method!r}; use one of {', '.join(METHODS)}")
    m = len(anchor_rates)
    value, lo, hi, overlap = (np.full(m, np.nan) for _ in range(4))
    fewest = max(min_points, CUBIC_POINTS) if method == "cubic" else min_points
    if min(anchor_rates.shape[1], test_rates.shape[1]) < fewest or m == 0:
        return value, lo, hi, overlap
    ra, va, good_a = rising_rows(anchor_rates, anchor_values)
    rt, vt, good_t = rising_rows(test_rates, test_values)
    low, high = np.maximum(va[:, 0], vt[:, 0]), np.minimum(va[:, -1], vt[:, -1])
    good = good_a & good_t & (low < high)
    if within is not None:  # bd_rate's _overlap: the pair's overlap, then its part inside
        low, high = np.maximum(low, within[:, 0]), np.minimum(high, within[:, 1])
        good &= low < high  # False where within is NaN
    ok = np.flatnonzero(good)
    if not len(ok):
        return value, lo, hi, overlap
    ya, yt = np.log10(ra[ok]), np.log10(rt[ok])
    integral = cubic_integral if method == "cubic" else pchip_integral
    ia = integral(va[ok], ya, low[ok], high[ok])
    it = integral(vt[ok], yt, low[ok], high[ok])
    # bd_rate's own scalar arithmetic (Python floats: C's pow), pair by pair
    pairs = zip(ia.tolist(), it.tolist(), low[ok].tolist(), high[ok].tolist())
    ratios = [(t - a) / (h - lw) for a, t, lw, h in pairs]
    value[ok] = [(10**r - 1) * 100 if r <= LARGEST_LOG_RATIO else np.nan for r in ratios]
    ok = ok[np.isfinite(value[ok])]  # no finite BD-rate: bd_rate says why
    lo[ok], hi[ok] = low[ok], high[ok]
    if within is None:
        extent = np.minimum(va[ok, -1] - va[ok, 0], vt[ok, -1] - vt[ok, 0])
    else:
        extent = within[ok, 1] - within[ok, 0]
    overlap[ok] = (high[ok] - low[ok]) / extent
    return value, lo, hi, overlap


def bd_rates(
    pairs: list[tuple[Curve, Curve]], method: str = "pchip", min_points: int = MIN_POINTS
) -> list[BDResult | BDError]:
    """bd_rate of each (anchor, test) pair over its overlap: its result, or the BDError it raises."""
    points = [(a.rates, a.values, t.rates, t.values) for a, t in pairs]
    return bd_rates_of(points, pairs.__getitem__, method, min_points)


def bd_rates_batch(
    anchor_rates: np.ndarray,
    anchor_values: np.ndarray,
    test_rates: np.ndarray,
    test_values: np.ndarray,
    method: str = "pchip",
    min_points: int = MIN_POINTS,
    within: np.ndarray | None = None,
) -> list[BDResult | None]:
    """bd_rate_arrays as one BDResult per pair; None where bd_rate raises (ask it for the message)."""
    value, lo, hi, overlap = bd_rate_arrays(
        anchor_rates, anchor_values, test_rates, test_values, method, min_points, within
    )
    return [
        None if a != a else _result(v, method, (a, b), o)  # a != a: NaN, no result
        for v, a, b, o in zip(value.tolist(), lo.tolist(), hi.tolist(), overlap.tolist())
    ]


def _result(value: float, method: str, interval: tuple[float, float], overlap: float) -> BDResult:
    """BDResult(value, method, interval, overlap) without the frozen dataclass's per-field
    checks: a BD table over thousands of sequences makes hundreds of thousands."""
    result = object.__new__(BDResult)
    result.__dict__.update(value=value, method=method, interval=interval, overlap=overlap)
    return result


def bd_rates_of(
    points: list[tuple], pair: Callable[[int], tuple[Curve, Curve]], method: str = "pchip", min_points: int = MIN_POINTS
) -> list[BDResult | BDError]:
    """bd_rates of pairs given as (anchor rates, anchor values, test rates, test values);
    ``pair(k)`` makes the k-th pair's curves, asked only where the batch cannot answer (for
    bd_rate's own message)."""
    out: list[BDResult | BDError | None] = [None] * len(points)
    lengths: dict[tuple, list[int]] = {}
    for k, p in enumerate(points):
        shapes = tuple(np.shape(v) for v in p)
        if all(len(s) == 1 for s in shapes) and shapes[0] == shapes[1] and shapes[2] == shapes[3]:
            lengths.setdefault((shapes[0], shapes[2]), []).append(k)
    for ks in lengths.values():
        ra, va, rt, vt = (np.array([points[k][i] for k in ks], dtype=np.float64) for i in range(4))
        for k, result in zip(ks, bd_rates_batch(ra, va, rt, vt, method, min_points)):
            out[k] = result
    for k in range(len(points)):  # what the batch left: bd_rate itself, for its message
        if out[k] is None:
            try:
                out[k] = bd_rate(*pair(k), method, min_points)
            except BDError as exc:
                out[k] = exc
    return out  # type: ignore[return-value]
