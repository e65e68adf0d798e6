"""Matched-rate visual comparison, as the Dynamics-Codec demo pages show it: at each stated
rate (``--target-kbps 5,8,10,15``) every codec's reconstruction closest to it, side by side
over 10 frames (the paper's Fig. 5), with the column of the y-t slice marked on the first
frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..bench.records import JobResult
from .visual import SLICE_WIDTH, Comparison, _captioned, _stack, build_comparison

FRAMES = 10
MARK = np.array([255, 0, 0], dtype=np.uint8)


def slice_x(width: int, column: int | None = None) -> int:
    """The first column of the y-t slice, as ``visual.yt_slices`` takes it."""
    x = (width // 2 if column is None else column) - SLICE_WIDTH // 2
    return int(np.clip(x, 0, width - SLICE_WIDTH))


def mark_slice(frame: np.ndarray, x: int) -> np.ndarray:
    """The frame with the slice's columns outlined in red (one pixel each side)."""
    out = frame.copy()
    for col in (max(0, x - 1), min(frame.shape[1] - 1, x + SLICE_WIDTH)):
        out[:, col] = MARK
    return out


def comparisons(
    rows: list[JobResult], sequence: str, anchor: str, run_folder: Path, targets: list[float]
) -> list[Comparison]:
    return [build_comparison(rows, sequence, anchor, run_folder, t) for t in targets]


def matched_rate_grid(comps: list[Comparison], frames: int = FRAMES, column: int | None = None):
    """One block per target rate; in each, the original and every codec over ``frames`` frames."""
    blocks = []
    for comp in comps:
        if len(comp.panels) < 2:
            continue
        t = comp.panels[0].rgb.shape[0]
        picks = np.unique(np.linspace(0, t - 1, min(frames, t)).round().astype(int))
        x = slice_x(comp.panels[0].rgb.shape[2], column)
        rows = []
        for panel in comp.panels:
            tiles = [mark_slice(panel.rgb[picks[0]], x)] + [panel.rgb[i] for i in picks[1:]]
            rows.append(_captioned(np.concatenate(tiles, axis=1), f"{panel.label}: {panel.caption}"))
        header = _captioned(
            np.full((2, rows[0].width, 3), 255, np.uint8),
            f"closest to {comp.target_kbps:g} kbps (frames {', '.join(map(str, picks))}; red: "
            f"the y-t slice columns {x}..{x + SLICE_WIDTH - 1})",
            above=True,
        )
        blocks.append(_stack([header, *rows], horizontal=False))
    return _stack(blocks, horizontal=False, gap=16) if blocks else None
