"""Target-rate ladders: find, per sequence, the value of a codec's rate knob (its QP, or
the key-frame QP of Dynamics-Codec) whose real rate is closest to each target.

The search runs in rounds. Each round reads every search encode ("probe") the store
already holds, decides which knob values each target still needs (bracketing, then
interpolation of log-rate between the bracket's ends), and runs those as ordinary jobs
through the executor and the driver's commit. The store stays the single source of
truth: a killed run resumes where it stopped and no probe is ever encoded twice.

Probes are rows with point ``search-qpN`` and ``rate_search = {"role": "probe"}``;
they are search material, not ladder points. When the search ends, every reachable
target gets a row of its own (point ``12kbps``, ``target_kbps``/``target_bpp``, the
chosen knob value in ``qp``) holding the chosen probe's measurements, with the
outcome in ``rate_search``: target, achieved rate, knob value, tolerance, whether the
rate lies within it, and every probe's rate.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..codecs import Codec, RatePoint
from ..codecs.base import RateKnob
from ..errors import ConfigError, error_summary
from .config import CodecConfig
from .jobs import Job, Plan, job_key, job_result
from .records import JobResult
from .store import ResultStore

DEFAULT_TOLERANCE = 0.10  # ±10 % of the target
DEFAULT_SLOPE = -math.log(2) / 6  # d ln(rate) / d QP: the rate of HEVC/VVC roughly halves every 6 QP
MAX_ROUNDS = 40

log = logging.getLogger(__name__)


@dataclass
class Search:
    """One codec x sequence: its targets and where its probes live."""

    template: Job  # a job of this codec and sequence; probes are copies at other knob values
    knob: RateKnob
    identity: dict
    unit: str  # kbps | bpp
    targets: tuple[float, ...]
    tolerance: float | str
    failures: dict[float, str] = field(default_factory=dict)  # target -> the error of a probe it needed

    def probe_key(self, value: int) -> str:
        ladder = job_key(self.identity, self.template.sequence_hash, RatePoint(qp=value), self.template.seed)
        return hashlib.sha256(f"{ladder}:rate-search".encode()).hexdigest()

    def target_key(self, target: float) -> str:
        return job_key(self.identity, self.template.sequence_hash, self.target_point(target), self.template.seed)

    def probe_job(self, value: int) -> Job:
        point = RatePoint(qp=value)
        seed = "" if self.template.seed is None else f"_seed{self.template.seed}"
        key = self.probe_key(value)
        folder = Path(self.template.workdir).parent / f"search-{point.label}{seed}-{key[:10]}"
        return replace(
            self.template,
            key=key,
            point=point,
            workdir=str(folder),
            search={"role": "probe", "knob": self.knob.name, "unit": self.unit},
        )

    def target_point(self, target: float) -> RatePoint:
        return RatePoint(kbps=target) if self.unit == "kbps" else RatePoint(bpp=target)


@dataclass
class TargetOutcome:
    codec: str
    sequence: str
    unit: str
    target: float
    status: str  # ok | outside tolerance | unreachable | same value | failed
    knob: str = "QP"
    value: int | None = None  # the chosen knob value
    achieved: float | None = None
    reason: str = ""  # what went wrong, for a row that names its job itself
    probes: dict[int, float] = field(default_factory=dict)
    seed: int | None = None  # of a stochastic codec: each seed has its own search

    @property
    def message(self) -> str:
        """The reason for people: after 'codec / sequence' (and ' / seed N' for a stochastic codec)."""
        seed = "" if self.seed is None else f" / seed {self.seed}"
        return f"{self.codec} / {self.sequence}{seed}: {self.reason}" if self.reason else ""

    @property
    def recorded(self) -> bool:
        """Whether the target got a row (a rate outside tolerance is recorded, and flagged)."""
        return self.status in ("ok", "outside tolerance")


def check_searchable(cc: CodecConfig, codec: Codec) -> RateKnob:
    """The codec's knob, or a ConfigError saying why it cannot take target rates."""
    knob = codec.rate_knob()
    if knob is None:
        extra = " (its encode template has no {qp})" if cc.name == "external" else ""
        raise ConfigError(
            f"codec {cc.display!r} declares no rate knob{extra}, so it cannot take "
            f"'kbps'/'bpp' targets; give 'qps' instead"
        )
    if not knob.lo <= knob.start <= knob.hi:
        raise ConfigError(
            f"codec {cc.display!r}: rate knob {knob.name} starts at {knob.start}, outside {knob.lo}..{knob.hi}"
        )
    return knob


def split_searches(plan: Plan, entries: dict[str, CodecConfig]) -> None:
    """Move the template jobs of target-rate codecs out of ``plan.jobs`` into ``plan.searches``."""
    kept = []
    for job in plan.jobs:
        cc = entries.get(job.codec_label)
        if cc is None:
            kept.append(job)
            continue
        codec, ladder, knob = plan.codecs[job.codec_label], cc.targets, plan.codecs[job.codec_label].rate_knob()
        assert ladder is not None and knob is not None  # planned from cc.targets; check_searchable saw the knob
        unit, targets = ladder
        tolerance = DEFAULT_TOLERANCE if cc.tolerance is None else cc.tolerance
        plan.searches.append(Search(job, knob, codec.identity(), unit, tuple(targets), tolerance))
    plan.jobs = kept


# -- the search itself: pure functions of the probes so far ---------------------------------
def _slope(probes: dict[int, float], near: int) -> float:
    """d ln(rate) / d knob from the two probes nearest ``near``; the default where flat or unknown."""
    pts = sorted(probes, key=lambda q: (abs(q - near), q))[:2]
    if len(pts) == 2 and pts[0] != pts[1] and probes[pts[0]] > 0 and probes[pts[1]] > 0:
        s = (math.log(probes[pts[0]]) - math.log(probes[pts[1]])) / (pts[0] - pts[1])
        if s < -0.01:
            return s
    return DEFAULT_SLOPE


def _clamp(value: float, lo: int, hi: int) -> int:
    return int(min(max(round(value), lo), hi))


def next_probe(probes: dict[int, float], target: float, knob: RateKnob) -> int | None:
    """The next knob value to encode for ``target``, or None when the probes settle it.

    The rate falls as the knob rises. Outside a bracket the value is extrapolated in
    log-rate; inside one, interpolated between its ends; the search ends when the
    bracket's ends are neighbours, a range end is reached, or the curve is not
    monotonic around the target.
    """
    if not probes:
        return knob.start
    if any(r == target for r in probes.values()):
        return None
    above = [q for q, r in probes.items() if r > target]  # too many bits: the knob must rise
    below = [q for q, r in probes.items() if r < target]
    if above and below:
        qa, qb = max(above), min(below)
        if qa > qb or qb - qa <= 1:
            return None
        la, lb, lt = math.log(probes[qa]), math.log(probes[qb]), math.log(target)
        margin = max(1, (qb - qa) // 8)  # a guard against one-sided steps where log-rate bends
        return _clamp(qa + (la - lt) / (la - lb) * (qb - qa), qa + margin, qb - margin)
    if above:
        q1 = max(above)
        if q1 >= knob.hi:
            return None
        step = (math.log(target) - math.log(probes[q1])) / _slope(probes, q1)
        return _clamp(q1 + max(step, 1), q1 + 1, knob.hi)
    q0 = min(below)
    if q0 <= knob.lo:
        return None
    step = (math.log(target) - math.log(probes[q0])) / _slope(probes, q0)
    return _clamp(q0 + min(step, -1), knob.lo, q0 - 1)


def _distance(rate: float, target: float) -> float:
    return abs(math.log(rate / target))


def choose(search: Search, probes: dict[int, float]) -> list[TargetOutcome]:
    """The outcome of every target from the probes the search made."""
    label, seq, unit, knob = search.template.codec_label, search.template.sequence, search.unit, search.knob
    out = []
    for target in search.targets:
        base = TargetOutcome(
            label, seq, unit, target, "failed", knob.name, probes=dict(probes), seed=search.template.seed
        )
        if target in search.failures or not probes:
            base.reason = (
                f"no rate for target {target:g} {unit}: {search.failures.get(target, 'no search encode finished')}"
            )
            out.append(base)
            continue
        value = min(probes, key=lambda q: (_distance(probes[q], target), -q))
        achieved = probes[value]
        error = achieved / target - 1
        tolerance = search.tolerance
        strict_within = not isinstance(tolerance, str) and abs(error) <= tolerance  # a number, or "nearest"
        within = tolerance == "nearest" or strict_within
        base.value, base.achieved = value, achieved
        lowest, highest = min(probes.values()), max(probes.values())
        too_high = target < lowest and max(probes, key=lambda q: q) >= knob.hi  # still too many bits
        too_low = target > highest and min(probes) <= knob.lo
        if (too_high or too_low) and not strict_within:
            end = f"{knob.name} {knob.hi}, its highest" if too_high else f"{knob.name} {knob.lo}, its lowest"
            why = "still too many bits" if too_high else "too few bits"
            base.status = "unreachable"
            base.reason = (
                f"target {target:g} {unit} is out of reach ({why} at {end}); "
                f"the closest rate it reaches is {achieved:.4g} {unit} at {knob.name} {value}"
            )
        elif within:
            base.status = "ok"
        else:
            base.status = "outside tolerance"
            base.reason = (
                f"target {target:g} {unit}: the closest rate is {achieved:.4g} {unit} "
                f"at {knob.name} {value} ({100 * error:+.1f} %, outside ±{100 * search.tolerance:g} %); "
                f"recorded and flagged (neighbouring {knob.name} values give "
                f"{_neighbours(probes, value, unit)})"
            )
        out.append(base)
    _drop_shared_values(out, search)
    return out


def _neighbours(probes: dict[int, float], value: int, unit: str) -> str:
    near = [q for q in (value - 1, value + 1) if q in probes]
    return ", ".join(f"{probes[q]:.4g} {unit} at {q}" for q in near) or "no other probes nearby"


def _drop_shared_values(outcomes: list[TargetOutcome], search: Search) -> None:
    """Two targets on one knob value would be one RD point twice: keep the closer target."""
    by_value: dict[int, list[TargetOutcome]] = {}
    for o in outcomes:
        if o.recorded and o.value is not None:
            by_value.setdefault(o.value, []).append(o)
    for value, group in by_value.items():
        keep = min(group, key=lambda o: _distance(o.achieved or math.nan, o.target))
        for o in group:
            if o is not keep:
                o.status = "same value"
                o.reason = (
                    f"target {o.target:g} {o.unit} lands on {o.knob} {value} "
                    f"({o.achieved:.4g} {o.unit}), already chosen for target {keep.target:g} "
                    f"{o.unit}; the targets are closer than one {o.knob} step"
                )


# -- the rounds ---------------------------------------------------------------------------------
def _stored_probes(
    store: ResultStore, search: Search, fresh: set[str] | None
) -> tuple[dict[int, float], dict[int, JobResult]]:
    """knob value -> rate of the done probes of ``search``, and the rows by value.
    With ``fresh`` (a forced run) only probes encoded in this run count."""
    keys = {search.probe_key(q): q for q in range(search.knob.lo, search.knob.hi + 1)}
    rows = {}
    for row in store.records(keys, done=True):
        if fresh is None or row.job_key in fresh:
            rows[keys[row.job_key]] = row
    return {q: getattr(row, search.unit) for q, row in rows.items()}, rows


def run_searches(
    plan: Plan,
    store: ResultStore,
    run_batch: Callable[[list[Job]], None],
    force: bool,
    pending: Callable[[list[Job]], list[Job]],
    run_id: str,
) -> tuple[list[TargetOutcome], set[str], int]:
    """Run every search of ``plan`` to its end; write one row per recorded target.

    ``run_batch`` runs jobs through the executor (the driver commits each row);
    ``pending`` keeps the jobs whose row is missing or incomplete. Returns the outcomes,
    the keys of the target rows written and how many earlier encodes the searches reused."""
    fresh: set[str] = set()
    seen: set[str] = set()  # probe keys read from the store
    failed: dict[str, str] = {}

    def committed(jobs: list[Job]) -> None:
        run_batch(jobs)
        for row in store.records((job.key for job in jobs), done=False):
            failed[row.job_key] = error_summary(row.error) or "failed"
        # a failed encode that left an earlier finished row in place (--force) failed all the same
        failed.update(
            (j.key, error_summary(store.failed_attempts[j.key]) or "failed")
            for j in jobs
            if j.key in store.failed_attempts
        )
        fresh.update(j.key for j in jobs if j.key not in failed)

    if force:  # every target is redone: until it is written, the kept rows are not this run's
        _mark_unfinished(
            store, run_id, {s.target_key(t): s.template.codec_label for s in plan.searches for t in s.targets}
        )
    active = list(plan.searches)
    for round_no in range(1, MAX_ROUNDS + 1):
        batch: dict[str, Job] = {}
        still = []
        for search in active:
            probes, _ = _stored_probes(store, search, fresh if force else None)
            wanted = set()
            for target in search.targets:
                q = None if target in search.failures else next_probe(probes, target, search.knob)
                if q is not None and search.probe_key(q) in failed:  # this target stops; the others go on
                    search.failures[target] = (
                        f"the search encode at {search.knob.name} {q} failed: {failed[search.probe_key(q)]}"
                    )
                elif q is not None:
                    wanted.add(q)
            if wanted:
                still.append(search)
                for q in sorted(wanted):
                    job = search.probe_job(q)
                    batch[job.key] = job
        active = still
        if not batch:
            break
        log.info(f"rate search round {round_no}: {len(batch)} encode(s) for {len(active)} codec x sequence pair(s)")
        committed(list(batch.values()))
    else:  # never seen: each round narrows every bracket; the nearest encode so far is taken
        log.info(
            f"rate search stopped after {MAX_ROUNDS} rounds with {len(active)} search(es) unsettled; "
            f"the nearest rates found are used"
        )
    outcomes: list[TargetOutcome] = []
    chosen: list[Job] = []
    per_search = []
    labels: dict[str, str] = {}  # a renamed entry's encodes take its label (all of them at once)
    for search in plan.searches:
        probes, rows = _stored_probes(store, search, fresh if force else None)
        seen.update(r.job_key for r in rows.values())
        labels.update((r.job_key, search.template.codec_label) for r in rows.values())
        labels.update((search.target_key(t), search.template.codec_label) for t in search.targets)
        results = choose(search, probes)
        outcomes.extend(results)
        per_search.append((search, results, rows))
        chosen.extend(search.probe_job(o.value) for o in results if o.recorded)
    store.relabel(labels)
    # The chosen encodes carry every metric of this run (an older probe may lack a new one),
    # and a target whose latest attempt failed (a --force rerun that kept the earlier rows) is
    # encoded again, not written from the kept rows as if the codec still worked.
    retry = store.last_attempt_failed()
    redo = [
        search.probe_job(o.value)
        for search, results, _ in per_search
        for o in results
        if o.recorded and search.target_key(o.target) in retry
    ]
    completing = list({j.key: j for j in pending(chosen) + redo if j.key not in fresh}.values())
    again = {j.key for j in completing}
    _mark_unfinished(
        store,
        run_id,
        {
            s.target_key(o.target): s.template.codec_label
            for s, results, _ in per_search
            for o in results
            if o.recorded and s.probe_key(o.value) in again
        },
    )
    if completing:
        log.info(
            f"rate search: {len(completing)} chosen encode(s) run again (a metric missing, or the last attempt failed)"
        )
        committed(completing)
    return outcomes, _write_targets(store, per_search, run_id), len(seen - fresh)


def _mark_unfinished(store: ResultStore, run_id: str, targets: dict[str, str]) -> None:
    """Mark the targets (key -> this run's label) that have a finished row (mark_unfinished)."""
    done = {r.job_key: targets[r.job_key] for r in store.records(targets, done=True)}
    store.mark_unfinished(run_id, done, "the run stopped before this target's search ended")


def _write_targets(store: ResultStore, per_search, run_id: str) -> set[str]:
    keys, stale = set(), []
    for search, results, _ in per_search:
        for o in results:
            _fail_if_remeasure_failed(store, search, o)
            probe = store.records([search.probe_key(o.value)]) if o.recorded else []
            if o.recorded and (not probe or not probe[0].done):
                o.status, o.reason = "failed", f"the chosen encode at {o.knob} {o.value} failed"
            if o.status == "failed":
                key = search.target_key(o.target)
                if store.records([key], done=True):
                    # an earlier run's result stays for that run; this run's reads as failed (mark_failed)
                    store.failed_attempts[key] = o.reason
                else:  # a failed row, so that readers and the gate see the failure
                    store.put(_failed_target_row(search, o, run_id))
                keys.add(key)
                continue
            if not o.recorded:  # a row an earlier run wrote for this target would now say something untrue
                stale.append(search.target_key(o.target))
                continue
            point = search.target_point(o.target)
            key = search.target_key(o.target)
            row = replace(
                probe[0],
                codec=search.template.codec_label,  # this run's label, whatever the probe was stored under
                job_key=key,
                point=point.label,
                qp=o.value,
                target_kbps=point.kbps,
                target_bpp=point.bpp,
                run_id=run_id,
                config_hash=search.template.config_hash,
                finished_at=time.time(),
                rate_search={
                    "role": "target",
                    "unit": o.unit,
                    "target": o.target,
                    "achieved": o.achieved,
                    "knob": o.knob,
                    "value": o.value,
                    "tolerance": search.tolerance,
                    "within_tolerance": o.status == "ok",
                    "probe_key": search.probe_key(o.value),
                    "probes": {str(q): r for q, r in sorted(o.probes.items())},
                },
            )
            store.put(row)
            keys.add(key)
    store.delete(stale)
    written = {s.target_key(o.target) for s, results, _ in per_search for o in results if o.status != "failed"}
    store.clear_unfinished(run_id, written)  # the failed ones are marked again by the driver
    return keys


def _failed_target_row(search: Search, o: TargetOutcome, run_id: str) -> JobResult:
    """The row of a target this run could not reach because an encode failed."""
    point = search.target_point(o.target)
    job = replace(search.template, key=search.target_key(o.target), point=point)
    row = job_result(job, "failed", error=o.reason, run_id=run_id)
    rate_search = {"role": "target", "unit": o.unit, "target": o.target, "knob": o.knob, "tolerance": search.tolerance}
    return replace(
        row, target_bpp=point.bpp, rate_search=rate_search | {"probes": {str(q): r for q, r in o.probes.items()}}
    )


def _fail_if_remeasure_failed(store: ResultStore, search: Search, o: TargetOutcome) -> None:
    """A chosen encode run again (for a metric it lacked) that failed keeps its earlier
    row: the target must not be written from it as if this run had measured it."""
    if not o.recorded or search.probe_key(o.value) not in store.failed_attempts:  # type: ignore[arg-type]
        return
    error = error_summary(store.failed_attempts[search.probe_key(o.value)]) or "failed"  # type: ignore[arg-type]
    o.status = "failed"
    o.reason = f"no rate for target {o.target:g} {o.unit}: the chosen encode at {o.knob} {o.value} failed: {error}"


def outcome_lines(outcomes: list[TargetOutcome]) -> list[str]:
    """The messages a user must see: unreachable, flagged and failed targets."""
    return [o.message for o in outcomes if o.status != "ok"]
