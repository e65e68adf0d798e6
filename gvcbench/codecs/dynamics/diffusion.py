"""The diffusion generator option of Dynamics-Codec: Stable Video Diffusion (SVD) from a
local diffusers model folder.

The paper drives SVD with the recovered flow through a pre-trained ControlNet-like flow
adaptor. No such adaptor is published for a diffusers SVD, so the flow enters here the
way SDEdit puts structure into a diffusion model: the frames the ``warp`` generator made
(key frame warped by the recovered flow, refined when ``refine``) are encoded by SVD's VAE, noised to
``strength`` of the schedule, and denoised by SVD's spatio-temporal UNet conditioned, as
SVD is, on the decoded key frame (CLIP image embedding + VAE latents). ``strength`` 0
returns the warped frames through the VAE; 1 ignores the motion altogether. The inter
frames are processed in chunks of ``chunk`` frames (SVD was trained on 14 or 25), every
chunk conditioned on the key frame. Noise is drawn from a generator seeded with ``seed``
and the chunk index, so decoding is reproducible on one machine and software stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import CodecError, CodecUnavailable

SVD_PARTS = ("unet", "vae", "image_encoder", "scheduler", "feature_extractor")
SVD_HINT = (
    "a Stable Video Diffusion model folder in diffusers format (model_index.json, unet/, vae/, "
    "image_encoder/, scheduler/, feature_extractor/), e.g. made with `huggingface-cli download "
    "stabilityai/stable-video-diffusion-img2vid-xt --local-dir DIR`; pass it as diffusion_model=DIR"
)


def diffusion_unavailable(model_dir: str | None) -> str | None:
    """Why the diffusion generator cannot run with ``model_dir``, or None when it can."""
    try:
        import diffusers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        return f"the diffusion generator needs diffusers and transformers ({exc}); pip install 'gvcbench[diffusion]'"
    if not model_dir:
        return f"generator 'diffusion' needs {SVD_HINT}"
    folder = Path(model_dir).expanduser()
    if not folder.is_dir():
        return f"diffusion model folder {folder} does not exist; it must be {SVD_HINT}"
    missing = [p for p in ("model_index.json",) + SVD_PARTS if not (folder / p).exists()]
    if missing:
        return f"diffusion model folder {folder} lacks {', '.join(missing)}; it must be {SVD_HINT}"
    return None


@lru_cache(maxsize=2)
def load_pipeline(model_dir: str, device: str):
    import torch
    from diffusers import StableVideoDiffusionPipeline

    try:
        pipe = StableVideoDiffusionPipeline.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise CodecUnavailable(f"cannot load the diffusion model in {model_dir}: {exc}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device=device, dtype=torch.float16 if device.startswith("cuda") else torch.float32)


@dataclass(frozen=True)
class SvdSettings:
    steps: int = 25
    strength: float = 0.5
    chunk: int = 14
    seed: int = 0
    motion_bucket_id: int = 127
    noise_aug_strength: float = 0.02
    min_guidance: float = 1.0
    max_guidance: float = 3.0


class SvdGenerator:
    """Refines flow-warped inter frames with SVD conditioned on the key frame."""

    def __init__(self, model_dir: str, settings: SvdSettings, device: str = "cpu"):
        reason = diffusion_unavailable(model_dir)
        if reason:
            raise CodecUnavailable(reason)
        self.pipe = load_pipeline(str(Path(model_dir).expanduser().resolve()), device)
        self.settings = settings
        self.device = device

    def __call__(self, key_rgb: np.ndarray, warped_rgb: np.ndarray, fps: float) -> np.ndarray:
        """key_rgb (H, W, 3) and warped_rgb (T, H, W, 3) uint8 -> (T, H, W, 3) uint8."""
        import torch

        self._check_size(*key_rgb.shape[:2])
        with torch.no_grad():
            key = self._to_tensor(key_rgb[None])
            cond = self._condition(key, fps)
            out = [
                self._chunk(self._to_tensor(warped_rgb[i : i + self.settings.chunk]), cond, i // self.settings.chunk)
                for i in range(0, len(warped_rgb), self.settings.chunk)
            ]
        frames = torch.cat(out) if out else torch.zeros((0, 3) + key_rgb.shape[:2])
        return np.rint(((frames.float().clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).cpu().numpy()).astype(np.uint8)

    def _check_size(self, height: int, width: int) -> None:
        """The VAE and every UNet level halve the size; SVD needs multiples of 64."""
        factor = 2 ** (
            len(self.pipe.vae.config.block_out_channels) - 1 + len(self.pipe.unet.config.block_out_channels) - 1
        )
        if height % factor or width % factor:
            raise CodecError(
                f"the diffusion generator of this model needs frame sizes that are multiples of {factor}, "
                f"got {width}x{height}; crop or resize the test set (dataset size = ...)"
            )

    def _to_tensor(self, rgb: np.ndarray):
        import torch

        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).float() / 127.5 - 1
        return x.to(self.device, self.pipe.vae.dtype)

    def _condition(self, key, fps: float) -> dict:
        """SVD's conditioning on the key frame: CLIP embedding, VAE latents, added time ids."""
        import torch
        import torch.nn.functional as F

        pipe, s = self.pipe, self.settings
        size = pipe.image_encoder.config.image_size
        clip_in = F.interpolate(key, size=(size, size), mode="bicubic", align_corners=True, antialias=True)
        clip_in = pipe.feature_extractor(
            images=(clip_in.float() + 1) / 2,
            do_normalize=True,
            do_center_crop=False,
            do_resize=False,
            do_rescale=False,
            return_tensors="pt",
        ).pixel_values
        embedding = pipe.image_encoder(clip_in.to(self.device, pipe.image_encoder.dtype)).image_embeds[:, None]
        g = torch.Generator("cpu").manual_seed(s.seed)
        noisy_key = key + s.noise_aug_strength * torch.randn(key.shape, generator=g).to(key)
        latents = pipe.vae.encode(noisy_key).latent_dist.mode()
        time_ids = torch.tensor(
            [[round(fps) - 1, s.motion_bucket_id, s.noise_aug_strength]], dtype=embedding.dtype, device=self.device
        )
        return {"embedding": embedding, "latents": latents, "time_ids": time_ids}

    def _chunk(self, warped, cond: dict, index: int):
        import torch

        pipe, s = self.pipe, self.settings
        n = warped.shape[0]
        clean = pipe.vae.encode(warped).latent_dist.mode()[None] * pipe.vae.config.scaling_factor
        scheduler = pipe.scheduler
        scheduler.set_timesteps(s.steps, device=self.device)
        start = min(round(s.steps * (1 - s.strength)), s.steps)
        timesteps = scheduler.timesteps[start:]
        if len(timesteps) == 0:
            latents = clean
        else:
            g = torch.Generator("cpu").manual_seed(s.seed * 1000 + index + 1)
            noise = torch.randn(clean.shape, generator=g).to(clean)
            scheduler.set_begin_index(start)
            latents = scheduler.add_noise(clean, noise, timesteps[:1])
            image_latents = cond["latents"][:, None].repeat(1, n, 1, 1, 1)
            guidance = torch.linspace(s.min_guidance, s.max_guidance, n, device=self.device)[None, :, None, None, None]
            for t in timesteps:
                latents = scheduler.step(
                    self._guided_noise(latents, t, image_latents, cond, guidance), t, latents
                ).prev_sample
        frames = pipe.vae.decode(latents[0] / pipe.vae.config.scaling_factor, num_frames=n).sample
        return frames

    def _guided_noise(self, latents, t, image_latents, cond: dict, guidance):
        """Classifier-free guidance as SVD uses it: unconditional = zero embedding and zero image latents."""
        import torch

        pipe = self.pipe
        x = pipe.scheduler.scale_model_input(torch.cat([latents] * 2), t)
        x = torch.cat([x, torch.cat([torch.zeros_like(image_latents), image_latents])], dim=2)
        emb = torch.cat([torch.zeros_like(cond["embedding"]), cond["embedding"]])
        pred = pipe.unet(
            x, t, encoder_hidden_states=emb, added_time_ids=cond["time_ids"].repeat(2, 1), return_dict=False
        )[0]
        uncond, conditioned = pred.chunk(2)
        return uncond + guidance * (conditioned - uncond)
