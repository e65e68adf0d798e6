"""A procedural scene-dynamics generator: natural still images animated by smooth,
spatially varying motion fields (swaying, floating, rippling, drifting).

Each clip is a still image that scikit-image ships, cut to a square and resized, and a
seeded motion model; frame t samples the image at ``p + D_t(p)`` (bilinear, reflected
borders), so ``D_t`` is the exact displacement from frame t back to the key frame.
Everything is reproducible from (clip, seed). It is the built-in set
``scene-dynamics-synth`` (384x384, 50 frames, 25 fps, like the Dynamics-Codec test set)
and training material for Dynamics-Codec. A dataset names a clip through
``datasets.spec.SyntheticSource``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import DatasetError
from .sequence import ColourInfo, Sequence, rgb_to_yuv420


def smooth_field(rng: np.random.Generator, size: int, cells: int = 5) -> np.ndarray:
    """A smooth random field in [-1, 1]: a coarse random grid upsampled bicubically."""
    import cv2

    grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    field = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(field, -1, 1)


def _coords(size: int):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return x / size, y / size  # normalised to [0, 1)


def sway(rng, size):
    """Vegetation in wind: horizontal swing growing with height, phase travelling across x."""
    x, y = _coords(size)
    amp = rng.uniform(3, 7) * (1.0 - y) ** 1.5 * (0.6 + 0.4 * smooth_field(rng, size))
    freq, k = rng.uniform(0.4, 0.9), rng.uniform(2, 5)

    def at(t):
        phase = 2 * np.pi * (freq * t - k * x)
        return np.stack([amp * np.sin(phase), 0.15 * amp * np.sin(2 * phase)], -1)

    return at


def ripple(rng, size):
    """Water: radial waves from a centre, decaying outwards."""
    x, y = _coords(size)
    cx, cy = rng.uniform(0.35, 0.65, 2)
    dx, dy = x - cx, y - cy
    r = np.sqrt(dx * dx + dy * dy) + 1e-6
    amp = rng.uniform(1.5, 3.5) * np.exp(-r / 0.35)
    k, freq = rng.uniform(12, 22), rng.uniform(0.6, 1.2)

    def at(t):
        s = amp * np.sin(2 * np.pi * (k * r - freq * t))
        return np.stack([s * dx / r, s * dy / r], -1)

    return at


def floating(rng, size):
    """A floating boat: the scene bobs vertically, rolls a little and drifts sideways."""
    x, _ = _coords(size)
    bob, roll, drift = rng.uniform(2, 4), rng.uniform(1, 3), rng.uniform(-0.8, 0.8)
    freq = rng.uniform(0.3, 0.6)

    def at(t):
        phase = 2 * np.pi * freq * t
        dy = bob * np.sin(phase) + roll * (x - 0.5) * np.sin(phase + 1.0)
        return np.stack([np.full_like(x, drift * t * 25 / 10), dy], -1)

    return at


def drift(rng, size):
    """Clouds or smoke: slow advection with a turbulent, slowly changing component."""
    base = rng.uniform(-1, 1, 2)
    base = base / (np.linalg.norm(base) + 1e-6) * rng.uniform(0.4, 0.9)  # pixels per frame
    turb_a, turb_b = smooth_field(rng, size, 4), smooth_field(rng, size, 4)
    amp = rng.uniform(2, 4)

    def at(t):
        frames = t * 25
        wobble = amp * np.stack([np.sin(0.9 * t + 3 * turb_a), np.cos(0.7 * t + 3 * turb_b)], -1)
        return (
            np.stack([np.full_like(turb_a, base[0] * frames), np.full_like(turb_a, base[1] * frames)], -1)
            + wobble
            - amp * np.stack([np.sin(3 * turb_a), np.cos(3 * turb_b)], -1)
        )

    return at


def breeze(rng, size):
    """Leaves and flags: local oscillations whose amplitude, direction and phase vary smoothly."""
    amp = rng.uniform(2, 5) * (0.5 + 0.5 * np.abs(smooth_field(rng, size, 6)))
    angle = np.pi * smooth_field(rng, size, 4)
    phase = np.pi * smooth_field(rng, size, 6)
    freq = rng.uniform(0.5, 1.2)

    def at(t):
        s = amp * np.sin(2 * np.pi * freq * t + phase)
        return np.stack([s * np.cos(angle), s * np.sin(angle)], -1)

    return at


MOTIONS: dict[str, Callable] = {"sway": sway, "ripple": ripple, "floating": floating, "drift": drift, "breeze": breeze}


@dataclass(frozen=True)
class SynthClip:
    name: str
    image: str  # a scikit-image data function
    motion: str


CLIPS = (
    SynthClip("grass-sway", "grass", "sway"),
    SynthClip("coffee-ripple", "coffee", "ripple"),
    SynthClip("rocket-float", "rocket", "floating"),
    SynthClip("hubble-drift", "hubble_deep_field", "drift"),
    SynthClip("astronaut-breeze", "astronaut", "breeze"),
    SynthClip("chelsea-breeze", "chelsea", "breeze"),
    SynthClip("gravel-ripple", "gravel", "ripple"),
    SynthClip("retina-drift", "immunohistochemistry", "drift"),
)
CLIP_BY_NAME = {c.name: c for c in CLIPS}


def source_image(name: str, size: int) -> np.ndarray:
    """A scikit-image still, centre square, resized to ``size`` (uint8 RGB)."""
    import cv2
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3].astype(np.uint8)
    h, w = img.shape[:2]
    side = min(h, w)
    img = img[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def animate(
    image: np.ndarray, motion: Callable, frames: int, fps: float, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """RGB frames (T, H, W, 3) uint8 and displacements (T, H, W, 2): frame t = image(p + D_t(p)).

    Motion models speak in pixels of a 384-pixel frame; ``scale`` maps them to this size."""
    import cv2

    size = image.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.empty((frames, size, size, 3), np.uint8)
    disp = np.empty((frames, size, size, 2), np.float32)
    d0 = motion(0.0)
    for t in range(frames):
        d = ((motion(t / fps) - d0) * scale).astype(np.float32)  # the key frame is the image itself
        disp[t] = d
        out[t] = cv2.remap(image, xs + d[..., 0], ys + d[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out, disp


def generate(name: str, seed: int = 0, size: int = 384, frames: int = 50, fps: int = 25, with_flow: bool = False):
    if name not in CLIP_BY_NAME:
        raise DatasetError(f"unknown synthetic clip {name!r}; known: {', '.join(CLIP_BY_NAME)}")
    if size % 2 or size < 16:
        raise DatasetError(f"synthetic clip size must be even and at least 16, got {size}")
    clip = CLIP_BY_NAME[name]
    rng = np.random.default_rng([seed, CLIPS.index(clip)])
    rgb, disp = animate(source_image(clip.image, size), MOTIONS[clip.motion](rng, size), frames, fps, size / 384)
    colour = ColourInfo("bt709", "limited")
    y, u, v = rgb_to_yuv420(rgb, 8, colour)
    seq = Sequence(name, y, u, v, Fraction(fps), 8, colour)
    return (seq, disp) if with_flow else seq
