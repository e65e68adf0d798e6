"""Frame-level FID through the pytorch-fid package.

Every frame of a video goes through pytorch-fid's ``InceptionV3`` (the FID Inception
weights of TensorFlow's FID, ``pt_inception-2015-12-05-6726825d.pth``; pool3 features,
2048-d, by default): 8-bit RGB in [0, 1], resized by the network to 299x299 (bilinear) and
scaled to [-1, 1], as pytorch-fid feeds its image files. A rate point's FID pools the
frames of all its sequences, reference against reconstruction.

The value is pytorch-fid's ``calculate_frechet_distance`` on the pooled means and
covariances. Where a side has fewer frames than dimensions (a test set of 35 clips of 50
frames has 1750), the covariances are singular: their d x d square root is both slow
(minutes for 2048-d on a small CPU) and inaccurate, so the value is then computed
exactly from the feature vectors (``frechet_from_features``) and the note says so.
"""

from __future__ import annotations

import threading
from typing import ClassVar

import numpy as np

from ..errors import MetricError
from ..weights import load_state_dict, record, resolve
from .base import MetricSpec
from .frechet import FrechetState, frechet_from_features, warn_if_few
from .setmetric import SetMetric, SetState, decode_features
from .torch_input import INPUT_DESCRIPTION, rgb_uint8, to_tensor

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
DIMS = 2048

_build_lock = threading.Lock()


def build_inception(state_dict: dict, dims: int = DIMS):
    """pytorch-fid's ``InceptionV3`` returning the ``dims``-d block, with ``state_dict`` as the
    FID Inception weights. pytorch-fid fetches its weights from its release URL while it builds
    the network; here that fetch is answered with the file the resolver verified, so nothing
    is downloaded behind the resolver's back."""
    import pytorch_fid.inception as pfi

    if dims not in pfi.InceptionV3.BLOCK_INDEX_BY_DIM:
        raise MetricError(f"FID dims must be one of {sorted(pfi.InceptionV3.BLOCK_INDEX_BY_DIM)}, got {dims}")
    with _build_lock:
        fetch = pfi.load_state_dict_from_url
        pfi.load_state_dict_from_url = lambda *args, **kwargs: state_dict
        try:
            return pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[dims]]).eval()
        except RuntimeError as exc:  # load_state_dict: missing or unexpected keys, other shapes
            raise MetricError(f"{WEIGHTS_FILE} does not fit pytorch-fid's InceptionV3: {exc}") from None
        finally:
            pfi.load_state_dict_from_url = fetch


class Fid(SetMetric):
    """FID over the frames of a set of videos; a job's own value is the FID of its frames
    against the original's frames."""

    spec = MetricSpec(
        "fid",
        "1",
        lower_better=True,
        unit="",
        granularity="set",
        value_range=(0.0, float("inf")),
        description="FID, pytorch-fid InceptionV3 (pool3, 2048-d), every frame",
        bd_axis="-x",
    )
    weights = (WEIGHTS_FILE,)
    default_batch_size: ClassVar[int] = 32  # frames per forward pass on a GPU

    def __init__(self, device: str = "cpu", batch_size: int | None = None, dims: int = DIMS):
        super().__init__(device, batch_size)
        self.dims = dims
        self._network = None
        self._weights_record: dict | None = None

    def _weights(self) -> dict:
        if self._weights_record is None:  # hashing the 95 MB file once per process, not per job
            self._weights_record = record(WEIGHTS_FILE, resolve(WEIGHTS_FILE, allow_download=False))
        return self._weights_record

    def network(self):
        if self._network is None:
            path = resolve(WEIGHTS_FILE, allow_download=False)
            self._network = build_inception(load_state_dict(path), self.dims).to(self.device)
        return self._network

    def provenance(self) -> dict:
        from importlib.metadata import version

        return super().provenance() | {
            "implementation": f"pytorch-fid {version('pytorch-fid')} InceptionV3 and calculate_frechet_distance",
            "weights": [self._weights()],
            "input": INPUT_DESCRIPTION,
            "resize": "299x299 bilinear inside the network (pytorch-fid resize_input)",
            "features": f"{self.dims}-d, every frame",
            "distance": "pytorch-fid calculate_frechet_distance; exact low-rank form where a side has "
            "fewer frames than dimensions",
        }

    def reference_identity(self) -> dict | None:
        return {
            "metric": self.spec.name,
            "version": self.spec.version,
            "weights": self._weights(),
            "dims": self.dims,
            "device": self.device,
            "what": "InceptionV3 features of the original's frames",
        }

    def features(self, seq) -> np.ndarray:
        """(frames, dims) float32 features, as pytorch-fid's ``get_activations`` makes them."""
        import torch
        from torch.nn.functional import adaptive_avg_pool2d

        net = self.network()
        out = []
        with torch.no_grad():
            for start in range(0, seq.num_frames, self.batch_size):
                stop = min(start + self.batch_size, seq.num_frames)
                pred = net(to_tensor(rgb_uint8(seq, start, stop), self.device))[0]
                if pred.shape[2:] != (1, 1):  # blocks before pool3 are averaged over space, as pytorch-fid does
                    pred = adaptive_avg_pool2d(pred, output_size=(1, 1))
                out.append(pred.squeeze(3).squeeze(2).cpu().numpy())
        return np.concatenate(out)

    def sequence_value(self, ref_features: np.ndarray, dist_features: np.ndarray) -> float:
        return frechet_from_features(ref_features, dist_features)

    def state(self, blob: dict) -> FrechetState:
        ref, dist = decode_features(blob["reference"]), decode_features(blob["distorted"])
        return FrechetState.of(ref, dist, self.dims, keep_below=self.dims)

    def compute(self, state: SetState) -> float:
        from pytorch_fid.fid_score import calculate_frechet_distance

        assert isinstance(state, FrechetState)
        warn_if_few(state.reference, "reference", "FID")
        warn_if_few(state.distorted, "reconstruction", "FID")
        vectors = state.vectors()
        if vectors is not None:
            return frechet_from_features(*vectors)
        mu_r, cov_r = state.reference.mean_cov("FID")
        mu_d, cov_d = state.distorted.mean_cov("FID")
        return float(calculate_frechet_distance(mu_r, cov_r, mu_d, cov_d))
