"""Motion carried by the Dynamics-Codec tokens when only every k-th inter frame's are sent.

For every clip, all inter frames are analysed once (flow to the key frame, tokens); then
for each interval k and for ``auto`` (the encoder's own choice per clip) the tokens are
coded within ``--token-kbps`` exactly as the encoder codes them (``choose_tokens``) and
decoded to the flows the decoder warps with (``decoded_flows``: token smoothing, recovery,
interpolation in time, flow smoothing, as the codec's options say; the source key frame).
The ratio is the mean end-point error of those flows against the estimator's, divided
by that of zero flow (1.0 = the tokens carry nothing), over every inter frame of the
clip, with the token rate in kbps (the key frame is not counted).

    python benchmarks/dynamics_token_interval.py --dataset ../shared/datasets/scene-dynamics
    python benchmarks/dynamics_token_interval.py --synthetic-seed 0 --raw
    python benchmarks/dynamics_token_interval.py --dataset DIR --weights other.pt --intervals 1,2,4 --token-kbps 5

The ratio depends on the estimator it is measured against (on lake_boat the flows tracked
from frame to frame and those estimated from zero differ by about as much as the motion
itself). The last columns do not: how much of each frame's change from the key frame
the warp explains, mean |frame - key warped by the flow| / mean |frame - key| over the
inter frames (luma, full size; 1.0 = no better than the key frame itself), for auto's
decoded flows and for the estimator's own (what perfect tokens would reach without the
decoder's smoothing).

``--raw`` turns the decoder's smoothing off (token_smoothing = flow_smoothing = 0): the
ratio of the tokens alone, as ``dynamics_flow_accuracy.py`` measures it on sampled frames.
The estimator's flows are the encoder's: tracked from frame to frame by default
(``flow_tracking``); ``--no-flow-tracking`` estimates each from zero, for both the tokens
and the reference, as the encoder did before tracking.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def frame_error_ratio(seq, flows: np.ndarray) -> float:
    """mean |frame_t - key warped by flow_t| / mean |frame_t - key| over the inter frames, on
    8-bit luma at full size; ``flows`` (T-1, 2, h, w) on the quarter-size grid in full-size
    pixels (``decoded_flows``' layout), spread bilinearly to full size."""
    import cv2

    from gvcbench.codecs.dynamics.flow import warp
    from gvcbench.metrics.temporal import luma8

    key = luma8(seq, 0)
    size = (seq.width, seq.height)
    warped_error = still_error = 0.0
    for t in range(1, seq.num_frames):
        flow = cv2.resize(np.ascontiguousarray(flows[t - 1].transpose(1, 2, 0)), size, interpolation=cv2.INTER_LINEAR)
        frame = luma8(seq, t).astype(np.float32)
        warped_error += float(np.abs(warp(key, flow).astype(np.float32) - frame).mean())
        still_error += float(np.abs(key.astype(np.float32) - frame).mean())
    return warped_error / still_error if still_error else float("nan")


def interval_ratios(codecs: dict, seq) -> dict:
    """{interval or "auto": (ratio, token kbps, step, interval used)} for one clip, one
    dynamics codec per interval (the same weights and options otherwise), and under
    "frame error" the pair (``frame_error_ratio`` of auto's decoded flows, of the
    estimator's flows)."""
    from gvcbench.codecs.dynamics import bitstream as bs
    from gvcbench.codecs.dynamics.codec import decoded_flows, flow_error, key_features, load_model
    from gvcbench.codecs.dynamics.frames import SCALE
    from gvcbench.datasets.sequence import rgb_uint8

    first = next(iter(codecs.values()))
    tokens, flows = first.analyse(seq)
    n = len(tokens)
    key = rgb_uint8(seq, 0, 1)[0]
    seconds = seq.num_frames / float(seq.fps)
    model = load_model(str(first.weights_path))
    features = key_features(model, key)
    zero = flow_error(np.zeros((n, 2, *flows.shape[1:3]), np.float32), flows)
    out: dict[int | str, tuple] = {}
    for k, codec in codecs.items():
        used, step, q, payload = codec.choose_tokens(tokens, flows, key, seconds)
        recovered = decoded_flows(model, features, q, step, bs.sent_frames(n, used), n, codec.params)
        out[k] = (
            flow_error(recovered, flows) / zero if zero else float("nan"),
            len(payload) * 8 / seconds / 1000,
            step,
            used,
        )
        if k == "auto":
            estimated = np.ascontiguousarray(flows.transpose(0, 3, 1, 2)) * SCALE
            out["frame error"] = (frame_error_ratio(seq, recovered), frame_error_ratio(seq, estimated))
    return out


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from gvcbench.bench.plan import make_codec
    from gvcbench.codecs.dynamics import data as D
    from gvcbench.codecs.dynamics.codec import DEFAULT_WEIGHTS, TOKEN_INTERVALS, TOKEN_KBPS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", help="a dataset (manifest, folder or name); default: the synthetic families")
    ap.add_argument("--synthetic-seed", type=int, default=0, help="seed of the synthetic clips (no --dataset)")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    ap.add_argument("--token-kbps", type=float, default=TOKEN_KBPS, help="the codec's token_kbps (0: no rate control)")
    ap.add_argument(
        "--intervals", default=",".join(map(str, TOKEN_INTERVALS)), help="fixed intervals to compare with auto"
    )
    ap.add_argument("--raw", action="store_true", help="no token or flow smoothing (the tokens' own accuracy)")
    ap.add_argument("--no-flow-tracking", action="store_true", help="each flow estimated from zero (flow_tracking off)")
    args = ap.parse_args()

    if args.dataset:
        clips = D.dataset_clips(args.dataset, frames=args.frames)
    else:
        clips = D.synthetic_clips([args.synthetic_seed], frames=args.frames)
    options = {"weights": args.weights, "keyframe_codec": "vvenc", "token_kbps": args.token_kbps}
    if args.raw:
        options.update(token_smoothing=0, flow_smoothing=0)
    if args.no_flow_tracking:
        options.update(flow_tracking=False)
    intervals: list = [int(k) for k in args.intervals.split(",")] + ["auto"]
    codecs = {k: make_codec("dynamics", {**options, "token_interval": k}) for k in intervals}
    started = time.perf_counter()
    results = {clip.name: interval_ratios(codecs, clip.seq) for clip in clips}
    source = args.dataset or f"synthetic seed {args.synthetic_seed}"
    smoothing = "no smoothing" if args.raw else "decoder smoothing"
    tracking = "flows estimated from zero" if args.no_flow_tracking else "flows tracked"
    table = Table(
        title=f"flow ratio by token interval, {source}, {args.frames} frames, <= {args.token_kbps:g} kbps, "
        f"{smoothing}, {tracking}, weights {args.weights.split('/')[-1]}"
    )
    table.add_column("clip")
    table.add_column("family")
    for k in intervals:
        table.add_column(f"k={k}", justify="right")
    table.add_column("auto: k, kbps", justify="right")
    table.add_column("frame error: auto", justify="right")
    table.add_column("estimator", justify="right")
    for clip in clips:
        r = results[clip.name]
        cells = [f"{r[k][0]:.3f}" for k in intervals]
        frame_error = [f"{v:.3f}" for v in r["frame error"]]
        table.add_row(clip.name, clip.family, *cells, f"{r['auto'][3]}, {r['auto'][1]:.2f}", *frame_error)
    groups: dict = {"mean": [c.name for c in clips]}
    for clip in clips:
        if clip.family != "real":
            groups.setdefault(f"family {clip.family}", []).append(clip.name)
    for label, names in groups.items():
        cells = [f"{np.mean([results[n][k][0] for n in names]):.3f}" for k in intervals]
        frame_error = [f"{np.mean([results[n]['frame error'][i] for n in names]):.3f}" for i in (0, 1)]
        table.add_row(label, "", *cells, f"{np.mean([results[n]['auto'][1] for n in names]):.2f} kbps", *frame_error)
    table.add_row("max", "", *[f"{max(results[c.name][k][0] for c in clips):.3f}" for k in intervals], "", "", "")
    Console().print(table)
    print(f"{len(clips)} clips in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
