"""DISTS (Ding et al., 2020): structure and texture similarity of VGG16 features.

Our own implementation of the published definition, with the official alpha/beta
(shipped by the PyPI package ``dists-pytorch``) and the ImageNet VGG16 backbone, both
loaded from verified files. ``dists`` scores frames at their own size; ``dists-256``
applies the official resize (shorter side to 256 px, bilinear, when it is larger).
"""

from __future__ import annotations

from itertools import pairwise
from typing import ClassVar

import numpy as np

from ..weights import load_state_dict, record, resolve
from .base import Metric, MetricSpec
from .torch_input import INPUT_DESCRIPTION, paired_batches

VGG_FILE = "vgg16-397923af.pth"
ALPHA_BETA_FILE = "dists-alpha-beta.pt"
CHANNELS = (3, 64, 128, 256, 512, 512)
POOL_INDICES = (4, 9, 16, 23)  # VGG16 max-pools that DISTS replaces with L2 pooling
POOL_CHANNELS = dict(zip(POOL_INDICES, (64, 128, 256, 512)))
STAGE_ENDS = (4, 9, 16, 23, 30)
EPS = 1e-6


def _network(vgg_state: dict, alpha, beta):
    import torch
    from torch import nn
    from torchvision.models import vgg16

    class L2Pool(nn.Module):
        """sqrt(blur(x^2)) with a 3x3 Hann window, stride 2: an alias-free max-pool replacement."""

        def __init__(self, channels: int):
            super().__init__()
            window = torch.hann_window(5, periodic=False, dtype=torch.float64)[1:-1]
            kernel = torch.outer(window, window)
            kernel = (kernel / kernel.sum()).float()
            self.register_buffer("kernel", kernel[None, None].repeat(channels, 1, 1, 1))

        def forward(self, x):
            y = nn.functional.conv2d(x * x, self.kernel, stride=2, padding=1, groups=x.shape[1])
            return (y + 1e-12).sqrt()

    class Dists(nn.Module):
        def __init__(self):
            super().__init__()
            features = vgg16(weights=None).features
            features.load_state_dict({k.split(".", 1)[1]: v for k, v in vgg_state.items() if k.startswith("features.")})
            layers = [L2Pool(POOL_CHANNELS[i]) if i in POOL_INDICES else features[i] for i in range(30)]
            bounds = (0,) + STAGE_ENDS
            self.stages = nn.ModuleList(nn.Sequential(*layers[a:b]) for a, b in pairwise(bounds))
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
            total = alpha.sum() + beta.sum()
            self.register_buffer("alpha", (alpha / total).reshape(-1))
            self.register_buffer("beta", (beta / total).reshape(-1))

        def features(self, x):
            feats = [x]
            h = (x - self.mean) / self.std
            for stage in self.stages:
                h = stage(h)
                feats.append(h)
            return feats

        def forward(self, x, y):
            fx, fy = self.features(x), self.features(y)
            structure = texture = 0.0
            offset = 0
            for a, b, c in zip(fx, fy, CHANNELS):
                mx, my = a.mean((2, 3)), b.mean((2, 3))
                vx = ((a - mx[..., None, None]) ** 2).mean((2, 3))
                vy = ((b - my[..., None, None]) ** 2).mean((2, 3))
                cov = (a * b).mean((2, 3)) - mx * my
                s1 = (2 * mx * my + EPS) / (mx**2 + my**2 + EPS)
                s2 = (2 * cov + EPS) / (vx + vy + EPS)
                structure = structure + (self.alpha[offset : offset + c] * s1).sum(1)
                texture = texture + (self.beta[offset : offset + c] * s2).sum(1)
                offset += c
            return 1 - (structure + texture)

    return Dists().eval()


def resize_shorter_to_256(rgb: np.ndarray) -> np.ndarray:
    """The official preprocessing: shorter side to 256 (bilinear) when it is larger."""
    from PIL import Image

    h, w = rgb.shape[1:3]
    if min(h, w) <= 256:
        return rgb
    nh, nw = (256, int(256 * w / h)) if h <= w else (int(256 * h / w), 256)
    return np.stack([np.asarray(Image.fromarray(f).resize((nw, nh), Image.Resampling.BILINEAR)) for f in rgb])


class Dists(Metric):
    resize256: ClassVar[bool] = False
    spec = MetricSpec(
        "dists",
        "1",
        lower_better=True,
        unit="",
        granularity="frame",
        value_range=(0.0, 1.0),
        description="DISTS, official alpha/beta on ImageNet VGG16, frames at their own size",
        bd_axis="1-x",
    )
    weights = (VGG_FILE, ALPHA_BETA_FILE)

    def __init__(self, device: str = "cpu", batch_size: int | None = None, vgg_state: dict | None = None):
        super().__init__(device, batch_size)
        self._vgg_state = vgg_state  # tests pass a seeded random backbone here
        self._model = None

    def model(self):
        if self._model is None:
            vgg = (
                self._vgg_state
                if self._vgg_state is not None
                else load_state_dict(resolve(VGG_FILE, allow_download=False))
            )
            ab = load_state_dict(resolve(ALPHA_BETA_FILE, allow_download=False))
            self._model = _network(vgg, ab["alpha"], ab["beta"]).to(self.device)
        return self._model

    def provenance(self) -> dict:
        files = [record(ALPHA_BETA_FILE, resolve(ALPHA_BETA_FILE, allow_download=False))]
        if self._vgg_state is None:
            files.append(record(VGG_FILE, resolve(VGG_FILE, allow_download=False)))
        return super().provenance() | {
            "implementation": "gvcbench (Ding et al. 2020 definition), official alpha/beta",
            "backbone": "vgg16",
            "weights": files,
            "input": INPUT_DESCRIPTION,
            "resize": "official: shorter side to 256 px, bilinear" if self.resize256 else "none (own size)",
        }

    def frame_values(self, reference, distorted) -> np.ndarray:
        import torch

        model = self.model()
        prepare = resize_shorter_to_256 if self.resize256 else None
        with torch.no_grad():
            out = [
                model(x, y).double().cpu().numpy()
                for x, y in paired_batches(reference, distorted, self.batch_size, self.device, prepare)
            ]
        return np.concatenate(out)


class Dists256(Dists):
    resize256 = True
    spec = MetricSpec(
        "dists-256",
        "1",
        lower_better=True,
        unit="",
        granularity="frame",
        value_range=(0.0, 1.0),
        description="DISTS with the official resize of the shorter side to 256 px",
        bd_axis="1-x",
    )
