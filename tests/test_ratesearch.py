"""Target-rate ladders: the knob search, its rows in the store, resume, unreachable targets."""

import contextlib
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.ratesearch import Search, choose, next_probe
from gvcbench.bench.runner import run_benchmark
from gvcbench.bench.store import ResultStore
from gvcbench.codecs.base import RateKnob
from gvcbench.datasets.y4m import write_y4m
from gvcbench.errors import ConfigError
from gvcbench.reports.curves import bd_table, rd_points
from gvcbench.reports.selection import select

from .conftest import add_finished_run, gvcbench_logs, real_clip, write_two_clips


def _search_all(rate, targets, knob):
    """Drive next_probe as the runner's rounds do; return the probes it asked for."""
    probes = {}
    for _ in range(60):
        wanted = {q for t in targets if (q := next_probe(probes, t, knob)) is not None} - set(probes)
        if not wanted:
            return probes
        probes.update({q: rate(q) for q in wanted})
    raise AssertionError("the search did not end")


def _fake_search(targets, knob, tolerance=0.1):
    from types import SimpleNamespace

    template = SimpleNamespace(
        codec_label="c", sequence="s", sequence_hash="h", workdir="/x/c/s/qp1", config_hash="", seed=None
    )
    return Search(template, knob, {}, "kbps", tuple(targets), tolerance)


@pytest.mark.parametrize(
    "rate",
    [
        lambda q: 1000 * 2 ** (-(q - 20) / 5.3),  # log-linear, as block codecs roughly are
        lambda q: 12 * 2 ** (-(q - 32) / 7) + 6,  # a floor of fixed bits (Dynamics-Codec's tokens)
        lambda q: 400 * 2 ** (-(q - 20) / 6) + 160 * (1 + 0.001 * q),
    ],
)
def test_search_finds_the_closest_knob_value_of_every_reachable_target(rate):
    knob = RateKnob("QP", 0, 63, 42)
    targets = [5.5, 8, 12, 15, 180, 300]
    probes = _search_all(rate, targets, knob)
    outcomes = choose(_fake_search(targets, knob, "nearest"), probes)
    every = {q: rate(q) for q in range(knob.lo, knob.hi + 1)}
    for o in outcomes:
        reachable = min(every.values()) <= o.target <= max(every.values())
        if not reachable:
            assert o.status == "unreachable" and "out of reach" in o.message
            continue
        best = min(every, key=lambda q: abs(math.log(every[q] / o.target)))
        assert o.value == best and o.achieved == pytest.approx(every[best])
    assert len(probes) < 8 * len(targets)  # far fewer than the 64 values of the range


def test_unreachable_outside_tolerance_and_shared_values_are_reported():
    knob = RateKnob("QP", 0, 51, 32)
    rate = lambda q: 200 * 2 ** (-q / 6) + 10  # noqa: E731  never below 10.55 kbps (QP 51)
    targets = [9.5, 5, 10.56, 10.57, 143, 2000]
    probes = _search_all(rate, targets, knob)
    by_target = {o.target: o for o in choose(_fake_search(targets, knob, 0.02), probes)}
    # 9.5 is 10 % under the rate at QP 51: out of reach and outside ±2 %.
    for t in (9.5, 5):
        assert by_target[t].status == "unreachable" and not by_target[t].recorded
        assert by_target[t].message == (
            f"c / s: target {t:g} kbps is out of reach (still too many bits at QP 51, "
            f"its highest); the closest rate it reaches is {rate(51):.4g} kbps at QP 51"
        )
    assert "too few bits at QP 0, its lowest" in by_target[2000].message
    # 10.56 and 10.57 land on the same QP: the closer keeps it, the other is reported.
    assert by_target[10.56].status == "ok" and by_target[10.56].value == 51
    assert by_target[10.57].status == "same value" and "already chosen for target 10.56" in by_target[10.57].message
    # 143 lies between QP 3 (151 kbps) and QP 4 (136 kbps), 5 % from both: recorded, flagged.
    o = by_target[143]
    assert o.status == "outside tolerance" and o.recorded and "outside ±2 %" in o.message
    # Within tolerance of the end of the range counts as reached.
    near_end = choose(_fake_search([10.2], knob, 0.05), probes)[0]
    assert near_end.status == "ok" and near_end.value == 51


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return write_two_clips(tmp_path_factory.mktemp("clips"))


def _config(clips, out, codec, **extra):
    return config_from_mapping(
        {"dataset": {"source": str(clips)}, "output": str(out), "jobs": 2, "metrics": ["psnr-y"], "codec": [codec]}
        | extra
    )


def _target_rows(store):
    return [r for r in store.rows() if (r.get("rate_search") or {}).get("role") == "target"]


def _check_targets(rows, outcomes, tolerance=0.1):
    assert rows, "no target rows"
    for r in rows:
        search = r["rate_search"]
        assert r["point"] == f"{search['target']:g}kbps" and r["target_kbps"] == search["target"]
        assert r["qp"] == search["value"] and r["kbps"] == pytest.approx(search["achieved"])
        assert abs(r["kbps"] / r["target_kbps"] - 1) <= tolerance
        probes = {int(q): v for q, v in search["probes"].items()}
        # Closest: the neighbouring QPs were encoded and are farther from the target.
        for q in (r["qp"] - 1, r["qp"] + 1):
            if q in probes:
                assert abs(math.log(probes[q] / r["target_kbps"])) >= abs(math.log(r["kbps"] / r["target_kbps"]))
        assert r["metrics"]["psnr-y"] > 15 and len(r["frame_metrics"]["psnr-y"]) == 3
    assert {(o.sequence, o.target) for o in outcomes if o.status == "ok"} == {
        (r["sequence"], r["target_kbps"]) for r in rows
    }


@pytest.mark.slow
def test_x265_target_ladder_lands_within_tolerance_and_resumes_without_encoding(clips, tmp_path):
    # 3 frames of 64x64 at 25 fps: x265 spans about 11..390 kbps over QP 0..51 (about
    # 170..590 while its rate counted its 2.3 KB encoder-info SEI).
    codec = {"name": "x265", "kbps": [40, 80, 160, 2], "params": {"preset": "ultrafast"}}
    cfg = _config(clips, tmp_path / "run", codec)
    with gvcbench_logs(logging.WARNING) as warnings:
        first = run_benchmark(cfg)
    assert first.failed == 0 and first.done >= 6
    with ResultStore(tmp_path / "run", create=False) as store:
        rows = store.records()
        targets = _target_rows(store)
    _check_targets(targets, first.rate_targets)
    assert len(targets) == 6  # 3 reachable targets x 2 sequences
    unreachable = [w for w in warnings if "target 2 kbps is out of reach" in w]
    assert len(unreachable) == 2 and all("x265 / " in w and "QP 51" in w for w in unreachable)
    probes = [r for r in rows if (r.get("rate_search") or {}).get("role") == "probe"]
    assert len(probes) == first.done and all(r["point"].startswith("search-qp") for r in probes)
    # The curves read the target rows only, never the search's encodes.
    pts = rd_points(rows, "psnr-y")["x265"]
    assert set(pts["bigbuckbunny"]) == {"40kbps", "80kbps", "160kbps"}
    # Resume: the same run encodes nothing and lands on the same rows.
    again = run_benchmark(cfg)
    assert again.done == 0 and again.failed == 0 and again.skipped == len(probes) == again.planned
    with ResultStore(tmp_path / "run", create=False) as store:
        assert {(r["job_key"], r["qp"]) for r in _target_rows(store)} == {(r["job_key"], r["qp"]) for r in targets}
        assert store.count() == len(rows)


@pytest.mark.slow
def test_interrupted_search_reuses_the_encodes_already_made(clips, tmp_path):
    codec = {"name": "x264", "kbps": [260, 350], "params": {"preset": "ultrafast"}}
    cfg = _config(clips, tmp_path / "run", codec)
    full = run_benchmark(cfg)
    with ResultStore(tmp_path / "run") as store:  # writable: we cut the store back
        keep = sorted(store.rows(), key=lambda r: r["finished_at"])[:3]
        store.db.execute("DELETE FROM jobs")
        store.db.commit()
        for row in keep:  # as if the run had been killed after its first three encodes
            store.put(row)
    resumed = run_benchmark(cfg)
    # The kept encodes are read, not redone (the search may then need fewer than before).
    assert 0 < resumed.done <= full.done - len(keep)
    with ResultStore(tmp_path / "run", create=False) as store:
        for row in keep:
            assert store.records([row["job_key"]])[0].run_id == row["run_id"]
    assert {(o.sequence, o.target, o.value) for o in resumed.rate_targets} == {
        (o.sequence, o.target, o.value) for o in full.rate_targets
    }


@pytest.mark.slow
def test_vvenc_target_ladder_and_bd_against_a_qp_ladder(clips, tmp_path):
    cfg = _config(
        clips, tmp_path / "run", {"name": "vvenc-ldb", "kbps": [100, 140, 190, 250], "params": {"preset": "faster"}}
    )
    summary = run_benchmark(cfg)
    assert summary.failed == 0
    ladder = _config(
        clips, tmp_path / "run", {"name": "x265", "qps": [12, 22, 32, 42], "params": {"preset": "ultrafast"}}
    )
    run_benchmark(ladder)
    with ResultStore(tmp_path / "run", create=False) as store:
        rows = select(store).rows  # what readers show: the target rows are among the run's jobs
        targets = _target_rows(store)
    assert {r["job_key"] for r in targets} <= {r["job_key"] for r in rows}
    _check_targets(targets, summary.rate_targets)
    entries = bd_table(rows, "x265", ["psnr-y"])
    assert entries[0].codec == "vvenc-ldb" and entries[0].sequences == 2


@pytest.mark.slow
def test_vtm_target_ladder(clips, tmp_path, vtm_dir):
    folder = tmp_path / "one"
    folder.mkdir()
    write_y4m(real_clip(frames=2, size="64x64"), folder / "bbb.y4m")
    cfg = _config(
        folder,
        tmp_path / "run",
        {"name": "vtm-ldb", "kbps": [250, 350], "tolerance": "nearest", "params": {"vtm_dir": vtm_dir}},
    )
    summary = run_benchmark(cfg)
    assert summary.failed == 0
    assert all(o.status == "ok" and abs(o.achieved / o.target - 1) < 0.15 for o in summary.rate_targets)


def test_config_checks_target_ladders(clips, tmp_path):
    with pytest.raises(ConfigError, match="one of 'qps', 'kbps' or 'bpp'"):
        _config(clips, tmp_path, {"name": "x265", "qps": [30], "kbps": [10]})
    with pytest.raises(ConfigError, match="positive target rates"):
        _config(clips, tmp_path, {"name": "x265", "kbps": [10, -1]})
    with pytest.raises(ConfigError, match="'tolerance' must be"):
        _config(clips, tmp_path, {"name": "x265", "kbps": [10], "tolerance": 5})
    cfg = _config(clips, tmp_path, {"name": "x265", "kbps": [10, 20], "tolerance": "nearest"})
    assert cfg.codecs[0].targets == ("kbps", (10.0, 20.0))
    plain = _config(clips, tmp_path, {"name": "x265", "qps": [30]})
    assert "kbps" not in plain.identity()["codecs"][0]  # older config hashes are unchanged


def test_codecs_without_a_knob_refuse_targets(clips, tmp_path):
    external = {
        "name": "external",
        "kbps": [10],
        "params": {"encode": ["cp", "{input}", "{bitstream}"], "decode": ["cp", "{bitstream}", "{output}"]},
    }
    with pytest.raises(ConfigError, match=r"declares no rate knob \(its encode template has no \{qp\}\)"):
        run_benchmark(_config(clips, tmp_path / "a", external))
    pre = {
        "name": "precomputed",
        "kbps": [10],
        "params": {"reconstructions": "r/{sequence}_{qp}.yuv", "bitstreams": "b/{sequence}_{qp}.bin"},
    }
    with pytest.raises(ConfigError, match="declares no rate knob"):
        run_benchmark(_config(clips, tmp_path / "b", pre))


ENC = (
    "import shutil, sys\n"
    "q = int(sys.argv[3])\n"
    "if q < 10: sys.exit('this codec fails below QP 10')\n"
    "shutil.copy(sys.argv[1], sys.argv[4] + '/keep.y4m')\n"
    "open(sys.argv[2], 'wb').write(b'x' * int(20000 * 2 ** (-q / 6)))\n"
)
DEC = "import shutil, sys; shutil.copy(sys.argv[1] + '/keep.y4m', sys.argv[2])"
BREAKABLE_ENC = "import os, sys\nif os.environ.get('TOY_FAIL'): sys.exit('broken on purpose')\n" + ENC


def _breakable_toy() -> dict:
    """The toy codec searched for 50 kbps; every encode fails while TOY_FAIL is set (_broken)."""
    return {
        "name": "external",
        "label": "toy",
        "kbps": [50],
        "params": {
            "encode": [sys.executable, "-c", BREAKABLE_ENC, "{input}", "{bitstream}", "{qp}", "{workdir}"],
            "decode": [sys.executable, "-c", DEC, "{workdir}", "{output}"],
            "output_format": "y4m",
        },
    }


@contextlib.contextmanager
def _broken():
    os.environ["TOY_FAIL"] = "1"  # the workers inherit it
    try:
        yield
    finally:
        del os.environ["TOY_FAIL"]


@pytest.mark.slow
def test_external_template_with_qp_is_searched_and_a_failed_encode_stops_only_its_target(clips, tmp_path):

    # Rate 1333 * 2^(-QP/6) kbps on 3 frames at 25 fps; the encoder fails below QP 10.
    codec = {
        "name": "external",
        "label": "toy",
        "kbps": [1000, 50, 0.01],
        "params": {
            "encode": [sys.executable, "-c", ENC, "{input}", "{bitstream}", "{qp}", "{workdir}"],
            "decode": [sys.executable, "-c", DEC, "{workdir}", "{output}"],
            "output_format": "y4m",
        },
    }
    cfg = _config(clips, tmp_path / "run", codec, metrics=["ms-ssim"], jobs=1)
    summary = run_benchmark(cfg)
    by = {(o.sequence, o.target): o for o in summary.rate_targets}
    for seq in ("bigbuckbunny", "bikes"):
        assert by[(seq, 50)].status == "ok" and by[(seq, 50)].value == 28  # 1333 * 2^(-28/6) = 52.5
        failed = by[(seq, 1000)]
        assert failed.status == "failed" and "this codec fails below QP 10" in failed.message
        assert f"toy / {seq}: no rate for target 1000 kbps: the search encode at QP" in failed.message
        assert by[(seq, 0.01)].status == "unreachable" and "QP 63, its highest" in by[(seq, 0.01)].message
    # the failed targets have rows, so the readers and the gate see them (a gate whose baseline
    # lacked them passed: nothing of the failure was stored but the search's own encodes)
    from gvcbench.reports.regress import compare, failed, load_tolerances, make_baseline

    with ResultStore(tmp_path / "run", create=False) as store:
        rows = select(store).rows
    broken = sorted((r.sequence, r.point) for r in rows if not r.done)
    assert broken == [("bigbuckbunny", "1000kbps"), ("bikes", "1000kbps")], broken
    assert all("this codec fails below QP 10" in r.error for r in rows if not r.done)
    assert all(r.error.startswith("no rate for target 1000 kbps") for r in rows if not r.done)  # no 'toy / seq: ' twice
    findings = compare(rows, make_baseline([r for r in rows if r.done]), load_tolerances(None))
    assert failed(findings) and sum(f.outcome == "new failure" for f in findings) == 2


@pytest.mark.slow
def test_a_forced_search_whose_encodes_fail_reads_as_failed_and_fails_the_gate(clips, tmp_path):
    """The failed encodes of a --force rerun are not stored (the earlier ones are kept): the
    search must not take those earlier rows for this run's, and the target reads as failed
    in this run (it was written as "ok" again from the old encodes, and the gate passed)."""

    from gvcbench.reports.regress import compare, failed, load_tolerances, make_baseline
    from gvcbench.reports.selection import select

    codec = _breakable_toy()
    cfg = _config(clips, tmp_path / "run", codec, jobs=1)
    assert {o.status for o in run_benchmark(cfg).rate_targets} == {"ok"}
    with ResultStore(tmp_path / "run", create=False) as store:
        baseline = make_baseline(select(store).rows)
    with _broken():
        forced = run_benchmark(cfg, force=True)
    assert {o.status for o in forced.rate_targets} == {"failed"}
    with ResultStore(tmp_path / "run", create=False) as store:
        rows = select(store).rows
        assert len(rows) == 2 and all(r.status == "failed" and "broken on purpose" in r.error for r in rows)
        assert not any(f"toy / {r.sequence}:" in r.error for r in rows)  # the row names its job itself
        assert failed(compare(rows, baseline, load_tolerances(None)))
        assert all(r.done for r in select(store, run=store.runs()[0]["run_id"]).rows)  # the first run's, kept
    # what an older gvcbench's plain run did next: it wrote the targets again from the kept
    # encodes, so the target rows are that later run's; the chosen encodes still decide
    import sqlite3

    add_finished_run(tmp_path / "run", "older")
    with sqlite3.connect(tmp_path / "run" / "results.sqlite") as db:
        db.execute("UPDATE jobs SET run_id = 'older' WHERE rate_search LIKE '%\"role\": \"target\"%'")
        assert db.total_changes == 2
    db.close()
    with _broken():  # a plain rerun, still broken: the targets that failed are tried again
        plain = run_benchmark(cfg)
    assert {o.status for o in plain.rate_targets} == {"failed"}, [o.message for o in plain.rate_targets]
    with ResultStore(tmp_path / "run", create=False) as store:
        assert failed(compare(select(store).rows, baseline, load_tolerances(None)))
    again = run_benchmark(cfg)  # the codec fixed: the chosen encodes run again, and serve
    assert {o.status for o in again.rate_targets} == {"ok"}
    assert {o.status for o in run_benchmark(cfg).rate_targets} == {"ok"}  # and the next run reuses them
    with ResultStore(tmp_path / "run", create=False) as store:
        assert not failed(compare(select(store).rows, baseline, load_tolerances(None)))


@pytest.mark.slow
def test_a_search_whose_chosen_encodes_fail_to_measure_a_new_metric_reads_as_failed(clips, tmp_path):
    """A rerun that adds a metric encodes the chosen rates again; when the codec now fails
    (the earlier rows are kept), the targets must read as failed, not "ok" from the old
    encodes without the new metric (the gate passed)."""

    from gvcbench.reports.regress import compare, failed, load_tolerances, make_baseline

    codec = _breakable_toy()
    assert {o.status for o in run_benchmark(_config(clips, tmp_path / "run", codec, jobs=1)).rate_targets} == {"ok"}
    with ResultStore(tmp_path / "run", create=False) as store:
        baseline = make_baseline(select(store).rows)
    with _broken():
        more = run_benchmark(_config(clips, tmp_path / "run", codec, jobs=1, metrics=["psnr-y", "ms-ssim"]))
    assert {o.status for o in more.rate_targets} == {"failed"}, [o.message for o in more.rate_targets]
    assert all("broken on purpose" in o.message for o in more.rate_targets)
    with ResultStore(tmp_path / "run", create=False) as store:
        rows = select(store).rows
        assert len(rows) == 2 and all(r.status == "failed" for r in rows)
        assert failed(compare(rows, baseline, load_tolerances(None)))


@pytest.mark.slow
def test_a_forced_search_stopped_on_the_way_leaves_its_targets_to_be_redone(clips, tmp_path):
    """A `--force` run stopped (Ctrl-C) during its search recorded nothing of the targets, so a
    plain rerun with the codec still broken reused the kept rows and the gate passed."""
    import json
    import signal
    import sqlite3
    import subprocess
    import time

    enc = tmp_path / "enc.py"
    enc.write_text(
        "import os, sys, time\n"
        "open(sys.argv[4] + '/../started', 'w').close()\n"
        "time.sleep(float(os.environ.get('TOY_SLEEP', 0)))\n" + BREAKABLE_ENC
    )
    encode = json.dumps([sys.executable, str(enc), "{input}", "{bitstream}", "{qp}", "{workdir}"])
    decode = json.dumps([sys.executable, "-c", DEC, "{workdir}", "{output}"])
    (tmp_path / "run.toml").write_text(
        f'output = "out"\njobs = 1\nmetrics = ["psnr-y"]\n[dataset]\nsource = "{clips}"\n'
        f'[[codec]]\nname = "external"\nlabel = "toy"\nkbps = [50]\n'
        f'params = {{ encode = {encode}, decode = {decode}, output_format = "y4m" }}\n'
    )

    def gvcbench(*args, **env):
        return subprocess.run(
            [sys.executable, "-m", "gvcbench", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=os.environ | {"GVCBENCH_OFFLINE": "1"} | env,
        )

    assert gvcbench("run", "-c", "run.toml").returncode == 0
    assert gvcbench("regress", "out", "--baseline", "b.json", "--save").returncode == 0
    for started in (tmp_path / "out").rglob("started"):
        started.unlink()
    # the forced run renames the entry: what it records is under its own label
    (tmp_path / "renamed.toml").write_text((tmp_path / "run.toml").read_text().replace('"toy"', '"toy2"'))
    forced = subprocess.Popen(
        [sys.executable, "-m", "gvcbench", "run", "-c", "renamed.toml", "--force"],
        cwd=tmp_path,
        env=os.environ | {"GVCBENCH_OFFLINE": "1", "TOY_FAIL": "1", "TOY_SLEEP": "100"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not any((tmp_path / "out").rglob("started")) and time.monotonic() < deadline:
        time.sleep(0.1)
    forced.send_signal(signal.SIGINT)
    forced.communicate(timeout=60)
    with sqlite3.connect(tmp_path / "out" / "results.sqlite") as db:
        marked = db.execute(
            "SELECT DISTINCT codec, failed FROM run_jobs WHERE run_id = "
            "(SELECT run_id FROM runs ORDER BY started DESC LIMIT 1) AND failed IS NOT NULL"
        ).fetchall()
    db.close()
    assert marked == [("toy2", "the run stopped before this target's search ended")], marked
    plain = gvcbench("run", "-c", "run.toml", TOY_FAIL="1")
    said = " ".join((plain.stdout + plain.stderr).split())
    assert plain.returncode == 1 and "broken on purpose" in said, said
    gate = gvcbench("regress", "out", "--baseline", "b.json")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert gvcbench("run", "-c", "run.toml").returncode == 0  # fixed: redone once, then reused
    again = gvcbench("run", "-c", "run.toml")
    assert again.returncode == 0 and "0 run now" in " ".join(again.stdout.split()), again.stdout


@pytest.mark.slow
def test_dynamics_searches_its_key_frame_qp(tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    write_y4m(real_clip(frames=3, size="64x64"), folder / "bbb.y4m")
    # 64x64, 3 frames: about 240 kbps at key-frame QP 10 down to 15.5 kbps at QP 63 (tokens and header stay).
    cfg = _config(folder, tmp_path / "run", {"name": "dynamics", "kbps": [30, 120, 10]}, jobs=1)
    summary = run_benchmark(cfg)
    assert summary.failed == 0
    by = {o.target: o for o in summary.rate_targets}
    assert by[10].status == "unreachable" and "key-frame QP 63, its highest" in by[10].message
    with ResultStore(tmp_path / "run", create=False) as store:
        rows = _target_rows(store)
    assert {r["target_kbps"] for r in rows} == {30, 120}
    assert all(r["rate_search"]["knob"] == "key-frame QP" and r["parts"]["keyframe"] > 0 for r in rows)
    _check_targets(rows, summary.rate_targets)


def test_the_ci_gate_guards_target_points_not_search_encodes():
    from gvcbench.bench.records import JobResult
    from gvcbench.reports.regress import compare, failed, load_tolerances, make_baseline

    def row(point, kbps, role, qp):
        return JobResult.from_dict(
            {
                "job_key": point,
                "codec": "x265",
                "sequence": "s",
                "point": point,
                "status": "done",
                "codec_version": "v",
                "sequence_hash": "h",
                "kbps": kbps,
                "qp": qp,
                "target_kbps": None,
                "metrics": {"psnr-y": 30.0},
                "provenance": {"psnr-y": {"spec": {"lower_better": False}}},
                "rate_search": {"role": role},
            }
        )

    base = [
        row("12kbps", 12.1, "target", 40),
        row("search-qp40", 12.1, "probe", 40),
        row("search-qp38", 14, "probe", 38),
    ]
    baseline = make_baseline(base)
    assert [p["point"] for p in baseline["points"]] == ["12kbps"]
    # A resumed search that took another path has other probes: nothing regressed.
    now = [row("12kbps", 12.1, "target", 40), row("search-qp41", 11, "probe", 41)]
    assert not failed(compare(now, baseline, load_tolerances(None)))


@pytest.mark.slow
def test_bpp_targets(tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    write_y4m(real_clip(frames=3, size="64x64"), folder / "bbb.y4m")
    # x265 on this clip: about 2.5 bpp at QP 28 (260 kbps x 0.12 s over 3 x 64 x 64 pixels).
    cfg = _config(folder, tmp_path / "run", {"name": "x265", "bpp": [2.5], "params": {"preset": "ultrafast"}}, jobs=1)
    summary = run_benchmark(cfg)
    (outcome,) = summary.rate_targets
    assert outcome.unit == "bpp" and outcome.status == "ok" and abs(outcome.achieved / 2.5 - 1) <= 0.1
    with ResultStore(tmp_path / "run", create=False) as store:
        (row,) = _target_rows(store)
    assert row["point"] == "2.5bpp" and row["target_bpp"] == 2.5 and row["target_kbps"] is None
    assert row["bpp"] == pytest.approx(outcome.achieved) and row["qp"] == outcome.value


@pytest.mark.slow
def test_a_target_no_longer_reached_loses_its_old_row(tmp_path):

    folder = tmp_path / "one"
    folder.mkdir()
    write_y4m(real_clip(frames=3, size="64x64"), folder / "bbb.y4m")
    params = {
        "encode": [sys.executable, "-c", ENC, "{input}", "{bitstream}", "{qp}", "{workdir}"],
        "decode": [sys.executable, "-c", DEC, "{workdir}", "{output}"],
        "output_format": "y4m",
    }

    def run(targets):
        cfg = _config(
            folder,
            tmp_path / "run",
            {"name": "external", "label": "toy", "kbps": targets, "params": params},
            metrics=["psnr-y"],
            jobs=1,
        )
        run_benchmark(cfg)
        with ResultStore(tmp_path / "run", create=False) as store:
            return {r["point"]: r["qp"] for r in _target_rows(store)}

    assert run([50]) == {"50kbps": 28}  # 1333 * 2^(-28/6) = 52.5 kbps
    # 52.5 kbps is closer to QP 28 than 50 is: 50 now shares its QP and must not keep its old row.
    assert run([50, 52.5]) == {"52.5kbps": 28}


def test_cli_kbps_option_is_checked_like_the_config_key(tmp_path):
    from typer.testing import CliRunner

    from gvcbench.cli import app

    out = str(tmp_path / "run")
    bad = CliRunner().invoke(app, ["run", "--codecs", "x265", "--kbps", "5,x", "-o", out])
    assert bad.exit_code == 2 and "--kbps must be positive numbers" in " ".join(bad.output.split())
    both = CliRunner().invoke(app, ["run", "--codecs", "x265", "--kbps", "5", "--qps", "30", "-o", out])
    assert both.exit_code == 2 and "give --qps or --kbps, not both" in both.output
    pre = CliRunner().invoke(app, ["run", "-c", str(_toml(tmp_path)), "--kbps", "5,8", "-o", out])
    assert pre.exit_code == 2 and "declares no rate knob" in " ".join(pre.output.split())
    assert not (tmp_path / "run" / "results.sqlite").exists()


def _gvcbench(*args) -> subprocess.CompletedProcess:
    """`python -m gvcbench ARGS` of this checkout in a subprocess."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])
    )
    return subprocess.run(
        [sys.executable, "-m", "gvcbench", *map(str, args)], capture_output=True, text=True, timeout=300, env=env
    )


@pytest.mark.slow  # two x264 search encodes and a run in a subprocess: about 3 s
def test_a_run_whose_every_target_is_out_of_reach_says_so_not_no_run(tmp_path):
    """`--kbps 1e9`: no target gets a row. The run ended with "error: no run '<its id>' with
    rows in this store; runs: none" (exit 2), as if the store were broken."""
    folder = tmp_path / "one"
    folder.mkdir()
    write_y4m(real_clip(frames=3, size="64x64"), folder / "bbb.y4m")
    args = ["run", "--codecs", "x264", "--dataset", folder, "--kbps", "1e9", "--metrics", "psnr-y", "-j", "1"]
    r = _gvcbench(*args, "-o", tmp_path / "run")
    said = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == 1, said
    assert "no run" not in said and "Traceback" not in said, said
    assert "target 1e+09 kbps is out of reach" in said and "No rate target is within reach" in said, said
    with ResultStore(tmp_path / "run", create=False) as store:  # the search encodes are kept
        assert [r["point"] for r in store.records()] and not _target_rows(store)


@pytest.mark.slow  # an x264 search and a run in a subprocess: about 3 s
def test_the_targets_table_prints_labels_and_sequence_names_as_written(tmp_path):
    """A label or clip name with square brackets was read as rich markup in the targets
    table: label 'x264[/]' stopped the finished run with a MarkupError traceback, clip
    'take[red]2' was shown as 'take2'."""
    folder = tmp_path / "clips"
    folder.mkdir()
    write_y4m(real_clip(frames=3, size="64x64"), folder / "take[red]2.y4m")
    config = tmp_path / "run.toml"
    config.write_text(
        f'output = "{tmp_path / "run"}"\njobs = 1\nmetrics = ["psnr-y"]\n[dataset]\nsource = "{folder}"\n'
        '[[codec]]\nname = "x264"\nlabel = "x264[/]"\nkbps = [100]\ntolerance = "nearest"\n'
    )
    r = _gvcbench("run", "-c", config)
    said = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == 0 and "Traceback" not in said and "MarkupError" not in said, said
    assert "│ x264[/] │ take[red]2 │ 100 kbps │" in said, said


def _toml(tmp_path):
    path = tmp_path / "pre.toml"
    path.write_text(
        '[[codec]]\nname = "precomputed"\nqps = [1]\n'
        'params = { reconstructions = "r/{sequence}.yuv", sizes = "s.csv" }\n'
    )
    return path


@pytest.mark.slow
def test_a_renamed_rate_target_entry_takes_the_new_label(clips, tmp_path):
    """Probes and target rows of an entry renamed between runs carry the new label, so
    `bdrate --anchor NEW` finds them."""
    for label in ("alpha", "beta"):
        codec = {"name": "x264", "label": label, "kbps": [100, 200], "params": {"preset": "ultrafast"}}
        run_benchmark(_config(clips, tmp_path / "run", codec))
    with ResultStore(tmp_path / "run", create=False) as store:
        assert {r["codec"] for r in store.rows()} == {"beta"}
    import gvcbench

    # the search's own encodes are not "rows left out" of the view
    assert not any("no recorded run" in n for n in gvcbench.open_store(tmp_path / "run").notes)


@pytest.mark.slow
def test_a_stochastic_codec_searches_each_seed_and_says_which(clips, tmp_path):
    """Each seed of a stochastic codec has its own search; the messages and the run's
    target table named only codec and sequence, so two seeds' lines read as one twice."""
    from rich.console import Console

    from gvcbench import cli

    codec = _breakable_toy() | {"kbps": [50, 0.01], "seeds": [0, 3]}
    codec["params"] = codec["params"] | {
        "decode": [*codec["params"]["decode"], "{seed}"],  # a decoder that takes the seed
        "stochastic": True,
    }
    cfg = _config(clips, tmp_path / "run", codec, jobs=1)
    outcomes = run_benchmark(cfg).rate_targets
    assert sorted((o.sequence, o.seed, o.target, o.status) for o in outcomes if o.sequence == "bikes") == [
        ("bikes", 0, 0.01, "unreachable"),
        ("bikes", 0, 50, "ok"),
        ("bikes", 3, 0.01, "unreachable"),
        ("bikes", 3, 50, "ok"),
    ]
    assert {o.message.split(": ")[0] for o in outcomes if o.sequence == "bikes" and o.status != "ok"} == {
        "toy / bikes / seed 0",
        "toy / bikes / seed 3",
    }

    def printed(show, *args) -> str:
        shown = Console(width=200, record=True)
        original, cli.console = cli.console, shown
        try:
            show(*args)
        finally:
            cli.console = original
        return shown.export_text()

    lines = printed(cli._print_rate_targets, outcomes).splitlines()
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines]
    assert [c.strip() for c in lines[2].split("┃")[1:5]] == ["codec", "sequence", "seed", "target"], lines[2]
    assert ["toy", "bikes", "3", "50 kbps", "52.47 kbps", "+4.9 %", "QP 28", "ok"] in rows
    # broken: the run's closing line counts its search encodes as jobs; the failures below it
    # are target rows, and "8 job(s) failed" after "4 jobs: ... 4 failed" read as a miscount
    with _broken():
        assert run_benchmark(cfg, force=True).failed == 4
    with ResultStore(tmp_path / "run", create=False) as store:
        said = printed(cli._print_failures, select(store).rows, "run")
    assert "8 rate target(s) failed (5 not listed above)" in said, said
    assert "failed: toy / bigbuckbunny / 0.01kbps / seed 3: no rate for target 0.01 kbps: the search" in said, said
