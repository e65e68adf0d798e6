"""A run's sequences written once as Y4M, shared by its jobs.

Loading a clip can cost seconds (decode an .mp4, crop, resize); the planner has just
done it, so it writes each sequence here, and workers read the file back (a few
milliseconds) instead of loading the clip again in every worker. The same files are
the encoders' input (also at other bit depths, e.g. vvenc's 10-bit) and VMAF's
reference, so a job writes no copy of the original.

File names carry the sequence's content hash and colour matrix (Y4M has no field for
the matrix); whatever is read back is checked against the content hash, and a missing,
foreign or damaged file only means the clip is loaded the slow way. Files are written
under a temporary name and renamed, so concurrent jobs never read half a file. The
folder can be deleted at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DatasetError
from .sequence import Sequence
from .y4m import read_y4m, write_y4m


def cached_path(folder: Path, sequence_hash: str, matrix: str, bit_depth: int) -> Path:
    return Path(folder) / f"{sequence_hash[:40]}-{matrix}-{bit_depth}bit.y4m"


def write_once(folder: Path, seq: Sequence, sequence_hash: str, bit_depth: int | None = None) -> Path:
    """The sequence (shifted to ``bit_depth`` if given) as Y4M in ``folder``; written only if absent."""
    depth = bit_depth or seq.bit_depth
    path = cached_path(folder, sequence_hash, seq.colour.matrix, depth)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        write_y4m(seq.to_bit_depth(depth), tmp)
        os.replace(tmp, path)
    return path


def read_cached(path: Path | str, sequence_hash: str, name: str) -> Sequence | None:
    """The sequence ``write_once`` wrote at ``path``, or None when there is no intact copy."""
    path = Path(path)
    parts = path.stem.split("-")
    if len(parts) != 3 or not path.is_file():
        return None
    try:
        seq = read_y4m(path, name=name, matrix=parts[1])
    except (DatasetError, OSError, ValueError):
        return None
    return seq if seq.content_hash() == sequence_hash else None
