"""Typed records from store to report: frozen JobResult/SetValue, the store's read and write
paths, the schema-3 migration (package versions per run, not per row) and the DataFrame view."""

from __future__ import annotations

import json
import pickle
import sqlite3
from dataclasses import FrozenInstanceError, replace

import pytest

from gvcbench.bench.records import FrozenMap, JobResult, LazyMap, SetValue, kbps_of, point_order
from gvcbench.bench.store import SCHEMA_VERSION, ResultStore
from gvcbench.reports.table import part_rates


def result(key="k1", **changes) -> JobResult:
    fields = {
        "job_key": key,
        "run_id": "r1",
        "codec": "x265",
        "codec_name": "x265",
        "codec_version": "4.1",
        "codec_params": {"preset": "ultrafast"},
        "sequence": "bunny",
        "sequence_hash": "ab" * 32,
        "sequence_spec": {"path": "/clips/bunny.y4m", "start": 0},
        "point": "qp32",
        "qp": 32,
        "bytes": 1000,
        "frames": 10,
        "width": 64,
        "height": 64,
        "fps": 25.0,
        "kbps": kbps_of(1000, 10, 25.0),
        "bpp": 1000 * 8 / (64 * 64 * 10),
        "metrics": {"psnr-y": 35.5},
        "frame_metrics": {"psnr-y": [35.0, 36.0]},
        "metric_errors": {},
        "provenance": {"psnr-y": {"version": "1", "spec": {"lower_better": False}}},
        "parts": {"key": 600, "tokens": 400},
        "finished_at": 1.0,
    }
    return JobResult(**(fields | changes))


def test_records_are_frozen_and_their_mappings_read_only():
    r = result()
    with pytest.raises(FrozenInstanceError):
        r.kbps = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError, match="read-only"):
        r.metrics["psnr-y"] = 0.0  # type: ignore[index]
    assert isinstance(r.metrics, FrozenMap) and r.metrics == {"psnr-y": 35.5}
    changed = replace(r, seed=3)
    assert changed.seed == 3 and r.seed is None and changed.metrics is r.metrics
    assert r.evolve(point="qp37").point == "qp37" and r.point == "qp32"
    with pytest.raises(TypeError, match="unknown"):
        r.evolve(packages={})
    # records travel from workers (also on Dask): pickling keeps them equal
    assert pickle.loads(pickle.dumps(r)) == r
    assert json.loads(json.dumps(r.to_dict()))["metrics"] == {"psnr-y": 35.5}


def test_store_round_trip_is_typed_and_decodes_per_frame_values_lazily(tmp_path):
    r = result()
    with ResultStore(tmp_path) as store:
        store.start_run("r1", {}, "cfg", {"packages": {"numpy": "2"}})
        assert store.put(r)
        assert not store.put(replace(r, status="failed", error="boom"))  # a finished row is kept
        store.put_many([result("k2", point="qp37", qp=37, status="failed", error="x", metrics={}, parts=None)])
    with ResultStore(tmp_path, create=False) as store:
        got = store.records()
        assert [g.job_key for g in got] == ["k1", "k2"]  # curve order: by QP
        assert isinstance(got[0].frame_metrics, LazyMap) and got[0].frame_metrics["psnr-y"] == [35.0, 36.0]
        assert got[0] == r and got[0].run_id == "r1"
        assert [g.job_key for g in store.records(done=False)] == ["k2"]
        assert [g.job_key for g in store.records(["k1"], done=True)] == ["k1"]
        assert store.runs()[0]["environment"]["packages"] == {"numpy": "2"}
        df = store.frame()
    assert list(df["psnr-y"].dropna()) == [35.5] and list(df["bytes_key"].dropna()) == [600]
    assert (
        "frame_metrics" not in df
        and "packages" not in df
        and json.loads(df["codec_params"][0]) == {"preset": "ultrafast"}
    )


def test_a_read_pauses_the_collector_and_leaves_it_as_it_was(tmp_path):
    """Records are built with the cyclic collector paused; a library caller gets it back on
    (the freeze count is not compared: in the full suite an earlier in-process CLI test's freeze
    makes it move)."""
    import gc

    with ResultStore(tmp_path) as store:
        store.put_many([result(f"k{i}", point=f"qp{20 + i}", qp=20 + i) for i in range(5)])
    with ResultStore(tmp_path, create=False) as store:
        got = store.records(extra={"source_store": "here"})
    assert len(got) == 5 and {g.source_store for g in got} == {"here"}
    assert gc.isenabled()
    gc.disable()
    try:
        with ResultStore(tmp_path, create=False) as store:
            store.records()
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_one_kbps_and_one_point_order():
    r = result()
    assert r.kbps == 1000 * 8 / (10 / 25.0) / 1000.0
    assert part_rates([r]) == {"key": kbps_of(600, 10, 25.0), "tokens": kbps_of(400, 10, 25.0)}
    ladder = [result(point=f"qp{q}", qp=q) for q in (37, 22, 32)]
    assert [point_order(x) for x in sorted(ladder, key=point_order)] == [22, 32, 37]
    targets = [result(point=f"{t}kbps", qp=30, target_kbps=t) for t in (5.0, 15.0)]
    assert [x.target_kbps for x in sorted(targets, key=point_order)] == [15.0, 5.0]  # falling target
    imported = [result(point=f"imported{i}", qp=None, kbps=k) for i, k in enumerate((1.0, 9.0))]
    assert [x.kbps for x in sorted(imported, key=point_order)] == [9.0, 1.0]  # falling rate


def test_set_values_are_records(tmp_path):
    with ResultStore(tmp_path) as store:
        store.put_set(
            SetValue("x265", "qp32", "fvd", 12.5, ("a", "b"), 4, None, {"v": 1}, dataset="d", job_keys=("k1",))
        )
    with ResultStore(tmp_path, create=False) as store:
        (s,) = store.set_values()
    assert (s.value, s.sequences, s.job_keys, s.dataset, s.provenance) == (12.5, ("a", "b"), ("k1",), "d", {"v": 1})


def _schema_2_store(path):
    """A store as schema 2 wrote it: package versions in every row, also in the run's environment
    (run r1) or only in the rows (run r0, written by hand)."""
    with ResultStore(path) as store:
        store.start_run("r1", {}, "cfg", {"packages": {"numpy": "2"}})
        store.put(result("k1"))
        store.put(result("k0", run_id="r0", point="qp37", qp=37))
        store.db.execute("INSERT INTO runs (run_id, started, config, environment) VALUES ('r0', 0, '{}', '{}')")
        store.db.commit()
    db = sqlite3.connect(path / "results.sqlite")
    with db:
        db.execute("ALTER TABLE jobs ADD COLUMN packages TEXT")
        db.execute("""UPDATE jobs SET packages = '{"numpy": "1"}'""")
        db.execute("DROP INDEX jobs_order")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.close()


def test_schema_2_store_reads_as_it_is_and_migrates_packages_to_the_runs(tmp_path):
    _schema_2_store(tmp_path)
    with ResultStore(tmp_path, create=False) as store:  # read-only: no migration, the old column is ignored
        assert store.schema_version == 2
        assert [r.job_key for r in store.records()] == ["k1", "k0"] and store.records()[0].metrics == {"psnr-y": 35.5}
    with ResultStore(tmp_path) as store:
        assert store.schema_version == SCHEMA_VERSION == 4
        envs = {r["run_id"]: r["environment"] for r in store.runs()}
        assert envs["r1"]["packages"] == {"numpy": "2"}  # the run's own record is kept
        assert envs["r0"]["packages"] == {"numpy": "1"}  # taken from its rows
        columns = {r[1] for r in store.db.execute("PRAGMA table_info(jobs)")}
        assert "packages" not in columns
        assert [r.job_key for r in store.records()] == ["k1", "k0"]  # job keys unchanged


def test_a_store_that_cannot_be_written_says_so_without_sqlite_leaking_out(tmp_path):
    from gvcbench.bench.store import StoreUnwritable

    with ResultStore(tmp_path) as store:
        other = sqlite3.connect(tmp_path / "results.sqlite")
        other.execute("BEGIN EXCLUSIVE")  # another process holds the file
        store.db.execute("PRAGMA busy_timeout = 50")
        with pytest.raises(StoreUnwritable, match="cannot write the results store"):
            store.put(result())
        other.rollback()
        other.close()
        assert store.put(result())
