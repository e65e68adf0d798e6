"""The results store: one SQLite file, one row per job, committed as each job ends.

Only the driver process writes. The schema carries a version; ``SCHEMA_VERSION`` bumps
come with a migration in ``_MIGRATIONS``. Readers open the file read-only
(``ResultStore(path, create=False)``): nothing is written, not even SQLite's side files,
so a store on a read-only file system or from someone else can be read.

Version 2 records which jobs each run planned (``run_jobs``) and each run's dataset
identity, and keys set-level values by dataset, so that readers can choose rows
explicitly (``gvcbench.reports.selection``).

Version 3 keeps the package versions only in the run's environment (``runs.environment``),
no longer copied into every job row, and indexes the rows in curve order, seeds included.

Version 4 records, per run and job (``run_jobs``), the codec label that run gave the job
(a later run of the same settings under another label relabels the row; the earlier run
is still read under its own labels) and, where the run's attempt failed while an earlier
finished row was kept, that failure (readers of that run show the job as failed).

SQL lives in this module only: everyone else reads typed records (``records()``,
``set_values()``, ``runs()``) and writes them (``put``, ``put_many``, ``put_set``).
"""

from __future__ import annotations

import gc
import hashlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from functools import cached_property, wraps
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StoreError
from .records import EMPTY, FrozenMap, JobResult, LazyMap, SetValue, records_frame

SCHEMA_VERSION = 4
JOB_KEY_VERSION = 1  # part of every job key: bump only when what a job key means changes
STORE_NAME = "results.sqlite"

JOB_COLUMNS = {
    "job_key": "TEXT PRIMARY KEY",
    "run_id": "TEXT NOT NULL",
    "status": "TEXT NOT NULL",  # done | failed
    "error": "TEXT",
    "codec": "TEXT NOT NULL",  # the label the run gave the codec
    "codec_name": "TEXT NOT NULL",
    "codec_version": "TEXT",
    "codec_params": "TEXT",  # JSON
    "sequence": "TEXT NOT NULL",
    "sequence_hash": "TEXT",
    "sequence_spec": "TEXT",  # JSON
    "point": "TEXT NOT NULL",  # qp37 or 12kbps
    "qp": "INTEGER",
    "target_kbps": "REAL",
    "seed": "INTEGER",  # the seed a stochastic codec ran with; NULL for deterministic codecs
    "target_bpp": "REAL",
    "rate_search": "TEXT",  # JSON: role probe|target of a target-rate search, and for targets its outcome
    "bytes": "INTEGER",
    "parts": "TEXT",  # JSON: named parts of the bitstream size
    "bitstream": "TEXT",  # path of the bitstream file, relative to the run folder
    "reconstruction": "TEXT",  # lossless FFV1 .mkv of the decoded video, relative to the run folder
    "frames": "INTEGER",
    "width": "INTEGER",
    "height": "INTEGER",
    "fps": "REAL",
    "kbps": "REAL",
    "bpp": "REAL",
    "encode_seconds": "REAL",
    "decode_seconds": "REAL",
    "tool_seconds": "REAL",
    "metric_seconds": "REAL",
    "job_seconds": "REAL",
    "metrics": "TEXT",  # JSON: name -> mean over frames
    "frame_metrics": "TEXT",  # JSON: name -> list per frame
    "metric_errors": "TEXT",  # JSON: name -> why it is unavailable
    "provenance": "TEXT",  # JSON: name -> provenance record
    "features": "TEXT",  # JSON: set metric -> reference/distorted feature vectors (for set-level values)
    "config_hash": "TEXT",
    "worker": "TEXT",
    "finished_at": "REAL",
}
JSON_COLUMNS = (
    "codec_params",
    "sequence_spec",
    "parts",
    "metrics",
    "frame_metrics",
    "metric_errors",
    "provenance",
    "features",
    "rate_search",
)
SET_COLUMNS = {
    "codec": "TEXT NOT NULL",
    "point": "TEXT NOT NULL",
    "metric": "TEXT NOT NULL",
    "value": "REAL",
    "sequences": "TEXT",  # JSON list of the sequences pooled
    "features": "INTEGER",  # feature vectors per side
    "note": "TEXT",
    "provenance": "TEXT",
    "computed_at": "REAL",
    "dataset": "TEXT NOT NULL DEFAULT ''",  # identity of the dataset pooled ('' in stores from schema 1)
    "job_keys": "TEXT",  # JSON list of the jobs pooled
}
SET_KEY = "dataset, codec, point, metric"
RUN_COLUMNS = (
    "run_id TEXT PRIMARY KEY, started REAL, finished REAL, config TEXT, config_hash TEXT, "
    "environment TEXT, dataset TEXT"
)
# codec: the label the run gave the job; failed: its attempt's error where an earlier finished row was kept
RUN_JOB_COLUMNS = "run_id TEXT NOT NULL, job_key TEXT NOT NULL, codec TEXT, failed TEXT, PRIMARY KEY (run_id, job_key)"


class StoreUnwritable(StoreError):
    """The store could not be written (a full or read-only disk, a lock held too long): the
    machine's fault, not the job's; the driver stops the run."""


def dataset_identity(sequences: Iterable[tuple[str, str]]) -> str:
    """Identity of the set of (sequence name, content hash) a run planned: two runs whose
    clips or protocol (start, frames, crop, size) differ have different identities."""
    payload = json.dumps(sorted(set(sequences)))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# serves records()' ORDER BY without a temporary sort (1.9 -> 1.0 s for SELECT * at 100k rows)
CURVE_INDEX = "CREATE INDEX IF NOT EXISTS jobs_order ON jobs(codec, sequence, qp, target_kbps, seed)"


def store_path(location: str | Path) -> Path:
    """A store file, or the folder of a run holding one."""
    p = Path(location)
    return p / STORE_NAME if p.is_dir() or not p.suffix else p


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that writes nothing. A store with a write-ahead log beside it (a run is
    writing, or one was killed) must read that log: SQLite's read-only mode does. A store
    without one is opened immutable, so SQLite creates no -wal/-shm files either, which
    also works on a read-only file system."""
    uri = path.resolve().as_uri()
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30)
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"{path} has a write-ahead log ({wal.name}: a run is writing it or was killed) "
                f"that cannot be read here ({exc}); copy the run folder somewhere writable "
                f"and read the copy"
            ) from None
    db = sqlite3.connect(f"{uri}?immutable=1", uri=True)
    db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    return db


def _stored_version(provenance: Mapping | None) -> str | None:
    """The version of a metric a row was measured (or failed) with; None where the row does
    not say (rows of older stores, and metrics that failed before this was recorded)."""
    if not provenance:
        return None
    version = provenance.get("version", (provenance.get("spec") or {}).get("version"))
    return None if version is None else str(version)


_Read = TypeVar("_Read", bound=Callable[..., Any])
_DAMAGE_WORDS = ("malformed", "not a database", "could not decode")  # SQLite's words for a damaged file


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file itself is damaged (not locked, not a failing disk)."""
    name = getattr(exc, "sqlite_errorname", "")  # Python 3.11+
    return name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or any(w in str(exc).lower() for w in _DAMAGE_WORDS)


def _damage_is_a_store_error(read: _Read) -> _Read:
    """A read of the store that meets a damaged file (SQLite's "database disk image is
    malformed", text that is not UTF-8) or cannot get at it (locked past the wait, a disk
    error) raises ``StoreError``, which commands report in one line with exit 2, instead of
    a traceback. Opening already checks the schema; damage in the pages behind it shows only
    when a read reaches them. Only damage is called damage: a locked store is not."""

    @wraps(read)
    def checked(self, *args, **kwargs):
        try:
            return read(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if _is_damage(exc):
                raise StoreError(
                    f"{self.path} cannot be read ({exc}): the file is damaged; restore it from a copy, "
                    f"or run into a new folder"
                ) from None
            if isinstance(exc, sqlite3.OperationalError):
                raise StoreError(f"{self.path} cannot be read ({exc}); try again, or read a copy of it") from None
            raise

    return checked  # type: ignore[return-value]


class ResultStore:
    """``create=True``: the writer (the run's driver), creating or migrating the store.
    ``create=False``: a reader; the file must exist and is opened read-only."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = store_path(path)
        self.read_only = not create
        self.stale_versions: Counter[tuple[str, str]] = Counter()  # see status_of
        self.failed_attempts: dict[str, str] = {}  # job key -> error: see mark_failed
        if not create and not self.path.is_file():
            raise StoreError(f"no results store at {self.path}; run `gvcbench run` first or name the file")
        try:
            if self.read_only:
                self.db = self._open_read_only()
                self._check_schema()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, timeout=30)
                self.db.execute("PRAGMA journal_mode=WAL")
                # Copy each commit into the main file at once (a passive checkpoint: readers are not
                # blocked). SQLite's default waits for 1000 pages, more than most stores ever hold,
                # so the schema and every finished job stayed in results.sqlite-wal until the run
                # ended: a copy of results.sqlite alone, taken during a run or after a killed one,
                # held nothing, and a run into that copy started again from zero.
                self.db.execute("PRAGMA wal_autocheckpoint=1")
                self.db.execute("PRAGMA synchronous=FULL")
                self._ensure_schema()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a gvcbench results store ({exc})") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- schema -----------------------------------------------------------------
    def _open_read_only(self, wait: float = 5.0) -> sqlite3.Connection:
        """A read-only connection. A file of the last seconds without a schema version is a store
        a run has just started to create: wait a moment for it rather than call it a stranger."""
        deadline = time.monotonic() + wait
        while True:
            db = _connect_read_only(self.path)
            try:
                if db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone():
                    return db
            except sqlite3.OperationalError:
                pass
            young = time.time() - self.path.stat().st_mtime < 10
            if not young or time.monotonic() > deadline:
                return db
            db.close()
            time.sleep(0.05)

    @property
    def schema_version(self) -> int:
        return self._version

    def _check_schema(self) -> None:
        """Readers: the store must be one this gvcbench understands (older versions are read as they are)."""
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError:
            row = None
        if row is None:
            raise StoreError(f"{self.path} is not a gvcbench results store (it has no schema version)")
        self._version = int(row[0])
        if self._version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {row[0]}, newer than this gvcbench "
                f"understands ({SCHEMA_VERSION}); upgrade gvcbench"
            )

    def _ensure_schema(self) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")  # readers see the whole schema or none of it
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                cols = ", ".join(f"{k} {v}" for k, v in JOB_COLUMNS.items())
                self.db.execute(f"CREATE TABLE jobs ({cols})")
                self.db.execute(f"CREATE TABLE runs ({RUN_COLUMNS})")
                self.db.execute(f"CREATE TABLE run_jobs ({RUN_JOB_COLUMNS})")
                cols = ", ".join(f"{k} {v}" for k, v in SET_COLUMNS.items())
                self.db.execute(f"CREATE TABLE set_metrics ({cols}, PRIMARY KEY ({SET_KEY}))")
                self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                self.db.execute(CURVE_INDEX)
                self._version = SCHEMA_VERSION
                return
            self._version = int(row[0])
            if self._version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {row[0]}, newer than this gvcbench "
                    f"understands ({SCHEMA_VERSION}); upgrade gvcbench"
                )
            for version in range(self._version, SCHEMA_VERSION):
                _MIGRATIONS[version](self.db)
            if self._version < SCHEMA_VERSION:
                self.db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
                self._version = SCHEMA_VERSION
            self._add_missing_columns()
            self.db.execute(CURVE_INDEX)

    def _add_missing_columns(self) -> None:
        """Columns added without a schema bump (``seed``, ``target_bpp``, ``rate_search``; nullable) are
        added empty to a store opened for writing; read-only readers see them as absent (their
        records hold the field's default)."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(jobs)")}
        for name, kind in JOB_COLUMNS.items():
            if name not in have and "PRIMARY" not in kind and "NOT NULL" not in kind:
                self.db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")

    # -- runs ---------------------------------------------------------------------
    def start_run(
        self,
        run_id: str,
        config: dict,
        config_hash: str,
        environment: dict,
        job_keys: Iterable[str] | Mapping[str, str] = (),
        dataset: str = "",
    ) -> None:
        """Record a run, the jobs it planned (run now or reused from the store; a mapping:
        job key -> the codec label the run gives it) and its dataset."""
        with self.db:
            self.db.execute(
                "INSERT INTO runs VALUES (?, ?, NULL, ?, ?, ?, ?)",
                (
                    run_id,
                    time.time(),
                    json.dumps(config, sort_keys=True),
                    config_hash,
                    json.dumps(environment, sort_keys=True),
                    dataset,
                ),
            )
            labels = job_keys if isinstance(job_keys, Mapping) else dict.fromkeys(job_keys)
            self._insert_run_jobs(run_id, labels)

    def add_run_jobs(self, run_id: str, job_keys: Iterable[str] | Mapping[str, str]) -> None:
        """Jobs a run settles only while it runs (the rows of its target-rate ladders, which
        it has just written: each keeps the label its row has now, or the one given)."""
        if isinstance(job_keys, Mapping):
            labels: dict[str, str | None] = dict(job_keys)
        else:
            keys = set(job_keys)
            labels = dict.fromkeys(keys)
            for key, codec in self.db.execute("SELECT job_key, codec FROM jobs"):
                if key in keys:
                    labels[key] = codec
        with self.db:  # a job recorded earlier in the run (mark_unfinished) takes its label now
            self.db.executemany(
                "INSERT INTO run_jobs (run_id, job_key, codec) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id, job_key) DO UPDATE SET codec = excluded.codec",
                ((run_id, k, label) for k, label in labels.items()),
            )

    def _insert_run_jobs(self, run_id: str, labels: Mapping[str, str | None]) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO run_jobs (run_id, job_key, codec) VALUES (?, ?, ?)",
            ((run_id, k, label) for k, label in labels.items()),
        )

    def mark_failed(self, run_id: str, failures: Mapping[str, str]) -> None:
        """This run's attempts of these jobs (job key -> error) failed and were not stored,
        an earlier finished row being kept: readers of the run show them as failed (jobs the
        run records in ``run_jobs``); ``failed_attempts`` holds them all for the driver (a
        rate search's encodes)."""
        self.failed_attempts.update(failures)
        self._set_run_failures(run_id, failures)

    def mark_unfinished(self, run_id: str, labels: Mapping[str, str], why: str) -> None:
        """Record finished jobs this run is about to redo (job key -> the label it gives them)
        as failed in it until it writes them (``clear_unfinished``): a run stopped on the way
        (Ctrl-C) must not leave their earlier rows looking as if they still held
        (``last_attempt_failed``)."""
        self.add_run_jobs(run_id, labels)
        self._set_run_failures(run_id, dict.fromkeys(labels, why))

    def clear_unfinished(self, run_id: str, keys: Iterable[str]) -> None:
        self._set_run_failures(run_id, dict.fromkeys(keys))

    def _set_run_failures(self, run_id: str, failures: Mapping[str, str | None]) -> None:
        if failures:
            with self.db:
                self.db.executemany(
                    "UPDATE run_jobs SET failed = ? WHERE run_id = ? AND job_key = ?",
                    ((error, run_id, key) for key, error in failures.items()),
                )

    def finish_run(self, run_id: str) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET finished=? WHERE run_id=?", (time.time(), run_id))

    @_damage_is_a_store_error
    def runs(self) -> list[dict]:
        """Every run, oldest first; ``dataset`` is None and ``jobs`` empty for runs recorded by
        schema 1 (before runs recorded what they planned); ``labels`` (job key -> the label the
        run gave it) and ``failed`` (job key -> its failed attempt's error) from schema 4."""
        dataset = "dataset" if self._version >= 2 else "NULL"
        cur = self.db.execute(
            f"SELECT run_id, started, finished, config, config_hash, environment, {dataset} FROM runs ORDER BY started"
        )
        out = [
            {
                "run_id": r[0],
                "started": r[1],
                "finished": r[2],
                "config": json.loads(r[3]),
                "config_hash": r[4],
                "environment": json.loads(r[5]),
                "dataset": r[6],
                "jobs": set(),
                "labels": {},
                "failed": {},
            }
            for r in cur
        ]
        if self._version >= 2:
            by_id = {r["run_id"]: r for r in out}
            extra = "codec, failed" if self._version >= 4 else "NULL, NULL"
            for run_id, key, codec, failed in self.db.execute(f"SELECT run_id, job_key, {extra} FROM run_jobs"):
                if run_id in by_id:
                    run = by_id[run_id]
                    run["jobs"].add(key)
                    if codec is not None:
                        run["labels"][key] = codec
                    if failed is not None:
                        run["failed"][key] = failed
        return out

    # -- jobs ---------------------------------------------------------------------
    def put(self, result: JobResult | Mapping[str, Any]) -> bool:
        """Insert or replace one job's result in its own transaction; a finished row is never
        replaced by a failed one (returns False when the failed row was not written)."""
        return self.put_rows([result])[0]

    def put_rows(self, results: Iterable[JobResult | Mapping[str, Any]]) -> list[bool]:
        """``put`` for many results in one transaction (one disk sync for all of them: the
        driver writes each batch of finished jobs so); whether each row was written."""
        try:
            with self.db:
                return [self.db.execute(_UPSERT, _column_values(_as_record(r))).rowcount > 0 for r in results]
        except sqlite3.OperationalError as exc:
            raise StoreUnwritable(f"cannot write the results store {self.path}: {exc}") from None

    def put_many(self, results: Iterable[JobResult | Mapping[str, Any]]) -> int:
        """``put`` for many results in one transaction (imports, benchmarks); returns how many were written."""
        try:
            with self.db:
                cur = self.db.executemany(_UPSERT, (_column_values(_as_record(r)) for r in results))
        except sqlite3.OperationalError as exc:
            raise StoreUnwritable(f"cannot write the results store {self.path}: {exc}") from None
        return cur.rowcount

    def delete(self, keys: Iterable[str]) -> int:
        """Remove rows by job key (a target-rate row whose target is no longer reached); returns how many."""
        keys = list(keys)
        with self.db:
            return sum(self.db.execute("DELETE FROM jobs WHERE job_key = ?", (k,)).rowcount for k in keys)

    def relabel(self, labels: Mapping[str, str]) -> tuple[dict[str, int], dict[str, int]]:
        """Give the stored jobs of ``labels`` (job key -> codec label) those labels: a run
        that finds its jobs stored under another label (the same settings, renamed) shows
        them under its own, in every view, and a label never holds two settings. Where only
        part of an old label's jobs moves, its earlier run's curve is read whole with
        ``--run`` (each run records its own labels, schema 4).
        Returns ({old label: jobs relabelled}, {old label: of those, labels split by it})."""
        if not labels:
            return {}, {}
        held: dict[str, list[str]] = {}
        for key, codec in self.db.execute("SELECT job_key, codec FROM jobs"):  # one scan, as status_of
            held.setdefault(codec, []).append(key)
        moved: Counter[str] = Counter()
        split: Counter[str] = Counter()
        changes = []
        for codec, keys in held.items():
            mine = [k for k in keys if k in labels and labels[k] != codec]
            if not mine:
                continue
            changes += [(labels[k], k) for k in mine]
            moved[codec] += len(mine)
            if len(mine) < len(keys):
                split[codec] += len(mine)
        if changes:
            with self.db:
                self.db.executemany("UPDATE jobs SET codec = ? WHERE job_key = ?", changes)
        return dict(moved), dict(split)

    @_damage_is_a_store_error
    def status_of(
        self, keys: Iterable[str], versions: Mapping[str, str] | None = None
    ) -> dict[str, tuple[str, set[str], set[str]]]:
        """job_key -> (status, metrics settled, metrics that were unavailable on the machine) for keys
        with a row. A metric is settled when it was measured or failed on the job's own input,
        by the version ``versions`` names for it (when given): a value of another version is
        not settled, so the job runs again (``stale_versions`` counts them)."""
        self.stale_versions = Counter()  # (metric, stored version) -> jobs
        wanted = set(keys)
        out = {}
        decode = _Decoder()
        # one scan instead of a query per key: flat cost per job for plans of 100k jobs
        for key, status, metrics, errors, provenance in self.db.execute(
            "SELECT job_key, status, metrics, metric_errors, provenance FROM jobs"
        ):
            if key not in wanted:
                continue
            prov = decode.shared(provenance)
            machine = {m for m, p in prov.items() if p.get("unavailable_here")}
            settled = (set(json.loads(metrics or "{}")) | set(decode.shared(errors))) - machine
            if versions:
                stale = {
                    m for m in settled if m in versions and _stored_version(prov.get(m)) not in (None, versions[m])
                }
                for m in stale:
                    self.stale_versions[(m, str(_stored_version(prov.get(m))))] += 1
                settled -= stale
            out[key] = (status, settled, machine)
        return out

    @_damage_is_a_store_error
    def last_attempt_failed(self) -> set[str]:
        """Keys of finished jobs whose latest attempt failed and kept the earlier row (a
        ``--force`` rerun with a broken codec): a run recorded a failed attempt after the run
        that wrote the row. A plain rerun must try them again, not reuse a row the codec can
        no longer make. Decided by the row itself, since only a successful attempt rewrites
        it: runs that planned the job without trying it (stopped early, or an older gvcbench
        that reused the row) do not clear the failure."""
        if "failed" not in {r[1] for r in self.db.execute("PRAGMA table_info(run_jobs)")}:
            return set()  # a store of schema 3 or older, read read-only: no attempt recorded
        last_failed = dict(
            self.db.execute(
                "SELECT f.job_key, max(r.started) FROM run_jobs f JOIN runs r ON r.run_id = f.run_id "
                "WHERE f.failed IS NOT NULL GROUP BY f.job_key"
            )
        )
        if not last_failed:
            return set()
        started = {run_id: t or 0.0 for run_id, t in self.db.execute("SELECT run_id, started FROM runs")}
        writer: dict[str, str] = {}  # job key -> the run that wrote its row
        chosen: dict[str, str] = {}  # a rate target's key -> the key of the encode it was written from
        for key, run_id, search in self.db.execute(
            "SELECT job_key, run_id, rate_search FROM jobs WHERE status = 'done'"
        ):
            writer[key] = run_id
            if key in last_failed and search:
                probe = (json.loads(search) or {}).get("probe_key")
                if probe:  # a target row can be written again from a kept encode: the encode decides
                    chosen[key] = probe
        return {
            key
            for key, when in last_failed.items()
            if key in writer and (when or 0.0) > started.get(writer.get(chosen.get(key, key), writer[key]), 0.0)
        }

    @cached_property
    @_damage_is_a_store_error
    def _job_columns(self) -> set[str]:
        """The columns of this store's ``jobs`` table: stores made before a nullable column was
        added lack it when read read-only (``seed``, ``target_bpp``, ``rate_search``), and stores
        of schema 2 still hold ``packages``."""
        return {r[1] for r in self.db.execute("PRAGMA table_info(jobs)")}

    @_damage_is_a_store_error
    def records(
        self, keys: Iterable[str] | None = None, done: bool | None = None, extra: Mapping[str, Any] | None = None
    ) -> list[JobResult]:
        """The stored job results, in curve order (codec, sequence, QP, target, seed).

        ``keys``: only these jobs; ``done``: only finished (True) or only failed (False) ones;
        ``extra``: reader-side fields set on every record (``source_store``).
        Per-frame values and feature vectors are decoded when first read; JSON texts that
        repeat across rows (provenance, options, sequence specs) are decoded once."""
        have = self._job_columns
        cols = [c for c in JOB_COLUMNS if c in have]
        order = ", ".join(c for c in ORDER_COLUMNS if c in have)
        where, params = [], []
        if done is not None:
            where.append("status = 'done'" if done else "status != 'done'")
        wanted = None if keys is None else set(keys)
        if wanted is not None and len(wanted) <= MAX_BOUND:  # else one scan, filtered here
            where.append(f"job_key IN ({', '.join('?' for _ in wanted)})")
            params += sorted(wanted)
        cur = self.db.execute(
            f"SELECT {', '.join(cols)} FROM jobs {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {order}",
            params,
        )
        return _Decoder(cols).records(cur, wanted, extra)

    def rows(self) -> list[dict[str, Any]]:
        """Every job result as a plain dict (``JobResult.to_dict``), for scripts and export."""
        return [r.to_dict() for r in self.records()]

    def frame(self, records: Iterable[JobResult] | None = None):
        """The job results (all, or ``records``) as a pandas DataFrame: one row per job, one
        column per metric (see ``records_frame``)."""
        return records_frame(self.records() if records is None else records)

    def put_set(self, value: SetValue) -> None:
        """One set-level value per (dataset, codec, point, metric): another dataset never replaces it."""
        row = {
            "codec": value.codec,
            "point": value.point,
            "metric": value.metric,
            "value": value.value,
            "sequences": json.dumps(list(value.sequences)),
            "features": value.features,
            "note": value.note,
            "provenance": json.dumps(dict(value.provenance), sort_keys=True),
            "computed_at": value.computed_at if value.computed_at is not None else time.time(),
            "dataset": value.dataset,
            "job_keys": json.dumps(sorted(value.job_keys)) if value.job_keys is not None else None,
        }
        with self.db:
            self.db.execute(
                f"INSERT OR REPLACE INTO set_metrics ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                tuple(row.values()),
            )

    def put_set_value(
        self,
        codec: str,
        point: str,
        metric: str,
        value: float | None,
        sequences: list[str],
        features: int,
        note: str | None,
        provenance: dict,
        dataset: str = "",
        job_keys: list[str] | None = None,
    ) -> None:
        """``put_set`` from its fields."""
        self.put_set(
            SetValue(
                codec,
                point,
                metric,
                value,
                tuple(sequences),
                features,
                note,
                provenance,
                None,
                dataset,
                tuple(job_keys) if job_keys is not None else None,
            )
        )

    @_damage_is_a_store_error
    def set_values(self) -> list[SetValue]:
        cur = self.db.execute("SELECT * FROM set_metrics ORDER BY codec, metric, point")
        names = [d[0] for d in cur.description]
        out = []
        for values in cur:
            row: dict[str, Any] = {"dataset": "", "job_keys": None} | dict(zip(names, values))
            out.append(
                SetValue(
                    codec=row["codec"],
                    point=row["point"],
                    metric=row["metric"],
                    value=row["value"],
                    sequences=tuple(json.loads(row["sequences"])),
                    features=row["features"],
                    note=row["note"],
                    provenance=json.loads(row["provenance"] or "{}"),
                    computed_at=row["computed_at"],
                    dataset=row["dataset"],
                    job_keys=tuple(json.loads(row["job_keys"])) if row["job_keys"] else None,
                )
            )
        return out

    @_damage_is_a_store_error
    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]


MAX_BOUND = 500  # job keys bound in one query (SQLite's limit on parameters is higher, but not by much on old builds)
ORDER_COLUMNS = ("codec", "sequence", "qp", "target_kbps", "seed")
LAZY_COLUMNS = frozenset({"frame_metrics", "features"})  # large and unique per row: decoded on first use
SHARED_COLUMNS = frozenset({"codec_params", "sequence_spec", "provenance", "metric_errors", "rate_search"})
NULL_IS_EMPTY = frozenset({"codec_params", "sequence_spec", "metrics", "frame_metrics", "metric_errors", "provenance"})


_load_json = json.JSONDecoder().raw_decode


def _json(raw: str) -> Any:
    """``json.loads`` without its two whitespace scans (gvcbench writes none around its JSON);
    a text with some (written by hand) takes the ordinary path."""
    try:
        value, end = _load_json(raw)
    except json.JSONDecodeError:
        return json.loads(raw)
    return value if end == len(raw) else json.loads(raw)  # trailing text: json.loads says what is wrong


_FREEZE_READS = False


def freeze_reads() -> None:
    """For a process that keeps what it reads until it exits (the CLI's reader commands): what
    later reads build is frozen out of the garbage collector's walks for good (``gc.freeze``)
    instead of only moved to its oldest generation, so the computing that follows does not
    walk 100k records again at each full collection. Records hold no reference cycles:
    nothing leaks. Library users keep the default."""
    global _FREEZE_READS
    _FREEZE_READS = True


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector paused while a reader builds its records: 100k rows
    are millions of new containers, and the collector would walk all of them again and again
    as they pile up (a third of the time of a 100k-row read). Records hold no reference cycles;
    reference counting still frees whatever is dropped. On the way out what was built moves
    straight to the oldest generation (``freeze`` then ``unfreeze``), so the next young
    collection does not walk it all once more; a full collection still sees it (unless
    ``freeze_reads``)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if not _FREEZE_READS:
            gc.unfreeze()
        if was:
            gc.enable()


class _Decoder:
    """Turns stored rows into records. JSON texts that repeat (provenance, options, specs) are
    decoded once per read; the results are read-only, so records share them."""

    def __init__(self, cols: list[str] | None = None) -> None:
        self._memo: dict[str, Any] = {}
        self._cols = cols
        # (position, name) of each JSON column present
        self._json = [(i, c) for i, c in enumerate(cols or ()) if c in JSON_COLUMNS]

    def shared(self, raw: str | None) -> Mapping:
        if raw is None:
            return EMPTY
        value = self._memo.get(raw)
        if value is None:
            value = self._memo[raw] = FrozenMap(_json(raw))
        return value

    def _converter(self, name: str) -> Callable[[str | None], Any]:
        """How a JSON column's text becomes a field, decided once for all its rows: NULL is an
        empty mapping (or None), large per-row columns are decoded on first use (``LazyMap``),
        repeating ones once per read (``shared``), the rest here."""
        empty = EMPTY if name in NULL_IS_EMPTY else None
        if name in LAZY_COLUMNS:
            return lambda raw: empty if raw is None else LazyMap(raw)
        if name in SHARED_COLUMNS:
            memo: dict[str | None, Any] = {None: empty}

            def shared(raw: str | None) -> Any:
                try:
                    return memo[raw]
                except KeyError:
                    value = memo[raw] = self.shared(raw)
                    return value

            return shared
        return lambda raw: empty if raw is None else FrozenMap(_json(raw))

    def records(
        self, rows: Iterable[tuple], wanted: set[str] | None = None, extra: Mapping[str, Any] | None = None
    ) -> list[JobResult]:
        """``record`` of each row (of the columns given to the constructor), the rows whose
        key (first column) is not in ``wanted`` left out, with the fields of ``extra`` added."""
        cols = self._cols or []
        converters = [(i, name, self._converter(name)) for i, name in self._json]
        make = JobResult.from_store
        out = []
        with collector_paused():
            for values in rows:
                if wanted is not None and values[0] not in wanted:
                    continue
                fields = dict(zip(cols, values))
                for i, name, convert in converters:
                    fields[name] = convert(values[i])
                if extra:
                    fields.update(extra)
                out.append(make(fields))
        return out


def _as_record(result: JobResult | Mapping[str, Any]) -> JobResult:
    if isinstance(result, JobResult):
        return result
    try:
        return JobResult.from_dict(result)
    except TypeError as exc:
        raise StoreError(f"not a job result: {exc}") from None


def _column_values(result: JobResult) -> tuple:
    out = []
    for name in JOB_COLUMNS:
        value = getattr(result, name)
        if name in JSON_COLUMNS and value is not None:
            value = json.dumps(value if isinstance(value, dict) else dict(value), sort_keys=True)
        out.append(value)
    return tuple(out)


# a finished row is never replaced by a failed one; every column is written (a replacement
# resets what the new result lacks)
_UPSERT = (
    f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({', '.join('?' for _ in JOB_COLUMNS)}) "
    f"ON CONFLICT(job_key) DO UPDATE SET "
    + ", ".join(f"{k} = excluded.{k}" for k in JOB_COLUMNS if k != "job_key")
    + " WHERE excluded.status = 'done' OR jobs.status != 'done'"
)


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    """Runs record their dataset and planned jobs (unknown for old runs: NULL, none);
    set-level values are keyed by dataset ('' for old ones) and list the jobs pooled."""
    db.execute("ALTER TABLE runs ADD COLUMN dataset TEXT")
    db.execute("CREATE TABLE run_jobs (run_id TEXT NOT NULL, job_key TEXT NOT NULL, PRIMARY KEY (run_id, job_key))")
    cols = ", ".join(f"{k} {v}" for k, v in SET_COLUMNS.items())
    db.execute(f"CREATE TABLE set_metrics_v2 ({cols}, PRIMARY KEY ({SET_KEY}))")
    old = "codec, point, metric, value, sequences, features, note, provenance, computed_at"
    db.execute(f"INSERT INTO set_metrics_v2 ({old}) SELECT {old} FROM set_metrics")
    db.execute("DROP TABLE set_metrics")
    db.execute("ALTER TABLE set_metrics_v2 RENAME TO set_metrics")


def _migrate_2_to_3(db: sqlite3.Connection) -> None:
    """Package versions live in the run's environment only. A run whose environment lacks
    them (none should) takes them from a row it wrote; then the per-row copy goes. The
    curve-order index gains the seed."""
    db.execute("DROP INDEX IF EXISTS jobs_curve")
    if not any(r[1] == "packages" for r in db.execute("PRAGMA table_info(jobs)")):
        return
    copies = dict(db.execute("SELECT run_id, packages FROM jobs WHERE packages IS NOT NULL GROUP BY run_id"))
    for run_id, environment in db.execute("SELECT run_id, environment FROM runs").fetchall():
        env = json.loads(environment or "{}")
        if "packages" not in env and copies.get(run_id):
            env["packages"] = json.loads(copies[run_id])
            db.execute("UPDATE runs SET environment = ? WHERE run_id = ?", (json.dumps(env, sort_keys=True), run_id))
    try:
        db.execute("ALTER TABLE jobs DROP COLUMN packages")
    except sqlite3.OperationalError:  # SQLite before 3.35: the column stays, empty and unread
        db.execute("UPDATE jobs SET packages = NULL")


def _migrate_3_to_4(db: sqlite3.Connection) -> None:
    """Runs record the label they gave each job and their failed attempts. Earlier runs
    take the label their jobs carry now: it is the best record there is, and it keeps an
    old run readable under `--run` after a later rename moves the rows to a new label."""
    have = {r[1] for r in db.execute("PRAGMA table_info(run_jobs)")}
    for column in ("codec", "failed"):
        if column not in have:
            db.execute(f"ALTER TABLE run_jobs ADD COLUMN {column} TEXT")
    db.execute(
        "UPDATE run_jobs SET codec = (SELECT codec FROM jobs WHERE jobs.job_key = run_jobs.job_key) WHERE codec IS NULL"
    )


_MIGRATIONS = {1: _migrate_1_to_2, 2: _migrate_2_to_3, 3: _migrate_3_to_4}
