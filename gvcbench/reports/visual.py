"""Visual comparisons as in the Dynamics-Codec paper's Fig. 5: frames side by side at a
matching rate, y-t space-time slices, and an animated strip per sequence.

They need the original clip (found through the sequence's spec in the store) and the
reconstructions that a run keeps (``keep_reconstructions``); where either is missing,
the comparison says so instead of being drawn. Pictures are lossy by default (WebP and
JPEG at quality 90: a report of a few MB that opens at once); ``lossless`` gives the
pixel-exact version (lossless WebP).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..bench.records import JobResult, rate_distance
from ..datasets import SequenceSpec, load_sequence
from ..datasets.container import read_container
from ..errors import GvcbenchError

SLICE_WIDTH = 5  # pixels per frame in a y-t slice, as in the paper
FRAMES_SHOWN = 5
ANIMATION_SIDE = 160  # px per panel of the animated strip: the report's largest image
CAPTION_HEIGHT = 22
QUALITY = 90  # lossy WebP strips and JPEG stills


@dataclass
class Panel:
    label: str  # "original" or the codec
    caption: str  # rate and point written under it
    rgb: np.ndarray  # (T, H, W, 3) uint8


@dataclass
class Comparison:
    sequence: str
    target_kbps: float
    panels: list[Panel] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _uint8_rgb(seq, chunk: int = 8) -> np.ndarray:
    """(T, H, W, 3) uint8, converted a few frames at a time so the float32 temporaries stay small."""
    out = np.empty((seq.num_frames, seq.height, seq.width, 3), np.uint8)
    for start in range(0, seq.num_frames, chunk):
        rgb = seq.rgb(start, start + chunk)
        rgb *= 255
        np.rint(rgb, out=rgb)
        out[start : start + chunk] = rgb
    return out


def _spec(row: JobResult) -> SequenceSpec:
    spec = dict(row["sequence_spec"])
    spec.pop("meta", None)
    return SequenceSpec.from_record(spec)


def _original(row: JobResult, run_folder: Path):
    """The original clip: the run's own Y4M copy of it (cache/input) when it is there and
    intact, which reads in milliseconds, else the clip loaded through its spec (decode,
    crop, resize: seconds), checked against the content hash either way."""
    from ..datasets.input_cache import read_cached

    for path in sorted((Path(run_folder) / "cache" / "input").glob(f"{row['sequence_hash'][:40]}-*.y4m")):
        seq = read_cached(path, row["sequence_hash"], row["sequence"])
        if seq is not None:
            return seq
    original = load_sequence(_spec(row))
    if original.content_hash() != row["sequence_hash"]:
        raise GvcbenchError(f"{original.name}: the file changed since the run")
    return original


def median_rate(rows: list[JobResult], anchor: str | None) -> float:
    """The rate a sequence's pictures are shown at by default: the anchor's median rate
    point on it (every codec's, where the anchor has none). ``rows``: that sequence's
    finished jobs."""
    rates = sorted(r["kbps"] for r in rows if r["codec"] == anchor) or sorted(r["kbps"] for r in rows)
    return rates[len(rates) // 2]


def build_comparison(
    rows: list[JobResult], sequence: str, anchor: str, run_folder: Path, target_kbps: float | None = None
) -> Comparison:
    """Original and, per codec, the rate point whose rate is closest to ``target_kbps``
    (default: the anchor's median rate point on this sequence)."""
    mine = [r for r in rows if r["sequence"] == sequence and r["status"] == "done"]
    if not mine:
        raise GvcbenchError(f"no finished job for sequence {sequence!r}")
    if target_kbps is None:
        target_kbps = median_rate(mine, anchor)
    comp = Comparison(sequence, target_kbps)
    try:
        original = _original(mine[0], run_folder)
        comp.panels.append(
            Panel("original", f"{original.width}x{original.height}, {original.num_frames} frames", _uint8_rgb(original))
        )
    except GvcbenchError as exc:
        comp.notes.append(f"original unavailable: {exc}")
        return comp
    codecs = [anchor] + sorted({r["codec"] for r in mine} - {anchor})
    for codec in codecs:
        candidates = [r for r in mine if r["codec"] == codec]
        if not candidates:
            continue
        row = min(candidates, key=lambda r: rate_distance(r["kbps"], target_kbps))
        if not row.get("reconstruction"):
            comp.notes.append(f"{codec}: the run kept no reconstruction (keep_reconstructions = false)")
            continue
        path = run_folder / row["reconstruction"]
        if not path.is_file():
            comp.notes.append(f"{codec}: reconstruction {path} is missing")
            continue
        recon = read_container(path)
        comp.panels.append(Panel(codec, f"{row['point']}, {row['kbps']:.1f} kbps", _uint8_rgb(recon)))
    return comp


def _font():
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=14)  # scalable when Pillow has FreeType
    except TypeError:  # older Pillow
        return ImageFont.load_default()


def _captioned(image: np.ndarray, caption: str, above: bool = False):
    from PIL import Image, ImageDraw

    h, w = image.shape[:2]
    canvas = Image.new("RGB", (w, h + CAPTION_HEIGHT), "white")
    canvas.paste(Image.fromarray(image), (0, CAPTION_HEIGHT if above else 0))
    ImageDraw.Draw(canvas).text((4, 4 if above else h + 4), caption, fill="black", font=_font())
    return canvas


def _stack(images, horizontal: bool, gap: int = 6):
    from PIL import Image

    w = sum(i.width for i in images) + gap * (len(images) - 1) if horizontal else max(i.width for i in images)
    h = max(i.height for i in images) if horizontal else sum(i.height for i in images) + gap * (len(images) - 1)
    out = Image.new("RGB", (w, h), "white")
    pos = 0
    for img in images:
        out.paste(img, (pos, 0) if horizontal else (0, pos))
        pos += (img.width if horizontal else img.height) + gap
    return out


def frames_grid(comp: Comparison):
    """Rows: original and each codec; columns: frames spread over the clip."""
    t = comp.panels[0].rgb.shape[0]
    picks = np.unique(np.linspace(0, t - 1, min(FRAMES_SHOWN, t)).round().astype(int))
    rows = []
    for panel in comp.panels:
        strip = np.concatenate([panel.rgb[i] for i in picks], axis=1)
        rows.append(_captioned(strip, f"{panel.label}: {panel.caption}  (frames {', '.join(map(str, picks))})"))
    return _stack(rows, horizontal=False)


def yt_slices(comp: Comparison, column: int | None = None):
    """A ``SLICE_WIDTH``-pixel column of every frame, stacked left to right over time."""
    w = comp.panels[0].rgb.shape[2]
    x = (w // 2 if column is None else column) - SLICE_WIDTH // 2
    x = int(np.clip(x, 0, w - SLICE_WIDTH))
    images = []
    for panel in comp.panels:
        cut = panel.rgb[:, :, x : x + SLICE_WIDTH]  # (T, H, 5, 3)
        slab = np.concatenate(list(cut), axis=1)  # (H, T*5, 3)
        images.append(_captioned(slab, panel.label, above=True))
    return _stack(images, horizontal=True, gap=10), x


def animation_frames(comp: Comparison):
    """Frames of an animated strip: every panel side by side, each scaled to ANIMATION_SIDE.

    Captions and the canvas layout are made once; per frame only the scaled tiles are pasted."""
    from PIL import Image

    t = comp.panels[0].rgb.shape[0]
    h, w = comp.panels[0].rgb.shape[1:3]
    scale = ANIMATION_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    headers = [_captioned(np.full((size[1], size[0], 3), 255, np.uint8), p.label, above=True) for p in comp.panels]
    canvas = _stack(headers, horizontal=True)
    frames = []
    for i in range(t):
        frame = canvas.copy()
        x = 0
        for panel, header in zip(comp.panels, headers):
            tile = Image.fromarray(panel.rgb[i]).resize(size, Image.Resampling.LANCZOS)
            frame.paste(tile, (x, CAPTION_HEIGHT))
            x += header.width + 6
        frames.append(frame)
    return frames


def save_animation(frames, path: Path, fps: float, lossless: bool = False) -> Path:
    """Animated WebP: lossy quality 90 by default (small, opens fast); ``lossless`` keeps
    every pixel, with the fast lossless method 0 (the same pixels as method 4, ~30x faster)."""
    duration = round(1000 / fps)
    options = {"lossless": True, "quality": 0, "method": 0} if lossless else {"quality": QUALITY, "method": 0}
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration, loop=0, **options)
    return path


def save_still(image, stem: Path, lossless: bool = False) -> Path:
    """A frame grid or slice as WebP: quality 90 by default (about 15 % smaller than JPEG
    at the same quality), lossless with the fast method 0 when ``lossless``."""
    if lossless:
        path = stem.with_suffix(".webp")
        image.save(path, lossless=True, quality=0, method=0)
    else:
        path = stem.with_suffix(".webp")
        image.save(path, quality=QUALITY, method=0)
    return path


@dataclass
class Rendered:
    comparison: Comparison
    grid: Path
    yt: Path
    column: int
    animation: Path


def render(
    rows: list[JobResult],
    sequence: str,
    anchor: str,
    run_folder: Path,
    figdir: Path,
    target_kbps: float | None = None,
    lossless: bool = False,
) -> tuple[Rendered | None, list[str]]:
    """Every picture of one sequence's comparison: (the files or None, notes)."""
    try:
        comp = build_comparison(rows, sequence, anchor, run_folder, target_kbps)
    except (GvcbenchError, OSError) as exc:  # e.g. the original clip is not readable here
        return None, [f"visual comparison of {sequence}: {exc}"]
    notes = [f"{sequence}: {n}" for n in comp.notes]
    if len(comp.panels) < 2:
        return None, notes
    safe = figure_stem(sequence)
    grid = save_still(frames_grid(comp), figdir / f"frames_{safe}", lossless)
    slices, column = yt_slices(comp)
    yt = save_still(slices, figdir / f"yt_{safe}", lossless)
    fps = next(r["fps"] for r in rows if r["sequence"] == sequence and r["status"] == "done")
    anim = save_animation(animation_frames(comp), figdir / f"strip_{safe}.webp", fps, lossless)
    return Rendered(comp, grid, yt, column, anim), notes


def figure_stem(sequence: str) -> str:
    """The part of a figure's file name that names ``sequence``: its letters, digits, '-' and
    '_', others replaced by '_'; a name that needed replacing also gets a hash of itself, so
    'a b' and 'a_b' (two clips of one folder) do not write, and show, one picture."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in sequence)
    return safe if safe == sequence else f"{safe}-{hashlib.sha1(sequence.encode()).hexdigest()[:8]}"


def render_all(
    rows: list[JobResult],
    sequences: list[str],
    anchor: str,
    run_folder: Path,
    figdir: Path,
    target_kbps: float | None = None,
    lossless: bool = False,
    workers: int | None = None,
) -> tuple[list[Rendered], list[str]]:
    """``render`` for each sequence, in parallel across sequences (threads: decoding,
    resizing and image encoding run in C with the GIL released), in sequence order."""
    from concurrent.futures import ThreadPoolExecutor

    mine = {s: [r for r in rows if r["sequence"] == s] for s in sequences}
    workers = workers or min(len(sequences), os.cpu_count() or 1) or 1
    with ThreadPoolExecutor(workers) as pool:
        results = list(
            pool.map(lambda s: render(mine[s], s, anchor, run_folder, figdir, target_kbps, lossless), sequences)
        )
    done, notes = [], []
    for rendered, seq_notes in results:
        notes += seq_notes
        if rendered is not None:
            done.append(rendered)
    return done, notes
