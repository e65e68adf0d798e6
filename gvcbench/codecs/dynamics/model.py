"""Dynamics-Codec networks (small, CPU-friendly versions of the paper's modules).

* ``Tokenizer``: a U-Net flow feature extractor on [sparse flow, mask] and two
  vectorizers (strided convolutions with GDN, then averaging) each giving ``channels``
  values on a ``grid`` x ``grid`` layout of cells: 2 x channels x grid^2 tokens per
  inter frame. v2: grid 1, 20 channels (global vectors: the layout of the motion had to
  come from the key frame alone); v3: grid 2, 5 channels (40 tokens); v4 and v5: the
  layout their ``layout`` buffer records (weights/dynamics-v5.json says which and why;
  older recipes in git history).
* ``FlowRecovery``: a U-Net image feature extractor on the decoded key frame (and,
  with ``fourier``, sine/cosine coordinate features) whose feature maps are multiplied
  by the tokens spread bilinearly over the grid (through a 1 x 1 convolution to
  ``expand`` maps when set), and a U-Net dense-flow generator on [features x tokens,
  tokens, coordinates] back to a 2-channel flow.
* ``Refiner``: a small residual CNN meant to fix occlusions and warping artefacts of the
  key frame warped by the recovered flow; v2's, never retrained, and run by the decoder
  only with ``refine = true`` (docs/dynamics-codec.md, "The refiner").

Flows and key frames enter the tokenizer and the recovery network at a quarter of the
frame size (``SCALE``); flows are in pixels of that grid divided by ``FLOW_NORM``
(frames.py holds these constants).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .frames import FLOW_NORM, SCALE

__all__ = ["FLOW_NORM", "SCALE", "DynamicsModel", "model_from_state"]

TOKENS_PER_VECTOR = 20  # v2 and v3: 20 values per token vector, 40 per frame

GRID = 2  # token layout: GRID x GRID cells per token vector (1: the paper's global vectors, v2)
COORDS = True  # coordinate channels into the dense-flow generator
SPARSE_GAIN = 8.0  # the sparse flow is ~2 % of the grid and ~0.1 in FLOW_NORM units: amplify it


class GDN(nn.Module):
    """Generalized divisive normalization (Ballé et al.): y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels))

    def forward(self, x):
        beta = self.beta.abs() + 1e-6
        gamma = self.gamma.abs()
        norm = F.conv2d(x * x, gamma[:, :, None, None], beta)
        return x / torch.sqrt(norm)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.1)
    )


class UNet(nn.Module):
    """Down-sampling, up-sampling and short-cut connections, as the paper's extractors."""

    def __init__(self, cin: int, cout: int, base: int = 16, depth: int = 3):
        super().__init__()
        chans = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_block(cin, chans[0])] + [_block(chans[i], chans[i + 1]) for i in range(depth)])
        self.up = nn.ModuleList([_block(chans[i + 1] + chans[i], chans[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(chans[0], cout, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.avg_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
        return self.head(x)


class Vectorizer(nn.Module):
    """Strided convolutions with GDN, then average pooling to a ``grid`` x ``grid`` layout
    of ``channels`` values (grid 1: the paper's global token vector). Grids finer than 6
    keep the resolution they need (fewer strides)."""

    def __init__(self, cin: int, channels: int, grid: int = 1, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(4):
            stride = 2 if i < 4 - max(0, grid // 7) else 1
            layers += [nn.Conv2d(cin if i == 0 else width, width, 3, stride=stride, padding=1), GDN(width)]
        layers.append(nn.Conv2d(width, channels, 3, padding=1))
        self.net = nn.Sequential(*layers)
        self.grid = grid

    def forward(self, x):
        return F.adaptive_avg_pool2d(self.net(x), self.grid).flatten(1)


class Tokenizer(nn.Module):
    def __init__(self, width: int = 32, grid: int = 1, channels: int = TOKENS_PER_VECTOR):
        super().__init__()
        self.features = UNet(3, width)
        self.vectorizers = nn.ModuleList([Vectorizer(width, channels, grid), Vectorizer(width, channels, grid)])

    def forward(self, sparse_flow, mask):
        """At the plain scale the flow values barely moved the tokens at initialisation (the
        mask pattern dominated), the quantisation noise drowned them and the recovery
        learned to ignore the tokens; with the gain the relative flow error falls from the
        zero-flow level 0.72 to 0.56 in 250 steps where it stayed at 0.71 without."""
        f = self.features(torch.cat([sparse_flow * SPARSE_GAIN, mask], 1))
        return torch.cat([v(f) for v in self.vectorizers], 1)


def coordinates(like: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) x and y in [-1, 1]: lets the generator place motion that the key
    frame's appearance alone does not locate (a wave's phase, a sway growing with height)."""
    b, _, h, w = like.shape
    ys = torch.linspace(-1, 1, h, device=like.device, dtype=like.dtype)
    xs = torch.linspace(-1, 1, w, device=like.device, dtype=like.dtype)
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), 0)[None].expand(b, 2, h, w)


def fourier_features(like: torch.Tensor, octaves: int) -> torch.Tensor:
    """(B, 4 * octaves, H, W): sin and cos of pi 2^i x and pi 2^i y (x, y in [-1, 1]), a
    basis from which the generator can build waves whose phase the tokens set."""
    xy = coordinates(like)
    parts = []
    for i in range(octaves):
        a = xy * (math.pi * 2**i)
        parts += [torch.sin(a), torch.cos(a)]
    return torch.cat(parts, 1)


class FlowRecovery(nn.Module):
    """Key-frame features x tokens (spread over the token grid) -> dense flow.

    ``expand`` > 0 maps each cell's token values through a 1x1 convolution to that many
    channels before they multiply as many key-frame feature maps (fine grids have few
    values per cell); 0 multiplies the token values directly (v2, v3)."""

    def __init__(
        self,
        grid: int = 1,
        coords: bool = False,
        channels: int = TOKENS_PER_VECTOR,
        fourier: int = 0,
        expand: int = 0,
    ):
        super().__init__()
        self.grid, self.coords, self.fourier = grid, coords, fourier
        self.channels = 2 * channels  # token values per cell
        features = expand or self.channels
        self.expand = nn.Conv2d(self.channels, expand, 1) if expand else None
        self.image_features = UNet(3 + 4 * fourier, features)
        extra = (self.channels if grid > 1 else 0) + (2 if coords else 0) + 4 * fourier
        self.generator = UNet(features + extra, 2)

    def forward(self, key, tokens):
        return self.from_key_features(*self.key_features(key), tokens)

    def key_features(self, key):
        """(feature maps, Fourier basis list) of the key frame: the part of ``forward`` that
        does not depend on the tokens (a decoder computes it once per clip)."""
        basis = [fourier_features(key, self.fourier)] if self.fourier else []
        return self.image_features(torch.cat([key, *basis], 1)), basis

    def from_key_features(self, feats, basis, tokens):
        """The dense flow from the key frame's ``key_features`` and one row of tokens per sample."""
        half = tokens.shape[1] // 2
        cells = self.grid * self.grid
        t = torch.cat(
            [
                tokens[:, :half].reshape(-1, self.channels // 2, cells),
                tokens[:, half:].reshape(-1, self.channels // 2, cells),
            ],
            1,
        )
        t = t.reshape(-1, self.channels, self.grid, self.grid)
        mod = self.expand(t) if self.expand is not None else t
        if self.grid > 1:
            t = F.interpolate(t, size=feats.shape[-2:], mode="bilinear", align_corners=False)
            mod = F.interpolate(mod, size=feats.shape[-2:], mode="bilinear", align_corners=False)
        parts = [feats * mod] + ([t] if self.grid > 1 else [])
        if self.coords:
            parts.append(coordinates(feats))
        return self.generator(torch.cat(parts + basis, 1))


class Refiner(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(8, width, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(width, width, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(width, width, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(width, 3, 3, padding=1),
        )

    def forward(self, warped, key, flow):
        """warped, key: (B, 3, H, W) in [0, 1]; flow: (B, 2, H, W) in full-resolution pixels."""
        return (warped + self.net(torch.cat([warped, key, flow / 8.0], 1))).clamp(0, 1)


def init_weights(module: nn.Module) -> None:
    """He initialisation for the LeakyReLU convolutions, zero biases.

    PyTorch's default initialisation shrinks the signal at every layer; through the
    tokenizer's ~20 convolutions and the global average the tokens came out the same for
    every input (std 6e-5 across samples, far below the quantisation step), and training
    then learned to ignore them. With this the tokens vary with the flow from step 0.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


LAYOUT_FIELDS = ("grid", "channels", "coords", "fourier", "expand")


def architecture(state: dict) -> dict:
    """The layout of a saved state dict: its ``layout`` entry (weights v4 on), else read
    from the tensor shapes (v2: global tokens; v3: 2 x 2 grid, coordinates)."""
    if "layout" in state:
        return dict(zip(LAYOUT_FIELDS, (int(v) for v in state["layout"].tolist())))
    per_vector = state["tokenizer.vectorizers.0.net.8.weight"].shape[0]
    grid = round((TOKENS_PER_VECTOR / per_vector) ** 0.5)
    channels = 2 * per_vector
    generator_in = state["recovery.generator.down.0.0.weight"].shape[1]
    coords = generator_in - channels - (channels if grid > 1 else 0) == 2
    return {"grid": grid, "channels": per_vector, "coords": int(coords), "fourier": 0, "expand": 0}


class DynamicsModel(nn.Module):
    """Tokenizer, flow recovery and refiner; ``layout`` (a buffer, saved with the weights)
    records the token layout so that a weights file says how to rebuild its model."""

    def __init__(
        self,
        grid: int = GRID,
        coords: bool = COORDS,
        channels: int | None = None,
        fourier: int = 0,
        expand: int = 0,
    ):
        super().__init__()
        channels = channels or TOKENS_PER_VECTOR // (grid * grid)
        self.tokens = 2 * channels * grid * grid
        self.tokenizer = Tokenizer(grid=grid, channels=channels)
        self.recovery = FlowRecovery(grid, bool(coords), channels, fourier, expand)
        self.refiner = Refiner()
        self.register_buffer("layout", torch.tensor([grid, channels, int(coords), fourier, expand]))
        init_weights(self)
        last = self.refiner.net[-1]
        assert isinstance(last, nn.Conv2d)
        nn.init.zeros_(last.weight)  # the refiner starts as the identity


def model_from_state(state: dict) -> DynamicsModel:
    """A float32 model from a saved state dict (any float precision, any layout)."""
    model = DynamicsModel(**architecture(state))
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    state.setdefault("layout", model.layout)
    model.load_state_dict(state)
    return model
