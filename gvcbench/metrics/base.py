"""The Metric interface: one spec record per metric, per-frame values per sequence."""

from __future__ import annotations

import re
import signal
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..datasets.sequence import Sequence
from ..errors import GvcbenchError, MetricError, ToolError
from ..tools import Arg, run_tool
from .axes import parse_axis


@dataclass(frozen=True)
class MetricSpec:
    """Everything the harness and the reports need to know about a metric.

    ``lower_better`` is required: it decides the direction of RD curves, BD-rate
    transforms and regression checks. ``granularity`` is 'frame' (a value per frame,
    averaged per sequence) or 'set' (one value over a set of videos, e.g. FVD).
    ``bd_axis`` is how RD curves and BD computations see the metric so that higher is
    better: 'x' as it is, or 'C-x' (the Dynamics-Codec paper uses 1-LPIPS, 1-DISTS,
    5000-FVD); a lower-is-better metric must name one. ``value_range`` documents the
    values the metric can take; it is stored with every value's provenance and checked
    by nothing. ``version``: raise it whenever the metric's values change, so that runs
    measure stored jobs again instead of reusing them. ``ceiling``: the value the metric is
    clipped to, where it has one (PSNR of identical frames is infinite and stored as 100 dB):
    a sequence at it says "at least this", so RD curves and BD values leave its point out.
    """

    name: str
    version: str
    lower_better: bool
    unit: str
    granularity: str
    value_range: tuple[float, float]
    description: str
    bd_axis: str = "x"
    ceiling: float | None = None

    def __post_init__(self):
        parse_axis(self.bd_axis)
        if self.lower_better and self.bd_axis == "x":
            raise ValueError(f"metric {self.name}: lower is better, so bd_axis must flip it, e.g. '1-x'")

    def to_dict(self) -> dict:
        return asdict(self)


class Metric(ABC):
    """A quality metric. ``weights`` names the pretrained files it needs (see gvcbench/weights.py);
    ``device`` is 'cpu' or a torch device string; ``batch_size`` frames go through a
    network at once, so memory stays bounded for long clips."""

    spec: ClassVar[MetricSpec]
    weights: ClassVar[tuple[str, ...]] = ()
    default_batch_size: ClassVar[int] = 8  # on a GPU; on the CPU one frame at a time measured fastest

    def __init__(self, device: str = "cpu", batch_size: int | None = None):
        self.device = device
        self.batch_size = batch_size or (1 if device == "cpu" else self.default_batch_size)
        # The reference as a Y4M file at its own bit depth, when the harness has one
        # (the encoder's input): metrics that read files use it instead of writing a copy.
        self.reference_file = None

    def y4m_files(self, reference: Sequence, distorted: Sequence, folder: Path) -> tuple[Path, Path]:
        """The two sequences as Y4M files for a program that reads files (libvmaf, FFmpeg's
        xpsnr): the harness's ``reference_file`` where it has one, else a copy in ``folder``,
        as is the distorted sequence."""
        from ..datasets.y4m import write_y4m

        ref = self.reference_file
        if ref is None or not Path(ref).is_file():
            ref = write_y4m(reference, folder / "ref.y4m")
        return Path(ref).absolute(), write_y4m(distorted, folder / "dist.y4m")

    def availability(self) -> str | None:
        """None when the metric can run here, else why not (missing weights, say).

        Looks only at this machine; ``prepare`` is what downloads."""
        from ..weights import KNOWN, MissingWeights, find_local, missing_message

        for name in self.weights:
            try:
                if find_local(KNOWN[name]) is None:
                    return missing_message(KNOWN[name])
            except MissingWeights as exc:
                return str(exc)
            except GvcbenchError as exc:
                return str(exc)
        return None

    def prepare(self) -> None:
        """Fetch missing pretrained files (once, in the driver, before jobs start)."""
        from ..weights import resolve

        for name in self.weights:
            resolve(name)

    def provenance(self) -> dict:
        """Implementation, versions, inputs and preprocessing behind every stored value."""
        return {"metric": self.spec.name, "version": self.spec.version, "device": self.device}

    @abstractmethod
    def frame_values(self, reference: Sequence, distorted: Sequence) -> np.ndarray:
        """One value per frame, float64, for two sequences of equal format."""

    # -- reference-side work (see reference_cache.py) -------------------------------
    def reference_identity(self) -> dict | None:
        """What this metric's reference-side result depends on besides the sequence (name,
        version, settings, weight hashes), or None when it has none worth caching or cannot
        say (a network given in memory): then nothing is cached."""
        return None

    def reference_features(self, reference: Sequence) -> np.ndarray:
        """The codec-independent work on the original (only where ``reference_identity``
        is not None)."""
        raise NotImplementedError

    def values_from_reference(
        self, reference_features: np.ndarray, reference: Sequence, distorted: Sequence
    ) -> np.ndarray:
        """``frame_values`` given the original's ``reference_features``; bit-identical to it."""
        raise NotImplementedError


OUTSIDE_KILLS = {-signal.SIGKILL, -signal.SIGTERM}  # the out-of-memory killer, a stopped batch job
# FFmpeg catches SIGINT, SIGTERM and SIGXCPU: it then exits with status 255 (never -15) and
# says so as its last words: "Exiting normally, received signal 15."
_FFMPEG_SIGNALLED = re.compile(r"received signal \d+")


def run_filter(argv: list[Arg], log: Path, timeout: float, cwd: Path, what: str) -> None:
    """Run FFmpeg for a metric's filter (``what``: "libvmaf", "xpsnr"). Its failure on this
    input is a MetricError: the job keeps its bitstream and its other metrics, and the metric
    is recorded as not measurable. A timeout or a kill from outside is left a ToolError, so
    the job fails and the next run measures it again."""
    try:
        run_tool(argv, log, timeout, cwd=cwd)
    except ToolError as exc:
        if exc.timed_out or exc.status in OUTSIDE_KILLS or _FFMPEG_SIGNALLED.search(exc.log_tail):
            raise
        raise MetricError(f"FFmpeg's {what} filter failed: {exc}") from None
