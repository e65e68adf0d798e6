"""Datasets as folders or manifest files (TOML or YAML) listing sequences."""
from __future__ import annotations

import tomllib
from pathlib import Path

from ..errors import DatasetError
from .container import CONTAINER_SUFFIXES
from .loader import SequenceSpec

SEQUENCE_SUFFIXES = (".yuv", ".y4m") + CONTAINER_SUFFIXES
# What a manifest says about a file, in [set] (for every clip) or in a [[clip]] entry.
_FILE_KEYS = {"name", "width", "height", "fps", "bit_depth", "matrix", "range", "sha256"}
# How to cut the tested clip from it: only in a [protocol] table or a clip's own
# `protocol` sub-table, so descriptive keys such as a source `crop` never act on the file.
_PROTOCOL_KEYS = {"start", "frames", "crop", "size"}


def _load_mapping(path: Path) -> dict:
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(path.read_text())
        import yaml

        data = yaml.safe_load(path.read_text())
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise DatasetError(f"{path}: not a valid manifest ({exc})") from None
    except Exception as exc:  # yaml.YAMLError
        raise DatasetError(f"{path}: not a valid manifest ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: a manifest must be a mapping with a list of sequences")
    return data


def read_manifest(path: str | Path) -> tuple[str, list[SequenceSpec]]:
    """Manifest layout: an optional ``[set]`` table (``name``, and file properties shared
    by every clip), an optional ``[protocol]`` table (``start``, ``frames``, ``crop``,
    ``size`` for every clip), then ``[[clip]]`` (or ``[[sequence]]``) entries with
    ``file`` relative to the manifest, file properties (``width``, ``height``, ``fps``,
    ``bit_depth``, ``matrix``, ``range``, ``sha256``) and an optional ``protocol``
    sub-table. Other keys are kept as metadata."""
    path = Path(path)
    data = _load_mapping(path)
    header = data.get("set", {}) or {}
    clips = data.get("clip", data.get("sequence", data.get("sequences")))
    if not clips:
        raise DatasetError(f"{path}: lists no sequences; add [[clip]] entries with a 'file' key")
    defaults = {k: v for k, v in header.items() if k in _FILE_KEYS - {"name", "sha256"}}
    protocol = _protocol(data.get("protocol", {}), path, "[protocol]")
    specs = []
    for index, clip in enumerate(clips):
        if "file" not in clip:
            raise DatasetError(f"{path}: entry {index + 1} has no 'file' key")
        known = {k: v for k, v in clip.items() if k in _FILE_KEYS}
        own = _protocol(clip.get("protocol", {}), path, f"clip {index + 1} protocol")
        meta = {k: v for k, v in clip.items() if k not in _FILE_KEYS and k not in ("file", "protocol")}
        specs.append(SequenceSpec(path=str((path.parent / clip["file"]).resolve()),
                                  **{**defaults, **known, **protocol, **own}, meta=meta))
    return str(header.get("name", path.stem)), specs


def _protocol(table: dict, path: Path, where: str) -> dict:
    unknown = set(table) - _PROTOCOL_KEYS
    if unknown:
        raise DatasetError(f"{path}: {where} has unknown key(s) {', '.join(sorted(unknown))}; "
                           f"allowed: {', '.join(sorted(_PROTOCOL_KEYS))}")
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
        raise DatasetError(f"{folder}: holds no sequence files ({', '.join(SEQUENCE_SUFFIXES)}) or PNG folders")
    return specs
