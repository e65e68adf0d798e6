"""What limits Dynamics-Codec's decoded motion, without tokens: the source key frame warped
by the encoder's own flows (DIS, tracked, full size: what perfect tokens would give), with
the decoder's temporal models, and from a key frame widened by what later frames show.

flow-epe (px, the metric itself on the decoded frames converted to YUV as the decoder does) of
each decoded clip:
- ``exact``: each frame warped by its own flow back to the key frame;
- ``sigma 3``: the flows low-passed along time as the decoder does (``flow_smoothing = 3``);
- ``linear``: one velocity per pixel, the flows' least-squares line through the key
  frame's zero (steady advection: water, clouds, smoke);
- ``widened key``: exact flows, the key frame padded by ``--margin`` pixels filled from
  the later frames where their flows point outside it (the content a pan brings in);
- ``frozen``: the key frame repeated.

    python benchmarks/dynamics_motion_oracles.py ../shared/datasets/scene-dynamics/manifest.toml
    python benchmarks/dynamics_motion_oracles.py MANIFEST --clips lake_boat,flags_hungary --frames 50
"""

from __future__ import annotations

import argparse

import numpy as np


def tracked_flows(rgb: np.ndarray) -> np.ndarray:
    """(T-1, H, W, 2): each inter frame's DIS flow back to frame 0, each search started from
    the previous frame's flow (the encoder's ``flow_tracking``)."""
    from gvcbench.codecs.dynamics.flow import make_estimator

    estimator, previous, flows = make_estimator("dis"), None, []
    for frame in rgb[1:]:
        previous = estimator.backward(rgb[0], frame, previous)
        flows.append(previous)
    return np.stack(flows)


def linear_in_time(flows: np.ndarray) -> np.ndarray:
    """The least-squares line through zero at the key frame, per pixel and component."""
    t = np.arange(1, len(flows) + 1, dtype=np.float32).reshape(-1, 1, 1, 1)
    return t * ((flows * t).sum(0) / (t * t).sum())


def widened_key(rgb: np.ndarray, flows: np.ndarray, margin: int) -> np.ndarray:
    """The key frame padded by ``margin`` pixels; each padding pixel the mean of the later
    frames' pixels whose flows point there, the rest inpainted."""
    import cv2

    h, w = rgb.shape[1:3]
    total = np.zeros((h + 2 * margin, w + 2 * margin, 3), np.float64)
    count = np.zeros(total.shape[:2], np.float64)
    ys, xs = np.mgrid[0:h, 0:w]
    for frame, flow in zip(rgb[1:], flows):
        qx = np.rint(xs + flow[..., 0]).astype(int) + margin
        qy = np.rint(ys + flow[..., 1]).astype(int) + margin
        inside_pad = (qx >= 0) & (qx < w + 2 * margin) & (qy >= 0) & (qy < h + 2 * margin)
        outside_key = (qx < margin) | (qx >= margin + w) | (qy < margin) | (qy >= margin + h)
        pick = inside_pad & outside_key
        np.add.at(total, (qy[pick], qx[pick]), frame[pick].astype(np.float64))
        np.add.at(count, (qy[pick], qx[pick]), 1)
    out = (total / np.maximum(count, 1)[..., None]).astype(np.uint8)
    out[margin : margin + h, margin : margin + w] = rgb[0]
    hole = (count == 0).astype(np.uint8)
    hole[margin : margin + h, margin : margin + w] = 0
    return cv2.inpaint(out, hole, 3, cv2.INPAINT_TELEA) if hole.any() else out


def warp_from(key: np.ndarray, flow: np.ndarray, margin: int = 0) -> np.ndarray:
    import cv2

    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    mx, my = xs + flow[..., 0] + margin, ys + flow[..., 1] + margin
    return cv2.remap(key, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def flow_epe(source, decoded: list[np.ndarray]) -> float:
    """The flow-epe metric of RGB frames decoded as the dynamics decoder returns them
    (converted to YUV 4:2:0 in the source's colour and bit depth) against the source."""
    from gvcbench.datasets.sequence import Sequence, rgb_to_yuv420
    from gvcbench.metrics.temporal import flow_epe as metric

    y, u, v = rgb_to_yuv420(np.stack(decoded), source.bit_depth, source.colour)
    return float(metric(source, Sequence("decoded", y, u, v, source.fps, source.bit_depth, source.colour)).mean())


def clip_row(source, rgb: np.ndarray, margin: int) -> list[float]:
    from gvcbench.codecs.dynamics.codec import smooth_flows

    flows = tracked_flows(rgb)
    smoothed = smooth_flows(flows.transpose(0, 3, 1, 2), 3.0).transpose(0, 2, 3, 1)
    wide = widened_key(rgb, flows, margin)
    key = rgb[0]
    variants = [
        [warp_from(key, np.ascontiguousarray(f)) for f in flows],
        [warp_from(key, np.ascontiguousarray(f)) for f in smoothed],
        [warp_from(key, np.ascontiguousarray(f)) for f in linear_in_time(flows)],
        [warp_from(wide, np.ascontiguousarray(f), margin) for f in flows],
        [key] * (len(rgb) - 1),
    ]
    return [flow_epe(source, [key, *frames]) for frames in variants]


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from gvcbench.datasets import load_sequence, resolve_dataset
    from gvcbench.datasets.sequence import rgb_uint8

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", help="a manifest or built-in set (e.g. ../shared/datasets/scene-dynamics/manifest.toml)")
    ap.add_argument("--clips", default="", help="comma-separated clip names (default: all)")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--size", default="384x384")
    ap.add_argument("--margin", type=int, default=64, help="padding of the widened key frame, pixels")
    args = ap.parse_args()

    specs = resolve_dataset(args.dataset, size=args.size).specs
    if args.clips:
        specs = [s for s in specs if s.name in args.clips.split(",")]
    columns = ["exact", "sigma 3", "linear", "widened key", "frozen"]
    table = Table(title=f"flow-epe px of the key frame warped by tracked DIS flows, {args.dataset}")
    for col in ["clip", *columns]:
        table.add_column(col, justify="left" if col == "clip" else "right")
    rows = []
    for spec in specs:
        seq = load_sequence(spec)
        n = min(args.frames, seq.num_frames)
        source = seq.frames(0, n)
        rows.append(clip_row(source, rgb_uint8(source, 0, n), args.margin))
        table.add_row(spec.name, *[f"{v:.3f}" for v in rows[-1]])
    if rows:
        table.add_row("mean", *[f"{v:.3f}" for v in np.mean(rows, axis=0)])
    Console().print(table)


if __name__ == "__main__":
    main()
