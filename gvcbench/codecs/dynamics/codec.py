"""The ``dynamics`` adapter: Dynamics-Codec (Yin et al., "Compressing Scene Dynamics: A
Generative Approach"), our own implementation and training.

Encoder: the key frame (frame 0) by VVC intra (vvenc through FFmpeg, or VTM with
``encoder_intra_vtm.cfg``) at the rate point's QP; for every inter frame the dense
backward flow to the key frame (OpenCV DIS by default), watershed sparse sampling, the
tokenizer's 40 tokens, quantised with ``step``, predicted from the previous frame's
decoded tokens, the residuals coded by the context-adaptive binary arithmetic coder.
Decoder: the key frame; the tokens; the dense flow recovered from tokens x key-frame
features; the key frame warped by it and refined by a small network. The bitstream's
parts (key frame, tokens, header) are reported separately.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...datasets.sequence import ColourInfo, Sequence, rgb_to_yuv420
from ...errors import CodecError, CodecUnavailable, ConfigError
from ..base import Bitstream, Codec, Decoded, RatePoint, source_info
from . import bitstream as bs
from .entropy import BitstreamError, decode_residuals, encode_residuals
from .flow import ESTIMATORS, make_estimator, warp

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "dynamics-v1.pt"
KEYFRAME_CODECS = ("vvenc", "vtm")
GENERATORS = ("warp",)


@dataclass(frozen=True)
class DynamicsParams:
    keyframe_codec: str = "vvenc"
    keyframe_preset: str = "medium"
    vtm_dir: str | None = None
    flow: str = "dis"
    step: float = 0.05
    weights: str | None = None
    generator: str = "warp"

    def __post_init__(self):
        if self.keyframe_codec not in KEYFRAME_CODECS:
            raise ConfigError(f"keyframe_codec must be one of {', '.join(KEYFRAME_CODECS)}")
        if self.flow not in ESTIMATORS:
            raise ConfigError(f"flow must be one of {', '.join(ESTIMATORS)}")
        if not 0 < self.step < 10:
            raise ConfigError(f"step must be in (0, 10), got {self.step}")
        if self.generator not in GENERATORS:
            raise ConfigError(f"generator must be one of {', '.join(GENERATORS)}")


@lru_cache(maxsize=4)
def load_model(path: str):
    from ...metrics.weights import load_state_dict
    from .model import DynamicsModel

    model = DynamicsModel()
    state = load_state_dict(Path(path))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()


def _rgb(seq: Sequence, t: int) -> np.ndarray:
    return np.rint(seq.rgb(t, t + 1)[0] * 255).astype(np.uint8)


class DynamicsCodec(Codec):
    name = "dynamics"
    description = "Dynamics-Codec: VVC-intra key frame + 40 motion tokens per inter frame, flow-warping generator"
    Params = DynamicsParams
    default_qps = (32, 37, 42, 47)  # key-frame QPs, as in the paper
    qp_range = (0, 63)

    @property
    def weights_path(self) -> Path:
        return Path(self.params.weights) if self.params.weights else DEFAULT_WEIGHTS

    def _keyframe_codec(self) -> Codec:
        from ..vtm import VtmLDB
        from ..vvenc import VvencLDB

        if self.params.keyframe_codec == "vvenc":
            return VvencLDB(preset=self.params.keyframe_preset)
        return VtmLDB(vtm_dir=self.params.vtm_dir, config="encoder_intra_vtm.cfg")

    def availability(self) -> str | None:
        if not self.weights_path.is_file():
            return (f"Dynamics-Codec weights {self.weights_path} are missing; train them with "
                    f"`gvcbench dynamics train --output {self.weights_path}`")
        return self._keyframe_codec().availability()

    def model_id(self) -> str:
        from ...tools import sha256_file

        return f"dyn1-{sha256_file(self.weights_path)[:10]}"

    def version(self) -> str:
        reason = self.availability()
        if reason:
            raise CodecUnavailable(f"dynamics: {reason}")
        return f"dynamics {self.model_id()} flow={self.params.flow}; key frame {self._keyframe_codec().version()}"

    # -- encoder -------------------------------------------------------------------
    def tokens(self, seq: Sequence) -> np.ndarray:
        """(T-1, 40) float tokens of every inter frame."""
        import torch

        from .model import FLOW_NORM, SCALE
        from .sampling import sparsify
        from .train import low_res

        model = load_model(str(self.weights_path))
        estimator = make_estimator(self.params.flow)
        key = _rgb(seq, 0)
        sparse, masks = [], []
        for t in range(1, seq.num_frames):
            flow = low_res(estimator.backward(key, _rgb(seq, t)), SCALE, is_flow=True).astype(np.float32)
            s, m = sparsify(flow, min_distance=2, grid=8)
            sparse.append(s)
            masks.append(m)
        if not sparse:
            return np.zeros((0, 40), np.float32)
        with torch.no_grad():
            s = torch.from_numpy(np.stack(sparse)).permute(0, 3, 1, 2) / FLOW_NORM
            m = torch.from_numpy(np.stack(masks))[:, None]
            return model.tokenizer(s, m).numpy()

    def encode(self, seq: Sequence, point: RatePoint, workdir: Path, timeout: float) -> Bitstream:
        self.check_point(point)
        if seq.width % 16 or seq.height % 16:
            raise CodecError(f"dynamics needs frame sizes that are multiples of 16, got {seq.width}x{seq.height}")
        kf_codec = self._keyframe_codec()
        key_dir = workdir / "keyframe"
        key_dir.mkdir(parents=True, exist_ok=True)
        key_bs = kf_codec.encode(seq.frames(0, 1), point, key_dir, timeout)
        header = bs.Header(seq.width, seq.height, seq.num_frames, seq.fps.numerator, seq.fps.denominator,
                           seq.bit_depth, seq.colour.matrix, seq.colour.range, self.params.keyframe_codec,
                           point.qp, 40, self.params.step, self.model_id())
        q = np.rint(self.tokens(seq) / header.step).astype(np.int64)
        residuals = np.diff(np.vstack([np.zeros((1, 40), np.int64), q]), axis=0) if len(q) else q
        token_bytes = encode_residuals(residuals.tolist(), 40)
        key_bytes = key_bs.path.read_bytes()
        data = bs.build(header, key_bytes, token_bytes)
        out = workdir / "bitstream.gvdc"
        out.write_bytes(data)
        (workdir / "tokens.json").write_text(json.dumps(q.tolist()))  # what the decoder must reproduce
        parts = {"keyframe": len(key_bytes), "tokens": len(token_bytes),
                 "header": len(data) - len(key_bytes) - len(token_bytes)}
        return Bitstream(out, source_info(seq), key_bs.tool_seconds, key_bs.tool_cpu_seconds, parts)

    # -- decoder -------------------------------------------------------------------
    def decode_tokens(self, parsed: bs.Parsed) -> np.ndarray:
        h = parsed.header
        residuals = np.array(decode_residuals(parsed.tokens, h.frames - 1, h.tokens), dtype=np.int64)
        return np.cumsum(residuals.reshape(h.frames - 1, h.tokens), axis=0)

    def decode(self, bitstream: Bitstream, workdir: Path, timeout: float) -> Decoded:
        import torch
        import torch.nn.functional as F

        from .model import FLOW_NORM, SCALE
        from .train import low_res

        try:
            parsed = bs.parse(bitstream.path.read_bytes())
        except BitstreamError as exc:
            raise CodecError(f"dynamics bitstream rejected: {exc}") from None
        h = parsed.header
        if h.model_id != self.model_id():
            raise CodecError(f"bitstream made by model {h.model_id}, these weights are {self.model_id()}")
        q = self.decode_tokens(parsed) if h.frames > 1 else np.zeros((0, h.tokens), np.int64)
        key = self._decode_keyframe(parsed, workdir, timeout)
        frames_rgb = []
        key_rgb = _rgb(key, 0)
        if len(q):
            model = load_model(str(self.weights_path))
            tokens = torch.from_numpy(q.astype(np.float32) * h.step)
            key_low = torch.from_numpy(low_res(key_rgb, SCALE)).permute(2, 0, 1)[None].float() / 255
            key_full = torch.from_numpy(key_rgb).permute(2, 0, 1)[None].float() / 255
            with torch.no_grad():
                for t in range(len(q)):
                    flow = model.recovery(key_low, tokens[t:t + 1]) * FLOW_NORM * SCALE
                    flow = F.interpolate(flow, size=(h.height, h.width), mode="bilinear", align_corners=False)
                    flow_np = flow[0].permute(1, 2, 0).numpy()
                    warped = torch.from_numpy(warp(key_rgb, flow_np)).permute(2, 0, 1)[None].float() / 255
                    out = model.refiner(warped, key_full, flow)
                    frames_rgb.append(np.rint(out[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))
        colour = ColourInfo(h.matrix, h.range)
        if frames_rgb:
            y, u, v = rgb_to_yuv420(np.stack(frames_rgb), h.bit_depth, colour)
            y, u, v = (np.concatenate([a, b]) for a, b in ((key.y, y), (key.u, u), (key.v, v)))
        else:
            y, u, v = key.y, key.u, key.v
        seq = Sequence(bitstream.info.get("name", "decoded"), y, u, v, Fraction(h.fps_num, h.fps_den), h.bit_depth,
                       colour)
        return Decoded(seq, 0.0, 0.0, bitstream.path.stat().st_size)

    def _decode_keyframe(self, parsed: bs.Parsed, workdir: Path, timeout: float) -> Sequence:
        h = parsed.header
        kf_codec = self._keyframe_codec()
        key_dir = workdir / "keyframe-decode"
        key_dir.mkdir(parents=True, exist_ok=True)
        path = key_dir / "keyframe.266"
        path.write_bytes(parsed.keyframe)
        info = {"name": "key", "width": h.width, "height": h.height, "frames": 1, "fps": [h.fps_num, h.fps_den],
                "bit_depth": h.bit_depth, "matrix": h.matrix, "range": h.range,
                "coded_bit_depth": 10 if h.keyframe_codec == "vvenc" else h.bit_depth}
        return kf_codec.decode(Bitstream(path, info), key_dir, timeout).sequence
