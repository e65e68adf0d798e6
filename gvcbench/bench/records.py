"""Typed, frozen records of what the results store holds: a job's result and a set-level value.

A worker builds a :class:`JobResult`, the driver stores it, and every reader gets them back
from :meth:`ResultStore.records` and reads attributes (``r.metrics["psnr-y"]``, ``r.kbps``).
The mapping fields are read-only (:class:`FrozenMap`); a changed record is a new one
(``dataclasses.replace``). ``rate_points`` and ``kbps_of`` are the one place that decides how
rate points sort and how a byte count becomes kbps.

``r["codec"]`` and ``r.get("seed")`` still work (``__getitem__``/``get``), for scripts written
against the dict rows of earlier versions; new code reads attributes.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

__all__ = [
    "EMPTY",
    "FrozenMap",
    "JobResult",
    "LazyMap",
    "SetValue",
    "frozen",
    "kbps_of",
    "point_order",
]


class FrozenMap(dict):
    """A dict that refuses changes. A subclass of dict, so ``json.dumps`` and pickling (the
    records travel from workers, also on Dask) take it as they are; ``dict(m)`` or ``m | {...}``
    give a mutable copy."""

    __slots__ = ()

    def _read_only(self, *args, **kwargs):
        raise TypeError("a record's mapping is read-only: build a new record with dataclasses.replace")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __reduce__(self):
        return (FrozenMap, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenMap({dict.__repr__(self)})"


EMPTY: Mapping[str, Any] = FrozenMap()


def frozen(value: Mapping | None) -> Mapping | None:
    """``value`` as a read-only mapping (None stays None; a frozen or lazy mapping is kept)."""
    if value is None or isinstance(value, (FrozenMap, LazyMap)):
        return value
    return FrozenMap(value)


class LazyMap(Mapping):
    """A JSON object decoded on first use. The store hands large per-job columns (per-frame
    values, feature vectors) out this way: a reader that never looks at them never pays for
    decoding them (at 100k rows that is most of the reading time)."""

    __slots__ = ("_raw", "_value")

    def __init__(self, raw: str):
        self._raw = raw
        self._value: FrozenMap | None = None

    def _decoded(self) -> FrozenMap:
        if self._value is None:
            self._value = FrozenMap(json.loads(self._raw))
        return self._value

    def __getitem__(self, key):
        return self._decoded()[key]

    def __iter__(self) -> Iterator:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    def __eq__(self, other) -> bool:
        return self._decoded() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazyMap({self._decoded()!r})"

    def __reduce__(self):
        return (FrozenMap, (dict(self._decoded()),))


def kbps_of(n_bytes: float, frames: int, fps: float) -> float:
    """The rate of ``n_bytes`` over ``frames`` frames at ``fps``, in kbit/s (1000 bit)."""
    return n_bytes * 8 / (frames / fps) / 1000.0


def rate_distance(kbps: float, target_kbps: float) -> float:
    """How far a rate lies from a target, in log-rate (the closest rate point to show); a
    rate or target of 0 (an empty bitstream) is infinitely far, never a math error."""
    return abs(math.log(kbps / target_kbps)) if kbps > 0 and target_kbps > 0 else math.inf


def point_order(r: JobResult) -> float:
    """How rate points sort: ladder points by QP, target-rate points by falling target,
    imported points (neither) by falling rate."""
    target = r.target_kbps or r.target_bpp
    if target is not None:
        return -target
    if r.qp is not None:
        return r.qp
    return -(r.kbps or r.bpp or 0.0)


class _ReadByName:
    """``record["name"]`` and ``record.get("name")`` for scripts written against dict rows."""

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of every field (mappings as plain dicts), e.g. for JSON."""
        return {
            f.name: (dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v)
            for f in fields(self)  # type: ignore[arg-type]
            if f.init
        }


@dataclass(frozen=True)
class JobResult(_ReadByName):
    """One job's outcome: what ran, its rate and its measurements (a row of the store's ``jobs``).

    ``status`` is ``done`` or ``failed`` (then ``error`` says why). ``run_id`` is the run that
    wrote it (None until the driver stores it). The run's package versions are in the run's
    environment (``ResultStore.runs()``), not repeated per job. ``imported`` and
    ``source_store`` are set by readers (published curves; which store a row came from), and
    ``seeds`` on a row that stands for the mean over seeds."""

    job_key: str
    codec: str  # the label the run gave the codec
    sequence: str
    point: str  # qp37, 12kbps, search-12kbps, imported3
    status: str = "done"
    error: str | None = None
    run_id: str | None = None
    codec_name: str = ""
    codec_version: str | None = None
    codec_params: Mapping[str, Any] = field(default_factory=FrozenMap)
    sequence_hash: str | None = None
    sequence_spec: Mapping[str, Any] = field(default_factory=FrozenMap)
    qp: int | None = None
    target_kbps: float | None = None
    target_bpp: float | None = None
    seed: int | None = None  # the seed a stochastic codec ran with; None for deterministic codecs
    rate_search: Mapping[str, Any] | None = None  # role probe|target of a target-rate search
    bytes: int | None = None
    parts: Mapping[str, int] | None = None  # named parts of the bitstream size
    bitstream: str | None = None  # relative to the run folder
    reconstruction: str | None = None  # lossless FFV1 .mkv, relative to the run folder
    frames: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    kbps: float | None = None
    bpp: float | None = None
    encode_seconds: float | None = None
    decode_seconds: float | None = None
    tool_seconds: float | None = None
    metric_seconds: float | None = None
    job_seconds: float | None = None
    metrics: Mapping[str, float] = field(default_factory=FrozenMap)  # name -> mean over frames (or the clip's value)
    frame_metrics: Mapping[str, list[float]] = field(default_factory=FrozenMap)  # name -> value per frame
    metric_errors: Mapping[str, str] = field(default_factory=FrozenMap)  # name -> why it has no value
    provenance: Mapping[str, Mapping[str, Any]] = field(
        default_factory=FrozenMap
    )  # name -> implementation, version, spec
    features: Mapping[str, Any] | None = None  # set metric -> reference/distorted feature vectors
    config_hash: str | None = None
    worker: str | None = None
    finished_at: float | None = None
    imported: Mapping[str, str] | None = None
    source_store: str | None = None
    seeds: tuple[int, ...] | None = None
    fatal: str | None = field(default=None, repr=False)  # driver only, never stored: the machine failed

    __hash__ = None  # type: ignore[assignment]  # equal by value, unhashable (like the dict rows)

    def __post_init__(self):
        for name in MAPPING_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, (FrozenMap, LazyMap)):
                object.__setattr__(self, name, FrozenMap(value))

    @property
    def done(self) -> bool:
        return self.status == "done"

    @property
    def is_search_probe(self) -> bool:
        """An encode a target-rate search made on its way: search material, not a ladder point."""
        return (self.rate_search or EMPTY).get("role") == "probe"

    def evolve(self, **changes) -> JobResult:
        """A copy with ``changes``: ``dataclasses.replace`` without running ``__init__`` again,
        cheap enough for every row of a 100k-row store. Mappings given are frozen."""
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown job result fields {sorted(unknown)}")
        record = object.__new__(type(self))
        record.__dict__.update(self.__dict__)
        for name, value in changes.items():
            if name in MAPPING_FIELDS:
                value = frozen(value)
            elif name == "seeds" and value is not None:
                value = tuple(value)
            record.__dict__[name] = value
        return record

    @classmethod
    def from_store(cls, values: dict[str, Any]) -> JobResult:
        """A record from the store's decoded columns, without ``__init__``'s checks (the store
        hands read-only mappings already): a 100k-row read builds 100k of them."""
        record = object.__new__(cls)
        record.__dict__.update(_STORE_DEFAULTS)
        record.__dict__.update(values)
        return record

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> JobResult:
        """A record from a dict row (fields it lacks take their defaults; unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = set(row) - known
        if unknown:
            raise TypeError(f"unknown job result fields {sorted(unknown)}")
        values = dict(row)
        if values.get("seeds") is not None:
            values["seeds"] = tuple(values["seeds"])
        return cls(**values)


MAPPING_FIELDS = (
    "codec_params",
    "sequence_spec",
    "rate_search",
    "parts",
    "metrics",
    "frame_metrics",
    "metric_errors",
    "provenance",
    "features",
    "imported",
)


_STORE_DEFAULTS: dict[str, Any] = {
    f.name: (EMPTY if f.default_factory is FrozenMap else f.default)
    for f in fields(JobResult)
    if f.default is not MISSING or f.default_factory is not MISSING
}


@dataclass(frozen=True)
class SetValue(_ReadByName):
    """A set-level metric (e.g. FVD) of one codec and rate point, pooled over a dataset's clips."""

    codec: str
    point: str
    metric: str
    value: float | None
    sequences: tuple[str, ...] = ()  # the sequences pooled
    features: int = 0  # feature vectors per side
    note: str | None = None
    provenance: Mapping[str, Any] = field(default_factory=FrozenMap)
    computed_at: float | None = None
    dataset: str = ""  # identity of the dataset pooled ('' in stores from schema 1)
    job_keys: tuple[str, ...] | None = None  # the jobs pooled (None in stores from schema 1)
    source_store: str | None = None  # set by readers that combine stores

    __hash__ = None  # type: ignore[assignment]

    def __post_init__(self):
        object.__setattr__(self, "sequences", tuple(self.sequences))
        if self.job_keys is not None:
            object.__setattr__(self, "job_keys", tuple(self.job_keys))
        if not isinstance(self.provenance, FrozenMap):
            object.__setattr__(self, "provenance", FrozenMap(self.provenance or {}))


#: reader-side fields, left out of a frame where no record sets them
_READER_FIELDS = ("imported", "source_store", "seeds")
_NOT_IN_FRAME = (
    "metrics",
    "frame_metrics",
    "provenance",
    "metric_errors",
    "parts",
    "sequence_spec",
    "features",
    "fatal",
)


def records_frame(records: Iterable[JobResult]) -> Any:
    """Job results as a pandas DataFrame: one row per job, its fields as columns and one column
    per metric (``psnr-y``), per bitstream part (``bytes_NAME``) and per unavailable metric
    (``NAME_unavailable``: why). Per-frame values and feature vectors are left out."""
    import pandas as pd

    names = [f.name for f in fields(JobResult) if f.name not in _NOT_IN_FRAME]
    field_values = operator.itemgetter(*names)  # of a record's __dict__, which holds every field: one C call
    # rows read from a store share their options' mapping: one JSON text each (the mapping is
    # kept beside it, so that its id is not reused while the frame is built)
    options: dict[int, tuple[Mapping, str]] = {}
    flat = []
    for r in records:
        try:
            base = dict(zip(names, field_values(r.__dict__)))
        except KeyError:  # a record built some other way: read its attributes
            base = {name: getattr(r, name) for name in names}
        known = options.get(id(r.codec_params))
        if known is None:
            known = options[id(r.codec_params)] = (r.codec_params, json.dumps(dict(r.codec_params), sort_keys=True))
        base["codec_params"] = known[1]
        if r.rate_search is not None:
            base["rate_search"] = json.dumps(dict(r.rate_search), sort_keys=True)
        base.update(r.metrics)
        for name, value in (r.parts or {}).items():
            base[f"bytes_{name}"] = value
        for name, reason in r.metric_errors.items():
            base[f"{name}_unavailable"] = reason
        flat.append(base)
    df = pd.DataFrame(flat)
    df = df.drop(columns=[c for c in _READER_FIELDS if c in df and df[c].isna().all()])
    if "seed" in df:  # whole numbers, empty for deterministic codecs (not 0.0 / NaN)
        df["seed"] = df["seed"].astype("Int64")
    return df
