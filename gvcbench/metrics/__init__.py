"""Quality metrics and their registry."""

from __future__ import annotations

from ..registry import Registry
from .base import Metric, MetricSpec

__all__ = ["DEFAULT_METRICS", "METRICS", "Metric", "MetricSpec"]

METRICS: Registry = Registry("metric", "gvcbench.metrics", base=Metric)
for _name, _target in {
    "psnr-y": "gvcbench.metrics.psnr:PsnrY",
    "psnr-yuv": "gvcbench.metrics.psnr:PsnrYUV",
    "ms-ssim": "gvcbench.metrics.msssim:MsSsim",
    "lpips": "gvcbench.metrics.lpips_metric:Lpips",
    "lpips-vgg": "gvcbench.metrics.lpips_metric:LpipsVgg",
    "dists": "gvcbench.metrics.dists_metric:Dists",
    "dists-256": "gvcbench.metrics.dists_metric:Dists256",
    "vmaf": "gvcbench.metrics.vmaf:Vmaf",
    "xpsnr": "gvcbench.metrics.xpsnr:Xpsnr",
    "ms-gmsd": "gvcbench.metrics.piq_metrics:MsGmsd",
    "haarpsi": "gvcbench.metrics.piq_metrics:HaarPsi",
    "vif-p": "gvcbench.metrics.piq_metrics:VifP",
    "flow-epe": "gvcbench.metrics.temporal:FlowEpe",
    "fvd": "gvcbench.metrics.fvd:Fvd",
    "fvd-videogpt": "gvcbench.metrics.fvd:FvdVideoGpt",
    "fid": "gvcbench.metrics.fid:Fid",
}.items():
    METRICS.register(_name, _target)

# The paper's perceptual metrics are in the default set: where their weights are missing
# they are recorded as unavailable (with the reason) and the run goes on.
DEFAULT_METRICS = ("psnr-y", "psnr-yuv", "ms-ssim", "vmaf", "lpips", "dists", "fvd")
