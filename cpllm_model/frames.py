"""Frame preprocessing: the model's input contract for key frames (pure numpy).

Two views of each key frame feed the two encoders:
- ``high_level_frames``: the whole frame resized to S x S (aspect ratio ignored) for the
  SigLIP encoder.
- ``low_level_patches``: the frame resized *preserving* aspect ratio to fit within
  L x L, cut into non-overlapping P x P patches (full resolution detail, compression
  artifacts intact) for the VideoPrism encoder.

Resizing is bilinear (a triangle filter): plain bilinear interpolation when enlarging and,
when shrinking, the triangle widened by the scale factor (area-weighted, like PIL's
BILINEAR), so downscaling does not alias. Pixel centres are aligned (half-pixel
convention). Deterministic: float32 arithmetic (sparse separable matrices), rounding to nearest.
"""
import numpy as np
import scipy.sparse


def _weights(in_size: int, out_size: int) -> scipy.sparse.csr_matrix:
    """Sparse float32[out, in] resampling matrix of the triangle filter (rows sum to 1)."""
    scale = in_size / out_size
    support = max(1.0, scale)  # triangle half-width in source pixels
    centres = (np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5
    n_taps = int(np.ceil(support)) * 2 + 1
    first = np.floor(centres - support).astype(np.int64) + 1
    idx = first[:, None] + np.arange(n_taps)[None, :]
    w = np.maximum(0.0, 1.0 - np.abs(idx - centres[:, None]) / support)
    idx = np.clip(idx, 0, in_size - 1)  # edge replication at the borders
    w /= w.sum(axis=1, keepdims=True)
    rows = np.repeat(np.arange(out_size), n_taps)
    # Duplicate (row, col) entries from the clipping are summed by the constructor.
    return scipy.sparse.csr_matrix((w.ravel().astype(np.float32), (rows, idx.ravel())),
                                   shape=(out_size, in_size))


def resize_bilinear(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8[K, H, W, C] -> uint8[K, height, width, C], bilinear (antialiased down)."""
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must be [K, H, W, C], got shape {frames.shape}")
    k, h, w, c = frames.shape
    if (h, w) == (height, width):
        return frames.astype(np.uint8, copy=True)
    wy, wx = _weights(h, height), _weights(w, width)
    out = np.empty((k, height, width, c), np.uint8)
    for i in range(k):
        x = wy @ frames[i].reshape(h, w * c).astype(np.float32)      # [height, W*C]
        x = x.reshape(height, w, c).transpose(1, 0, 2).reshape(w, height * c)
        x = (wx @ x).reshape(width, height, c).transpose(1, 0, 2)   # [height, width, C]
        out[i] = np.clip(np.rint(x), 0, 255)
    return out


def high_level_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of every frame to size x size, ignoring aspect ratio.

    Args:
        frames: uint8[K, H, W, 3].
        size: S.

    Returns:
        uint8[K, S, S, 3].
    """
    return resize_bilinear(frames, size, size)


def fit_size(height: int, width: int, fit: int) -> tuple[int, int]:
    """(h, w) after scaling (up or down) so the longer side is ``fit``, aspect kept."""
    scale = fit / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def patch_grid(height: int, width: int, fit: int, patch: int,
               max_patches: int) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """Where ``low_level_patches`` cuts a frame of ``height`` x ``width``.

    The frame is resized to ``fit_size``; a short side below ``patch`` is then padded to
    ``patch`` (edge replication, centred). The grid has rows = h // P, cols = w // P
    cells, centred in the frame (the margin left over is split evenly). When the grid has
    more than ``max_patches`` cells, M of them are taken spread uniformly in raster order
    (cell floor((j + 0.5) * N / M), j < M); otherwise all, in raster order.

    Returns:
        ((h, w) of the resized, padded frame, [(top, left)] of the chosen cells).
    """
    h, w = fit_size(height, width, fit)
    h, w = max(h, patch), max(w, patch)
    rows, cols = h // patch, w // patch
    y0, x0 = (h - rows * patch) // 2, (w - cols * patch) // 2
    n = rows * cols
    if n <= max_patches:
        chosen = np.arange(n)
    else:
        chosen = ((np.arange(max_patches) + 0.5) * n / max_patches).astype(np.int64)
    cells = [(y0 + (c // cols) * patch, x0 + (c % cols) * patch) for c in chosen]
    return (h, w), cells


def low_level_patches(frames: np.ndarray, fit: int, patch: int,
                      max_patches: int) -> tuple[np.ndarray, np.ndarray]:
    """Aspect-preserving resize to fit within fit x fit, then a grid of P x P patches.

    Frames of extreme aspect ratio whose short side ends up below P after the fit are
    padded to P by replicating their edge pixels (centred), so every frame gives at least
    one patch. See ``patch_grid`` for the cells chosen.

    Args:
        frames: uint8[K, H, W, 3].
        fit: L, the longer side after resizing.
        patch: P.
        max_patches: M.

    Returns:
        (uint8[K, M, P, P, 3] patches, float32[K, M] mask): slots beyond the grid's cell
        count are zero with mask 0.0; real patches have mask 1.0.
    """
    frames = np.asarray(frames)
    k, height, width, c = frames.shape
    fh, fw = fit_size(height, width, fit)
    resized = resize_bilinear(frames, fh, fw)
    (h, w), cells = patch_grid(height, width, fit, patch, max_patches)
    if (h, w) != (fh, fw):
        pad_y, pad_x = h - fh, w - fw
        resized = np.pad(resized, ((0, 0), (pad_y // 2, pad_y - pad_y // 2),
                                   (pad_x // 2, pad_x - pad_x // 2), (0, 0)), mode="edge")
    patches = np.zeros((k, max_patches, patch, patch, c), np.uint8)
    mask = np.zeros((k, max_patches), np.float32)
    for j, (top, left) in enumerate(cells):
        patches[:, j] = resized[:, top:top + patch, left:left + patch]
        mask[:, j] = 1.0
    return patches, mask
