"""Dynamics-Codec: flow and sampling, a short training run, the adapter end to end."""

import json
import struct
import zlib
from fractions import Fraction

import numpy as np
import pytest

from gvcbench.bench.plan import make_codec
from gvcbench.codecs import RatePoint
from gvcbench.codecs.dynamics import bitstream as bs
from gvcbench.codecs.dynamics.codec import DEFAULT_WEIGHTS
from gvcbench.codecs.dynamics.flow import DisFlow, warp
from gvcbench.codecs.dynamics.sampling import sparsify
from gvcbench.datasets.sequence import ColourInfo
from gvcbench.datasets.synthetic import generate
from gvcbench.errors import CodecError
from gvcbench.metrics.psnr import PsnrY

needs_weights = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped weights missing")


def _rgb(seq, t):
    return np.rint(seq.rgb(t, t + 1)[0] * 255).astype(np.uint8)


def test_dis_flow_and_warp_recover_synthetic_motion():
    seq, disp = generate("astronaut-breeze", size=384, frames=12, with_flow=True)
    flow = DisFlow().backward(_rgb(seq, 0), _rgb(seq, 11))
    assert np.linalg.norm(flow - disp[11], axis=-1).mean() < 0.5 * np.linalg.norm(disp[11], axis=-1).mean()
    warped = warp(_rgb(seq, 0), flow).astype(float)
    err_warp = np.abs(warped - _rgb(seq, 11)).mean()
    err_still = np.abs(_rgb(seq, 0).astype(float) - _rgb(seq, 11)).mean()
    assert err_warp < 0.6 * err_still


def _translating(size: int, frames: int, px_per_frame: float):
    """Gravel translating steadily: frame t = key shifted by (1, 0.3) x px_per_frame x t."""
    from gvcbench.datasets.synthetic import animate, source_image

    def motion(t):
        shift = np.array([1.0, 0.3], np.float32) * px_per_frame * 25 * t
        return np.broadcast_to(shift, (size, size, 2))

    return animate(source_image("gravel", size), motion, frames, 25.0)


@pytest.mark.parametrize("estimator", ["dis", "farneback"])
def test_tracking_follows_a_motion_that_outgrows_the_search(estimator):
    from gvcbench.codecs.dynamics.flow import make_estimator

    rgb, disp = _translating(192, 25, 1.5)  # 38 px from the key frame by the last frame
    est = make_estimator(estimator)
    inner = (slice(32, -32), slice(32, -32))  # away from the reflected borders
    error = lambda flow, t: np.linalg.norm(flow[inner] - disp[t][inner], axis=-1).mean()  # noqa: E731
    independent = [error(est.backward(rgb[0], rgb[t]), t) for t in range(1, 25)]
    previous, tracked = None, []
    for t in range(1, 25):
        kept = None if previous is None else previous.copy()
        flow = est.backward(rgb[0], rgb[t], previous)
        assert kept is None or np.array_equal(previous, kept)  # the start is not written into
        previous = flow
        tracked.append(error(flow, t))
    assert max(independent[-5:]) > 10  # from zero, the search locks onto a wrong stone
    assert max(tracked) < 0.5
    with pytest.raises(ValueError, match="start flow must be 192x192x2"):  # e.g. a quarter-size flow
        est.backward(rgb[0], rgb[1], np.zeros((48, 48, 2), np.float32))


@needs_weights
def test_training_packs_hold_the_flows_the_encoder_estimates():
    from gvcbench.codecs.dynamics import data as D
    from gvcbench.datasets.sequence import Sequence, rgb_to_yuv420

    rgb, _ = _translating(192, 12, 1.5)
    y, u, v = rgb_to_yuv420(rgb, 8, ColourInfo("bt709", "limited"))
    seq = Sequence("gravel-pan", y, u, v, Fraction(25), 8, ColourInfo("bt709", "limited"))
    clip = D.Clip("gravel-pan", "real", seq)
    for tracking in (True, False):
        pack = D.build_pack([clip], 4, np.random.default_rng(0), tracking=tracking)
        times = pack["times"]
        assert len(times) == 4 and times.max() < 12
        _, flows = make_codec("dynamics", {"keyframe_codec": "vvenc", "flow_tracking": tracking}).analyse(seq)
        encoder = flows[times - 1].astype(np.float16).astype(np.float32)
        assert np.array_equal(pack["flows"].astype(np.float32), encoder), tracking


def test_a_pack_is_built_with_the_estimator_object_it_is_given():
    """Diagnoses (benchmarks/dynamics_synthetic_truth.py) pass an estimator with other settings."""
    from gvcbench.codecs.dynamics import data as D
    from gvcbench.codecs.dynamics.flow import DisFlow
    from gvcbench.datasets.sequence import Sequence, rgb_to_yuv420

    rgb, _ = _translating(192, 8, 1.5)
    y, u, v = rgb_to_yuv420(rgb, 8, ColourInfo("bt709", "limited"))
    clip = D.Clip(
        "gravel-pan", "real", Sequence("gravel-pan", y, u, v, Fraction(25), 8, ColourInfo("bt709", "limited"))
    )

    def flows(flow):
        return D.build_pack([clip], 3, np.random.default_rng(0), flow=flow)["flows"]

    assert np.array_equal(flows(DisFlow("medium")), flows("dis"))
    assert not np.array_equal(flows(DisFlow("ultrafast")), flows("dis"))


@pytest.mark.parametrize("bad", [1, 0, 1.0, "yes", "true", "false", None])
def test_flow_tracking_must_be_a_boolean(bad):
    from gvcbench.errors import ConfigError

    with pytest.raises(ConfigError, match="flow_tracking must be true or false"):
        make_codec("dynamics", {"keyframe_codec": "vvenc", "flow_tracking": bad})


@needs_weights
def test_the_encoder_tracks_the_flow_and_says_so_in_its_version():
    from gvcbench.codecs.dynamics.frames import SCALE, low_res
    from gvcbench.datasets.sequence import Sequence, rgb_to_yuv420

    rgb, disp = _translating(192, 25, 1.5)
    y, u, v = rgb_to_yuv420(rgb, 8, ColourInfo("bt709", "limited"))
    seq = Sequence("gravel-pan", y, u, v, Fraction(25), 8, ColourInfo("bt709", "limited"))
    truth = np.stack([low_res(d, SCALE, is_flow=True) for d in disp[1:]])[:, 8:-8, 8:-8]
    errors, versions = {}, {}
    for tracking in (True, False):
        codec = make_codec("dynamics", {"keyframe_codec": "vvenc", "flow_tracking": tracking})
        tokens, flows = codec.analyse(seq)
        assert tokens.shape == (24, codec.tokens_per_frame()) and flows.shape == (24, 48, 48, 2)
        errors[tracking] = np.linalg.norm(flows[:, 8:-8, 8:-8] - truth, axis=-1).mean()
        versions[tracking] = codec.version()
    assert errors[True] < 0.1 and errors[False] > 1  # quarter-size pixels
    assert " flow=dis+tracking " in versions[True] and " flow=dis " in versions[False]
    raft = make_codec("dynamics", {"keyframe_codec": "vvenc", "flow": "raft"})
    assert not raft.tracks_flow and " flow=raft " in raft.version()  # RAFT takes no start


def test_sparse_sampling_keeps_flow_at_mask_only():
    _, disp = generate("coffee-ripple", size=128, frames=4, with_flow=True)
    sparse, mask = sparsify(disp[3], min_distance=4, grid=16)
    assert 10 < mask.sum() < 0.1 * mask.size
    assert np.allclose(sparse[mask == 0], 0) and np.allclose(sparse[mask == 1], disp[3][mask == 1])


@pytest.mark.slow
@needs_weights
def test_adapter_round_trip_reproduces_the_encoders_tokens(tmp_path):
    seq = generate("rocket-float", size=128, frames=6)
    codec = make_codec("dynamics", {"keyframe_preset": "faster"})
    bitstream = codec.encode(seq, RatePoint(qp=37), tmp_path, timeout=120)
    parsed = bs.parse(bitstream.path.read_bytes())
    sent = np.array(json.loads((tmp_path / "tokens.json").read_text()))
    assert np.array_equal(codec.decode_tokens(parsed), sent)  # bit for bit
    assert sum(bitstream.parts.values()) == bitstream.num_bytes and bitstream.parts["tokens"] > 0
    dec = codec.decode(bitstream, tmp_path, timeout=120)
    assert (dec.sequence.num_frames, dec.sequence.width) == (6, 128)
    assert PsnrY().frame_values(seq, dec.sequence).mean() > 20
    corrupt = bitstream.path.read_bytes()
    bitstream.path.write_bytes(corrupt[:-7])
    with pytest.raises(CodecError, match="truncated"):
        codec.decode(bitstream, tmp_path, timeout=120)


@pytest.mark.slow
@needs_weights
def test_dynamics_in_a_harness_run_reports_token_rate_separately(tmp_path):
    from gvcbench.bench.config import config_from_mapping
    from gvcbench.bench.runner import run_benchmark
    from gvcbench.bench.store import ResultStore

    cfg = config_from_mapping(
        {
            "dataset": {"source": "scene-dynamics-synth", "frames": 4, "size": "128x128"},
            "output": str(tmp_path / "run"),
            "metrics": ["psnr-y"],
            "jobs": 2,
            "keep_reconstructions": False,
            "codec": [{"name": "dynamics", "qps": [42], "params": {"keyframe_preset": "faster"}}],
        }
    )
    summary = run_benchmark(cfg)
    assert summary.failed == 0, summary.failures
    with ResultStore(tmp_path / "run", create=False) as store:
        rows = store.rows()
    assert len(rows) == 8
    for r in rows:
        assert set(r["parts"]) == {"keyframe", "tokens", "wave", "header"} and sum(r["parts"].values()) == r["bytes"]
        assert r["codec_version"].startswith("dynamics dyn5-")


@pytest.mark.slow
def test_raft_without_local_weights_is_a_clear_error(tmp_path, monkeypatch):
    from gvcbench.codecs.dynamics.flow import make_estimator
    from gvcbench.weights import MissingWeights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("GVCBENCH_OFFLINE", "1")
    monkeypatch.delenv("GVCBENCH_WEIGHTS", raising=False)
    with pytest.raises(MissingWeights, match="raft_large_C_T_SKHT_V2-ff5fadd5.pth.*starting ff5fadd5"):
        make_estimator("raft")


@pytest.mark.slow
@needs_weights
def test_key_frame_by_vtm_intra(vtm_dir, tmp_path):
    seq = generate("grass-sway", size=64, frames=3)
    codec = make_codec("dynamics", {"keyframe_codec": "vtm", "vtm_dir": vtm_dir})
    assert "encoder_intra_vtm.cfg" in codec.version()
    bitstream = codec.encode(seq, RatePoint(qp=37), tmp_path, timeout=120)
    assert bs.parse(bitstream.path.read_bytes()).header.keyframe_codec == "vtm"
    dec = codec.decode(bitstream, tmp_path, timeout=120)
    assert dec.sequence.num_frames == 3 and PsnrY().frame_values(seq, dec.sequence)[0] > 25


@needs_weights
@pytest.mark.parametrize("version, model, tokens", [(3, "dyn3-74e872abc3", 40), (4, "dyn4-51bf5012e9", 72)])
def test_bitstreams_of_older_weights_are_refused_with_a_clear_message(tmp_path, version, model, tokens):
    from gvcbench.codecs import Bitstream
    from gvcbench.codecs.dynamics.entropy import encode_residuals

    codec = make_codec("dynamics", {"keyframe_codec": "vvenc"})
    header = bs.Header(64, 64, 3, 25, 1, 8, "bt709", "limited", "vvenc", 37, tokens, 0.2, model)
    path = tmp_path / f"v{version}.gvdc"
    path.write_bytes(bs.build(header, b"key", encode_residuals([[0] * tokens] * 2, tokens)))
    with pytest.raises(CodecError, match=f"weights v{version} .*decodes weights v5 only.*encode the source again"):
        codec.decode(Bitstream(path, {}), tmp_path, timeout=60)
    old = bytearray(path.read_bytes())  # as v4 and v3 wrote them: bitstream version 1, no interval byte
    head = struct.unpack_from(">H", old, 5)[0]
    body = old[:4] + bytes([1]) + struct.pack(">H", head - 1) + old[7 : 7 + head - 1] + old[7 + head : -4]
    path.write_bytes(bytes(body) + struct.pack(">I", zlib.crc32(bytes(body))))
    assert bs.parse(path.read_bytes()).header.interval == 1
    with pytest.raises(CodecError, match=f"weights v{version} .*decodes weights v5 only"):
        codec.decode(Bitstream(path, {}), tmp_path, timeout=60)


def test_key_frame_codec_follows_vtm_dir(monkeypatch):
    from gvcbench.codecs.dynamics.codec import DynamicsParams

    monkeypatch.delenv("VTM_DIR", raising=False)
    assert DynamicsParams().keyframe_codec == "vvenc"
    assert DynamicsParams(vtm_dir="/opt/vtm").keyframe_codec == "vtm"
    monkeypatch.setenv("VTM_DIR", "/opt/vtm")
    assert DynamicsParams().keyframe_codec == "vtm" and DynamicsParams(keyframe_codec="vvenc").keyframe_codec == "vvenc"


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "5", True])
def test_token_rate_budget_must_be_a_rate(bad):
    from gvcbench.errors import ConfigError

    with pytest.raises(ConfigError, match="token_kbps must be a rate in kbps >= 0.*0 turns rate control off"):
        make_codec("dynamics", {"keyframe_codec": "vvenc", "token_kbps": bad})
    for off in (0, None):
        assert make_codec("dynamics", {"keyframe_codec": "vvenc", "token_kbps": off}).params.token_kbps == off


def test_token_rate_control_takes_the_finest_step_of_the_ladder_that_fits():
    from gvcbench.codecs.dynamics.codec import STEP_LADDER, code_tokens, fit_token_rate
    from gvcbench.codecs.dynamics.entropy import decode_residuals

    rng = np.random.default_rng(3)
    tokens = np.cumsum(rng.normal(0, 0.3, (24, 40)), axis=0).astype(np.float32)  # drifting tokens, 25 frames
    seconds = 1.0

    def kbps(payload):
        return len(payload) * 8 / seconds / 1000

    fixed = code_tokens(tokens, 0.2)
    assert fit_token_rate(tokens, 0.2, None, seconds)[2] == fixed[2] == fit_token_rate(tokens, 0.2, 0, seconds)[2]
    assert fit_token_rate(tokens, 0.2, 1e6, seconds)[2] == fixed[2]  # within budget: untouched
    budget = kbps(fixed[2]) / 3
    step, q, payload = fit_token_rate(tokens, 0.2, budget, seconds)
    assert kbps(payload) <= budget
    k = round(np.log(step / 0.2) / np.log(STEP_LADDER))
    assert k >= 1 and step == pytest.approx(0.2 * STEP_LADDER**k, rel=1e-6)
    assert kbps(code_tokens(tokens, 0.2 * STEP_LADDER ** (k - 1))[2]) > budget  # the finest that fits
    assert np.array_equal(np.cumsum(decode_residuals(payload, 24, 40), axis=0), q)
    assert np.array_equal(q, np.rint(tokens / step))
    with pytest.raises(CodecError, match="token_kbps = 0.001 cannot be met: with every token quantised to zero"):
        fit_token_rate(tokens, 0.2, 0.001, seconds)


@pytest.mark.slow
@needs_weights
def test_a_clip_over_its_token_budget_is_coded_at_a_coarser_step_and_decodes(tmp_path):
    from gvcbench.codecs.dynamics.codec import code_tokens

    seq = generate("astronaut-breeze", size=128, frames=8)
    seconds = seq.num_frames / float(seq.fps)
    every = {"keyframe_preset": "faster", "keyframe_codec": "vvenc", "token_interval": 1}  # rate control alone
    off = make_codec("dynamics", {**every, "token_kbps": 0})
    b_off = off.encode(seq, RatePoint(qp=42), tmp_path / "off", timeout=120)
    assert bs.parse(b_off.path.read_bytes()).header.step == bs.step_as_sent(0.2)
    assert bs.parse(b_off.path.read_bytes()).tokens == code_tokens(off.tokens(seq), 0.2)[2]  # step 0.2 as before
    kbps_off = b_off.parts["tokens"] * 8 / seconds / 1000
    budget = 0.6 * kbps_off
    capped = make_codec("dynamics", {**every, "token_kbps": budget})
    b = capped.encode(seq, RatePoint(qp=42), tmp_path / "capped", timeout=120)
    assert b.parts["tokens"] * 8 / seconds / 1000 <= budget < kbps_off
    assert b.parts["keyframe"] == b_off.parts["keyframe"]
    parsed = bs.parse(b.path.read_bytes())
    assert parsed.header.step > 0.2
    sent = np.array(json.loads((tmp_path / "capped" / "tokens.json").read_text()))
    assert np.array_equal(capped.decode_tokens(parsed), sent)
    dec = capped.decode(b, tmp_path / "capped", timeout=120)
    assert dec.sequence.num_frames == 8 and PsnrY().frame_values(seq, dec.sequence).mean() > 20


@pytest.mark.parametrize("bad", [-1, 13, 1.5, True, "2"])
def test_token_smoothing_must_be_a_whole_number_of_frames(bad):
    from gvcbench.errors import ConfigError

    with pytest.raises(ConfigError, match="token_smoothing must be"):
        make_codec("dynamics", {"keyframe_codec": "vvenc", "token_smoothing": bad})


def test_token_smoothing_removes_quantisation_jitter_within_the_sent_intervals():
    from gvcbench.codecs.dynamics.codec import smooth_tokens

    step = 0.2
    truth = np.linspace(0, 1.5, 30)[:, None] + np.array([0.03, -0.41])  # two tokens moving steadily
    q = np.rint(truth / step).astype(np.int64)
    assert np.array_equal(smooth_tokens(q, step, 0), (q * step).astype(np.float32))
    smoothed = smooth_tokens(q, step, 2).astype(np.float64)
    assert np.all(np.abs(smoothed - q * step) <= step / 2 + 1e-6)  # never past what was sent
    assert np.abs(smoothed - truth).mean() < 0.7 * np.abs(q * step - truth).mean()
    assert np.allclose(smoothed[[0, -1]], (q * step)[[0, -1]])  # the ends keep their own values
    line = np.arange(10)[:, None] * np.array([1, -2])  # a steady trajectory on the grid is left as it is
    assert np.allclose(smooth_tokens(line, step, 3), line * step)


@pytest.mark.parametrize("bad", [-0.5, 0.01, 26, True, "3", float("nan"), float("inf")])
def test_flow_smoothing_must_be_a_sigma_in_frames(bad):
    from gvcbench.errors import ConfigError

    with pytest.raises(ConfigError, match="flow_smoothing must be"):
        make_codec("dynamics", {"keyframe_codec": "vvenc", "flow_smoothing": bad})


def test_flow_smoothing_removes_frame_to_frame_jitter_and_keeps_steady_motion():
    from gvcbench.codecs.dynamics.codec import smooth_flows

    rng = np.random.default_rng(0)
    frames = np.arange(1, 50, dtype=np.float64)
    truth = np.broadcast_to(0.4 * frames[:, None, None, None], (49, 2, 6, 6))  # drifting 0.4 px per frame
    noisy = (truth + rng.normal(0, 1.0, truth.shape)).astype(np.float32)  # each frame's own error
    smoothed = smooth_flows(noisy, 3.0)
    assert smoothed.shape == noisy.shape and smoothed.dtype == np.float32
    step_error = lambda f: np.abs(np.diff(f, axis=0) - 0.4).mean()  # noqa: E731 - decoded motion vs true motion
    assert step_error(smoothed) < 0.25 * step_error(noisy)
    assert np.abs(smoothed - truth).mean() < 0.5 * np.abs(noisy - truth).mean()
    ends = lambda f: np.abs(np.diff(f, axis=0)[-4:] - 0.4).mean()  # noqa: E731 - the last frames are smoothed too
    assert ends(smoothed) < 0.1 * ends(noisy)  # reflected about the last flow itself: 0.13
    for n in (1, 2, 3, 49):  # steady motion passes unchanged over the whole clip, short clips too
        line = truth[:n].astype(np.float32)
        for sigma in (0.2, 3.0, 25.0):
            assert np.allclose(smooth_flows(line, sigma), line, atol=1e-4), (n, sigma)


@pytest.mark.slow
@needs_weights
def test_flow_smoothing_is_a_decoder_choice_named_in_the_version(tmp_path):
    seq = generate("astronaut-breeze", size=128, frames=8)
    # auto asks the decoder; so does a wave, fitted to the flows the decoder makes (smoothing included)
    opts = {"keyframe_preset": "faster", "keyframe_codec": "vvenc", "token_interval": 1, "waves": False}
    plain = make_codec("dynamics", opts | {"flow_smoothing": 0})
    smooth = make_codec("dynamics", opts | {"flow_smoothing": 2.5})
    assert "flow-smoothing" not in plain.version() and " flow-smoothing=2.5;" in smooth.version()
    b = plain.encode(seq, RatePoint(qp=42), tmp_path, timeout=120)
    assert smooth.encode(seq, RatePoint(qp=42), tmp_path / "s", timeout=120).path.read_bytes() == b.path.read_bytes()
    a = plain.decode(b, tmp_path / "a", timeout=120).sequence
    s = smooth.decode(b, tmp_path / "b", timeout=120).sequence
    assert np.array_equal(a.y[:1], s.y[:1]) and not np.array_equal(a.y, s.y)  # the key frame as it was
    assert PsnrY().frame_values(seq, s).mean() > 20


@pytest.mark.slow
@needs_weights
def test_token_smoothing_is_a_decoder_choice_named_in_the_version(tmp_path):
    seq = generate("astronaut-breeze", size=128, frames=8)
    opts = {"keyframe_preset": "faster", "keyframe_codec": "vvenc", "flow_smoothing": 0, "token_interval": 1}
    plain = make_codec("dynamics", opts | {"token_smoothing": 0})
    smooth = make_codec("dynamics", opts)  # default: 2
    assert (
        "token-smoothing" not in plain.version() and "generator=warp refine=off token-smoothing=2;" in smooth.version()
    )
    assert (
        "generator=warp refine=off token-smoothing=2 flow-smoothing=3;"
        in make_codec("dynamics", opts | {"flow_smoothing": 3}).version()
    )
    b = plain.encode(seq, RatePoint(qp=42), tmp_path, timeout=120)
    assert smooth.encode(seq, RatePoint(qp=42), tmp_path / "s", timeout=120).path.read_bytes() == b.path.read_bytes()
    a = plain.decode(b, tmp_path / "a", timeout=120).sequence
    s = smooth.decode(b, tmp_path / "b", timeout=120).sequence
    assert np.array_equal(a.y[:2], s.y[:2]) and not np.array_equal(a.y, s.y)  # key frame, frame 1 as they were
    assert PsnrY().frame_values(seq, s).mean() > 20


@pytest.mark.slow
@needs_weights
def test_the_refiner_is_a_decoder_choice_named_in_the_version(tmp_path):
    seq = generate("astronaut-breeze", size=128, frames=8)
    opts = {"keyframe_preset": "faster", "keyframe_codec": "vvenc"}
    plain, refined = make_codec("dynamics", opts), make_codec("dynamics", opts | {"refine": True})
    assert " generator=warp refine=off " in plain.version() and " generator=warp refine=on " in refined.version()
    b = plain.encode(seq, RatePoint(qp=42), tmp_path, timeout=120)
    assert refined.encode(seq, RatePoint(qp=42), tmp_path / "r", timeout=120).path.read_bytes() == b.path.read_bytes()
    a = plain.decode(b, tmp_path / "a", timeout=120).sequence
    r = refined.decode(b, tmp_path / "b", timeout=120).sequence
    assert np.array_equal(a.y[:1], r.y[:1]) and not np.array_equal(a.y[1:], r.y[1:])  # the network changes frames 1..
    assert min(PsnrY().frame_values(seq, a).mean(), PsnrY().frame_values(seq, r).mean()) > 20


@pytest.mark.parametrize("bad", [1, 0, "true", None])
def test_refine_must_be_a_boolean(bad):
    from gvcbench.errors import ConfigError

    with pytest.raises(ConfigError, match="refine must be true or false"):
        make_codec("dynamics", {"keyframe_codec": "vvenc", "refine": bad})


@pytest.mark.parametrize("bad", [0, 9, -1, 1.5, True, "2", "fast", None])
def test_token_interval_must_be_auto_or_whole_frames(bad):
    from gvcbench.errors import ConfigError

    with pytest.raises(ConfigError, match='token_interval must be "auto".* from 1 .* to 8, got'):
        make_codec("dynamics", {"keyframe_codec": "vvenc", "token_interval": bad})
    for good in ("auto", 1, 8):
        assert make_codec("dynamics", {"keyframe_codec": "vvenc", "token_interval": good}).params.token_interval == good


def test_flows_between_sent_frames_are_interpolated_from_the_key_frames_zero():
    from gvcbench.codecs.dynamics.codec import interpolate_flows

    sent = bs.sent_frames(9, 4)  # [4, 8, 9]
    flows = np.stack([np.full((2, 3, 3), v, np.float32) for v in (8.0, -4.0, 2.0)])
    out = interpolate_flows(sent, flows, 9)
    assert out.shape == (9, 2, 3, 3) and out.dtype == np.float32
    assert np.allclose(out[:, 0, 0, 0], [2, 4, 6, 8, 5, 2, -1, -4, 2])  # 0 -> 8 over 4 frames, 8 -> -4, -4 -> 2
    assert np.array_equal(interpolate_flows(list(range(1, 10)), out, 9), out)  # interval 1: what was sent
    alone = interpolate_flows([3], flows[:1], 3)  # one sent frame, the last: a ramp from the key frame
    assert np.allclose(alone[:, 0, 0, 0], [8 / 3, 16 / 3, 8])


def test_auto_tries_each_set_of_sent_frames_once():
    from gvcbench.codecs.dynamics.codec import TOKEN_INTERVALS, auto_intervals

    assert auto_intervals(49) == list(TOKEN_INTERVALS) == [1, 2, 3, 4, 6, 8]
    assert auto_intervals(6) == [1, 2, 3, 4, 6]  # 8 sends frame 6 alone, as 6 does
    assert auto_intervals(2) == [1, 2] and auto_intervals(1) == [1] and auto_intervals(0) == [1]


@pytest.mark.slow
@needs_weights
def test_auto_token_interval_keeps_the_interval_whose_decoded_flows_are_closest(tmp_path):
    from gvcbench.codecs.dynamics.codec import TOKEN_INTERVALS, decoded_flows, flow_error, key_features, load_model

    seq = generate("hubble-drift", size=128, frames=12)
    opts = {"keyframe_preset": "faster", "keyframe_codec": "vvenc", "token_kbps": 2}
    auto = make_codec("dynamics", opts)
    assert " token-interval=auto " in auto.version()
    tokens, flows = auto.analyse(seq)
    key, seconds = _rgb(seq, 0), seq.num_frames / float(seq.fps)
    model = load_model(str(auto.weights_path))
    errors = {}
    for k in TOKEN_INTERVALS:
        fixed = make_codec("dynamics", opts | {"token_interval": k})
        used, step, q, payload = fixed.choose_tokens(tokens, flows, key, seconds)
        assert used == k and len(q) == len(bs.sent_frames(11, k)) and len(payload) * 8 / seconds <= 2000
        recovered = decoded_flows(model, key_features(model, key), q, step, bs.sent_frames(11, k), 11, fixed.params)
        errors[k] = flow_error(recovered, flows)
    chosen = auto.choose_tokens(tokens, flows, key, seconds)[0]
    assert errors[chosen] == min(errors.values()) and len(set(errors.values())) > 1
    assert chosen > 1 and errors[chosen] < 0.9 * errors[1]  # a steady drift: fewer frames, each more precise

    b = auto.encode(seq, RatePoint(qp=42), tmp_path, timeout=120)
    parsed = bs.parse(b.path.read_bytes())
    assert parsed.header.interval == chosen
    assert np.array_equal(auto.decode_tokens(parsed), np.array(json.loads((tmp_path / "tokens.json").read_text())))
    dec = auto.decode(b, tmp_path / "d", timeout=120).sequence
    assert dec.num_frames == 12 and PsnrY().frame_values(seq, dec).mean() > 20
    three = make_codec("dynamics", opts | {"token_interval": 3})
    b3 = three.encode(seq, RatePoint(qp=42), tmp_path / "3", timeout=120)
    parsed = bs.parse(b3.path.read_bytes())
    assert parsed.header.interval == 3 and len(three.decode_tokens(parsed)) == 4  # frames 3, 6, 9 and 11
    assert three.decode(b3, tmp_path / "3d", timeout=120).sequence.num_frames == 12


@needs_weights
def test_frames_too_small_for_the_weights_tokens_are_refused_before_any_encoding(tmp_path):
    codec = make_codec("dynamics", {"keyframe_codec": "vvenc"})
    with pytest.raises(CodecError, match="288 tokens per frame, more than a 32x32 frame.*at least 48x48"):
        codec.encode(generate("hubble-drift", size=32, frames=3), RatePoint(qp=42), tmp_path, timeout=60)
    assert not (tmp_path / "keyframe").exists()


@pytest.mark.slow
@needs_weights
@pytest.mark.parametrize("frames, fps", [(1, 120), (2, 25), (3, 25)])
def test_the_shortest_clips_encode_and_decode_with_the_defaults(tmp_path, frames, fps):
    seq = generate("hubble-drift", size=64, frames=frames, fps=fps)
    codec = make_codec("dynamics", {"keyframe_preset": "faster", "keyframe_codec": "vvenc"})
    b = codec.encode(seq, RatePoint(qp=42), tmp_path, timeout=120)
    assert b.parts["tokens"] * 8 <= codec.params.token_kbps * 1000 * frames / fps or frames == 1
    assert codec.decode(b, tmp_path / "d", timeout=120).sequence.num_frames == frames


@needs_weights
def test_a_budget_no_interval_can_meet_names_the_intervals_tried():
    from gvcbench.codecs.dynamics.codec import TOKEN_INTERVALS

    codec = make_codec("dynamics", {"keyframe_codec": "vvenc", "token_kbps": 0.01})
    tokens = np.ones((49, codec.tokens_per_frame()), np.float32)
    flows = np.zeros((49, 16, 16, 2), np.float32)
    tried = ", ".join(map(str, TOKEN_INTERVALS))
    with pytest.raises(
        CodecError, match=f"token_kbps = 0.01 cannot be met.*raise token_kbps.*every token interval tried: {tried}"
    ):
        codec.choose_tokens(tokens, flows, np.zeros((64, 64, 3), np.uint8), 2.0)


def test_frame_error_ratio_of_the_token_interval_benchmark_is_one_for_zero_motion_and_small_for_the_truth():
    import importlib.util

    from gvcbench.codecs.dynamics.frames import SCALE, low_res

    from .conftest import ROOT

    spec = importlib.util.spec_from_file_location(
        "dynamics_token_interval", ROOT / "benchmarks" / "dynamics_token_interval.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    seq, disp = generate("rocket-float", size=96, frames=6, with_flow=True)
    quarter = np.stack([low_res(d, SCALE, is_flow=True).transpose(2, 0, 1) for d in disp[1:]]).astype(np.float32)
    assert bench.frame_error_ratio(seq, np.zeros_like(quarter)) == 1.0  # the key frame itself
    assert bench.frame_error_ratio(seq, quarter * SCALE) < 0.25  # the true motion, on the quarter grid: 0.15
    assert bench.frame_error_ratio(seq, quarter) > 0.5  # flows left in quarter-size pixels: 0.82


def test_the_wave_oracle_recovers_a_radial_wave_it_is_given(monkeypatch):
    """benchmarks/dynamics_wave_oracle.py: a radial wave of known centre, wavenumber and decay,
    its phase turning over the frames, is found again and explained almost whole."""
    import importlib.util

    from gvcbench.codecs.dynamics.waves import radial_basis

    from .conftest import ROOT

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # it imports its sibling scripts
    spec = importlib.util.spec_from_file_location(
        "dynamics_wave_oracle", ROOT / "benchmarks" / "dynamics_wave_oracle.py"
    )
    oracle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(oracle)
    basis = radial_basis(48, 48, 0.43, 0.58, 9.3, 0.35)
    phases = np.linspace(0, 3, 8)
    rest = np.stack([np.cos(p) * basis[0] + np.sin(p) * basis[1] for p in phases])
    flows, (cx, cy, k, decay) = oracle.wave_flows(rest)
    assert abs(cx - 0.43) < 0.005 and abs(cy - 0.58) < 0.005 and abs(k - 9.3) < 0.02, (cx, cy, k, decay)
    assert oracle.ratio(flows, rest) < 0.02
    assert oracle.ratio(np.zeros_like(rest), rest) == 1.0


@pytest.mark.parametrize("bad", [1, 0, "true", None])
def test_motion_skip_must_be_a_boolean(bad):
    from gvcbench.errors import ConfigError

    with pytest.raises(ConfigError, match="motion_skip must be true or false"):
        make_codec("dynamics", {"keyframe_codec": "vvenc", "motion_skip": bad})


def test_the_skip_gain_is_zero_over_still_cells_and_ramps_inside_moving_ones():
    import torch
    import torch.nn.functional as F

    from gvcbench.codecs.dynamics.codec import skip_gain

    gain = skip_gain(np.array([[True, False, True]]), 8, 24)  # cells of 8 quarter-size pixels
    assert gain.shape == (8, 24) and np.all(gain == gain[:1])  # one row of cells: constant down a column
    assert np.allclose(gain[0], [0] * 9 + [0.2, 0.6, 1, 1, 0.6, 0.2] + [0] * 9)
    cut = skip_gain(np.array([[False, True], [False, False]]), 12, 12)  # 48 x 48 px: cut cells at the edges
    assert np.all(cut[:8, 8:] == 0) and cut[11, 0] == 1 and cut[4, 4] == 1 and np.isclose(cut[4, 5], 0.6)
    # brought to full size as the decoder does: zero over every full-size pixel of a still cell
    flow = torch.from_numpy(np.ones((1, 2, 12, 12), np.float32) * cut)
    full = F.interpolate(flow, size=(48, 48), mode="bilinear", align_corners=False)[0, 0].numpy()
    assert np.all(full[:32, 32:] == 0) and np.all(full[:, :20] > 0)
    assert np.all(skip_gain(np.zeros((2, 3), bool), 13, 20) == 1) and not skip_gain(np.ones((1, 1), bool), 4, 4).any()


def test_still_cells_are_those_whose_decoded_motion_is_worse_than_none():
    from gvcbench.codecs.dynamics.codec import still_cells
    from gvcbench.datasets.synthetic import source_image

    texture = np.rint(source_image("gravel", 128) * 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    source, decoded = [texture], [texture]
    for t in range(1, 7):
        frame = texture.copy()
        frame[:, :64] = np.roll(texture, t, axis=1)[:, :64]  # the left half pans 1 px a frame, the right is still
        source.append(frame)
        wrong = frame.copy()
        wrong[:, 64:] = np.roll(texture, tuple(rng.integers(-2, 3, 2)), axis=(0, 1))[:, 64:]  # jitters
        decoded.append(wrong)
    source_clip, decoded_clip = np.stack(source), np.stack(decoded)
    assert not still_cells(source_clip, source_clip, DisFlow()).any()  # the source's own motion: keep it all
    still = still_cells(source_clip, decoded_clip, DisFlow())
    assert still.shape == (4, 4) and not still[:, 0].any() and still[:, 3].all()


@pytest.mark.slow
@needs_weights
def test_motion_skip_sends_the_cells_whose_decoded_motion_is_worse_than_none(tmp_path):
    from gvcbench.codecs.dynamics.codec import still_cells
    from gvcbench.datasets.sequence import rgb_uint8

    seq = generate("astronaut-breeze", size=128, frames=8)
    opts = {"keyframe_preset": "faster", "keyframe_codec": "vvenc", "token_interval": 1, "waves": False}
    plain, skip = make_codec("dynamics", opts), make_codec("dynamics", opts | {"motion_skip": True})
    assert "motion-skip" not in plain.version() and " token-interval=1 motion-skip=on " in skip.version()
    b_plain = plain.encode(seq, RatePoint(qp=42), tmp_path / "p", timeout=120)
    b_skip = skip.encode(seq, RatePoint(qp=42), tmp_path / "s", timeout=120)
    p_plain, p_skip = bs.parse(b_plain.path.read_bytes()), bs.parse(b_skip.path.read_bytes())
    assert (p_plain.keyframe, p_plain.tokens, p_plain.header) == (p_skip.keyframe, p_skip.tokens, p_skip.header)
    moving = plain.decode(b_plain, tmp_path / "dp", timeout=120).sequence
    expected = still_cells(rgb_uint8(seq, 0, 8), rgb_uint8(moving, 0, 8), DisFlow())
    assert expected.any() and not expected.all()  # the clip has cells of both kinds
    assert np.array_equal(bs.unpack_skip(p_skip.skip, 128, 128), expected)
    assert b_skip.parts["skip"] == len(p_skip.skip) == 2 and sum(b_skip.parts.values()) == b_skip.num_bytes
    assert "skip" not in b_plain.parts and b_plain.path.read_bytes()[4] == 2  # as before skip maps existed
    kept = skip.decode(b_skip, tmp_path / "ds", timeout=120).sequence
    assert np.array_equal(kept.y[:1], moving.y[:1]) and not np.array_equal(kept.y, moving.y)
    # every cell still: the key frame repeated
    key = rgb_uint8(moving, 0, 1)[0]
    all_still = bs.Parsed(p_skip.header, p_skip.keyframe, p_skip.tokens, bs.pack_skip(np.ones((4, 4), bool)))
    frames = skip.inter_frames(all_still, key, skip.decode_tokens(p_skip))
    assert all(np.array_equal(f, key) for f in frames)
