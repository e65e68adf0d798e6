"""Kinetics-400 I3D feature extractors for FVD.

* ``torchscript`` (default): the TorchScript I3D that StyleGAN-V's FVD (and the ports
  built on it) load, called with ``rescale=False, resize=False, return_features=True``
  on clips resized and centre-cropped to 224 and scaled to [-1, 1].
* ``videogpt``: the InceptionI3d state dict of VideoGPT-style ports, on our own
  implementation of that architecture (module names match the state dict); clips are
  scaled to [-0.5, 0.5] as those ports do, and the 400 logits averaged over time are the
  features.
"""

from __future__ import annotations

import math

FEATURE_DIM = 400
RESOLUTION = 224


def preprocess(clip, shift: float, scale: float):
    """clip: (T, 3, H, W) float in [0, 1] -> (3, T, 224, 224): shorter side to 224
    (bilinear), centre crop, then (x - shift) * scale."""
    import torch.nn.functional as F

    _, _, h, w = clip.shape
    factor = RESOLUTION / min(h, w)
    size = (RESOLUTION, math.ceil(w * factor)) if h < w else (math.ceil(h * factor), RESOLUTION)
    clip = F.interpolate(clip, size=size, mode="bilinear", align_corners=False)
    h, w = clip.shape[2:]
    top, left = (h - RESOLUTION) // 2, (w - RESOLUTION) // 2
    clip = clip[:, :, top : top + RESOLUTION, left : left + RESOLUTION]
    return ((clip - shift) * scale).permute(1, 0, 2, 3).contiguous()


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def build_inception_i3d(num_classes: int = FEATURE_DIM):
    """InceptionI3d (Carreira & Zisserman 2017) with TensorFlow 'same' padding."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def pad_same(x, kernel, stride):
        pads = []
        for dim in (2, 1, 0):  # F.pad wants the last dimension first: W, H, T
            pads += _same_pad(x.shape[2 + dim], kernel[dim], stride[dim])
        return F.pad(x, pads)

    class Unit3D(nn.Module):
        def __init__(self, cin, cout, kernel=(1, 1, 1), stride=(1, 1, 1), relu=True, bn=True, bias=False):
            super().__init__()
            self.kernel, self.stride, self.relu = kernel, stride, relu
            self.conv3d = nn.Conv3d(cin, cout, kernel, stride, padding=0, bias=bias)
            self.bn = nn.BatchNorm3d(cout, eps=0.001, momentum=0.01) if bn else None

        def forward(self, x):
            x = self.conv3d(pad_same(x, self.kernel, self.stride))
            if self.bn is not None:
                x = self.bn(x)
            return F.relu(x) if self.relu else x

    class MaxPoolSame(nn.Module):
        def __init__(self, kernel, stride):
            super().__init__()
            self.kernel, self.stride = kernel, stride

        def forward(self, x):
            return F.max_pool3d(pad_same(x, self.kernel, self.stride), self.kernel, self.stride)

    class Inception(nn.Module):
        def __init__(self, cin, c):
            super().__init__()
            self.b0 = Unit3D(cin, c[0])
            self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], (3, 3, 3))
            self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], (3, 3, 3))
            self.b3a, self.b3b = MaxPoolSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, c[5])

        def forward(self, x):
            return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)

    class InceptionI3d(nn.Module):
        def __init__(self):
            super().__init__()
            layers = [
                ("Conv3d_1a_7x7", Unit3D(3, 64, (7, 7, 7), (2, 2, 2))),
                ("MaxPool3d_2a_3x3", MaxPoolSame((1, 3, 3), (1, 2, 2))),
                ("Conv3d_2b_1x1", Unit3D(64, 64)),
                ("Conv3d_2c_3x3", Unit3D(64, 192, (3, 3, 3))),
                ("MaxPool3d_3a_3x3", MaxPoolSame((1, 3, 3), (1, 2, 2))),
                ("Mixed_3b", Inception(192, (64, 96, 128, 16, 32, 32))),
                ("Mixed_3c", Inception(256, (128, 128, 192, 32, 96, 64))),
                ("MaxPool3d_4a_3x3", MaxPoolSame((3, 3, 3), (2, 2, 2))),
                ("Mixed_4b", Inception(480, (192, 96, 208, 16, 48, 64))),
                ("Mixed_4c", Inception(512, (160, 112, 224, 24, 64, 64))),
                ("Mixed_4d", Inception(512, (128, 128, 256, 24, 64, 64))),
                ("Mixed_4e", Inception(512, (112, 144, 288, 32, 64, 64))),
                ("Mixed_4f", Inception(528, (256, 160, 320, 32, 128, 128))),
                ("MaxPool3d_5a_2x2", MaxPoolSame((2, 2, 2), (2, 2, 2))),
                ("Mixed_5b", Inception(832, (256, 160, 320, 32, 128, 128))),
                ("Mixed_5c", Inception(832, (384, 192, 384, 48, 128, 128))),
            ]
            self.order = [name for name, _ in layers]
            for name, module in layers:
                self.add_module(name, module)
            self.avg_pool = nn.AvgPool3d((2, 7, 7), stride=(1, 1, 1))
            self.dropout = nn.Dropout(0.5)
            self.logits = Unit3D(1024, num_classes, relu=False, bn=False, bias=True)

        def forward(self, x):
            for name in self.order:
                x = getattr(self, name)(x)
            x = self.logits(self.dropout(self.avg_pool(x)))
            return x.squeeze(3).squeeze(3).mean(2)  # (B, classes): logits averaged over time

    return InceptionI3d().eval()


class TorchScriptI3D:
    name = "torchscript"
    shift, scale = 0.5, 2.0  # [0, 1] -> [-1, 1]

    def __init__(self, path, device: str):
        import torch

        self.model = torch.jit.load(str(path), map_location=device).eval()

    def __call__(self, batch):
        return self.model(batch, rescale=False, resize=False, return_features=True)


class VideoGptI3D:
    name = "videogpt"
    shift, scale = 0.5, 1.0  # [0, 1] -> [-0.5, 0.5], as VideoGPT-style ports feed it

    def __init__(self, state_dict: dict, device: str):
        self.model = build_inception_i3d()
        self.model.load_state_dict(state_dict, strict=True)
        self.model.to(device)

    def __call__(self, batch):
        return self.model(batch)
