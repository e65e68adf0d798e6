"""The results store: one SQLite file, one row per job, committed as each job ends.

Only the driver process writes. The schema carries a version; ``SCHEMA_VERSION`` bumps
come with a migration in ``_MIGRATIONS``.
"""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from ..errors import StoreError

SCHEMA_VERSION = 1
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
JSON_COLUMNS = ("codec_params", "sequence_spec", "parts", "metrics", "frame_metrics", "metric_errors",
                "provenance", "packages", "features")
SET_COLUMNS = {
    "codec": "TEXT NOT NULL", "point": "TEXT NOT NULL", "metric": "TEXT NOT NULL", "value": "REAL",
    "sequences": "TEXT",  # JSON list of the sequences pooled
    "features": "INTEGER",  # feature vectors per side
    "note": "TEXT", "provenance": "TEXT", "computed_at": "REAL",
}


def store_path(location: str | Path) -> Path:
    """A store file, or the folder of a run holding one."""
    p = Path(location)
    return p / STORE_NAME if p.is_dir() or not p.suffix else p


class ResultStore:
    def __init__(self, path: str | Path, create: bool = True):
        self.path = store_path(path)
        if not create and not self.path.is_file():
            raise StoreError(f"no results store at {self.path}; run `gvcbench run` first or name the file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
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
    def _ensure_schema(self) -> None:
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                cols = ", ".join(f"{k} {v}" for k, v in JOB_COLUMNS.items())
                self.db.execute(f"CREATE TABLE jobs ({cols})")
                self.db.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, started REAL, finished REAL, "
                                "config TEXT, config_hash TEXT, environment TEXT)")
                cols = ", ".join(f"{k} {v}" for k, v in SET_COLUMNS.items())
                self.db.execute(f"CREATE TABLE set_metrics ({cols}, PRIMARY KEY (codec, point, metric))")
                self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(f"{self.path} has schema version {row[0]}, newer than this gvcbench "
                                 f"understands ({SCHEMA_VERSION}); upgrade gvcbench")

    # -- runs ---------------------------------------------------------------------
    def start_run(self, run_id: str, config: dict, config_hash: str, environment: dict) -> None:
        with self.db:
            self.db.execute("INSERT INTO runs VALUES (?, ?, NULL, ?, ?, ?)",
                            (run_id, time.time(), json.dumps(config, sort_keys=True), config_hash,
                             json.dumps(environment, sort_keys=True)))

    def finish_run(self, run_id: str) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET finished=? WHERE run_id=?", (time.time(), run_id))

    def runs(self) -> list[dict]:
        cur = self.db.execute("SELECT run_id, started, finished, config, config_hash, environment FROM runs "
                              "ORDER BY started")
        return [{"run_id": r[0], "started": r[1], "finished": r[2], "config": json.loads(r[3]),
                 "config_hash": r[4], "environment": json.loads(r[5])} for r in cur]

    # -- jobs ---------------------------------------------------------------------
    def put(self, row: dict[str, Any]) -> bool:
        """Insert or replace one job's row in its own transaction; a finished row is never
        replaced by a failed one (returns False when the failed row was not written)."""
        unknown = set(row) - set(JOB_COLUMNS)
        if unknown:
            raise StoreError(f"unknown store columns {sorted(unknown)}")
        values = {k: (json.dumps(v, sort_keys=True) if k in JSON_COLUMNS and v is not None else v)
                  for k, v in row.items()}
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        # every column: one that the new row lacks is reset, as a replacement would
        updates = ", ".join(f"{k} = excluded.{k}" if k in values else f"{k} = NULL"
                            for k in JOB_COLUMNS if k != "job_key")
        with self.db:
            cur = self.db.execute(f"INSERT INTO jobs ({cols}) VALUES ({marks}) ON CONFLICT(job_key) DO UPDATE "
                                  f"SET {updates} WHERE excluded.status = 'done' OR jobs.status != 'done'",
                                  tuple(values.values()))
        return cur.rowcount > 0

    def status_of(self, keys: Iterable[str]) -> dict[str, tuple[str, set[str], set[str]]]:
        """job_key -> (status, metrics settled, metrics that were unavailable on the machine) for keys
        with a row. A metric is settled when it was measured or failed on the job's own input."""
        wanted = set(keys)
        out = {}
        # one scan instead of a query per key: flat cost per job for plans of 100k jobs
        for key, status, metrics, errors, provenance in self.db.execute(
                "SELECT job_key, status, metrics, metric_errors, provenance FROM jobs"):
            if key not in wanted:
                continue
            prov = json.loads(provenance or "{}")
            machine = {m for m, p in prov.items() if p.get("unavailable_here")}
            settled = (set(json.loads(metrics or "{}")) | set(json.loads(errors or "{}"))) - machine
            out[key] = (status, settled, machine)
        return out

    def rows(self, where: str = "", params: tuple = ()) -> list[dict]:
        cur = self.db.execute(f"SELECT * FROM jobs {where} ORDER BY codec, sequence, qp, target_kbps", params)
        names = [d[0] for d in cur.description]
        out = []
        for values in cur:
            row = dict(zip(names, values))
            for k in JSON_COLUMNS:
                if row.get(k) is not None:
                    row[k] = json.loads(row[k])
            out.append(row)
        return out

    def put_set_value(self, codec: str, point: str, metric: str, value: float | None, sequences: list[str],
                      features: int, note: str | None, provenance: dict) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO set_metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (codec, point, metric, value, json.dumps(sequences), features, note,
                             json.dumps(provenance, sort_keys=True), time.time()))

    def set_values(self) -> list[dict]:
        cur = self.db.execute("SELECT * FROM set_metrics ORDER BY codec, metric, point")
        names = [d[0] for d in cur.description]
        out = []
        for values in cur:
            row = dict(zip(names, values))
            row["sequences"] = json.loads(row["sequences"])
            row["provenance"] = json.loads(row["provenance"] or "{}")
            out.append(row)
        return out

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
