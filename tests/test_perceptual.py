"""LPIPS and DISTS: gvcbench's batched path against the reference packages frame by frame.

The ImageNet backbones cannot be had here, so both sides use the same seeded random
backbone; the heads (LPIPS linear layers, DISTS alpha/beta) are the real shipped ones.
"""

import numpy as np
import pytest
import torch

from gvcbench.metrics.dists_metric import Dists, Dists256
from gvcbench.metrics.lpips_metric import Lpips, LpipsVgg
from gvcbench.metrics.torch_input import rgb_uint8, to_tensor
from gvcbench.weights import KNOWN, resolve

from .conftest import real_clip


@pytest.fixture(scope="module")
def pair():
    ref = real_clip(frames=5, size="96x96", clip="bikes.mp4")
    dist = real_clip(frames=5, size="96x96", clip="bikes.mp4", start=1)  # a real, different video
    return ref, dist


@pytest.mark.slow
@pytest.mark.parametrize("cls,net", [(Lpips, "alex"), (LpipsVgg, "vgg")])
def test_lpips_batched_equals_reference_frame_by_frame(cls, net, pair):
    import lpips

    torch.manual_seed(0)
    ref_model = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False).eval()
    # the reference's random backbone, expressed as a torchvision state dict
    state = {}
    for _, block in ref_model.net.named_children():
        for index, layer in block.named_children():
            for k, v in layer.state_dict().items():
                state[f"features.{index}.{k}"] = v
    ours = cls(batch_size=3, backbone_state=state)
    values = ours.frame_values(*pair)
    ref, dist = pair
    for i in range(ref.num_frames):
        x = to_tensor(rgb_uint8(ref, i, i + 1), "cpu")
        y = to_tensor(rgb_uint8(dist, i, i + 1), "cpu")
        with torch.no_grad():
            expected = ref_model(x * 2 - 1, y * 2 - 1).item()
        assert abs(values[i] - expected) <= 1e-6
    assert len(values) == 5 and np.all(values > 0)


def _reference_dists(monkeypatch, seed):
    import DISTS_pytorch.DISTS_pt as ref_mod
    import torchvision

    real_vgg16 = torchvision.models.vgg16

    def random_vgg16(*args, **kwargs):  # the reference asks for pretrained=True, which needs a download
        torch.manual_seed(seed)
        return real_vgg16(weights=None)

    monkeypatch.setattr(ref_mod.models, "vgg16", random_vgg16)
    model = ref_mod.DISTS(load_weights=False)
    ab = torch.load(resolve("dists-alpha-beta.pt"), weights_only=True)
    model.alpha.data, model.beta.data = ab["alpha"], ab["beta"]
    torch.manual_seed(seed)
    vgg_state = real_vgg16(weights=None).state_dict()
    return model.eval(), vgg_state


@pytest.mark.slow
@pytest.mark.parametrize("cls,resize", [(Dists, False), (Dists256, True)])
def test_dists_batched_equals_reference_frame_by_frame(cls, resize, monkeypatch):
    from DISTS_pytorch.DISTS_pt import prepare_image
    from PIL import Image

    size = "288x288" if resize else "96x96"
    ref = real_clip(frames=3, size=size, clip="bikes.mp4")
    dist = real_clip(frames=3, size=size, clip="bikes.mp4", start=2)
    ref_model, vgg_state = _reference_dists(monkeypatch, seed=1)
    values = cls(batch_size=2, vgg_state=vgg_state).frame_values(ref, dist)
    for i in range(3):
        x = prepare_image(Image.fromarray(rgb_uint8(ref, i, i + 1)[0]), resize=resize)
        y = prepare_image(Image.fromarray(rgb_uint8(dist, i, i + 1)[0]), resize=resize)
        expected = ref_model(x, y).item()
        assert abs(values[i] - expected) <= 1e-6, (i, values[i], expected)


def test_shipped_heads_are_the_published_files():
    for name in ("lpips-v0.1-alex.pth", "lpips-v0.1-vgg.pth", "dists-alpha-beta.pt"):
        path = resolve(name, allow_download=False)  # found in the installed package, hash checked
        assert path.is_file() and KNOWN[name].sha256


def test_missing_backbone_makes_the_metric_unavailable_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("GVCBENCH_WEIGHTS", raising=False)
    reason = Lpips().availability()
    assert "alexnet-owt-7be5be79.pth" in reason and "7be5be791159472b" in reason
    assert "download.pytorch.org" in reason and str(tmp_path) in reason
    assert "vgg16-397923af.pth" in Dists().availability()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine (CI never has one)")
@pytest.mark.parametrize("name", ["ms-ssim", "ms-gmsd", "haarpsi", "vif-p"])
def test_cpu_and_gpu_agree_within_tolerance(name, pair):
    from gvcbench.metrics import METRICS

    ref, dist = real_clip(frames=3, size="192x192"), real_clip(frames=3, size="192x192", start=1)
    cpu = METRICS.get(name)(device="cpu").frame_values(ref, dist)
    gpu = METRICS.get(name)(device="cuda", batch_size=3).frame_values(ref, dist)
    assert np.allclose(cpu, gpu, atol=1e-4)  # the tolerance stated in the README
