"""Dense-to-sparse motion sampling, as the Dynamics-Codec paper describes it (after the
watershed sampling of conditional motion propagation):

1. motion edges: the gradient magnitude of the flow (Sobel on both components), kept
   where it is above a fraction of its own maximum (and of an absolute floor);
2. a topological-distance map: the distance of every pixel to the nearest motion edge;
3. watershed regions of that map, one per basin, and inside each the point farthest
   from the edges (the region's centre);
4. non-maximum suppression: of candidates closer than ``min_distance`` only the one
   farthest from the edges stays; a coarse grid fills motion-free areas so that the
   mask also marks sampled *zero* motion.

The result is a sparse flow (the flow at the sampled points, 0 elsewhere) and a mask
(1 at sampled points), which separates sampled zero motion from unsampled positions.
"""

from __future__ import annotations

import numpy as np


def motion_edges(flow: np.ndarray, relative: float = 0.2, floor: float = 0.05) -> np.ndarray:
    import cv2

    grad = np.zeros(flow.shape[:2], np.float32)
    for c in range(2):
        gx = cv2.Sobel(flow[..., c], cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(flow[..., c], cv2.CV_32F, 0, 1, ksize=3)
        grad += gx * gx + gy * gy
    grad = np.sqrt(grad)
    return grad > max(relative * float(grad.max()), floor)


def sample_points(flow: np.ndarray, min_distance: int = 8, grid: int = 32) -> np.ndarray:
    """(N, 2) integer (y, x) sampling positions."""
    from scipy import ndimage
    from skimage.segmentation import watershed

    h, w = flow.shape[:2]
    edges = motion_edges(flow)
    distance = ndimage.distance_transform_edt(~edges) if edges.any() else np.full((h, w), float(max(h, w)))
    labels = watershed(-distance, mask=~edges) if edges.any() else np.ones((h, w), int)
    candidates = []
    for index, region in enumerate(ndimage.find_objects(labels), start=1):
        if region is None:
            continue
        local = np.where(labels[region] == index, distance[region], -1)
        y, x = np.unravel_index(int(np.argmax(local)), local.shape)
        candidates.append((float(local[y, x]), y + region[0].start, x + region[1].start))
    # a coarse grid so that areas without motion edges are sampled too
    for gy in range(grid // 2, h, grid):
        for gx in range(grid // 2, w, grid):
            candidates.append((float(distance[gy, gx]) * 0.5, gy, gx))
    kept: list[tuple[int, int]] = []
    occupied = np.zeros((h, w), bool)
    for _, y, x in sorted(candidates, reverse=True):  # farthest from edges first: NMS
        if occupied[y, x]:
            continue
        kept.append((y, x))
        occupied[max(0, y - min_distance) : y + min_distance + 1, max(0, x - min_distance) : x + min_distance + 1] = (
            True
        )
    return np.array(kept, dtype=np.int64).reshape(-1, 2)


def sparsify(flow: np.ndarray, min_distance: int = 8, grid: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Sparse flow (H, W, 2) and mask (H, W) float32 from a dense flow."""
    points = sample_points(flow, min_distance, grid)
    sparse = np.zeros_like(flow, dtype=np.float32)
    mask = np.zeros(flow.shape[:2], np.float32)
    ys, xs = points[:, 0], points[:, 1]
    sparse[ys, xs] = flow[ys, xs]
    mask[ys, xs] = 1.0
    return sparse, mask
