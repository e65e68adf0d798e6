"""Dynamics-Codec's diffusion generator, on a tiny randomly initialised SVD in diffusers format.

The real Stable Video Diffusion weights (several GB) cannot be had here; a model with
the same components and the same folder layout, saved and loaded by diffusers itself,
exercises every line of the generator: CLIP conditioning, VAE encode, noising to the
chosen strength, guided spatio-temporal denoising, VAE decode.
"""

import numpy as np
import pytest

from gvcbench.bench.plan import make_codec
from gvcbench.codecs import RatePoint
from gvcbench.codecs.dynamics.codec import DEFAULT_WEIGHTS
from gvcbench.codecs.dynamics.diffusion import SvdGenerator, SvdSettings
from gvcbench.datasets.synthetic import generate
from gvcbench.errors import CodecError, CodecUnavailable


@pytest.fixture(scope="module")
def tiny_svd(tmp_path_factory):
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        sample_size=16,
        in_channels=8,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32,
        num_attention_heads=(2, 4),
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=24,
        num_frames=4,
    )
    vae = AutoencoderKLTemporalDecoder(
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2,
        layers_per_block=1,
    )
    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            projection_dim=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            intermediate_size=37,
            patch_size=4,
        )
    )
    scheduler = EulerDiscreteScheduler(  # SVD's own scheduler settings
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        use_karras_sigmas=True,
        interpolation_type="linear",
    )
    pipe = StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=encoder,
        unet=unet,
        scheduler=scheduler,
        feature_extractor=CLIPImageProcessor(crop_size=32, size=32),
    )
    folder = tmp_path_factory.mktemp("tiny-svd")
    pipe.save_pretrained(folder)
    return folder


def _clip_frames(n=5, size=64):
    seq = generate("rocket-float", size=size, frames=n)
    return np.rint(seq.rgb(0, n) * 255).astype(np.uint8)


@pytest.mark.slow
def test_generator_is_reproducible_and_follows_the_strength(tiny_svd):
    frames = _clip_frames()
    key, warped = frames[0], frames[1:]

    def run(strength, seed=0):
        settings = SvdSettings(steps=4, strength=strength, chunk=3, seed=seed)
        return SvdGenerator(str(tiny_svd), settings)(key, warped, 25.0)

    out = run(0.5)
    assert out.shape == warped.shape and out.dtype == np.uint8
    assert np.array_equal(out, run(0.5))  # same seed, same frames
    assert not np.array_equal(out, run(0.5, seed=1))
    assert not np.array_equal(out, run(0.0))  # strength 0: the warped frames through the VAE only
    assert np.array_equal(run(0.0), run(0.0, seed=1))  # no noise drawn at strength 0
    with pytest.raises(CodecError, match="multiples of 4, got 62x62"):
        SvdGenerator(str(tiny_svd), SvdSettings())(key[:62, :62], warped[:, :62, :62], 25.0)


@pytest.mark.slow
def test_missing_or_incomplete_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CodecUnavailable, match="does not exist.*Stable Video Diffusion model folder"):
        SvdGenerator(str(tmp_path / "svd"), SvdSettings())
    (tmp_path / "svd").mkdir()
    (tmp_path / "svd" / "model_index.json").write_text("{}")
    with pytest.raises(CodecUnavailable, match="lacks unet, vae, image_encoder"):
        SvdGenerator(str(tmp_path / "svd"), SvdSettings())
    codec = make_codec("dynamics", {"generator": "diffusion"})
    assert "needs a Stable Video Diffusion model folder" in codec.availability()
    with pytest.raises(CodecUnavailable, match="diffusion_model=DIR"):
        codec.version()


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped weights missing")
def test_adapter_decodes_through_the_diffusion_generator(tiny_svd, tmp_path):
    seq = generate("grass-sway", size=64, frames=4)
    params = {"keyframe_preset": "faster", "diffusion_steps": 3, "diffusion_chunk": 2}
    warp_codec = make_codec("dynamics", params)
    diff_codec = make_codec("dynamics", {**params, "generator": "diffusion", "diffusion_model": str(tiny_svd)})
    assert "generator=diffusion:" in diff_codec.version() and "generator=warp" in warp_codec.version()
    bitstream = warp_codec.encode(seq, RatePoint(qp=37), tmp_path, timeout=120)
    a = warp_codec.decode(bitstream, tmp_path, timeout=120).sequence
    b = diff_codec.decode(bitstream, tmp_path, timeout=120).sequence  # the generator is a decoder-side choice
    assert b.num_frames == 4 and np.array_equal(a.y[0], b.y[0])  # the key frame is VVC's either way
    assert not np.array_equal(a.y[1:], b.y[1:])
