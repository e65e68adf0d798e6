"""Datasets as folders or manifest files (TOML or YAML) listing sequences."""

from __future__ import annotations

import difflib
from pathlib import Path

import tomllib

from ..errors import DatasetError
from .container import CONTAINER_SUFFIXES
from .spec import SequenceSpec, SyntheticSource, file_property_problem
from .transform import protocol_problem

SEQUENCE_SUFFIXES = (".yuv", ".y4m") + CONTAINER_SUFFIXES


def reads_as_sequence(path: Path) -> bool:
    """A folder (of PNG frames) or a file whose suffix the loader reads: it goes by the suffix."""
    return path.is_dir() or path.suffix.lower() in SEQUENCE_SUFFIXES


# What a manifest says about a file, in [set] (for every clip) or in a [[clip]] entry.
_FILE_KEYS = {"name", "width", "height", "fps", "bit_depth", "matrix", "range", "sha256"}
# How to cut the tested clip from it: only in a [protocol] table or a clip's own
# `protocol` sub-table, so descriptive keys such as a source `crop` never act on the file.
_PROTOCOL_KEYS = {"start", "frames", "crop", "size"}
_TABLES = ("set", "protocol", "clip", "sequence", "sequences")
# Other spellings people use for keys that change how a file is read.
_SYNONYMS = {
    "framerate": "fps",
    "frame_rate": "fps",
    "color_range": "range",
    "colour_range": "range",
    "color_matrix": "matrix",
    "colour_matrix": "matrix",
    "bitdepth": "bit_depth",
    "depth": "bit_depth",
}
# A key this close to one gvcbench reads is taken for a misspelling of it (an error), not for
# metadata: 'sha265', 'widht', 'frmaes' are caught, 'start_frame' or 'source_frames' are kept.
_CLOSENESS = 0.8


def _load_mapping(path: Path) -> dict:
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(path.read_text())
        import yaml

        data = yaml.safe_load(path.read_text())
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise DatasetError(f"{path}: not a valid manifest ({exc})") from None
    except OSError as exc:
        raise DatasetError(f"cannot read manifest {path}: {exc}") from None
    except Exception as exc:  # yaml.YAMLError
        raise DatasetError(f"{path}: not a valid manifest ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: a manifest must be a mapping with a list of sequences")
    return data


def misspelt_key(key: str, known) -> str | None:
    """The known key that ``key`` looks like a misspelling of (None: it is free metadata)."""
    if key in known:
        return None
    folded = key.lower().replace("-", "_")
    if folded in known:
        return folded
    if _SYNONYMS.get(folded) in known:
        return _SYNONYMS[folded]
    close = difflib.get_close_matches(folded, sorted(known), n=1, cutoff=_CLOSENESS)
    return close[0] if close else None


def _check_misspellings(table: dict, known, path: Path, where: str, protocol_table: str) -> None:
    for key in table:
        meant = misspelt_key(str(key), known)
        if not meant:
            continue
        if meant in _PROTOCOL_KEYS:
            fix = (
                f"cut options (start, frames, crop, size) go in {protocol_table}; here a {meant!r} key would "
                f"be only a note"
            )
        else:
            fix = "correct it, or give a note a name that does not look like a key gvcbench reads"
        raise DatasetError(f"{path}: {where} has the key {key!r}: did you mean {meant!r}? {fix}")


def _table(value, path: Path, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DatasetError(f"{path}: {where} must be a table (key = value lines), got {value!r}")
    return value


def _clip_list(data: dict, path: Path) -> list:
    given = [k for k in ("clip", "sequence", "sequences") if k in data]
    if len(given) > 1:
        raise DatasetError(f"{path}: lists clips under both {' and '.join(given)}; use one (`[[clip]]`)")
    clips = data.get(given[0]) if given else None
    if isinstance(clips, dict):
        raise DatasetError(
            f"{path}: [{given[0]}] is a single table; write each clip as [[{given[0]}]] "
            f"(double brackets), or as a list of mappings in YAML"
        )
    if not clips:
        raise DatasetError(f"{path}: lists no sequences; add [[clip]] entries with a 'file' key")
    if not isinstance(clips, list):
        raise DatasetError(f"{path}: '{given[0]}' must be a list of [[{given[0]}]] entries, got {clips!r}")
    return clips


def _check_values(table: dict, keys, check, path: Path, where: str) -> None:
    for key in keys:
        problem = check(key, table.get(key))
        if problem:
            raise DatasetError(f"{path}: {where}: {problem}")


def read_manifest(path: str | Path) -> tuple[str, list[SequenceSpec]]:
    """Manifest layout: an optional ``[set]`` table (``name``, and file properties shared
    by every clip), an optional ``[protocol]`` table (``start``, ``frames``, ``crop``,
    ``size`` for every clip), then ``[[clip]]`` (or ``[[sequence]]``) entries with
    ``file`` relative to the manifest (or ``synthetic = { clip = ..., seed = ... }``, a
    generated clip), file properties (``width``, ``height``, ``fps``,
    ``bit_depth``, ``matrix``, ``range``, ``sha256``) and an optional ``protocol``
    sub-table. Other keys are kept as metadata, unless they look like a misspelling of
    a key gvcbench reads (``sha265``, ``widht``): that is an error naming the key meant.
    A table other than these is an error."""
    path = Path(path)
    data = _load_mapping(path)
    for key in data:
        if key not in _TABLES:
            close = difflib.get_close_matches(str(key), _TABLES, n=1, cutoff=0.6)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            raise DatasetError(
                f"{path}: unknown table [{key}]{hint}; a manifest has [set], [protocol] and [[clip]] entries"
            )
    header = _table(data.get("set"), path, "[set]")
    _check_misspellings(header, _FILE_KEYS | _PROTOCOL_KEYS, path, "[set]", "[protocol]")
    clips = _clip_list(data, path)
    defaults = {k: v for k, v in header.items() if k in _FILE_KEYS - {"name", "sha256"}}
    _check_values(defaults, defaults, file_property_problem, path, "[set]")
    protocol = _protocol(data.get("protocol"), path, "[protocol]")
    specs = [_clip_spec(clip, index, path, defaults, protocol) for index, clip in enumerate(clips)]
    return str(header.get("name", path.stem)), specs


def _clip_source(clip: dict, path: Path, where: str) -> dict:
    """The clip's source as SequenceSpec arguments: a file (``file``, relative to the
    manifest) or a generated clip (``synthetic = { clip = "grass-sway", seed = 0 }``)."""
    given = [key for key in ("file", "synthetic") if key in clip]
    if len(given) != 1:
        problem = "has both 'file' and 'synthetic'" if given else "has no 'file' key"
        raise DatasetError(
            f'{path}: {where} {problem}; give a file relative to the manifest (file = "clip.y4m") '
            f'or a generated clip (synthetic = {{ clip = "grass-sway", seed = 0 }})'
        )
    if "synthetic" in clip:
        return {"synthetic": SyntheticSource.from_mapping(clip["synthetic"], f"{path}: {where}")}
    file = clip["file"]
    if not isinstance(file, str) or not file:
        raise DatasetError(f"{path}: {where}: 'file' must be a file name relative to the manifest, got {file!r}")
    if file.startswith("synth:"):
        raise DatasetError(
            f"{path}: {where}: file {file!r} is not a file; name a generated clip as "
            f'synthetic = {{ clip = "grass-sway", seed = 0 }}'
        )
    return {"path": str((path.parent / file).resolve())}


def _clip_spec(clip, index: int, path: Path, defaults: dict, protocol: dict) -> SequenceSpec:
    where = f"clip {index + 1}"
    if not isinstance(clip, dict):
        raise DatasetError(f"{path}: {where} must be a table with a 'file' key, got {clip!r}")
    source = _clip_source(clip, path, where)
    if "path" in source:
        where = f"clip {index + 1} ({clip['file']})"
    else:
        where = f"clip {index + 1} (synthetic {source['synthetic'].clip})"
        defaults = {}  # [set]'s file properties describe the files, not generated clips
    _check_misspellings(
        clip,
        _FILE_KEYS | _PROTOCOL_KEYS | {"file", "synthetic", "protocol"},
        path,
        where,
        "the clip's own [clip.protocol] table or in [protocol]",
    )
    known = {k: v for k, v in clip.items() if k in _FILE_KEYS}
    _check_values(known, known, file_property_problem, path, where)
    own = _protocol(clip.get("protocol"), path, f"{where} protocol")
    meta = {k: v for k, v in clip.items() if k not in _FILE_KEYS and k not in ("file", "synthetic", "protocol")}
    try:
        return SequenceSpec(**source, **{**defaults, **known, **protocol, **own}, meta=meta)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {where}: {exc}") from None


def _protocol(table, path: Path, where: str) -> dict:
    table = _table(table, path, where)
    for key in table:
        if key not in _PROTOCOL_KEYS:
            meant = misspelt_key(str(key), _PROTOCOL_KEYS)
            hint = f" (did you mean {meant!r}?)" if meant else ""
            raise DatasetError(
                f"{path}: {where} has unknown key {key!r}{hint}; allowed: {', '.join(sorted(_PROTOCOL_KEYS))}"
            )
    _check_values(table, table, protocol_problem, path, where)
    return dict(table)


def folder_specs(folder: str | Path) -> list[SequenceSpec]:
    """Every sequence file in a folder, plus sub-folders holding PNG frames."""
    folder = Path(folder)
    specs = []
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and entry.suffix.lower() in SEQUENCE_SUFFIXES:
            specs.append(SequenceSpec(path=str(entry.resolve())))
        elif entry.is_dir() and any(p.suffix.lower() == ".png" for p in entry.iterdir()):
            specs.append(SequenceSpec(path=str(entry.resolve())))
    if not specs:
        found = sorted(p.name for p in folder.iterdir())
        seen = f"it holds {', '.join(found[:5])}{', …' if len(found) > 5 else ''}" if found else "it is empty"
        raise DatasetError(
            f"dataset folder {folder} holds no sequence files ({', '.join(SEQUENCE_SUFFIXES)}) "
            f"and no sub-folders of .png frames ({seen}); point --dataset at a folder of clips, "
            f"a manifest or a built-in set"
        )
    return specs
