"""The results store: one SQLite file, one row per job, committed as each job ends.

Only the driver process writes. The schema carries a version; ``SCHEMA_VERSION`` bumps
come with a migration in ``_MIGRATIONS``. Readers open the file read-only
(``ResultStore(path, create=False)``): nothing is written, not even SQLite's side files,
so a store on a read-only file system or from someone else can be read.

Version 2 records which jobs each run planned (``run_jobs``) and each run's dataset
identity, and keys set-level values by dataset, so that readers can choose rows
explicitly (``gvcbench.reports.selection``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import StoreError

SCHEMA_VERSION = 2
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
    "packages": "TEXT",  # JSON
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
    "packages",
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


def dataset_identity(sequences: Iterable[tuple[str, str]]) -> str:
    """Identity of the set of (sequence name, content hash) a run planned: two runs whose
    clips or protocol (start, frames, crop, size) differ have different identities."""
    payload = json.dumps(sorted(set(sequences)))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# serves rows()' ORDER BY without a temporary sort (1.9 -> 1.0 s for SELECT * at 100k rows)
CURVE_INDEX = "CREATE INDEX IF NOT EXISTS jobs_curve ON jobs(codec, sequence, qp, target_kbps)"


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


class ResultStore:
    """``create=True``: the writer (the run's driver), creating or migrating the store.
    ``create=False``: a reader; the file must exist and is opened read-only."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = store_path(path)
        self.read_only = not create
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
                self.db.execute(
                    "CREATE TABLE run_jobs (run_id TEXT NOT NULL, job_key TEXT NOT NULL, PRIMARY KEY (run_id, job_key))"
                )
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
        """Columns added without a schema bump (``seed``, ``target_bpp``, ``rate_search``; nullable) are added empty to a store
        opened for writing; read-only readers see them as absent (rows use ``.get``)."""
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
        job_keys: Iterable[str] = (),
        dataset: str = "",
    ) -> None:
        """Record a run, the jobs it planned (run now or reused from the store) and its dataset."""
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
            self.db.executemany("INSERT OR IGNORE INTO run_jobs VALUES (?, ?)", ((run_id, k) for k in job_keys))

    def add_run_jobs(self, run_id: str, job_keys: Iterable[str]) -> None:
        """Jobs a run settles only while it runs (the rows of its target-rate ladders)."""
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO run_jobs VALUES (?, ?)", ((run_id, k) for k in job_keys))

    def finish_run(self, run_id: str) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET finished=? WHERE run_id=?", (time.time(), run_id))

    def runs(self) -> list[dict]:
        """Every run, oldest first; ``dataset`` is None and ``jobs`` empty for runs recorded by
        schema 1 (before runs recorded what they planned)."""
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
            }
            for r in cur
        ]
        if self._version >= 2:
            by_id = {r["run_id"]: r for r in out}
            for run_id, key in self.db.execute("SELECT run_id, job_key FROM run_jobs"):
                if run_id in by_id:
                    by_id[run_id]["jobs"].add(key)
        return out

    # -- jobs ---------------------------------------------------------------------
    def put(self, row: dict[str, Any]) -> bool:
        """Insert or replace one job's row in its own transaction; a finished row is never
        replaced by a failed one (returns False when the failed row was not written)."""
        unknown = set(row) - set(JOB_COLUMNS)
        if unknown:
            raise StoreError(f"unknown store columns {sorted(unknown)}")
        values = {
            k: (json.dumps(v, sort_keys=True) if k in JSON_COLUMNS and v is not None else v) for k, v in row.items()
        }
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        # every column: one that the new row lacks is reset, as a replacement would
        updates = ", ".join(
            f"{k} = excluded.{k}" if k in values else f"{k} = NULL" for k in JOB_COLUMNS if k != "job_key"
        )
        with self.db:
            cur = self.db.execute(
                f"INSERT INTO jobs ({cols}) VALUES ({marks}) ON CONFLICT(job_key) DO UPDATE "
                f"SET {updates} WHERE excluded.status = 'done' OR jobs.status != 'done'",
                tuple(values.values()),
            )
        return cur.rowcount > 0

    def delete(self, keys: Iterable[str]) -> int:
        """Remove rows by job key (a target-rate row whose target is no longer reached); returns how many."""
        keys = list(keys)
        with self.db:
            return sum(self.db.execute("DELETE FROM jobs WHERE job_key = ?", (k,)).rowcount for k in keys)

    def status_of(self, keys: Iterable[str]) -> dict[str, tuple[str, set[str], set[str]]]:
        """job_key -> (status, metrics settled, metrics that were unavailable on the machine) for keys
        with a row. A metric is settled when it was measured or failed on the job's own input."""
        wanted = set(keys)
        out = {}
        # one scan instead of a query per key: flat cost per job for plans of 100k jobs
        for key, status, metrics, errors, provenance in self.db.execute(
            "SELECT job_key, status, metrics, metric_errors, provenance FROM jobs"
        ):
            if key not in wanted:
                continue
            prov = json.loads(provenance or "{}")
            machine = {m for m, p in prov.items() if p.get("unavailable_here")}
            settled = (set(json.loads(metrics or "{}")) | set(json.loads(errors or "{}"))) - machine
            out[key] = (status, settled, machine)
        return out

    @cached_property
    def _has_seed(self) -> bool:
        """Stores made before seeds have no such column (read-only readers see them as they are)."""
        return any(r[1] == "seed" for r in self.db.execute("PRAGMA table_info(jobs)"))

    def rows(self, where: str = "", params: tuple = ()) -> list[dict]:
        order = "codec, sequence, qp, target_kbps" + (", seed" if self._has_seed else "")
        cur = self.db.execute(f"SELECT * FROM jobs {where} ORDER BY {order}", params)
        names = [d[0] for d in cur.description]
        out = []
        for values in cur:
            row = dict(zip(names, values))
            row.setdefault("seed", None)  # stores made before seeds (read-only: the column was not added)
            for k in JSON_COLUMNS:
                if row.get(k) is not None:
                    row[k] = json.loads(row[k])
            out.append(row)
        return out

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
        """One set-level value per (dataset, codec, point, metric): another dataset never replaces it."""
        row = {
            "codec": codec,
            "point": point,
            "metric": metric,
            "value": value,
            "sequences": json.dumps(sequences),
            "features": features,
            "note": note,
            "provenance": json.dumps(provenance, sort_keys=True),
            "computed_at": time.time(),
            "dataset": dataset,
            "job_keys": json.dumps(sorted(job_keys)) if job_keys is not None else None,
        }
        with self.db:
            self.db.execute(
                f"INSERT OR REPLACE INTO set_metrics ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                tuple(row.values()),
            )

    def set_values(self) -> list[dict]:
        cur = self.db.execute("SELECT * FROM set_metrics ORDER BY codec, metric, point")
        names = [d[0] for d in cur.description]
        out = []
        for values in cur:
            row = {"dataset": "", "job_keys": None} | dict(zip(names, values))
            row["sequences"] = json.loads(row["sequences"])
            row["provenance"] = json.loads(row["provenance"] or "{}")
            row["job_keys"] = json.loads(row["job_keys"]) if row["job_keys"] else None
            out.append(row)
        return out

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]


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


_MIGRATIONS = {1: _migrate_1_to_2}
