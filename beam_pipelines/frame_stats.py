"""Measured, content-agnostic properties of a rendition's key frames (pure numpy).

`measure(frames)` takes decoded key frames uint8[K, H, W, 3] (RGB, native size) and
returns what a model can actually see, for the describer (`beam_pipelines.describer`):

- `brightness`: mean BT.709 luma Y = 0.2126 R + 0.7152 G + 0.0722 B, 0-255.
- `colorfulness`: Hasler & Suesstrunk (2003) M = sqrt(sd_rg^2 + sd_yb^2)
  + 0.3 sqrt(mu_rg^2 + mu_yb^2), rg = R - G, yb = (R + G) / 2 - B; per frame, averaged.
  0 for grey; the paper's bands: < 15 not colourful, ~33 moderately, > 59 highly, > 82
  extremely colourful; saturated test patterns reach ~250-300.
- `detail`: spatial information, mean Sobel gradient magnitude of luma
  sqrt(gx^2 + gy^2) with the 3x3 Sobel kernels ([1, 2, 1] x [-1, 0, 1]), over interior
  pixels, averaged over frames. 0 for a flat picture; a luma step of h gives 4h on the
  edge; range 0 to ~1442. Natural photographs: ~20-120; uniform noise: ~400.
- `motion`: temporal information, mean |Y_k - Y_(k-1)| between consecutive key frames,
  0-255 (0 when K = 1). Key frames are spread over the whole clip, so this is change
  between them, not per-frame motion.
- `flat_fraction`: share of 16x16 luma blocks whose variance is <= FLAT_VARIANCE
  (flat regions: graphics, animation, plain backgrounds), 0-1.
- `edge_density`: share of pixels whose Sobel magnitude is >= EDGE_MAGNITUDE (a step of
  >= 64 luma levels: sharp, high-contrast edges), 0-1.
- `contrast`: standard deviation of luma within a frame, averaged, 0-127.5 (0 for a
  uniform picture; tells a plain picture from smooth gradients, both low in detail).

Graphics and animation show flat regions plus sharp edges (high flat_fraction and
edge_density); natural content has few near-constant blocks (camera noise and texture;
on the sample images flat_fraction is ~0, on test patterns 0.3-0.6); smooth gradients
have low detail and no sharp edges.

Speed: frames are subsampled by striding (every s-th row and column, s = ceil(long side
/ WORK_SIDE)) before any statistic, so 1080p costs the same as ~640x360 and the result
stays a pure function of the frames. Spatial stats (detail, flat blocks, edges) are
therefore measured at that working scale. All math is float64; same frames in, same
numbers out.
"""
from __future__ import annotations

import math

import numpy as np

WORK_SIDE = 640  # long side of the working scale (stride subsampling)
BLOCK = 16  # block side for flat_fraction (at the working scale)
FLAT_VARIANCE = 0.25  # luma variance (levels^2) at or under which a block is flat
EDGE_MAGNITUDE = 256.0  # Sobel magnitude of a 64-level step

FIELDS = ("brightness", "colorfulness", "detail", "motion", "flat_fraction", "edge_density",
          "contrast")


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722


def _sobel_magnitude(y: np.ndarray) -> np.ndarray:
    """Sobel magnitude of a float64[H, W] image over its interior, [H-2, W-2]."""
    gx = ((y[:-2, 2:] - y[:-2, :-2]) + 2.0 * (y[1:-1, 2:] - y[1:-1, :-2])
          + (y[2:, 2:] - y[2:, :-2]))
    gy = ((y[2:, :-2] - y[:-2, :-2]) + 2.0 * (y[2:, 1:-1] - y[:-2, 1:-1])
          + (y[2:, 2:] - y[:-2, 2:]))
    return np.sqrt(gx * gx + gy * gy)


def _colorfulness(rgb: np.ndarray) -> float:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(math.sqrt(rg.var() + yb.var())
                 + 0.3 * math.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def _flat_fraction(y: np.ndarray) -> float:
    h, w = (y.shape[0] // BLOCK) * BLOCK, (y.shape[1] // BLOCK) * BLOCK
    if h == 0 or w == 0:  # smaller than one block: the whole picture is the block
        return float(y.var() <= FLAT_VARIANCE)
    blocks = y[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK)
    return float(np.mean(blocks.var(axis=(1, 3)) <= FLAT_VARIANCE))


def measure(frames) -> dict:
    """Measured properties of key frames uint8[K, H, W, 3] (see the module docstring).

    Returns {field: float} for every name in FIELDS.
    """
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"expected frames [K, H, W, 3], got shape {frames.shape}")
    s = max(1, -(-max(frames.shape[1], frames.shape[2]) // WORK_SIDE))
    rgb = frames[:, ::s, ::s].astype(np.float64)
    y = _luma(rgb)
    detail, edges, flat, colour = [], [], [], []
    for k in range(rgb.shape[0]):
        colour.append(_colorfulness(rgb[k]))
        flat.append(_flat_fraction(y[k]))
        if y.shape[1] >= 3 and y.shape[2] >= 3:
            mag = _sobel_magnitude(y[k])
            detail.append(float(mag.mean()))
            edges.append(float(np.mean(mag >= EDGE_MAGNITUDE)))
        else:
            detail.append(0.0)
            edges.append(0.0)
    motion = float(np.abs(np.diff(y, axis=0)).mean()) if y.shape[0] > 1 else 0.0
    return {
        "brightness": float(y.mean()),
        "colorfulness": float(np.mean(colour)),
        "detail": float(np.mean(detail)),
        "motion": motion,
        "flat_fraction": float(np.mean(flat)),
        "edge_density": float(np.mean(edges)),
        "contrast": float(np.mean(y.std(axis=(1, 2)))),
    }
