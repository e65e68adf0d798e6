"""One comparison from many sources: several results stores, and published curves imported
as rows without reconstructions.

Sources are results stores (a run folder or a ``.sqlite`` file), tables (``.csv`` or
``.json`` records with columns codec, sequence, kbps and/or bpp, one column per metric,
and source) and CompressAI results files (``{"name": ..., "results": {"bpp": [...],
"psnr-rgb": [...], ...}}``). Imported rows carry ``imported = {"source", "file"}``; they
take part in BD tables and plots, which mark them, and never in anything that needs a
measurement of ours (visual comparisons, per-frame values, the regression gate).

A codec label must mean one thing: the same label with different codec settings in two
stores, or measured in a store and also imported, is an error naming both.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..bench.records import JobResult, SetValue
from ..bench.store import ResultStore, store_path
from ..errors import GvcbenchError
from .selection import select

RATE_COLUMNS = ("kbps", "bpp")
TABLE_KEYS = ("codec", "sequence", "source", "point", *RATE_COLUMNS)
# Direction of metrics a published table may hold that our registry does not name.
KNOWN_DIRECTIONS = {"psnr": False, "psnr-rgb": False, "ms-ssim-rgb": False, "ssim": False, "ms-ssim-db": False}


@dataclass
class Sources:
    rows: list[JobResult]
    set_values: list[SetValue]
    runs: list[dict]
    run_folder: Path | None  # of the first store: where relative reconstruction paths start
    origins: dict[str, list[str]] = field(default_factory=dict)  # codec label -> the sources it came from
    imported: dict[str, str] = field(default_factory=dict)  # imported codec label -> its source
    notes: list[str] = field(default_factory=list)  # what each store's row selection left out
    dataset_label: str = ""
    run_id: str | None = None  # the run ``load_sources`` was asked for, its whole id; None: each store's default

    @property
    def measured(self) -> list[JobResult]:
        return [r for r in self.rows if not r.imported]


def _is_table(path: str | Path) -> bool:
    """A table to import (by its name), not a results store."""
    return Path(path).suffix.lower() in (".csv", ".json")


def load_sources(paths: list[str | Path], run: str | None = None) -> Sources:
    """Every source's rows as one comparison; raises on labels that mean two things. From
    each store, the rows its readers show (reports/selection.py; ``run`` picks a run of a
    single store)."""
    if not paths:
        raise GvcbenchError("name at least one results store")
    stores = [p for p in paths if not (_is_table(p) and Path(p).is_file())]
    if run is not None and len(stores) > 1:
        raise GvcbenchError(f"--run picks a run of one store; {len(stores)} stores are named")
    out = Sources([], [], [], None)
    identities: dict[str, tuple[frozenset, str]] = {}  # label -> (its settings, the store they came from)
    keys: dict[str, str] = {}  # job key -> store
    names: dict[str, tuple[str, str]] = {}  # content hash -> (sequence name, the store it came from first)
    for path in paths:
        path = Path(path)
        if _is_table(path):
            if not path.is_file():
                raise GvcbenchError(f"no file {path}: a table to import (.csv or .json) must exist; check the path")
            _add_imported(out, path)
            continue
        where = str(store_path(path))
        with ResultStore(path, create=False) as store:
            chosen = select(store, run, source_store=where)
        rows, sets, runs = chosen.rows, chosen.set_values, chosen.runs
        out.run_id = chosen.run_id
        out.notes += [f"{where}: {n}" if len(stores) > 1 else n for n in chosen.notes]
        out.dataset_label = "; ".join(filter(None, [out.dataset_label, chosen.dataset_label]))
        folder = store_path(path).parent
        if out.run_folder is None:
            out.run_folder = folder
        for label, mine in sorted(_identities(rows).items()):
            if label in identities and identities[label][0] != mine:
                other_settings, other = identities[label]
                raise GvcbenchError(
                    f"codec label {label!r} means different settings in {other} ({_describe(other_settings)}) and "
                    f"in {where} ({_describe(mine)}); compare them under distinct labels (the 'label' of a "
                    f"[[codec]] entry) or leave one store out"
                )
            identities[label] = (mine, where)
            out.origins.setdefault(label, []).append(where)
        _one_name_per_clip(rows, where, names)
        for row in rows:  # each already says which store it came from (select's source_store)
            if row.job_key in keys:  # the same job (same codec settings, content, point) in both stores
                continue
            keys[row.job_key] = where
            out.rows.append(_absolute_paths(row, folder) if len(paths) > 1 else row)
        out.set_values += [replace(s, source_store=where) for s in sets]
        out.runs += runs
    _check_sequences(out.rows)
    clash = sorted(set(out.imported) & {r.codec for r in out.measured})
    if clash:
        label = clash[0]
        raise GvcbenchError(
            f"codec label {label!r} is measured in {', '.join(out.origins[label][:-1])} and also "
            f"imported from {out.imported[label]}; give the imported rows another codec name"
        )
    return out


def _identity(row: JobResult) -> tuple:
    return row.codec_name, row.codec_version, json.dumps(dict(row.codec_params), sort_keys=True)


def _identities(rows: list[JobResult]) -> dict[str, frozenset]:
    """codec label -> the settings (``_identity``) its rows have. Rows read from a store share
    their options' mapping, so each distinct one is written out once."""
    seen: dict[tuple, tuple] = {}  # (name, version, id of the options) -> identity
    out: dict[str, set] = {}
    for r in rows:
        key = (r.codec_name, r.codec_version, id(r.codec_params))
        ident = seen.get(key)
        if ident is None:
            ident = seen[key] = _identity(r)
        out.setdefault(r.codec, set()).add(ident)
    return {label: frozenset(idents) for label, idents in out.items()}


def _describe(settings: frozenset) -> str:
    return "; ".join(f"{name} {version}, params {params}" for name, version, params in sorted(settings, key=str))


def _absolute_paths(row: JobResult, folder: Path) -> JobResult:
    return row.evolve(
        reconstruction=str((folder / row.reconstruction).resolve()) if row.reconstruction else row.reconstruction,
        bitstream=str((folder / row.bitstream).resolve()) if row.bitstream else row.bitstream,
    )


def _one_name_per_clip(rows: list[JobResult], where: str, names: dict[str, tuple[str, str]]) -> None:
    """One content, one name across stores. The same job under two names (a clip a manifest
    names otherwise than the built-in set does) would count once, under the name of the store
    read first, and the other store's further rows of that clip under its own: the curves, and
    so the BD-rates, would change with the order the stores are named in."""
    for r in rows:
        if r.imported or not r.sequence_hash:
            continue
        first, other = names.setdefault(r.sequence_hash, (r.sequence, where))
        if first != r.sequence and other != where:
            raise GvcbenchError(
                f"one clip is sequence {first!r} in {other} and {r.sequence!r} in {where} (the same content); "
                f"the same clip must have the same name in every store compared: name it alike in "
                f"both datasets (a manifest's 'name'), or leave one store out"
            )


def _check_sequences(rows: list[JobResult]) -> None:
    """One sequence name, one content: clips cut differently in two stores cannot share a
    curve. (Inside one store a name may have several contents, e.g. runs on other frames;
    the readers choose among them.)"""
    hashes: dict[str, dict[str, set[str]]] = {}  # sequence -> store -> content hashes
    for r in rows:
        if not r.imported and r.sequence_hash:
            hashes.setdefault(r.sequence, {}).setdefault(r.source_store or "", set()).add(r.sequence_hash)
    for seq, per_store in hashes.items():
        stores = list(per_store)
        for i, a in enumerate(stores):
            for b in stores[i + 1 :]:
                if not per_store[a] & per_store[b]:
                    raise GvcbenchError(
                        f"sequence {seq!r} has different content in {a} and in {b} (other frames, "
                        f"crop or size); compare stores made on the same clips"
                    )


# -- imported curves ------------------------------------------------------------------------
def _add_imported(out: Sources, path: Path) -> None:
    rows = import_file(path)
    if not rows:
        out.notes.append(f"{path} holds no rows (an empty table): nothing was imported from it")
    for label in sorted({r.codec for r in rows}):
        source = next(r.imported["source"] for r in rows if r.codec == label and r.imported)
        if label in out.imported and out.imported[label] != f"{source} ({path})":
            raise GvcbenchError(
                f"codec label {label!r} is imported twice: from {out.imported[label]} and from "
                f"{source} ({path}); give one of them another codec name"
            )
        out.imported[label] = f"{source} ({path})"
        out.origins.setdefault(label, []).append(str(path))
    out.rows += rows


def import_file(path: Path) -> list[JobResult]:
    """Rows from a CSV/JSON table or a CompressAI results JSON."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise GvcbenchError(f"cannot read {path}: {exc}") from None
    if path.suffix.lower() == ".csv":
        return _table_rows(list(csv.DictReader(text.splitlines())), path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GvcbenchError(f"{path} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("results"), dict):
        return _compressai_rows(data, path)
    records = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise GvcbenchError(
            f"{path}: expected a list of records (codec, sequence, kbps/bpp, metrics, source), "
            f"an object with 'rows', or CompressAI's layout with 'results'"
        )
    return _table_rows(records, path)


def _number(value, what: str, path: Path) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GvcbenchError(f"{path}: {what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise GvcbenchError(f"{path}: {what} is not finite ({value!r})")
    return number


def _table_rows(records: list, path: Path) -> list[JobResult]:
    points: dict[tuple[str, str], int] = {}
    rows = []
    for i, rec in enumerate(records, 1):
        if not isinstance(rec, dict):
            raise GvcbenchError(f"{path}: record {i} is not a table of columns")
        missing = [k for k in ("codec", "sequence", "source") if not str(rec.get(k) or "").strip()]
        if missing:
            raise GvcbenchError(
                f"{path}: record {i} lacks {', '.join(missing)}; every imported row needs codec, "
                f"sequence, source (where the numbers were published) and kbps or bpp"
            )
        rates = {k: _number(rec.get(k), f"record {i} {k}", path) for k in RATE_COLUMNS}
        if all(v is None for v in rates.values()):
            raise GvcbenchError(f"{path}: record {i} has neither kbps nor bpp")
        metrics = {
            k: _number(v, f"record {i} {k}", path)
            for k, v in rec.items()
            if k not in TABLE_KEYS and v not in (None, "")
        }
        if not metrics:
            raise GvcbenchError(f"{path}: record {i} has no metric columns")
        codec, seq = str(rec["codec"]).strip(), str(rec["sequence"]).strip()
        n = points[(codec, seq)] = points.get((codec, seq), 0) + 1
        rows.append(
            _row(
                codec, seq, str(rec.get("point") or f"imported{n}"), rates, metrics, str(rec["source"]).strip(), path, i
            )
        )
    return _renumber(rows)


def _compressai_rows(data: dict, path: Path) -> list[JobResult]:
    """CompressAI's results JSON: one codec, curves averaged over a dataset (``sequence``,
    ``dataset`` or the file name names it), rate in bpp."""
    results = data["results"]
    label = str(data.get("name") or path.stem)
    seq = str(data.get("sequence") or data.get("dataset") or path.stem)
    source = str(data.get("source") or data.get("description") or f"CompressAI results {path.name}")
    lengths = {k: len(v) for k, v in results.items() if isinstance(v, list)}
    if "bpp" not in lengths:
        raise GvcbenchError(f"{path}: CompressAI results need a 'bpp' list")
    n = lengths["bpp"]
    skip = {"bpp", "encoding_time", "decoding_time", "kbps"}
    metrics = [k for k, size in lengths.items() if k not in skip]
    bad = [k for k in metrics if lengths[k] != n] + (["kbps"] if "kbps" in lengths and lengths["kbps"] != n else [])
    if bad:
        raise GvcbenchError(f"{path}: results lists {', '.join(bad)} differ in length from 'bpp' ({n})")
    rows = []
    for i in range(n):
        rates = {
            "bpp": _number(results["bpp"][i], f"bpp[{i}]", path),
            "kbps": _number(results["kbps"][i], f"kbps[{i}]", path) if "kbps" in results else None,
        }
        values = {k: _number(results[k][i], f"{k}[{i}]", path) for k in metrics}
        rows.append(_row(label, seq, f"imported{i + 1}", rates, values, source, path, i + 1))
    return _renumber(rows)


def _spec(metric: str, path: Path) -> dict:
    from ..metrics import METRICS

    try:
        return METRICS.get(metric).spec.to_dict()
    except GvcbenchError:
        pass
    if metric in KNOWN_DIRECTIONS:
        return {"lower_better": KNOWN_DIRECTIONS[metric]}
    raise GvcbenchError(
        f"{path}: metric {metric!r} is neither one of gvcbench's metrics (`gvcbench` lists them) "
        f"nor one of {', '.join(KNOWN_DIRECTIONS)}; rename the column to the metric it is"
    )


def _row(codec, seq, point, rates, metrics, source, path: Path, index: int) -> JobResult:
    return JobResult(
        job_key=f"imported:{path}:{index}",
        codec=codec,
        codec_name="imported",
        sequence=seq,
        point=point,
        status="done",
        kbps=rates.get("kbps"),
        bpp=rates.get("bpp"),
        metrics=metrics,
        provenance={m: {"spec": _spec(m, path), "imported": source} for m in metrics},
        imported={"source": source, "file": str(path)},
        source_store=str(path),
    )


def _rate(r: JobResult) -> float:
    """An imported row's rate: kbps where it has one, bpp otherwise (it has one of them)."""
    return r.kbps if r.kbps is not None else r.bpp or 0.0


def _renumber(rows: list[JobResult]) -> list[JobResult]:
    """Generated point labels in rising rate per codec and sequence, so curves average point-wise."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault((r.codec, r.sequence), []).append(i)
    out = list(rows)
    for members in groups.values():
        if all(rows[i].point.startswith("imported") for i in members):
            members.sort(key=lambda i: _rate(rows[i]))
            for n, i in enumerate(members, 1):
                out[i] = rows[i].evolve(point=f"imported{n}")
    return out
