"""LPIPS through the PyPI package ``lpips`` (v0.1 heads), AlexNet by default, VGG as an option.

The package would download the ImageNet backbone through torchvision; gvcbench builds
the network without it (``pnet_rand``) and loads the backbone and the linear heads from
verified files (gvcbench/weights.py), so a missing file is an error, never random weights.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..errors import MetricError
from ..weights import load_state_dict, record, resolve
from .base import Metric, MetricSpec
from .torch_input import INPUT_DESCRIPTION, paired_batches

BACKBONE_FILE = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
HEADS_FILE = {"alex": "lpips-v0.1-alex.pth", "vgg": "lpips-v0.1-vgg.pth"}


def load_backbone(model, net_state: dict) -> None:
    """Put torchvision ``features.N.*`` weights into the lpips network's slices."""
    owner = {}
    for slice_name, block in model.net.named_children():
        for index, _ in block.named_children():
            owner[index] = slice_name
    state = {}
    for key, value in net_state.items():
        if not key.startswith("features."):
            continue  # classifier layers are not part of LPIPS
        _, index, rest = key.split(".", 2)
        if index in owner:
            state[f"{owner[index]}.{index}.{rest}"] = value
    missing, unexpected = model.net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise MetricError(f"backbone weights do not fit the LPIPS network (missing {missing}, unexpected {unexpected})")


def build_lpips(net: str, backbone_state: dict, heads_state: dict):
    import lpips

    model = lpips.LPIPS(net=net, version="0.1", pretrained=False, pnet_rand=True, verbose=False)
    load_backbone(model, backbone_state)
    missing, unexpected = model.load_state_dict(heads_state, strict=False)
    # ``lins.N`` aliases ``linN``, so only missing ``linN`` keys mean the heads did not load.
    if unexpected or any(k.startswith("lin") and not k.startswith("lins.") for k in missing):
        raise MetricError(f"LPIPS head weights do not fit (missing {missing}, unexpected {unexpected})")
    return model.eval()


class Lpips(Metric):
    net: ClassVar[str] = "alex"
    spec = MetricSpec(
        "lpips",
        "1",
        lower_better=True,
        unit="",
        granularity="frame",
        value_range=(0.0, 1.0),
        description="LPIPS v0.1, AlexNet backbone (lpips package)",
        bd_axis="1-x",
    )
    weights = (BACKBONE_FILE["alex"], HEADS_FILE["alex"])

    def __init__(self, device: str = "cpu", batch_size: int | None = None, backbone_state: dict | None = None):
        super().__init__(device, batch_size)
        self._backbone_state = backbone_state  # tests pass a seeded random backbone here
        self._model = None

    def model(self):
        if self._model is None:
            backbone = self._backbone_state
            if backbone is None:
                backbone = load_state_dict(resolve(BACKBONE_FILE[self.net], allow_download=False))
            heads = load_state_dict(resolve(HEADS_FILE[self.net], allow_download=False))
            self._model = build_lpips(self.net, backbone, heads).to(self.device)
        return self._model

    def provenance(self) -> dict:
        import lpips

        files = [record(HEADS_FILE[self.net], resolve(HEADS_FILE[self.net], allow_download=False))]
        if self._backbone_state is None:
            files.append(record(BACKBONE_FILE[self.net], resolve(BACKBONE_FILE[self.net], allow_download=False)))
        else:
            files.append({"file": "backbone given in memory (test)", "sha256": None})
        return super().provenance() | {
            "implementation": f"lpips {lpips.__version__ if hasattr(lpips, '__version__') else ''}".strip(),
            "backbone": self.net,
            "heads": "v0.1",
            "weights": files,
            "input": INPUT_DESCRIPTION + ", mapped to [-1, 1]",
            "resize": "none",
        }

    def frame_values(self, reference, distorted) -> np.ndarray:
        import torch

        model = self.model()
        out = []
        with torch.no_grad():
            for x, y in paired_batches(reference, distorted, self.batch_size, self.device):
                out.append(model(x, y, normalize=True).flatten().double().cpu().numpy())
        return np.concatenate(out)


class LpipsVgg(Lpips):
    net = "vgg"
    spec = MetricSpec(
        "lpips-vgg",
        "1",
        lower_better=True,
        unit="",
        granularity="frame",
        value_range=(0.0, 1.0),
        description="LPIPS v0.1, VGG16 backbone (lpips package)",
        bd_axis="1-x",
    )
    weights = (BACKBONE_FILE["vgg"], HEADS_FILE["vgg"])
