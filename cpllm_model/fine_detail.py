"""Fine detail of the cells a model reads: how much pixel-scale detail a rendition kept.

    d = fine_detail(low_patches, patch_mask, low_level_frames=T)
      low_patches uint8[B, K, M, P, P, 3], patch_mask float32[B, K, M] -> float32[B]

Per key-frame cell, at native resolution, the mean |4-neighbour Laplacian| of the BT.709
luma on the 0-255 scale (over the cell's (P - 2)^2 inner pixels), read as log(1 + that);
d is its mean over the video's real cells (mask > 0; of a clip of T frames, slot
c * T, the key frame's cell).

What it is for: inside one ladder (renditions of one source), every step up in CRF
removes fine detail, camera noise and film grain first, so the rung that kept more has
the larger d; across sources d mostly says how detailed or noisy the content is, which
does not order quality at all. `beam_pipelines.ladder_consistency` therefore uses it
relative to its ladder's mean (docs/TRAINING.md "Ladder consistency").
"""
import numpy as np

LUMA = (0.2126, 0.7152, 0.0722)  # BT.709


def fine_detail(low_patches, patch_mask, low_level_frames=1):
    """See the module docstring: uint8[B, K, M, P, P, 3], float32[B, K, M] -> float32[B]
    (0 for a video without a real cell)."""
    t = int(low_level_frames)
    x = np.asarray(low_patches)[:, :, ::t].astype(np.float32)
    mask = np.asarray(patch_mask, np.float32)[:, :, ::t]
    y = x[..., 0] * LUMA[0] + x[..., 1] * LUMA[1] + x[..., 2] * LUMA[2]
    lap = (4.0 * y[..., 1:-1, 1:-1] - y[..., :-2, 1:-1] - y[..., 2:, 1:-1]
           - y[..., 1:-1, :-2] - y[..., 1:-1, 2:])
    cell = np.log1p(np.abs(lap).mean(axis=(-2, -1)))  # [B, K, M / T]
    real = mask > 0
    count = real.sum(axis=(1, 2))
    total = np.where(real, cell, 0.0).sum(axis=(1, 2), dtype=np.float64)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0).astype(np.float32)
