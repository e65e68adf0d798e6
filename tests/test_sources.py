"""Many stores as one comparison, and imported (published) curves in BD tables and plots."""

import json
import math

import pytest
from typer.testing import CliRunner

from gvcbench.bench.store import ResultStore
from gvcbench.cli import app
from gvcbench.errors import GvcbenchError
from gvcbench.reports.curves import bd_table
from gvcbench.reports.sources import load_sources


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Tables printed 200 columns wide, so that no cell wraps inside a number."""
    from gvcbench import cli

    monkeypatch.setattr(cli.console, "width", 200)


SPEC = {
    "ms-ssim": {"lower_better": False, "granularity": "frame"},
    "psnr-y": {"lower_better": False, "granularity": "frame"},
}


def _rows(codec, seqs=("s1", "s2"), scale=1.0, params=None, seq_hash="h", frames=(1, 2, 3, 4)):
    """Quality log2(kbps / scale) at kbps 2, 4, 8, 16 (x scale): a codec `scale` times the anchor's bits."""
    rows = []
    for seq in seqs:
        for k in frames:
            kbps = scale * 2**k
            rows.append(
                {
                    "job_key": f"{codec}-{seq}-{k}-{json.dumps(params)}",
                    "run_id": "r",
                    "status": "done",
                    "codec": codec,
                    "codec_name": codec.split("@")[0],
                    "codec_version": "1.0",
                    "codec_params": params or {},
                    "sequence": seq,
                    "sequence_hash": f"{seq}-{seq_hash}",
                    "point": f"qp{40 - k}",
                    "qp": 40 - k,
                    "kbps": kbps,
                    "bpp": kbps / 1000,
                    "metrics": {"psnr-y": 30 + k, "ms-ssim": 0.9 + k / 100},
                    "provenance": {m: {"spec": s} for m, s in SPEC.items()},
                }
            )
    return rows


def _store(path, rows):
    with ResultStore(path) as store:
        for row in rows:
            store.put(row)
    return path


def test_two_stores_are_one_comparison(tmp_path):
    a = _store(tmp_path / "a", _rows("anchor"))
    b = _store(tmp_path / "b", _rows("half", scale=0.5) + _rows("anchor"))  # the anchor's jobs again
    sources = load_sources([a, b])
    assert len(sources.rows) == 16  # the anchor's 8 jobs are the same jobs, counted once
    e = bd_table(sources.rows, "anchor", ["psnr-y"])[0]
    assert e.codec == "half" and e.sequences == 2 and e.avg_curve == pytest.approx(-50.0)
    assert sources.origins["anchor"] == [str(a / "results.sqlite"), str(b / "results.sqlite")]
    out = CliRunner().invoke(app, ["bdrate", str(a), str(b), "--anchor", "anchor", "--metrics", "psnr-y"])
    assert out.exit_code == 0 and "-50.00%" in out.output


def test_a_label_with_two_meanings_is_an_error_naming_both_stores(tmp_path):
    a = _store(tmp_path / "a", _rows("x265"))
    b = _store(tmp_path / "b", _rows("x265", params={"preset": "ultrafast"}))
    with pytest.raises(GvcbenchError) as exc:
        load_sources([a, b])
    text = str(exc.value)
    assert "codec label 'x265' means different settings" in text
    assert str(a / "results.sqlite") in text and str(b / "results.sqlite") in text and "ultrafast" in text
    out = CliRunner().invoke(app, ["bdrate", str(a), str(b), "--anchor", "x265"])
    assert out.exit_code == 2 and "means different settings" in out.output
    c = _store(tmp_path / "c", _rows("other", seq_hash="cut-differently"))
    with pytest.raises(GvcbenchError, match="sequence 's1' has different content"):
        load_sources([a, c])


def _published_table(tmp_path):
    """A paper's table of glc-video in kbps (no bpp), two sequences, rates out of order."""
    table = tmp_path / "published.csv"
    lines = ["codec,sequence,kbps,psnr-y,source"]
    for seq in ("s1", "s2"):
        lines += [f"glc-video,{seq},{0.25 * 2**k},{30 + k},GLC-video paper Table 2" for k in (4, 1, 3, 2)]
    table.write_text("\n".join(lines) + "\n")
    return table


def test_imported_table_appears_in_bd_tables_marked_with_its_source(tmp_path, monkeypatch):
    from gvcbench import cli

    monkeypatch.setattr(cli.console, "width", 200)
    a = _store(tmp_path / "a", _rows("vvenc-ldb"))
    table = _published_table(tmp_path)
    sources = load_sources([a, table])
    imported = [r for r in sources.rows if r.get("imported")]
    assert len(imported) == 8 and all(r["imported"]["source"] == "GLC-video paper Table 2" for r in imported)
    assert not any(r.get("imported") for r in sources.measured)
    e = bd_table(sources.rows, "vvenc-ldb", ["psnr-y"])[0]
    assert e.codec == "glc-video" and e.avg_curve == pytest.approx(-75.0)
    assert e.imported == "GLC-video paper Table 2" and e.anchor_imported is None
    out = CliRunner().invoke(app, ["bdrate", str(a), str(table), "--anchor", "vvenc-ldb"])
    assert out.exit_code == 0 and "glc-video (imported)" in out.output
    assert (
        f"imported (published numbers, not measured here): glc-video: GLC-video paper Table 2 ({table})" in out.output
    )
    # An imported anchor is marked too.
    out = CliRunner().invoke(app, ["bdrate", str(a), str(table), "--anchor", "glc-video", "--metrics", "psnr-y"])
    assert out.exit_code == 0 and "against glc-video (imported)" in out.output and "+300.00%" in out.output


def test_compressai_results_json_in_a_bd_table_on_bpp(tmp_path):
    a = _store(tmp_path / "a", _rows("vvenc-ldb", seqs=("kodak",)))
    published = tmp_path / "bmshj2018-factorized.json"
    published.write_text(
        json.dumps(
            {
                "name": "bmshj2018-factorized",
                "description": "Inference (ans)",
                "dataset": "kodak",
                "results": {
                    "bpp": [0.001 * 2**k / 2 for k in (1, 2, 3, 4)],
                    "ms-ssim": [0.9 + k / 100 for k in (1, 2, 3, 4)],
                    "encoding_time": [0.1] * 4,
                    "decoding_time": [0.1] * 4,
                },
            }
        )
    )
    sources = load_sources([a, published])
    e = bd_table(sources.rows, "vvenc-ldb", ["ms-ssim"], rate="bpp")[0]
    assert e.codec == "bmshj2018-factorized" and e.imported == "Inference (ans)"
    assert e.avg_curve == pytest.approx(-50.0)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30.0]}}))
    with pytest.raises(GvcbenchError, match="psnr-rgb differ in length from 'bpp'"):
        load_sources([a, bad])


@pytest.mark.parametrize(
    "name, table, message",
    [
        (
            "clash",
            "codec,sequence,kbps,psnr-y,source\nvvenc-ldb,s1,3,31,someone's table\n",
            "'vvenc-ldb' is measured in .* and also imported from someone's table",
        ),
        ("nosource", "codec,sequence,kbps,psnr-y\nother,s1,3,31\n", "record 1 lacks source"),
        ("unknown", "codec,sequence,kbps,wow,source\nother,s1,3,31,t\n", "metric 'wow' is neither"),
        ("nan", "codec,sequence,kbps,psnr-y,source\nother,s1,abc,31,t\n", "kbps must be a number"),
    ],
)
def test_bad_imports_are_clear_errors(tmp_path, name, table, message):
    a = _store(tmp_path / "a", _rows("vvenc-ldb"))
    imported = tmp_path / f"{name}.csv"
    imported.write_text(table)
    with pytest.raises(GvcbenchError, match=message):
        load_sources([a, imported])


@pytest.mark.parametrize("content", ["", "codec,sequence,kbps,psnr-y,source\n", "[]"])
def test_an_empty_import_is_noted_and_a_missing_one_is_not_called_a_store(tmp_path, content):
    a = _store(tmp_path / "a", _rows("vvenc-ldb") + _rows("half", scale=0.5))
    empty = tmp_path / ("empty.json" if content == "[]" else "empty.csv")
    empty.write_text(content)
    assert f"{empty} holds no rows (an empty table): nothing was imported from it" in load_sources([a, empty]).notes
    r = CliRunner().invoke(app, ["bdrate", str(a), str(empty), "--anchor", "vvenc-ldb"])
    assert r.exit_code == 0 and "holds no rows" in " ".join(r.output.split()), r.output
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(GvcbenchError, match="no file .*nowhere.csv: a table to import"):
        load_sources([a, missing])


def test_report_of_a_store_and_an_import(tmp_path):
    from gvcbench.reports.report import write_report

    a = _store(tmp_path / "a", _rows("vvenc-ldb"))
    table = tmp_path / "published.json"
    table.write_text(
        json.dumps(
            [
                {"codec": "dcvc", "sequence": s, "kbps": 2**k, "psnr-y": 30.5 + k, "source": "DCVC-DC release"}
                for s in ("s1", "s2")
                for k in (1, 2, 3, 4)
            ]
        )
    )
    files = write_report([a, table], "vvenc-ldb", tmp_path / "rep", metrics=["psnr-y"], max_visual=0)
    page = files.html.read_text()
    assert "imported: DCVC-DC release" in page and "Imported curves" in page
    assert "dcvc" not in files.csv.read_text()  # measured rows only
    payload = json.loads(files.json.read_text())
    assert payload["imported"]["dcvc"].startswith("DCVC-DC release")
    bd = next(e for e in payload["bd"] if e["codec"] == "dcvc" and e["method"] == "pchip")
    assert bd["imported"] == "DCVC-DC release" and bd["bd_metric"] == pytest.approx(0.5)
    assert math.isfinite(bd["avg_curve"])


def test_bd_grouped_by_a_manifest_field(tmp_path, monkeypatch):
    from gvcbench import cli

    monkeypatch.setattr(cli.console, "width", 200)
    rows = (
        _rows("anchor", seqs=("s1", "s2", "s3"))
        + _rows("half", seqs=("s1", "s2"), scale=0.5)
        + _rows("half", seqs=("s3",), scale=0.25)
    )
    for r in rows:
        r["sequence_spec"] = {
            "path": f"{r['sequence']}.y4m",
            "meta": {"category": "fire" if r["sequence"] != "s3" else "water"},
        }
    a = _store(tmp_path / "a", rows)
    out = CliRunner().invoke(
        app, ["bdrate", str(a), "--anchor", "anchor", "--metrics", "psnr-y", "--group-by", "category"]
    )
    assert out.exit_code == 0, out.output
    fire, water = out.output.split("category = water")
    assert "category = fire" in fire and "-50.00%" in fire and "-75.00%" in water
    bad = CliRunner().invoke(app, ["bdrate", str(a), "--anchor", "anchor", "--group-by", "class"])
    assert bad.exit_code == 2 and "have no 'class'; their manifest fields: category" in " ".join(bad.output.split())


def test_results_per_frame_export(tmp_path):
    rows = _rows("anchor", seqs=("s1",))
    for r in rows:
        r.update(frames=3, frame_metrics={"psnr-y": [30.0, 31.0, 32.0], "flow-epe": [0.5, 0.25]})
    probe = dict(rows[0], job_key="probe", point="search-qp1", rate_search={"role": "probe"})
    a = _store(tmp_path / "a", rows + [probe])
    out = tmp_path / "frames.csv"
    result = CliRunner().invoke(app, ["results", str(a), "--per-frame", "-f", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    import pandas as pd

    df = pd.read_csv(out)
    assert len(df) == 4 * 3 and list(df["frame"][:3]) == [0, 1, 2]
    assert list(df["psnr-y"][:3]) == [30.0, 31.0, 32.0] and math.isnan(df["flow-epe"][2])
    assert "search-qp1" not in set(df["point"])


def test_one_store_may_hold_two_cuts_of_a_sequence(tmp_path):
    a = _store(tmp_path / "a", _rows("anchor") + _rows("anchor", seq_hash="8frames", frames=(5,)))
    b = _store(tmp_path / "b", _rows("half", scale=0.5))
    assert len(load_sources([a, b]).rows) == 18


def test_report_grouped_by_a_manifest_field(tmp_path):
    from gvcbench.reports.report import write_report

    rows = (
        _rows("anchor", seqs=("s1", "s2"))
        + _rows("half", seqs=("s1",), scale=0.5)
        + _rows("half", seqs=("s2",), scale=0.25)
    )
    for r in rows:
        r["sequence_spec"] = {
            "path": f"{r['sequence']}.y4m",
            "meta": {"category": {"s1": "fire", "s2": "water"}[r["sequence"]]},
        }
    a = _store(tmp_path / "a", rows)
    files = write_report(a, "anchor", tmp_path / "rep", metrics=["psnr-y"], max_visual=0, group_by="category")
    by_class = json.loads(files.json.read_text())["bd_by_class"]
    assert by_class["field"] == "category"
    assert by_class["classes"]["fire"][0]["avg_curve"] == pytest.approx(-50.0)
    assert by_class["classes"]["water"][0]["avg_curve"] == pytest.approx(-75.0)
    assert "<h3>category = water</h3>" in files.html.read_text()
    markdown = files.markdown.read_text()  # report.md has the class tables too (it had none)
    fire, water = markdown.split("## BD-rate against anchor, category = water")
    assert "## BD-rate against anchor, category = fire" in fire and "-75.00%" in water.split("\n## ")[0]
    import pandas as pd

    table = pd.read_csv(files.bd_by_class_csv)  # the class tables as CSV too, the class first
    assert files.bd_by_class_csv.name == "bdrate_by_class.csv" and list(table.columns)[:3] == [
        "category",
        "codec",
        "metric",
    ]
    assert dict(zip(table["category"], table["avg_curve"])) == pytest.approx({"fire": -50.0, "water": -75.0})
    again = write_report(a, "anchor", tmp_path / "rep", metrics=["psnr-y"], max_visual=0)
    assert again.bd_by_class_csv is None and not (tmp_path / "rep" / "bdrate_by_class.csv").exists()


def test_a_report_with_a_codec_at_zero_rate_is_written(tmp_path):
    """An external codec that writes an empty bitstream (its decoder reads a side file) has
    0 kbps: its BD-rates are n/a with a note, and the report was a ValueError (math domain
    error) in the quality-over-time figure."""
    from gvcbench.reports.report import write_report

    rows = _rows("anchor") + _rows("empty", scale=0.0)
    for r in rows:
        r.update(frames=2, frame_metrics={"psnr-y": [r["metrics"]["psnr-y"]] * 2})
    a = _store(tmp_path / "a", rows)
    files = write_report(a, "anchor", tmp_path / "rep", metrics=["psnr-y"], sequences=["s1"], resamples=0)
    assert "rates must be positive" in files.markdown.read_text()
    assert (tmp_path / "rep" / "figures" / "over_time_psnr-y.png").is_file()


def test_a_report_against_an_anchor_at_zero_rate_is_written(tmp_path):
    """The anchor's median rate is where pictures are shown; at 0 kbps (an empty bitstream)
    picking each codec's closest rate point divided by zero and the report stopped."""
    from gvcbench.datasets import SequenceSpec, load_sequence
    from gvcbench.datasets.y4m import write_y4m
    from gvcbench.reports.report import write_report

    from .conftest import random_sequence

    clip = write_y4m(random_sequence(frames=2, width=16, height=16, name="s1"), tmp_path / "s1.y4m")
    content = load_sequence(SequenceSpec(path=str(clip))).content_hash()
    rows = _rows("empty", seqs=("s1",), scale=0.0) + _rows("other", seqs=("s1",))
    for r in rows:
        r.update(sequence_hash=content, sequence_spec={"path": str(clip)})
    a = _store(tmp_path / "a", rows)
    files = write_report(a, "empty", tmp_path / "rep", metrics=["psnr-y"], sequences=["s1"], resamples=0)
    assert "rates must be positive" in files.markdown.read_text()


def test_group_by_names_the_fields_of_the_sequences_that_lack_it(tmp_path):
    """One clip of the manifest without `category`: the error said "carphone have no
    'category'; their manifest fields: category", the fields of the other clips, as if
    carphone had the field it lacks."""
    rows = _rows("anchor", seqs=("s1", "s2", "s3")) + _rows("half", seqs=("s1", "s2", "s3"), scale=0.5)
    for r in rows:
        meta = {"category": "fire"} if r["sequence"] != "s3" else {}
        r["sequence_spec"] = {"path": f"{r['sequence']}.y4m", "meta": meta}
    a = _store(tmp_path / "a", rows)
    bad = CliRunner().invoke(app, ["bdrate", str(a), "--anchor", "anchor", "--group-by", "category"])
    said = " ".join(bad.output.split())
    assert bad.exit_code == 2, bad.output
    assert "sequence(s) s3 have no 'category'; no manifest fields were stored with them, while s1, s2 have one" in said
    assert "their manifest fields" not in said


def test_results_output_without_format_takes_the_files_suffix(tmp_path):
    """`gvcbench results STORE -o sd.csv` (the README's line without `-f csv`) wrote the
    terminal's box-drawn table into sd.csv, which no CSV reader reads; .json likewise."""
    import pandas as pd

    rows = [dict(r, encode_seconds=0.1, decode_seconds=0.1) for r in _rows("anchor", seqs=("s1",))]
    a = _store(tmp_path / "a", rows)
    for name, read in (("r.csv", pd.read_csv), ("r.json", pd.read_json), ("r.parquet", pd.read_parquet)):
        result = CliRunner().invoke(app, ["results", str(a), "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        frame = read(tmp_path / name)
        assert list(frame["codec"]) == ["anchor"] * len(rows)
    result = CliRunner().invoke(app, ["results", str(a), "--per-frame", "-o", str(tmp_path / "frames.csv")])
    assert result.exit_code == 0, result.output
    # Another suffix, or --format table, is the table as before.
    for args in (["-o", str(tmp_path / "t.txt")], ["-f", "table", "-o", str(tmp_path / "t.csv")]):
        result = CliRunner().invoke(app, ["results", str(a), *args])
        assert result.exit_code == 0 and "wrote the table to" in result.output, result.output
    assert "mean over sequences" in (tmp_path / "t.csv").read_text()


def test_the_command_that_lists_every_error_can_be_pasted_for_a_folder_with_a_space(tmp_path):
    """`gvcbench results 'runs/s2 ü'` printed `gvcbench results runs/s2 ü -f csv` to list every
    error: pasted, that names two stores. The path is quoted as the run's `Next:` line quotes it."""
    import shlex

    rows = [dict(r, encode_seconds=0.1, decode_seconds=0.1) for r in _rows("anchor", seqs=("s1",))]
    rows[0].update(status="failed", error="boom")
    a = _store(tmp_path / "my runs", rows)
    result = CliRunner().invoke(app, ["results", str(a)])
    assert result.exit_code == 0, result.output
    assert f"every error in full: `gvcbench results {shlex.quote(str(a))} -f csv`" in " ".join(result.output.split())


def test_one_clip_under_two_names_in_two_stores_is_an_error_not_an_order_dependent_merge(tmp_path):
    """The same clip run as 'bigbuckbunny' (built-in set) in one store and as 'bunny clip' (a
    manifest's name) in another: the jobs both hold counted once under the first store's
    name, the rest under the other, so the curves and the BD-rates changed with the order the
    stores were named in (x265 vs x264: -4.27 % or -4.37 % on two real runs)."""
    from gvcbench.reports.sources import load_sources

    rows = _rows("anchor", seqs=("s1", "s2")) + _rows("half", seqs=("s1", "s2"), scale=0.5)
    a = _store(tmp_path / "a", rows)
    renamed = [dict(r, sequence="clip one") if r["sequence"] == "s1" else dict(r) for r in rows]
    extra = _rows("half", seqs=("s1",), scale=0.5, frames=(5,))
    renamed += [dict(r, sequence="clip one") for r in extra]
    b = _store(tmp_path / "b", renamed)
    for order in ([a, b], [b, a]):
        with pytest.raises(GvcbenchError, match="one clip is sequence '(s1|clip one)' in .* and '(s1|clip one)' in"):
            load_sources(order)
    # Names alike: the stores read as one, whatever the order.
    c = _store(tmp_path / "c", [dict(r) for r in rows] + extra)
    assert len(load_sources([a, c]).rows) == len(load_sources([c, a]).rows) == len(rows) + 1


def test_an_imported_codec_without_the_rate_asked_for_says_so(tmp_path):
    """A table published in kbps read with `--rate bpp`: its notes said only "NaN or
    infinite values in the curve ([(np.float64(nan), np.float64(42.0)), ...])", as if the
    numbers were broken, instead of that the table has no bpp."""
    a = _store(tmp_path / "a", _rows("vvenc-ldb"))
    table = _published_table(tmp_path)
    rows = load_sources([a, table]).rows
    for anchor in ("vvenc-ldb", "glc-video"):
        (e,) = bd_table(rows, anchor, ["psnr-y"], rate="bpp")
        assert e.avg_curve is None
        assert e.notes[0] == (
            "glc-video: imported (from GLC-video paper Table 2) without bpp, so its curve has no rate on this "
            "axis; compare on --rate kbps, or import its bpp too"
        )
        assert not any("np.float64" in n for n in e.notes)
    (e,) = bd_table(rows, "vvenc-ldb", ["psnr-y"], rate="kbps")  # on its own axis, no such note
    assert e.avg_curve == pytest.approx(-75.0) and not any("imported" in n for n in e.notes)


def test_a_codec_label_with_a_bar_keeps_report_md_tables_in_their_columns(tmp_path):
    """A label 'x265 | slow' split its row of report.md's BD table: the axis read 'slow', the
    method 'psnr-y', the BD-rate 'pchip', and every number sat a column to the right."""
    import re

    from gvcbench.reports.report import write_report

    rows = _rows("anchor", seqs=tuple(f"s{i}" for i in range(5)))
    rows += _rows("x265 | slow", seqs=tuple(f"s{i}" for i in range(5)), scale=0.5)
    a = _store(tmp_path / "a", rows)
    files = write_report([a], "anchor", tmp_path / "rep", metrics=["psnr-y"], max_visual=0, resamples=20)
    md = files.markdown.read_text()
    table_rows = [line for line in md.splitlines() if line.startswith("| x265")]
    assert len(table_rows) == 4  # the BD table and the intervals table, pchip and cubic
    for line in table_rows:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert cells[0] == "x265 \\| slow" and cells[1] == "psnr-y" and cells[2] in ("pchip", "cubic")
        assert cells[3] == "-50.00%"


def test_an_anchor_whose_every_job_failed_is_named_with_the_first_error(tmp_path):
    """`bdrate --anchor broken` (a codec whose every job failed) printed a table of n/a with
    exit 0, and `report` wrote such a report without a word in the terminal."""
    from gvcbench.reports.report import write_report

    rows = _rows("good", seqs=("s1", "s2")) + [
        dict(r, status="failed", error="mycodec exited with status 1", metrics={}) for r in _rows("broken")
    ]
    a = _store(tmp_path / "a", rows)
    says = "anchor codec 'broken' has no finished job among the rows shown: all 8 failed (e.g. s1 / qp36: mycodec"
    out = CliRunner().invoke(app, ["bdrate", str(a), "--anchor", "broken"])
    assert out.exit_code == 2 and says in " ".join(out.output.split()), out.output
    with pytest.raises(GvcbenchError, match=r"anchor codec 'broken' has no finished job"):
        write_report([a], "broken", tmp_path / "rep", max_visual=0)
    # The failed codec beside a working anchor stays a row of n/a with its reason.
    (e,) = bd_table(load_sources([a]).rows, "good", ["psnr-y"])
    assert e.codec == "broken" and e.avg_curve is None and any("8 job(s) failed" in n for n in e.notes)


def test_results_format_that_disagrees_with_the_output_suffix_is_refused(tmp_path):
    """`gvcbench results STORE -f csv -o x.parquet` wrote CSV into a file named .parquet; now
    it is one line naming both and how to fix it, and writes nothing. Where they agree, or
    the suffix names no format, -f decides as before."""
    rows = [dict(r, encode_seconds=0.1, decode_seconds=0.1) for r in _rows("anchor", seqs=("s1",))]
    a = _store(tmp_path / "a", rows)
    for fmt, name, named, fix in (
        ("csv", "x.parquet", "parquet", "x.csv"),
        ("json", "x.CSV", "csv", "x.json"),
        ("parquet", "x.json", "json", "x.parquet"),
    ):
        result = CliRunner().invoke(app, ["results", str(a), "-f", fmt, "-o", str(tmp_path / name)])
        assert result.exit_code == 2, result.output
        said = " ".join(result.output.split())
        assert said.startswith(f"error: --format {fmt} disagrees with --output {tmp_path / name}"), said
        assert f"suffix means {named}; drop --format to write {named}, or name the file {fix}" in said, said
        assert not (tmp_path / name).exists()
    for args, name in ((["-f", "csv"], "x.csv"), (["-f", "csv"], "x.txt"), (["-f", "json"], "x.JSON")):
        result = CliRunner().invoke(app, ["results", str(a), *args, "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).read_text().startswith("[" if "json" in args else "job_key,"), name


def test_results_to_dash_writes_stdout_and_format_names_take_any_case(tmp_path, monkeypatch):
    """`results -o -` wrote a file named '-' (most tools read it as stdout), and `-f CSV`
    was an unknown format."""
    rows = [dict(r, encode_seconds=0.1, decode_seconds=0.1) for r in _rows("anchor", seqs=("s1",))]
    a = _store(tmp_path / "a", rows)
    monkeypatch.chdir(tmp_path)
    for args in (["-f", "csv", "-o", "-"], ["-f", "CSV"], ["-o", "-", "-f", "Json"]):
        result = CliRunner().invoke(app, ["results", str(a), *args])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("[" if "Json" in args else "job_key,"), result.output[:200]
    assert not (tmp_path / "-").exists()
    result = CliRunner().invoke(app, ["results", str(a), "-f", "parquet", "-o", "-"])
    assert result.exit_code == 2 and "Parquet is binary: give --output FILE" in result.output


def test_common_with_an_imported_codec_on_fewer_sequences_says_which_sequences_each_curve_averages(tmp_path):
    """--common with a published table of 2 of the 6 sequences: each pair averages its own
    shared sequences and the curves that limit it average others, yet the caption of
    `bdrate`, report.html and report.md said 'one interval shared by every codec'."""
    from gvcbench.reports.report import write_report

    seqs = tuple(f"s{i}" for i in range(1, 7))
    a = _store(tmp_path / "a", _rows("vvenc-ldb", seqs=seqs) + _rows("half", seqs=seqs, scale=0.5))
    table = _published_table(tmp_path)  # glc-video on s1 and s2
    rows = load_sources([a, table]).rows
    entries = {e.codec: e for e in bd_table(rows, "vvenc-ldb", ["psnr-y"], common=True)}
    says = "--common: the codecs were not all measured on the same sequences, so the interval of this pair's"
    half, glc = entries["half"], entries["glc-video"]
    assert half.avg_curve == pytest.approx(-50.0) and glc.avg_curve == pytest.approx(-75.0)
    assert any(
        says in n and "(over its 6 shared sequence(s))" in n and "glc-video's over 2 (s1, s2)" in n for n in half.notes
    )
    assert any(
        says in n and "(over its 2 shared sequence(s))" in n and "half's over 6 (s1, s2, s3 and 3 more)" in n
        for n in glc.notes
    )
    shared_by_all = "one interval shared by every codec"
    each_over_its_own = "every codec's averaged curve, each over the sequences it shares with the anchor"
    assert half.scope.startswith(each_over_its_own) and shared_by_all not in half.scope
    out = CliRunner().invoke(
        app, ["bdrate", str(a), str(table), "--anchor", "vvenc-ldb", "--common", "--resamples", "0"]
    )
    said = " ".join(out.output.split())
    # the published table has no ms-ssim: the measured codecs share one set there
    assert out.exit_code == 0 and f"intervals: ms-ssim: {shared_by_all}; psnr-y: {each_over_its_own}" in said, said
    files = write_report(
        [a, table], "vvenc-ldb", tmp_path / "rep", metrics=["psnr-y"], common=True, max_visual=0, resamples=0
    )
    md = " ".join(files.markdown.read_text().split())
    assert f"Intervals: {each_over_its_own}" in md and shared_by_all not in md
    # Every codec on the same sequences: one interval, as before.
    alone = bd_table([r for r in rows if r.codec != "glc-video"], "vvenc-ldb", ["psnr-y"], common=True)[0]
    assert alone.scope == shared_by_all and not any(says in n for n in alone.notes)
