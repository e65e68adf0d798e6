"""Reference-side work computed once per sequence, reused across codecs and rate points.

Some metrics do work on the original that does not depend on the codec: flow-epe's
optical flow of the original clip, FVD's I3D features of the original's clips, FID's
InceptionV3 features of its frames. A job asks this cache instead of recomputing them.
Entries are keyed by the metric's name, version and every setting the reference-side
result depends on
(``Metric.reference_identity``) together with the sequence's content hash, so a
changed sequence or setting is a different key: nothing stale can be read back.

Entries live in memory (the last few, per worker process) and as ``.npy`` files in a
folder (the run's ``cache/reference``), shared by the workers of a run and by later
runs into the same folder. Files are written to a temporary name and renamed, so a
reader never sees half a file; an unreadable file is recomputed and replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

MEMORY_ENTRIES = 4  # per process: a worker usually runs the rate points of one sequence in a row

_memory: OrderedDict[str, np.ndarray] = OrderedDict()


def cache_key(identity: dict, sequence_hash: str) -> str:
    payload = json.dumps({"metric": identity, "sequence": sequence_hash}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class ReferenceCache:
    """``get(metric, sequence_hash, compute)``: the cached array, or ``compute()`` stored.

    ``folder`` None keeps entries in memory only."""

    def __init__(self, folder: Path | str | None):
        self.folder = Path(folder) if folder is not None else None
        self.hits = 0
        self.misses = 0

    def _file(self, name: str, key: str) -> Path:
        assert self.folder is not None  # callers return early without a folder
        return self.folder / f"{name}-{key[:40]}.npy"

    def get(self, metric, sequence_hash: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        identity = metric.reference_identity()
        if identity is None:  # the metric cannot say what its reference side depends on: never cache
            return compute()
        key = cache_key(identity, sequence_hash)
        if key in _memory:
            _memory.move_to_end(key)
            self.hits += 1
            return _memory[key]
        value = self._load(metric.spec.name, key)
        if value is None:
            self.misses += 1
            value = np.asarray(compute())
            self._store(metric.spec.name, key, value)
        else:
            self.hits += 1
        _memory[key] = value
        while len(_memory) > MEMORY_ENTRIES:
            _memory.popitem(last=False)
        return value

    def _load(self, name: str, key: str) -> np.ndarray | None:
        if self.folder is None:
            return None
        path = self._file(name, key)
        try:
            return np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError):  # truncated or foreign file: recompute and replace it
            return None

    def _store(self, name: str, key: str, value: np.ndarray) -> None:
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self._file(name, key)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.save(f, value, allow_pickle=False)
            os.replace(tmp, path)
        except OSError:  # a read-only or full disk costs speed, never a result
            pass


def clear_memory() -> None:
    """Forget the in-process entries (tests, or a worker that wants its memory back)."""
    _memory.clear()
