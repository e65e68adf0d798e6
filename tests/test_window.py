"""BD in a rate window and on one interval shared by every codec, against hand computations.

Constructed curves whose quality is exactly linear in log-rate (PCHIP and the cubic fit
both reproduce them), so every integral has a closed form:
  anchor A: v = log2(r / s)          test T: v = log2(r / s) / 1.1      third C: v = log2(r / (0.8 s))
with s the sequence's rate scale. At equal quality log10 rT - log10 rA = 0.1 v log10 2, so the
BD-rate over qualities [q1, q2] is 10^(0.1 log10(2) (q1 + q2) / 2) - 1; at equal rate
vT - vA = -(0.1 / 1.1) log2(r / s), whose mean over log-rates [r1, r2] is at their log-midpoint.
"""

import math
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from gvcbench.bench.records import JobResult
from gvcbench.bench.store import ResultStore
from gvcbench.cli import app
from gvcbench.errors import GvcbenchError
from gvcbench.reports.curves import bd_table
from gvcbench.reports.window import parse_window


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Tables printed 200 columns wide, so that no cell wraps inside a number."""
    from gvcbench import cli

    monkeypatch.setattr(cli.console, "width", 200)


LOG2 = math.log10(2)


def bd_rate_hand(q1, q2):
    return 100 * (10 ** (0.1 * LOG2 * (q1 + q2) / 2) - 1)


def bd_metric_hand(r1, r2, s):
    return -(0.1 / 1.1) * (math.log2(r1 / s) + math.log2(r2 / s)) / 2


def _rows(scales=(1.0,)):
    rows = []
    for i, s in enumerate(scales):
        seq = f"seq{i}"
        for codec, values, unit_rate in (
            ("A", [1, 2, 3, 4, 5], lambda v: 2**v),
            ("T", [1, 2, 3, 4, 5], lambda v: 2 ** (1.1 * v)),
            ("C", [2.5, 3, 3.5, 4, 4.5], lambda v: 0.8 * 2**v),
        ):
            for k, v in enumerate(values):
                r = s * unit_rate(v)
                rows.append(
                    JobResult.from_dict(
                        {
                            "job_key": f"{codec}/{seq}/{k}",
                            "codec": codec,
                            "sequence": seq,
                            "point": f"qp{50 - k}",
                            "qp": 50 - k,
                            "target_kbps": None,
                            "status": "done",
                            "kbps": r,
                            "bpp": r / 1000,
                            "metrics": {"m": v},
                            "provenance": {"m": {"spec": {"lower_better": False}}},
                        }
                    )
                )
    return rows


def _entry(entries, codec="T"):
    return next(e for e in entries if e.codec == codec)


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_window_equals_the_hand_computation(method):
    e = _entry(bd_table(_rows(), "A", ["m"], (method,), window=(5, 15)))
    # Qualities where both rates lie in 5..15: A from log2 5, T up to log2(15) / 1.1.
    q1, q2 = math.log2(5), math.log2(15) / 1.1
    assert e.avg_curve == pytest.approx(bd_rate_hand(q1, q2), abs=1e-6)
    assert e.per_sequence_mean == pytest.approx(bd_rate_hand(q1, q2), abs=1e-6)
    assert e.bd_metric == pytest.approx(bd_metric_hand(5, 15, 1.0), abs=1e-9)
    assert e.interval == pytest.approx((q1, q2)) and e.rate_interval == pytest.approx((5, 15))
    assert "m 2.322..3.552" in e.interval_text() and "5..15 kbps" in e.interval_text()
    assert e.scope == "rate window 5..15 kbps"
    # Without the window: the whole overlap, qualities 1..5.
    whole = _entry(bd_table(_rows(), "A", ["m"], (method,)))
    assert whole.avg_curve == pytest.approx(bd_rate_hand(1, 5), abs=1e-6)
    assert abs(whole.avg_curve - e.avg_curve) > 0.5  # 23.11 % against 22.58 %


def test_common_interval_is_shared_by_every_codec():
    entries = bd_table(_rows(), "A", ["m"], common=True)
    t = _entry(entries)
    # C spans qualities 2.5..4.5 and rates 0.8 * 2^2.5 .. 0.8 * 2^4.5: T vs A is limited to them.
    assert t.avg_curve == pytest.approx(bd_rate_hand(2.5, 4.5), abs=1e-6)
    r1, r2 = 0.8 * 2**2.5, 0.8 * 2**4.5
    assert t.bd_metric == pytest.approx(bd_metric_hand(r1, r2, 1.0), abs=1e-9)
    c = _entry(entries, "C")
    assert c.interval == pytest.approx(t.interval) and c.rate_interval == pytest.approx(t.rate_interval)
    # Pairwise, T vs A would use 1..5.
    assert _entry(bd_table(_rows(), "A", ["m"])).interval == pytest.approx((1, 5))


def test_window_and_common_together_and_per_sequence_variant():
    rows = _rows(scales=(1.0, 2.0))
    e = _entry(bd_table(rows, "A", ["m"], window=(5, 15), common=True))
    # Per sequence (scale s): each codec's qualities at rates 5 and 15, clipped to its own points
    # (A and T have qualities 1..5, C 2.5..4.5), intersected.
    per_seq = []
    for s in (1.0, 2.0):
        q1 = max(math.log2(5 / s), math.log2(5 / s) / 1.1, math.log2(5 / (0.8 * s)), 2.5)
        q2 = min(math.log2(15 / s), math.log2(15 / s) / 1.1, math.log2(15 / (0.8 * s)), 4.5)
        per_seq.append(bd_rate_hand(q1, q2))
        assert e.per_sequence_intervals[f"seq{int(s) - 1}"] == pytest.approx((q1, q2))
    assert e.per_sequence_mean == pytest.approx(sum(per_seq) / 2, abs=1e-6)
    # Averaged curves: rates 1.5 x 2^v (A), so the same with s = 1.5.
    q1 = max(math.log2(5 / 1.5), math.log2(5 / 1.5) / 1.1, math.log2(5 / 1.2), 2.5)
    q2 = min(math.log2(15 / 1.5), math.log2(15 / 1.5) / 1.1, math.log2(15 / 1.2), 4.5)
    assert e.avg_curve == pytest.approx(bd_rate_hand(q1, q2), abs=1e-6)


def test_a_window_outside_the_curves_is_an_honest_n_a():
    e = _entry(bd_table(_rows(), "A", ["m"], window=(100, 200)))
    assert e.avg_curve is None and e.per_sequence_mean is None
    assert any("no points inside the rate window" in n for n in e.notes)
    with pytest.raises(GvcbenchError, match="LOW:HIGH"):
        parse_window("5-15")
    with pytest.raises(GvcbenchError, match="0 < LOW < HIGH"):
        parse_window("15:5")


def test_cli_bdrate_prints_the_interval_beside_every_number(tmp_path):
    with ResultStore(tmp_path) as store:
        for i, row in enumerate(_rows()):
            store.put(replace(row, job_key=f"k{i}", run_id="r", codec_name=row.codec))
    result = CliRunner().invoke(app, ["bdrate", str(tmp_path), "--anchor", "A", "--window", "5:15", "--common"])
    assert result.exit_code == 0, result.output
    assert "interval" in result.output and "rate window 5..15 kbps and one interval shared" in result.output
    expected = f"{bd_rate_hand(math.log2(5 / 0.8), math.log2(15) / 1.1):+.2f}%"
    assert expected in result.output
    bad = CliRunner().invoke(app, ["bdrate", str(tmp_path), "--anchor", "A", "--window", "x"])
    assert bad.exit_code == 2 and "LOW:HIGH" in bad.output


@pytest.mark.parametrize("scope", [["--common"], ["--window", "5:15"]])
def test_a_codec_that_shares_no_sequence_with_the_anchor_is_n_a_under_a_window_or_common(tmp_path, scope):
    """A codec measured on other sequences than the anchor (an imported table of other clips,
    an anchor whose every rate is 0) stopped the table under --window or --common with
    "BD intervals under a window or --common need bd_table's per-sequence values"."""
    with ResultStore(tmp_path) as store:
        for i, row in enumerate(_rows()):
            seq = "other" if row.codec == "C" else row.sequence
            store.put(replace(row, job_key=f"k{i}", run_id="r", codec_name=row.codec, sequence=seq))
    result = CliRunner().invoke(app, ["bdrate", str(tmp_path), "--anchor", "A", *scope])
    said = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "no sequence has m results for both C and A" in said and "│ T " in result.output


def test_report_honours_the_window_and_prints_intervals(tmp_path):
    from gvcbench.reports.report import write_report

    with ResultStore(tmp_path / "run") as store:
        for i, row in enumerate(_rows()):
            store.put(replace(row, job_key=f"k{i}", run_id="r", codec_name=row.codec))
    files = write_report(tmp_path / "run", "A", tmp_path / "rep", window=(5, 15), max_visual=0)
    import json

    bd = json.loads(files.json.read_text())["bd"]
    t = next(e for e in bd if e["codec"] == "T" and e["method"] == "pchip")
    assert t["avg_curve"] == pytest.approx(bd_rate_hand(math.log2(5), math.log2(15) / 1.1), abs=1e-6)
    assert t["scope"] == "rate window 5..15 kbps"
    md = files.markdown.read_text()
    assert "| m 2.322..3.552; 5..15 kbps;" in md and "Intervals: rate window 5..15 kbps." in md
    assert "on m 2.322..3.552; 5..15 kbps" in files.html.read_text()


def test_bd_metric_where_the_qualities_never_meet():
    # A generative codec's PSNR can sit far under the anchor's at every rate: no BD-rate, but a BD-metric.
    rows = [
        replace(r, metrics={"m": r.metrics["m"] - 20}) if r.codec == "T" else r
        for r in _rows()
        if r.codec in ("A", "T")
    ]
    e = _entry(bd_table(rows, "A", ["m"], window=(5, 15)))
    assert e.avg_curve is None and any("do not overlap" in n for n in e.notes)
    assert e.bd_metric == pytest.approx(bd_metric_hand(5, 15, 1.0) - 20, abs=1e-9)
    assert e.rate_interval == pytest.approx((5, 15))


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_a_windowed_bd_rate_integrates_exactly_between_the_windows_rates(method):
    """The quality limits are where the interpolant the BD-rate integrates (log-rate over
    quality) reaches the window's ends; reading them off the quality-over-rate interpolant
    put a curve's limit at 165 kbps for a window from 170 (found by a numbers audit)."""
    import numpy as np

    from gvcbench.reports.bdrate import Curve, pchip_eval
    from gvcbench.reports.window import Scope, quality_limits

    anchor = Curve.of("A", [100, 200, 400, 800, 1600], [30.0, 34.0, 36.5, 38.0, 38.8])
    test = Curve.of("T", [90, 150, 330, 700, 1500], [30.5, 33.0, 36.8, 38.4, 39.5])
    window = (170.0, 600.0)
    lo, hi = quality_limits((anchor, test), [], Scope(window=window), method, 4)

    def rate(curve, q):
        x, y = curve.values, np.log10(curve.rates)
        if method == "cubic":
            return 10 ** np.polyval(np.polyfit(x, y, 3), q)
        return 10 ** pchip_eval(x[None], y[None], np.array([[q]]))[0, 0]

    at_lo, at_hi = [rate(c, lo) for c in (anchor, test)], [rate(c, hi) for c in (anchor, test)]
    assert min(at_lo) >= window[0] * (1 - 1e-9) and min(abs(r - window[0]) for r in at_lo) < 1e-6, at_lo
    assert max(at_hi) <= window[1] * (1 + 1e-9) and min(abs(r - window[1]) for r in at_hi) < 1e-6, at_hi


def test_a_curve_short_of_points_names_the_jobs_that_failed():
    """'3 rate points, BD needs at least 4' alone hid why: the note names the failed jobs."""
    rows = [r for r in _rows() if r.job_key not in ("T/seq0/3", "T/seq0/4")]
    broken = [replace(r, job_key=r.job_key + "x", status="failed", error="boom") for r in _rows() if r.codec == "T"][3:]
    (entry,) = [e for e in bd_table(rows + broken, "A", ["m"], ("pchip",)) if e.codec == "T"]
    assert entry.avg_curve is None
    names = ", ".join(f"{r.sequence} / {r.point}" for r in broken)
    assert f"T: 2 job(s) failed ({names}); their rate points are missing from these curves" in " | ".join(entry.notes)
    seeded = [replace(r, job_key=r.job_key + "s", seed=7) for r in broken]  # a stochastic codec: which seed
    (entry,) = [e for e in bd_table(rows + seeded, "A", ["m"], ("pchip",)) if e.codec == "T"]
    assert f"({names.replace(', ', ' / seed 7, ')} / seed 7)" in " | ".join(entry.notes), entry.notes
    (clean,) = [e for e in bd_table(_rows(), "A", ["m"], ("pchip",)) if e.codec == "T"]
    assert not any("failed" in n for n in clean.notes)


@pytest.mark.parametrize("method", ["pchip", "cubic"])
@pytest.mark.parametrize("window, common", [((20.0, 200.0), False), (None, True), ((20.0, 200.0), True)])
def test_windowed_per_sequence_bd_rates_in_batches_equal_one_bd_rate_per_pair(method, window, common):
    """A windowed or --common table computes each sequence's limits and BD-rate in batches
    (191 s for 6250 sequences one pair at a time); every number must be the one a pair
    alone gets, and every pair without one must keep bd_rate's message."""
    import numpy as np

    from gvcbench.metrics.axes import parse_axis
    from gvcbench.reports.bdrate import BDError, bd_rate
    from gvcbench.reports.curves import _batched_scoped_bd_rates, _per_sequence, sequence_curve
    from gvcbench.reports.window import Scope, quality_limits

    rng = np.random.default_rng(3)
    pts: dict = {c: {} for c in "ABCD"}
    for k in range(240):
        for j, c in enumerate("ABCD"):
            if c == "D" and k % 5 == 0:
                continue  # D lacks some sequences: their --common limits come from fewer curves
            n = 4 + (k + j) % 2
            rates = np.exp(rng.uniform(1, 6.5, n))
            values = 3 * np.log(rates) + 0.5 * j + rng.normal(0, 0.6 if k % 7 == 0 else 0.02, n)
            if k % 11 == 0 and c == "C":
                values[1] = np.nan
            if k % 13 == 0 and c == "B":
                rates = rates * 50  # outside the window
            pts[c][f"s{k}"] = {
                f"p{i}": (float(r), float(r) / 100, float(v)) for i, (r, v) in enumerate(zip(rates, values))
            }
    axis, scope, shared = parse_axis("x", "m"), Scope(window=window, common=common), sorted(pts["A"])
    errors = answered = 0
    for codec in "BCD":
        mine = [s for s in shared if s in pts[codec]]
        batch = _batched_scoped_bd_rates(pts, "A", codec, mine, axis, method, "kbps", 4, scope)
        answered += sum(r is not None for r in batch)
        for seq, got in zip(mine, _per_sequence(pts, "A", codec, mine, axis, method, "kbps", 4, scope)):
            a, t = (sequence_curve(pts[c][seq], axis, "kbps", f"{c} / {seq} / m") for c in ("A", codec))
            others = [
                sequence_curve(pts[o][seq], axis, "kbps", f"{o} / {seq} / m")
                for o in "BCD"
                if common and o != codec and seq in pts[o]
            ]
            try:
                want = bd_rate(a, t, method, 4, quality_limits((a, t), others, scope, method, 4))
            except BDError as exc:
                errors += 1
                assert isinstance(got, BDError) and str(got) == str(exc)
                continue
            assert got == want  # BDResult equality: every float identical
    assert 20 < errors < 500  # both kinds are exercised
    assert answered == 3 * 240 - 48 - errors  # every pair with a BD-rate came from a batch


@pytest.mark.parametrize("window", [(15, 5), (0, 10), (-5, 15), (float("nan"), 15), (5, float("inf")), [15, 5]])
def test_the_python_api_checks_a_window_pair_as_the_command_line_checks_its_text(window):
    """gvcbench.bd_table and gvcbench.report took a (LOW, HIGH) pair unchecked: (15, 5) gave
    a table of n/a without a word, (0, 10) and (-5, 15) gave numbers for a window the
    command line refuses (`--window 0:10`: "needs 0 < LOW < HIGH")."""
    import gvcbench

    with pytest.raises(GvcbenchError, match="0 < LOW < HIGH"):
        gvcbench.bd_table("nowhere", anchor="A", window=window)
    with pytest.raises(GvcbenchError, match="0 < LOW < HIGH"):
        gvcbench.report("nowhere", anchor="A", window=window)


def test_a_window_that_is_no_pair_is_a_gvcbench_error():
    """window=(1, 2, 3) raised a bare ValueError (too many values to unpack)."""
    import gvcbench

    for window in [(1, 2, 3), (5,), ("a", "b"), 5]:
        with pytest.raises(GvcbenchError, match=r"window takes \(LOW, HIGH\)"):
            gvcbench.bd_table("nowhere", anchor="A", window=window)
    assert parse_window((5, 15)) == (5.0, 15.0) == parse_window([5, 15]) == parse_window("5:15")
