"""Fine detail of the cells a model reads: how much pixel-scale detail a rendition kept.

    d = fine_detail(low_patches, patch_mask, low_level_frames=T)
      low_patches uint8[B, K, M, P, P, 3], patch_mask float32[B, K, M] -> float32[B]

Per key-frame cell, cut at native resolution (cell origins on the 16-pixel macroblock
grid, `frames.patch_grid`, so x264's 4 x 4 and 8 x 8 transform blocks fall on fixed cell
positions), two readings of the BT.709 luma y on the 0-255 scale:

- detail: y averaged over `scale` x `scale` pixel blocks, then the mean |4-neighbour
  Laplacian| over the (P / scale - 2)^2 inner positions, read as log(1 + that);
- block edges: log(1 + mean |step| between neighbouring pixels across the lines of the
  `grid`-pixel grid) - log(1 + mean |step| everywhere else), horizontal and vertical steps
  averaged alike;

d = mean over the video's real cells (mask > 0; of a clip of T frames, slot c * T, the key
frame's cell) of the first, minus `edge_weight` times the mean of the second.

What it is for: inside one ladder (renditions of one source), every step up in CRF
removes fine detail, camera noise and film grain first, so the rung that kept more has
the larger d; across sources d mostly says how detailed or noisy the content is, which
does not order quality at all. `beam_pipelines.ladder_consistency` therefore uses it
relative to its ladder's mean. The two-pixel scale is less raised than one pixel by the
ringing x264 adds around sharp edges (text, line art); counting the block edges' excess
against the rung keeps an encoder without a deblocking filter (x264 `ultrafast`) from
reading its blocking as detail. `edge_weight` 6/11 is the ratio of the two weights
fitted on training ladders, 1.5 / 2.75 (docs/TRAINING.md "Ladder consistency" and
"Blocking and the detail reading").
"""
import numpy as np

from cpllm_model.frames import LUMA

SCALE = 2
GRID = 4
EDGE_WEIGHT = 6.0 / 11.0


def _masked_mean(cell, real):
    count = real.sum(axis=(1, 2))
    total = np.where(real, cell, 0.0).sum(axis=(1, 2), dtype=np.float64)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def laplacian_detail(y, scale=SCALE):
    """log(1 + mean |Laplacian|) (module docstring) of luma float32[..., P, P] ->
    float32[...]."""
    p = y.shape[-1]
    s = int(scale)
    if s < 1 or p % s or p // s < 3:
        raise ValueError(f"fine_detail: patch size {p} is not a multiple of scale {s} "
                         "leaving at least 3 x 3 positions")
    if s > 1:
        y = y.reshape(*y.shape[:-2], p // s, s, p // s, s).mean(axis=(-3, -1))
    lap = np.abs(4.0 * y[..., 1:-1, 1:-1] - y[..., :-2, 1:-1] - y[..., 2:, 1:-1]
                 - y[..., 1:-1, :-2] - y[..., 1:-1, 2:])
    return np.log1p(lap.mean(axis=(-2, -1)))


def block_edges(y, grid=GRID):
    """log(1 + mean |step| across the `grid` lines) - log(1 + mean |step| elsewhere) of
    luma float32[..., P, P] -> float32[...] (module docstring)."""
    p, g = y.shape[-1], int(grid)
    n_on = len(range(g - 1, p - 1, g))
    if g < 2 or n_on == 0:
        raise ValueError(f"fine_detail: grid {grid} has no line inside a patch of {p}")
    n_off = p - 1 - n_on
    on, off = 0.0, 0.0
    for step in (np.abs(np.diff(y, axis=-1)), np.swapaxes(np.abs(np.diff(y, axis=-2)), -1, -2)):
        # step[..., i, j]: |y(i, j + 1) - y(i, j)| along one axis; lines at j % g == g - 1.
        across = step[..., g - 1::g].sum(axis=(-2, -1))
        on = on + across / (p * n_on)
        off = off + (step.sum(axis=(-2, -1)) - across) / (p * n_off)
    return np.log1p(on / 2) - np.log1p(off / 2)


def fine_detail(low_patches, patch_mask, low_level_frames=1, scale=SCALE, grid=GRID,
                edge_weight=EDGE_WEIGHT):
    """See the module docstring: uint8[B, K, M, P, P, 3], float32[B, K, M] -> float32[B]
    (0 for a video without a real cell)."""
    t = int(low_level_frames)
    x = np.asarray(low_patches)[:, :, ::t].astype(np.float32)
    mask = np.asarray(patch_mask, np.float32)[:, :, ::t]
    y = x[..., 0] * LUMA[0] + x[..., 1] * LUMA[1] + x[..., 2] * LUMA[2]
    real = mask > 0
    d = _masked_mean(laplacian_detail(y, scale), real)
    if edge_weight:
        d = d - edge_weight * _masked_mean(block_edges(y, grid), real)
    return d.astype(np.float32)
