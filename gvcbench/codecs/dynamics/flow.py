"""Dense optical flow between the key frame and each inter frame.

Flows here are *backward* flows on the inter frame's grid: ``frame_t(p) ≈ key(p + F(p))``,
which is what warping the decoded key frame needs. ``dis`` (OpenCV DIS, no weights) is
the default; ``farneback`` needs none either; ``raft`` (torchvision RAFT) loads local
weights through the resolver and is an option for users who have them.

DIS and Farneback can start from a given flow (``init``): the encoder tracks a clip by
starting each inter frame's flow from the previous frame's (``codec.DynamicsParams.flow_tracking``).
A motion that keeps going (water, a drifting cloud) is 20-50 px from the key frame by
the end of a clip; estimated from zero each time, repetitive texture gets matched to
the wrong wave or leaf in some frames and not in others, and the decoded video jitters.
RAFT searches all displacements at once and takes no start (``tracks = False``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ...errors import ConfigError


def gray8(rgb: np.ndarray) -> np.ndarray:
    """uint8 luma of an (H, W, 3) uint8 RGB frame (BT.601 weights, as OpenCV)."""
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def start_flow(init: np.ndarray | None, key: np.ndarray) -> np.ndarray | None:
    """A copy of ``init`` for an OpenCV estimator to start from (it writes its result into
    the array it is given), checked to be a full-size flow of ``key``."""
    if init is None:
        return None
    if init.shape != (*key.shape[:2], 2):
        raise ValueError(f"a start flow must be {key.shape[0]}x{key.shape[1]}x2 like the frames, got {init.shape}")
    return np.array(init, np.float32, copy=True)


class FlowEstimator(ABC):
    name: str
    tracks = False  # whether ``backward`` uses ``init``

    @abstractmethod
    def backward(self, key: np.ndarray, frame: np.ndarray, init: np.ndarray | None = None) -> np.ndarray:
        """(H, W, 2) float32 flow F with frame(p) ≈ key(p + F(p)); inputs uint8 RGB; the
        search starts from ``init`` (a flow of the same shape) when given and ``tracks``."""


class DisFlow(FlowEstimator):
    name = "dis"
    tracks = True

    def __init__(self, preset: str = "medium"):
        """``preset``: OpenCV's ultrafast, fast or medium (the codec's: its finest level is
        half the frame), or ``fine``: medium searched down to the full-size level with
        6-pixel patches every 2 pixels and 10 variational iterations. Fine sees motion of
        a few pixels' wavelength (water ripples: medium misses 0.90 of the synthetic
        ripple's true motion, fine 0.38) at 5-10x the time (docs/dynamics-codec.md, "Ripple:
        the estimator and the grid")."""
        import cv2

        presets = {
            "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
            "fine": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        }
        if preset not in presets:
            raise ConfigError(f"DIS preset must be one of {', '.join(presets)}")
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(presets[preset])  # type: ignore[attr-defined]  # missing in cv2's stubs
        if preset == "fine":
            self._dis.setFinestScale(0)
            self._dis.setPatchSize(6)
            self._dis.setPatchStride(2)
            self._dis.setVariationalRefinementIterations(10)
            self._dis.setGradientDescentIterations(50)

    def backward(self, key, frame, init=None):
        return self._dis.calc(gray8(frame), gray8(key), start_flow(init, key))


class FarnebackFlow(FlowEstimator):
    name = "farneback"
    tracks = True

    def backward(self, key, frame, init=None):
        import cv2

        start = start_flow(init, key)
        flags = 0 if start is None else cv2.OPTFLOW_USE_INITIAL_FLOW
        return cv2.calcOpticalFlowFarneback(gray8(frame), gray8(key), start, 0.5, 4, 15, 3, 5, 1.1, flags)


class RaftFlow(FlowEstimator):
    """torchvision's RAFT (large), weights resolved locally; needs a file the user provides."""

    name = "raft"
    weights_file = "raft_large_C_T_SKHT_V2-ff5fadd5.pth"

    def __init__(self, device: str = "cpu"):
        import torch
        from torchvision.models.optical_flow import raft_large

        from ...weights import load_state_dict, resolve

        self.device = device
        self.model = raft_large(weights=None)
        self.model.load_state_dict(load_state_dict(resolve(self.weights_file)))
        self.model.eval().to(device)
        self._torch = torch

    def backward(self, key, frame, init=None):
        torch = self._torch

        def prep(x):
            return torch.from_numpy(x).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(self.device)

        h, w = key.shape[:2]
        ph, pw = (8 - h % 8) % 8, (8 - w % 8) % 8
        a, b = prep(frame), prep(key)
        if ph or pw:
            a = torch.nn.functional.pad(a, (0, pw, 0, ph), mode="replicate")
            b = torch.nn.functional.pad(b, (0, pw, 0, ph), mode="replicate")
        with torch.no_grad():
            flow = self.model(a, b)[-1][0, :, :h, :w]
        return flow.permute(1, 2, 0).cpu().numpy().astype(np.float32)


ESTIMATORS: dict[str, type[FlowEstimator]] = {"dis": DisFlow, "farneback": FarnebackFlow, "raft": RaftFlow}


def make_estimator(name: str) -> FlowEstimator:
    if name not in ESTIMATORS:
        raise ConfigError(f"unknown flow estimator {name!r}; use one of {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name]()


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: out(p) = image(p + flow(p)), bilinear, reflected borders."""
    import cv2

    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
