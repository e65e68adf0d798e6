"""The CI regression gate: compare a run's store with a saved baseline.

Per (codec, sequence, rate point): every metric and the rate, direction-aware, with
per-metric absolute and relative tolerances; per codec and metric: the BD-rate against
the baseline's anchor. Outcomes: ok, improved, regressed, new failure (counts as
regressed), missing (in the baseline, not in the run; counts as regressed), new (not in
the baseline, or failed there), not comparable (the sequence content or the metric's
implementation changed, or a BD-rate whose curves hold such a value; the gate cannot
vouch for these, so it does not pass: `gvcbench regress` exits 2). A value that is
NaN, infinite or absent in the run, or a rate of 0 or less, is a regression; a baseline that is not one (another
schema, no points, a value that is not a finite number, a rate of 0 or less) is an error, so the gate never
passes on garbage.

Besides the tolerances, each (codec, metric) and the rate is tested across sequences
(and seeds) with a paired test (Wilcoxon signed-rank or a paired bootstrap): ok (every
pair within tolerance), regressed or improved (significant at ``alpha``), not
significant, or insufficient data (too few pairs). A changed codec version is
reported as "version changed".
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from xml.etree import ElementTree as ET

import tomllib

from ..bench.records import JobResult, SetValue
from ..errors import ConfigError, GvcbenchError, error_summary
from .curves import bd_table, metric_axes
from .significance import lower_better, paired_values, version_changes
from .uncertainty import DEFAULT_ALPHA, MIN_PAIRS, TESTS, holm, paired_test

BASELINE_SCHEMA = 1
RATE = "kbps"  # the rate is checked like a metric where lower is better
DEFAULT_TOLERANCE = {"abs": 1e-4, "rel": 1e-3}
DEFAULT_BD_TOLERANCE = 0.25  # percentage points of BD-rate
FAILING = ("regressed", "new failure", "missing")


@dataclass(frozen=True)
class Tolerances:
    default: dict = field(default_factory=lambda: dict(DEFAULT_TOLERANCE))
    metric: dict = field(default_factory=dict)  # name -> {"abs": .., "rel": ..}
    bd_abs: float = DEFAULT_BD_TOLERANCE
    test: str = "wilcoxon"  # paired test across sequences: wilcoxon, bootstrap or none
    alpha: float = DEFAULT_ALPHA
    min_pairs: int = MIN_PAIRS
    correction: str = "holm"  # across the gate's paired tests: holm or none

    def of(self, name: str) -> tuple[float, float]:
        t = {**self.default, **self.metric.get(name, {})}
        return float(t.get("abs", 0.0)), float(t.get("rel", 0.0))


def load_tolerances(path: Path | None) -> Tolerances:
    """TOML: ``[default] abs/rel``, ``[metric."psnr-y"] abs/rel`` (``kbps`` for the rate), ``[bd] abs``."""
    if path is None:
        return Tolerances()
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"tolerances file {path}: {exc}") from None
    unknown = set(data) - {"default", "metric", "bd", "significance"}
    if unknown:
        loose = sorted(k for k in unknown if not isinstance(data[k], dict))  # abs = 0.1 above any table
        if loose:
            raise ConfigError(
                f"tolerances file {path}: {', '.join(loose)} is in no table; put it under [default] (every "
                f"metric), [metric.NAME] or [bd], e.g. [default] then {loose[0]} = ... on the next line"
            )
        raise ConfigError(
            f"tolerances file {path}: unknown table(s) {', '.join(sorted(unknown))}; "
            f"use [default], [metric.NAME], [bd] and [significance]"
        )
    _check_tables(data, path)
    sig = _significance(data.get("significance", {}), path)
    for where, table in [("default", data.get("default", {})), ("bd", data.get("bd", {}))] + [
        (f"metric.{k}", v) for k, v in data.get("metric", {}).items()
    ]:
        bad = sorted(set(table) - ({"abs"} if where == "bd" else {"abs", "rel"}))
        if bad:
            raise ConfigError(
                f"tolerances file {path}: [{where}] has {', '.join(bad)}; it takes only "
                f"abs{'' if where == 'bd' else ' and rel'}"
            )
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ConfigError(
                    f"tolerances file {path}: [{where}] {key} must be a finite number >= 0 (an infinite "
                    f"tolerance would pass every change), got {value!r}"
                )
        if table.get("rel", 0) >= 1:
            raise ConfigError(
                f"tolerances file {path}: [{where}] rel = {table['rel']!r} would accept a change of "
                f"{100 * table['rel']:g} % or more; rel is a fraction of the baseline value "
                f"(rel = 0.01 for 1 %)"
            )
    _check_metric_names(data.get("metric", {}), path)
    return Tolerances(
        {**DEFAULT_TOLERANCE, **data.get("default", {})},
        data.get("metric", {}),
        float(data.get("bd", {}).get("abs", DEFAULT_BD_TOLERANCE)),
        **sig,
    )


def _check_tables(data: dict, path) -> None:
    """[default], [bd] and [significance] are tables of values, [metric] a table of tables
    (``[metric."psnr-y"]``): anything else would fail later with a Python error."""
    for name in ("default", "bd", "significance", "metric"):
        if name in data and not isinstance(data[name], dict):
            raise ConfigError(
                f"tolerances file {path}: {name} must be a table ([{name}] with its keys below it), got {data[name]!r}"
            )
    for name, table in data.get("metric", {}).items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"tolerances file {path}: metric.{name} must be a table with abs and/or rel, "
                f'e.g. [metric."{name}"] then abs = {table!r} on the next line; got {table!r}'
            )


def _check_metric_names(tables: dict, path) -> None:
    """A misspelt metric in [metric.NAME] would silently fall back to the default tolerance."""
    from ..metrics import METRICS
    from ..registry import similar_names

    known = set(METRICS.names()) | {"kbps"}
    for name in tables:
        if name == "bpp":
            raise ConfigError(f"tolerances file {path}: the gate checks the rate in kbps; write [metric.kbps]")
        if name not in known:
            close = similar_names(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"
            raise ConfigError(f"tolerances file {path}: [metric.{name}] names no metric{hint}")


def _significance(table: dict, path) -> dict:
    """``[significance] test = "wilcoxon" | "bootstrap" | "none", alpha = 0.05, min_pairs = 6``."""
    bad = set(table) - {"test", "alpha", "min_pairs", "correction"}
    if bad:
        raise ConfigError(
            f"tolerances file {path}: [significance] takes test, alpha, min_pairs and correction, "
            f"not {', '.join(sorted(bad))}"
        )
    if table.get("correction", "holm") not in ("holm", "none"):
        raise ConfigError(f"tolerances file {path}: [significance] correction must be holm or none")
    if table.get("test", "wilcoxon") not in (*TESTS, "none"):
        raise ConfigError(f"tolerances file {path}: [significance] test must be wilcoxon, bootstrap or none")
    alpha = table.get("alpha", DEFAULT_ALPHA)
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"tolerances file {path}: [significance] alpha must be between 0 and 1, got {alpha!r}")
    pairs = table.get("min_pairs", MIN_PAIRS)
    if not isinstance(pairs, int) or pairs < 2:
        raise ConfigError(f"tolerances file {path}: [significance] min_pairs must be a whole number >= 2")
    return {
        "test": table.get("test", "wilcoxon"),
        "alpha": float(alpha),
        "min_pairs": pairs,
        "correction": table.get("correction", "holm"),
    }


def _subject(codec: str, sequence: str, point: str, seed: int | None) -> str:
    return f"{codec} / {sequence} / {point}" + ("" if seed is None else f" / seed {seed}")


def _key(row: JobResult) -> str:
    return _subject(row.codec, row.sequence, row.point, row.seed)


def _base_key(b: dict) -> str:
    """The subject of a baseline point (a dict of the baseline file)."""
    return _subject(b["codec"], b["sequence"], b["point"], b.get("seed"))


def make_baseline(rows: list[JobResult], anchor: str | None = None, set_values: list[SetValue] | None = None) -> dict:
    rows = [r for r in rows if not r.is_search_probe]  # a rate search's encodes are not points to guard
    axes = metric_axes(rows)
    points = []
    known: dict[tuple[int, tuple], dict] = {}  # rows read from a store share their provenance record
    for r in rows:
        key = (id(r.provenance), tuple(r.metrics))
        versions = known.get(key)
        if versions is None:
            versions = known[key] = {m: r.provenance.get(m, {}).get("version") for m in r.metrics}
        points.append(
            {
                "codec": r.codec,
                "sequence": r.sequence,
                "point": r.point,
                "seed": r.seed,
                "status": r.status,
                "codec_version": r.codec_version,
                "sequence_hash": r.sequence_hash,
                RATE: r.kbps,
                "metrics": dict(r.metrics),
                "metric_versions": dict(versions),
            }
        )
    bd = []
    if anchor:  # the averaged curves' BD-rates only: the gate keeps no per-sequence ones
        for e in bd_table(rows, anchor, set_values=set_values, per_sequence=False):
            bd.append({"codec": e.codec, "metric": e.metric, "method": e.method, "value": e.avg_curve})
    sets = [{"codec": s.codec, "point": s.point, "metric": s.metric, "value": s.value} for s in set_values or []]
    return {
        "schema": BASELINE_SCHEMA,
        "created": time.time(),
        "anchor": anchor,
        "directions": {m: a.flipped for m, a in axes.items()},
        "points": points,
        "bd": bd,
        "sets": sets,
    }


def save_baseline(
    rows: list[JobResult], path: Path, anchor: str | None, set_values: list[SetValue] | None = None
) -> dict:
    base = make_baseline(rows, anchor, set_values)
    check_baseline(base, f"the store's results (not written to {path})")
    Path(path).write_text(baseline_text(base))
    return base


def baseline_text(base: dict) -> str:
    """The baseline as JSON with one entry of each list (a point, a BD-rate, a set-level value)
    per line, keys sorted: a changed value shows as one changed line in a diff, and each line
    is written by the json module's C encoder (an indented dump goes through its Python
    encoder, seconds for 100k points). Read back it is the same object as ``json.dumps(base,
    indent=1, sort_keys=True)``, the layout of earlier baselines."""
    entry = json.JSONEncoder(sort_keys=True).encode
    parts = []
    for key in sorted(base):
        value = base[key]
        if isinstance(value, list) and value:
            body = ",\n".join(f"  {entry(v)}" for v in value)
            parts.append(f" {entry(key)}: [\n{body}\n ]")
        else:
            parts.append(f" {entry(key)}: {entry(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def load_baseline(path: Path) -> dict:
    try:
        base = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GvcbenchError(
            f"baseline {path} cannot be read: {exc}; write one with `gvcbench regress --save`"
        ) from None
    return check_baseline(base, f"baseline {path}")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_baseline(base, where: str) -> dict:
    """The baseline as written by ``save_baseline``, or a GvcbenchError saying what is wrong with it."""
    hint = "; write one with `gvcbench regress STORE --baseline FILE --save`"
    if not isinstance(base, dict):
        raise GvcbenchError(f"{where} is not a gvcbench baseline (a JSON {type(base).__name__}, not an object){hint}")
    if base.get("schema") != BASELINE_SCHEMA:
        raise GvcbenchError(f"{where} has schema {base.get('schema')!r}, this gvcbench reads {BASELINE_SCHEMA}{hint}")
    points = base.get("points")
    if not isinstance(points, list) or not points:
        raise GvcbenchError(f"{where} holds no points: an empty baseline would check nothing{hint}")
    for i, b in enumerate(points):
        if (
            not isinstance(b, dict)
            or not all(isinstance(b.get(k), str) for k in ("codec", "sequence", "point", "status"))
            or not isinstance(b.get("metrics"), dict)
        ):
            raise GvcbenchError(f"{where}: point {i + 1} lacks codec, sequence, point, status or metrics{hint}")
        seed = b.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise GvcbenchError(f"{where}: point {i + 1} has seed {seed!r}; a seed is a whole number or null{hint}")
        if b["status"] != "done":
            continue
        bad = [k for k, v in [(RATE, b.get(RATE)), *b["metrics"].items()] if not _finite(v)]
        if bad:
            raise GvcbenchError(
                f"{where}: {_base_key(b)} has no finite value for {', '.join(bad)}; a baseline "
                f"holds only finite numbers{hint}"
            )
        if b[RATE] <= 0:  # no curve takes it, and the gate would call any real rate a regression
            raise GvcbenchError(
                f"{where}: {_base_key(b)} has a rate of {b[RATE]:g} {RATE}; a baseline holds only "
                f"positive rates (a broken row: run its job again with --force){hint}"
            )
    if not any(b["status"] == "done" for b in points):
        raise GvcbenchError(f"{where} holds no finished point: it would check nothing{hint}")
    for table, keys in (("bd", ("codec", "metric")), ("sets", ("codec", "point", "metric"))):
        entries = base.get(table, [])
        if not isinstance(entries, list) or not all(
            isinstance(e, dict)
            and all(isinstance(e.get(k), str) for k in keys)
            and (e.get("value") is None or _finite(e.get("value")))
            for e in entries
        ):
            raise GvcbenchError(
                f"{where}: '{table}' must be a list of entries with {', '.join(keys)} and a finite value or null{hint}"
            )
    if not isinstance(base.get("directions", {}), dict):
        raise GvcbenchError(f"{where}: 'directions' must be an object{hint}")
    return base


@dataclass
class Finding:
    subject: str  # "codec / sequence / point" or "BD-rate codec vs anchor"
    check: str  # metric name, "kbps", "status" or "bd-rate:metric"
    outcome: str
    baseline: float | None = None
    candidate: float | None = None
    message: str = ""

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.candidate is None:
            return None
        return self.candidate - self.baseline


def _value_change(base: float, cand: float, delta: float, worse: bool, limit: float) -> str:
    rel = f" ({100 * delta / base:+.2f} %)" if base else ""
    return f"{base:.6g} -> {cand:.6g}, change {delta:+.4g}{rel}, tolerance {limit:.3g}"


def _bd_change(base: float, cand: float, delta: float, worse: bool, limit: float) -> str:
    return (
        f"{base:+.2f} % -> {cand:+.2f} %, {delta:+.2f} percentage points "
        f"({'worse: more' if worse else 'better: fewer'} bits for the same quality), tolerance {limit:g} points"
    )


def _compare_value(subject, check, base, cand, lower, tol, say=_value_change) -> Finding:
    """ok within ``tol`` (abs, rel), else regressed or improved by the direction; ``say``
    words the change."""
    if not _finite(cand):
        what = "absent" if cand is None else f"{cand} (not a finite number)"
        return Finding(subject, check, "regressed", base, None, f"{base:.6g} -> {what} in this run")
    abs_tol, rel_tol = tol
    delta = cand - base
    limit = abs_tol + rel_tol * abs(base)
    if abs(delta) <= limit:
        return Finding(subject, check, "ok", base, cand)
    worse = delta > 0 if lower else delta < 0
    return Finding(
        subject, check, "regressed" if worse else "improved", base, cand, say(base, cand, delta, worse, limit)
    )


def compare(
    rows: list[JobResult], baseline: dict, tolerances: Tolerances, set_values: list[SetValue] | None = None
) -> list[Finding]:
    directions = baseline.get("directions", {})
    now = {_key(r): r for r in rows if not r.is_search_probe}
    findings = []
    seen = set()
    limits: dict[str, tuple[float, float]] = {}  # metric -> tolerances.of(metric), looked up once

    def tolerance(name: str) -> tuple[float, float]:
        limit = limits.get(name)
        if limit is None:
            limit = limits[name] = tolerances.of(name)
        return limit

    for b in baseline["points"]:
        subject = _base_key(b)
        seen.add(subject)
        r = now.get(subject)
        if r is None:
            findings.append(Finding(subject, "status", "missing", message="in the baseline, not in this run"))
            continue
        if b["status"] != "done":
            if r.done:
                findings.append(
                    Finding(
                        subject,
                        "status",
                        "new",
                        message="failed in the baseline, finished in this run: not checked "
                        "(save a new baseline to guard it)",
                    )
                )
            else:  # not a regression, but never silent: the baseline guards nothing here
                why = f"failed in the baseline and in this run: {error_summary(r.error) or 'failed'}"
                findings.append(Finding(subject, "status", "still failing", message=why))
            continue
        if not r.done:
            findings.append(Finding(subject, "status", "new failure", message=error_summary(r.error)))
            continue
        if r.sequence_hash != b["sequence_hash"]:
            findings.append(
                Finding(
                    subject, "sequence", "not comparable", message="the sequence content differs from the baseline's"
                )
            )
            continue
        if r.kbps is not None and r.kbps <= 0:  # "fewer bits" than any baseline: it passed as improved
            why = f"{b[RATE]:.6g} -> {r.kbps:g} in this run: a rate of 0 or less is no result (a broken row)"
            findings.append(Finding(subject, RATE, "regressed", b[RATE], r.kbps, why))
        else:
            findings.append(_compare_value(subject, RATE, b[RATE], r.kbps, True, tolerance(RATE)))
        for metric, value in b["metrics"].items():
            version = r.provenance.get(metric, {}).get("version")
            if metric not in r.metrics:
                why = error_summary(r.metric_errors.get(metric))
                findings.append(
                    Finding(
                        subject,
                        metric,
                        "missing",
                        value,
                        None,
                        "metric not measured in this run" + (f": {why}" if why else ""),
                    )
                )
            elif b.get("metric_versions", {}).get(metric) not in (None, version):
                findings.append(
                    Finding(
                        subject,
                        metric,
                        "not comparable",
                        value,
                        r.metrics[metric],
                        f"metric version {b['metric_versions'][metric]} -> {version}",
                    )
                )
            else:
                findings.append(
                    _compare_value(
                        subject,
                        metric,
                        value,
                        r.metrics[metric],
                        lower_better(directions, metric),
                        tolerance(metric),
                    )
                )
    for subject, r in now.items():
        if subject in seen:
            continue
        if r.done:
            findings.append(Finding(subject, "status", "new", message="not in the baseline"))
        else:  # nothing to compare it with, but a job that fails is a failing run all the same
            why = f"not in the baseline, and failed in this run: {error_summary(r.error) or 'failed'}"
            findings.append(Finding(subject, "status", "new failure", message=why))
    if now and not seen & set(now):
        findings.append(_nothing_shared(baseline, rows))
    findings += _unguarded_metrics(baseline, rows)
    unsound = _unsound_bd(findings, baseline)
    findings += _compare_sets(baseline, set_values or [], tolerances, directions, unsound)
    findings += _compare_bd(rows, baseline, tolerances, set_values, unsound)
    findings += _significance_findings(rows, baseline, tolerances)
    for codec, (before, after) in version_changes(rows, baseline).items():
        findings.append(
            Finding(codec, "codec version", "version changed", message=f"{'; '.join(before)} -> {'; '.join(after)}")
        )
    return findings


def _unguarded_metrics(baseline: dict, rows) -> list[Finding]:
    """Metrics this run measured that the baseline does not hold: nothing checks them."""
    held = {m for b in baseline["points"] for m in b["metrics"]}
    measured = sorted({m for r in rows if r.done for m in r.metrics} - held)
    return [
        Finding(
            "the baseline",
            m,
            "new",
            message="measured in this run, not in the baseline: not checked (save the baseline again to guard it)",
        )
        for m in measured
    ]


def _nothing_shared(baseline: dict, rows) -> Finding:
    """Why every baseline point is missing: the run names other codecs, sequences or points."""

    def names(values) -> str:
        values = sorted(set(values))
        return ", ".join(values[:6]) + (f" and {len(values) - 6} more" if len(values) > 6 else "")

    points = baseline["points"]
    parts = [
        f"{what}: baseline {names(b[key] for b in points)}; "
        f"this run {names(getattr(r, key) for r in rows if not r.is_search_probe)}"
        for what, key in (("codecs", "codec"), ("sequences", "sequence"), ("rate points", "point"))
        if {b[key] for b in points}.isdisjoint(getattr(r, key) for r in rows if not r.is_search_probe)
    ]
    return Finding(
        "the baseline",
        "coverage",
        "not comparable",
        message="no (codec, sequence, rate point) of this run is in the baseline"
        + (f" ({'; '.join(parts)})" if parts else "")
        + ": was it made from another dataset or config?",
    )


def _unsound_bd(findings: list[Finding], baseline: dict) -> dict[tuple[str, str], str]:
    """{(codec, metric): why}: BD-rates that compare other content, or a metric's values
    from another version; "*" as metric stands for every metric of that codec."""
    out: dict[tuple[str, str], str] = {}
    codec_of = {_base_key(b): b["codec"] for b in baseline["points"]}
    for f in findings:
        if f.outcome != "not comparable" or f.subject not in codec_of:
            continue
        key = (codec_of[f.subject], "*" if f.check == "sequence" else f.check)
        out.setdefault(key, f"{f.subject}: {f.message}")
    return out


def _unsound_reason(unsound: dict[tuple[str, str], str], codecs: list[str], metric: str) -> str | None:
    """Why a value built from these codecs' points of ``metric`` is not comparable, if it is not."""
    return next((unsound[k] for c in codecs for k in ((c, "*"), (c, metric)) if k in unsound), None)


def _significance_findings(rows, baseline, tolerances: Tolerances) -> list[Finding]:
    """One finding per (codec, metric or rate): the paired test across sequences (and seeds)."""
    if tolerances.test == "none":
        return []
    tests = []
    for (codec, metric), (base, cand, lower) in paired_values(rows, baseline).items():
        result = paired_test(
            base, cand, lower, tolerances.test, tolerances.alpha, tolerances.of(metric), tolerances.min_pairs
        )
        tests.append((codec, metric, base, cand, result))
    adjusted = (
        holm([r.p_value for *_, r in tests]) if tolerances.correction == "holm" else [r.p_value for *_, r in tests]
    )
    out = []
    for (codec, metric, base, cand, result), p_adj in zip(tests, adjusted):
        outcome, message = result.outcome, result.message
        if tolerances.correction == "holm" and p_adj is not None:
            message += f"; Holm-adjusted p = {p_adj:.3g} over {sum(p is not None for p in adjusted)} tests"
            if outcome in ("regressed", "improved") and p_adj >= tolerances.alpha:
                outcome = "not significant"
        out.append(
            Finding(
                f"{codec} across sequences",
                f"{metric} paired",
                outcome,
                float(sum(base) / len(base)),
                float(sum(cand) / len(cand)),
                message,
            )
        )
    return out


def _compare_sets(baseline, set_values, tolerances, directions, unsound=None) -> list[Finding]:
    """Set-level values (FVD) against the baseline's; one of a codec whose points are not
    comparable (other content) or of a metric of another version is not comparable."""
    now = {(s.codec, s.point, s.metric): s.value for s in set_values}
    unsound = unsound or {}
    out = []
    for b in baseline.get("sets", []):
        subject = f"{b['codec']} / whole set / {b['point']}"
        value = now.get((b["codec"], b["point"], b["metric"]))
        if b["value"] is None:
            continue
        held = _unsound_reason(unsound, [b["codec"]], b["metric"])
        if held and value is not None:
            out.append(Finding(subject, b["metric"], "not comparable", b["value"], value, f"its clips hold {held}"))
        elif value is None:
            out.append(Finding(subject, b["metric"], "missing", b["value"], None, "no set-level value in this run"))
        else:
            out.append(
                _compare_value(
                    subject,
                    b["metric"],
                    b["value"],
                    value,
                    lower_better(directions, b["metric"]),
                    tolerances.of(b["metric"]),
                )
            )
    return out


def _compare_bd(rows, baseline, tolerances, set_values=None, unsound=None) -> list[Finding]:
    """The averaged curves' BD-rates against the baseline's; one whose curves hold a value
    that is not comparable (other content, another metric version) is not comparable.
    Where the run and the baseline finished other points (a sequence added or lost), both
    BD-rates are computed again over the points both finished, so that a changed test set
    is not read as a changed codec."""
    if not baseline.get("bd"):
        return []
    anchor = baseline["anchor"]
    unsound = unsound or {}
    shared = _like_for_like(rows, baseline)
    saved = {(b["codec"], b["metric"]): b["value"] for b in baseline["bd"]}
    pooled = {s["metric"] for s in baseline.get("sets", []) if s["value"] is not None}  # set-level BD curves
    try:  # the averaged curves' BD-rates; per-sequence ones only to explain one that went missing
        if shared is not None:
            rows, base_rows, scope = shared
            recomputed = {(e.codec, e.metric): e.avg_curve for e in _bd_entries(base_rows, anchor, None, False)}
            saved = {k: (recomputed.get(k) if v is not None else None) for k, v in saved.items()}
        current = {(e.codec, e.metric): e for e in _bd_entries(rows, anchor, set_values, False)}
        lost = [k for k, v in saved.items() if v is not None and k in current]
        if any(current[k].avg_curve is None for k in lost):
            current = {(e.codec, e.metric): e for e in _bd_entries(rows, anchor, set_values, True)}
    except GvcbenchError as exc:
        return [Finding(f"BD-rate vs {anchor}", "bd-rate", "missing", message=str(exc))]
    out = []
    for b in baseline["bd"]:
        subject = f"BD-rate {b['codec']} vs {anchor}"
        e = current.get((b["codec"], b["metric"]))
        base_value = saved[(b["codec"], b["metric"])]
        check = f"bd-rate:{b['metric']}"
        if e is None or e.avg_curve is None:
            if b["value"] is not None:
                why = "; ".join(e.notes) if e else "codec or metric absent"
                out.append(Finding(subject, check, "missing", b["value"], None, why))
            continue
        if b["value"] is None:
            out.append(Finding(subject, check, "new", None, e.avg_curve))
            continue
        held = _unsound_reason(unsound, [b["codec"], anchor], b["metric"])
        if held:
            out.append(Finding(subject, check, "not comparable", b["value"], e.avg_curve, f"its curves hold {held}"))
            continue
        if (
            shared is not None and b["metric"] in pooled
        ):  # a value of the whole set: it cannot be cut to the shared points
            why = f"a set-level {b['metric']} pools the whole test set, and the sets differ: {scope}"
            out.append(Finding(subject, check, "not comparable", b["value"], e.avg_curve, why))
            continue
        if base_value is None:  # the baseline's points that both finished no longer make a curve
            why = f"the baseline's points that this run finished make no BD-rate ({scope})"
            out.append(Finding(subject, check, "missing", b["value"], e.avg_curve, why))
            continue
        finding = _compare_bd_value(subject, check, base_value, e.avg_curve, tolerances.bd_abs)
        if shared is not None:
            finding = replace(finding, message="; ".join(m for m in (finding.message, f"both over {scope}") if m))
        out.append(finding)
    return out


def _bd_entries(rows, anchor: str, set_values, per_sequence: bool):
    return bd_table(rows, anchor, set_values=set_values, per_sequence=per_sequence)


def _like_for_like(rows, baseline: dict) -> tuple[list[JobResult], list[JobResult], str] | None:
    """None where the run finished exactly the points the baseline finished (its saved
    BD-rates stand); else (the run's finished rows, the baseline's points as rows, both cut
    to the points both finished, and a phrase saying so)."""
    base = {_base_key(b): b for b in baseline["points"] if b["status"] == "done"}
    now = {_key(r): r for r in rows if r.done and not r.is_search_probe}
    if base.keys() == now.keys():
        return None
    both = [k for k in now if k in base]
    # the baseline's values on the run's rows: the metric specs (directions) come with them
    base_rows = [_as_baseline_row(now[k], base[k]) for k in both]
    extra, lacking = len(now.keys() - base.keys()), len(base.keys() - now.keys())
    scope = f"the {len(both)} points both finished (this run has {extra} the baseline lacks and lacks {lacking} it has)"
    return [now[k] for k in both], base_rows, scope


def _as_baseline_row(row: JobResult, point: dict) -> JobResult:
    """The run's row carrying the baseline point's rate and values; bits per pixel and
    bytes scale with the rate (same clip, same frames), so the seeds still average."""
    scale = point[RATE] / row.kbps if row.kbps else None
    return replace(
        row,
        kbps=point[RATE],
        bpp=row.bpp * scale if row.bpp is not None and scale is not None else row.bpp,
        bytes=round(row.bytes * scale) if row.bytes is not None and scale is not None else row.bytes,
        metrics=dict(point["metrics"]),
    )


def _compare_bd_value(subject: str, check: str, base: float, cand: float, tol: float) -> Finding:
    """A BD-rate against the baseline's, in percentage points; higher means more bits for
    the same quality: worse."""
    return _compare_value(subject, check, base, cand, True, (tol, 0.0), say=_bd_change)


def failed(findings: list[Finding]) -> bool:
    return any(f.outcome in FAILING for f in findings)


def unrelated(findings: list[Finding]) -> Finding | None:
    """The finding that says the run shares nothing with the baseline, if any."""
    return next((f for f in findings if f.subject == "the baseline" and f.outcome == "not comparable"), None)


def verdict(findings: list[Finding]) -> int:
    """The gate's exit status: 2 when the baseline is of something else (nothing shared),
    1 on a regression, 2 when values could not be compared or none was, 0 when it passes."""
    if unrelated(findings):
        return 2
    if failed(findings):
        return 1
    return 2 if uncomparable(findings) or not compared(findings) else 0


def uncomparable(findings: list[Finding]) -> list[Finding]:
    """The values the gate could not check (other content, another metric version): it
    cannot vouch for them, so a gate with any of them does not pass."""
    return [f for f in findings if f.outcome == "not comparable"]


def compared(findings: list[Finding]) -> int:
    """How many values were actually compared with the baseline (a gate that compared none proves nothing)."""
    return sum(f.outcome in ("ok", "improved", "regressed") for f in findings)


def _xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (an encoder's colour codes in its
    log tail made the JUnit file unreadable)."""
    return "".join(c for c in text if c in "\t\n\r" or (ord(c) >= 0x20 and not 0xD800 <= ord(c) <= 0xDFFF))


def write_junit(findings: list[Finding], path: Path) -> Path:
    suite = ET.Element(
        "testsuite",
        name="gvcbench-regress",
        tests=str(len(findings)),
        failures=str(sum(f.outcome in FAILING for f in findings)),
        errors=str(sum(f.outcome == "not comparable" for f in findings)),
        skipped=str(sum(f.outcome in ("new", "still failing") for f in findings)),
    )
    for f in findings:
        case = ET.SubElement(suite, "testcase", classname=_xml_text(f.subject), name=_xml_text(f.check))
        ET.SubElement(ET.SubElement(case, "properties"), "property", name="outcome", value=f.outcome)
        if f.outcome in FAILING:
            ET.SubElement(
                case, "failure", message=_xml_text(f"{f.outcome}: {f.message}"), type=f.outcome
            ).text = _xml_text(json.dumps(asdict(f)))
        elif f.outcome == "not comparable":  # the gate cannot vouch for it: an error, not a pass
            ET.SubElement(case, "error", message=_xml_text(f"{f.outcome}: {f.message}"), type=f.outcome)
        elif f.outcome in ("new", "still failing"):
            ET.SubElement(case, "skipped", message=_xml_text(f"{f.outcome}: {f.message}"))
        else:
            ET.SubElement(case, "system-out").text = _xml_text(f"{f.outcome}: {f.message}".strip())
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
    return Path(path)
