"""What limits Dynamics-Codec's tokens, without training: oracle flow-accuracy ratios.

Every figure is a ratio as ``benchmarks/dynamics_flow_accuracy.py`` prints it (flow
error / zero-flow error, summed over a clip's pairs, mean over clips or per motion
family), on the validation packs (``gvcbench dynamics pack``), for a flow built
without any network:

* ``cells GxG``: the flow's mean over each of G x G cells, spread back bilinearly, as the
  recovery network spreads a token grid: the best a G x G layout of token *values*
  can do if the key frame's features added nothing;
* ``dct K``: the K x K lowest 2-D DCT coefficients of each flow component (2 K^2
  numbers): the best smooth basis of that size;
* ``sparse``: the dense flow interpolated (linearly) from the watershed samples the
  tokenizer sees: whether the sparse input still holds the motion;
* ``DIS vs truth`` (synthetic only): the training target (DIS flow) against the
  generator's exact displacement, both at the quarter-size grid;
* ``flip``: share of consecutive inter frames whose flows (truth, synthetic) point
  in opposite directions on average (cosine < 0): whether the sign flips frame to frame.

    python benchmarks/dynamics_oracles.py --packs dynamics-packs
"""

from __future__ import annotations

import argparse

import numpy as np


def cells(flow: np.ndarray, g: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(flow).permute(0, 3, 1, 2)
    c = F.adaptive_avg_pool2d(t, g)
    return F.interpolate(c, size=t.shape[-2:], mode="bilinear", align_corners=False).permute(0, 2, 3, 1).numpy()


def dct_lowpass(flow: np.ndarray, k: int) -> np.ndarray:
    from scipy.fft import dctn, idctn

    coef = dctn(flow, axes=(1, 2), norm="ortho")
    keep = np.zeros_like(coef)
    keep[:, :k, :k] = coef[:, :k, :k]
    return idctn(keep, axes=(1, 2), norm="ortho")


def from_sparse(flow: np.ndarray, masks: np.ndarray) -> np.ndarray:
    from scipy.interpolate import griddata

    out = np.empty_like(flow)
    h, w = flow.shape[1:3]
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(len(flow)):
        pts = np.argwhere(masks[i] > 0)
        vals = flow[i][pts[:, 0], pts[:, 1]]
        lin = griddata(pts, vals, (yy, xx), method="linear")
        near = griddata(pts, vals, (yy, xx), method="nearest")
        out[i] = np.where(np.isnan(lin), near, lin)
    return out


def clip_ratios(pred: np.ndarray, flow: np.ndarray, clip_of: np.ndarray, n: int) -> np.ndarray:
    err = np.linalg.norm(pred - flow, axis=-1).mean((1, 2))
    zero = np.linalg.norm(flow, axis=-1).mean((1, 2))
    return np.array([err[clip_of == c].sum() / zero[clip_of == c].sum() for c in range(n)])


def truth_flows(pack: dict) -> tuple[np.ndarray, list[float]]:
    """The generator's displacement at the pack's pairs (quarter grid) and, per clip, the
    share of consecutive frames whose displacement flips direction."""
    from gvcbench.codecs.dynamics.frames import SCALE, low_res
    from gvcbench.datasets.synthetic import generate

    out = np.empty(pack["flows"].shape, np.float32)
    flips = []
    for c, name in enumerate(pack["names"]):
        clip, seed = str(name).split("@")
        _, disp = generate(clip, seed=int(seed), size=384, frames=50, with_flow=True)
        for i in np.flatnonzero(pack["clip_of"] == c):
            out[i] = low_res(disp[pack["times"][i]], SCALE, is_flow=True)
        d = disp[1:].reshape(len(disp) - 1, -1)
        cos = (d[1:] * d[:-1]).sum(1) / (np.linalg.norm(d[1:], axis=1) * np.linalg.norm(d[:-1], axis=1) + 1e-9)
        flips.append(float((cos < 0).mean()))
    return out, flips


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from gvcbench.codecs.dynamics import data as D

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packs", default="dynamics-packs")
    ap.add_argument("--grids", default="1,2,3,4,6,8,12")
    ap.add_argument("--dct", default="2,4,6,8")
    args = ap.parse_args()
    grids = [int(g) for g in args.grids.split(",")]
    ks = [int(k) for k in args.dct.split(",")]
    console = Console()
    for name in ("val-synth", "val-real"):
        pack = D.load_pack(__import__("pathlib").Path(args.packs) / f"{name}.npz")
        flow = pack["flows"].astype(np.float32)
        masks = D.unpack_masks(pack)
        n = len(pack["names"])
        groups = {"mean": np.arange(n)}
        if name == "val-synth":
            for fam in dict.fromkeys(pack["families"]):
                groups[str(fam)] = np.flatnonzero(pack["families"] == fam)
        else:
            for c, clip in enumerate(pack["names"]):
                groups[str(clip)] = np.array([c])
        rows = {f"cells {g}x{g} ({g * g} cells)": cells(flow, g) for g in grids}
        rows.update({f"dct {k}x{k} ({2 * k * k} numbers)": dct_lowpass(flow, k) for k in ks})
        rows["sparse samples, interpolated"] = from_sparse(flow, masks)
        ratios = {r: clip_ratios(p, flow, pack["clip_of"], n) for r, p in rows.items()}
        if name == "val-synth":
            truth, flips = truth_flows(pack)
            ratios["DIS vs truth (|DIS - truth| / |truth|)"] = clip_ratios(flow, truth, pack["clip_of"], n)
            ratios["truth vs DIS (|truth - DIS| / |DIS|)"] = clip_ratios(truth, flow, pack["clip_of"], n)
            ratios["flip share (truth, consecutive frames)"] = np.array(flips)
        table = Table(title=f"oracle ratios, {name}")
        table.add_column("oracle")
        for g in groups:
            table.add_column(g, justify="right")
        for r, v in ratios.items():
            table.add_row(r, *[f"{v[idx].mean():.3f}" for idx in groups.values()])
        console.print(table)


if __name__ == "__main__":
    main()
