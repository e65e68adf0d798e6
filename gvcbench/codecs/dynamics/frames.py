"""What the Dynamics-Codec networks see of a video, shared by the encoder, the decoder and
training (torch-free, so that listing the codecs imports no torch).

Flows and key frames enter the networks at a quarter of the frame size (``SCALE``);
flows are in pixels of that grid divided by ``FLOW_NORM``. How many tokens an inter
frame becomes is a property of the weights (``model.DynamicsModel.tokens``).
"""

from __future__ import annotations

import numpy as np

SCALE = 4
FLOW_NORM = 2.0


def low_res(rgb_or_flow: np.ndarray, scale: int, is_flow: bool = False) -> np.ndarray:
    """A frame or a flow at 1/scale of its size (area average; flows also scaled in length)."""
    import cv2

    h, w = rgb_or_flow.shape[:2]
    out = cv2.resize(rgb_or_flow, (w // scale, h // scale), interpolation=cv2.INTER_AREA)
    return out / scale if is_flow else out


def tokenizer_inputs(estimator, key: np.ndarray, frame: np.ndarray, init: np.ndarray | None = None):
    """(full flow, quarter-size flow, sparse flow, mask) of one inter frame: the encoder's
    path into the tokenizer, shared by training so both sample the flow the same way;
    ``init``: the full flow the estimator starts from (the encoder's tracking)."""
    from .sampling import sparsify

    flow = estimator.backward(key, frame, init)
    flow_low = low_res(flow, SCALE, is_flow=True).astype(np.float32)
    sparse, mask = sparsify(flow_low, min_distance=2, grid=8)
    return flow, flow_low, sparse, mask
