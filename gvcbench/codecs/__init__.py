"""Codec adapters and their registry."""

from __future__ import annotations

from ..registry import Registry
from .base import Bitstream, Codec, Decoded, RatePoint

__all__ = ["CODECS", "Bitstream", "Codec", "Decoded", "RatePoint"]

CODECS: Registry = Registry("codec", "gvcbench.codecs", base=Codec)
for _name, _target in {
    "vvenc-ldb": "gvcbench.codecs.vvenc:VvencLDB",
    "x265": "gvcbench.codecs.x265:X265",
    "x264": "gvcbench.codecs.x264:X264",
    "svtav1": "gvcbench.codecs.svtav1:SvtAv1",
    "aom": "gvcbench.codecs.aom:Aom",
    "vtm-ldb": "gvcbench.codecs.vtm:VtmLDB",
    "external": "gvcbench.codecs.external:ExternalCodec",
    "precomputed": "gvcbench.codecs.precomputed:Precomputed",
    "dynamics": "gvcbench.codecs.dynamics.codec:DynamicsCodec",
}.items():
    CODECS.register(_name, _target)
