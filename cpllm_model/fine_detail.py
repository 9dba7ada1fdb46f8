"""Fine detail of the cells a model reads: how much pixel-scale detail a rendition kept.

    d = fine_detail(low_patches, patch_mask, low_level_frames=T, scale=SCALE)
      low_patches uint8[B, K, M, P, P, 3], patch_mask float32[B, K, M] -> float32[B]

Per key-frame cell, cut at native resolution: the BT.709 luma on the 0-255 scale,
averaged over `scale` x `scale` pixel blocks, then the mean |4-neighbour Laplacian| over
the (P / scale - 2)^2 inner positions, read as log(1 + that); d is its mean over the
video's real cells (mask > 0; of a clip of T frames, slot c * T, the key frame's cell).
`scale` 2 (the default) reads detail at a two-pixel scale: it follows what x264 removes
as closely as the one-pixel Laplacian does on natural and grainy content and is less
raised by the ringing x264 adds around sharp edges (text, line art) at high CRF
(docs/TRAINING.md "Ladder consistency" compares the two).

What it is for: inside one ladder (renditions of one source), every step up in CRF
removes fine detail, camera noise and film grain first, so the rung that kept more has
the larger d; across sources d mostly says how detailed or noisy the content is, which
does not order quality at all. `beam_pipelines.ladder_consistency` therefore uses it
relative to its ladder's mean (docs/TRAINING.md "Ladder consistency").
"""
import numpy as np

from cpllm_model.frames import LUMA

SCALE = 2


def fine_detail(low_patches, patch_mask, low_level_frames=1, scale=SCALE):
    """See the module docstring: uint8[B, K, M, P, P, 3], float32[B, K, M] -> float32[B]
    (0 for a video without a real cell). P must be a multiple of `scale`, P / scale >= 3."""
    t, s = int(low_level_frames), int(scale)
    x = np.asarray(low_patches)[:, :, ::t].astype(np.float32)
    p = x.shape[-2]
    if s < 1 or p % s or p // s < 3:
        raise ValueError(f"fine_detail: patch size {p} is not a multiple of scale {s} "
                         "leaving at least 3 x 3 positions")
    mask = np.asarray(patch_mask, np.float32)[:, :, ::t]
    y = x[..., 0] * LUMA[0] + x[..., 1] * LUMA[1] + x[..., 2] * LUMA[2]
    if s > 1:
        y = y.reshape(*y.shape[:3], p // s, s, p // s, s).mean(axis=(-3, -1))
    lap = (4.0 * y[..., 1:-1, 1:-1] - y[..., :-2, 1:-1] - y[..., 2:, 1:-1]
           - y[..., 1:-1, :-2] - y[..., 1:-1, 2:])
    cell = np.log1p(np.abs(lap).mean(axis=(-2, -1)))  # [B, K, M / T]
    real = mask > 0
    count = real.sum(axis=(1, 2))
    total = np.where(real, cell, 0.0).sum(axis=(1, 2), dtype=np.float64)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0).astype(np.float32)
