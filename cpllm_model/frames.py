"""Frame preprocessing: the model's input contract for key frames (pure numpy).

Two views of each decoded key frame feed the two encoders:
- ``high_level_frames``: the whole frame resized to S x S (aspect ratio ignored) for the
  SigLIP encoder.
- ``low_level_patches``: non-overlapping P x P patches cut from the frame at its *own*
  (native, decoded) resolution, compression artifacts intact, for the VideoPrism
  encoder. Only a frame whose longer side exceeds ``max_side`` is downscaled (aspect
  kept); smaller frames are never resized, so a 1080p frame and a 360p frame are seen at
  the same pixel scale. Cell origins are aligned to multiples of 16 pixels (``ALIGN``), so
  H.264 macroblock / 8x8-transform boundaries sit at the same phase inside every patch.

``model_frame_inputs`` is THE function that turns decoded native-size frames into the
model's frame inputs; every path (prepare, score, compare) goes through it (via
``CPLLMPreprocessor.frame_inputs``). Decoders hand it frames at native size up to
``max_side`` (``CPLLMPreprocessor.decode_max_side()``), never pre-scaled to S.

Resizing is bilinear (a triangle filter): plain bilinear interpolation when enlarging and,
when shrinking, the triangle widened by the scale factor (area-weighted, like PIL's
BILINEAR), so downscaling does not alias. Pixel centres are aligned (half-pixel
convention). Deterministic: float32 arithmetic (sparse separable matrices), rounding to nearest.
"""
import numpy as np
import scipy.sparse

LUMA = (0.2126, 0.7152, 0.0722)  # BT.709 weights of R, G, B: the luma VMAF reads


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


ALIGN = 16  # cell origins are multiples of this (H.264 macroblock size)


def fit_size(height: int, width: int, fit: int) -> tuple[int, int]:
    """(h, w) after scaling (up or down) so the longer side is ``fit``, aspect kept."""
    scale = fit / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def capped_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(h, w) the low-level path works at: native, or fitted to ``max_side`` if larger."""
    if max(height, width) > max_side:
        return fit_size(height, width, max_side)
    return height, width


def _spread(n: int, m: int) -> np.ndarray:
    """m of range(n) evenly spaced: floor((j + 0.5) * n / m), j < m."""
    return ((np.arange(m) + 0.5) * n / m).astype(np.int64)


def _choose_cells(rows: int, cols: int, m: int) -> list[tuple[int, int]]:
    """(row, col) indices of the cells used, in raster order. See ``patch_grid``."""
    n = rows * cols
    if n <= m:
        return [(r, c) for r in range(rows) for c in range(cols)]
    # Sub-grids r x c == m that fit; the best leaves equal row and column spacing
    # (rows / r ~ cols / c), ties going to the more square one.
    fits = [(r, m // r) for r in range(1, m + 1)
            if m % r == 0 and r <= rows and m // r <= cols]
    if fits:
        r, c = min(fits, key=lambda rc: (abs(np.log((rows / rc[0]) / (cols / rc[1]))),
                                         abs(np.log(rc[0] / rc[1]))))
        return [(y, x) for y in _spread(rows, r) for x in _spread(cols, c)]
    return [(int(i) // cols, int(i) % cols) for i in _spread(n, m)]


def patch_grid(height: int, width: int, max_side: int, patch: int,
               max_patches: int) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """Where ``low_level_patches`` cuts a frame of ``height`` x ``width``.

    Rule:
    1. Size: the frame stays at its native size unless its longer side exceeds
       ``max_side``, when it is downscaled to ``fit_size(.., max_side)`` (aspect kept).
       A side below ``patch`` is then padded to ``patch`` (edge replication, centred).
    2. Grid: rows = h // P, cols = w // P non-overlapping P x P cells, offset by
       ((h - rows * P) // 2, (w - cols * P) // 2), each rounded *down* to a multiple of
       ``ALIGN`` = 16, so cell origins are macroblock aligned whatever the frame size
       (when P is a multiple of 16, every cell origin is).
    3. Choice: with at most M = ``max_patches`` cells, all are used. Otherwise M cells
       spread uniformly in 2-D: among the factorisations r * c == M with r <= rows and
       c <= cols, the one with the most even spacing (rows / r closest to cols / c, ties
       to the more square), rows floor((i + 0.5) * rows / r) and columns
       floor((j + 0.5) * cols / c). (A grid too short for r rows thus takes more
       columns.) When no factorisation fits, M cells spread in raster order: cell
       floor((j + 0.5) * N / M) of the N cells.
    Cells are listed in raster order. The cost is independent of resolution: always M
    slots of P x P.

    Returns:
        ((h, w) of the (capped, padded) frame, [(top, left)] of the chosen cells).
    """
    h, w = capped_size(height, width, max_side)
    h, w = max(h, patch), max(w, patch)
    rows, cols = h // patch, w // patch
    y0 = (h - rows * patch) // 2 // ALIGN * ALIGN
    x0 = (w - cols * patch) // 2 // ALIGN * ALIGN
    cells = [(int(y0 + r * patch), int(x0 + c * patch))
             for r, c in _choose_cells(rows, cols, max_patches)]
    return (h, w), cells


# (rotations by 90 degrees counter-clockwise, then mirror left-right), the order in which
# `fill` repeats a small frame's cells: with the model's first two views (identity, one
# quarter turn) on top, the four rounds read each cell in all eight orientations.
FILL_VIEWS = ((0, False), (2, False), (0, True), (2, True))


def _oriented(patches: np.ndarray, k: int, mirror: bool) -> np.ndarray:
    """uint8[K, N, P, P, C] rotated k quarter turns counter-clockwise, then mirrored."""
    out = np.rot90(patches, k, axes=(2, 3))
    return np.ascontiguousarray(out[:, :, :, ::-1] if mirror else out)


def low_level_patches(frames: np.ndarray, max_side: int, patch: int,
                      max_patches: int, fill: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A grid of P x P patches cut at native resolution (see ``patch_grid``).

    Frames whose longer side exceeds ``max_side`` are first downscaled to it (bilinear,
    aspect kept); smaller frames are never resized. Frames smaller than P on a side are
    padded to P by replicating their edge pixels (centred), so every frame gives at
    least one patch.

    Args:
        frames: uint8[K, H, W, 3], as decoded.
        max_side: the largest longer side used as is.
        patch: P.
        max_patches: M.
        fill: when the grid has N < M cells, repeat all N cells in whole rounds, each
            round in the next orientation of ``FILL_VIEWS`` (up to 4 rounds, at most M
            slots), so a small frame's slots hold its pixels in other orientations
            instead of padding. Every cell then appears equally often.

    Returns:
        (uint8[K, M, P, P, 3] patches, float32[K, M] mask): slots beyond the grid's cell
        count (and its fill rounds) are zero with mask 0.0; real patches have mask 1.0.
    """
    frames = np.asarray(frames)
    k, height, width, c = frames.shape
    fh, fw = capped_size(height, width, max_side)
    if (fh, fw) != (height, width):
        frames = resize_bilinear(frames, fh, fw)
    (h, w), cells = patch_grid(height, width, max_side, patch, max_patches)
    if (h, w) != (fh, fw):
        pad_y, pad_x = h - fh, w - fw
        frames = np.pad(frames, ((0, 0), (pad_y // 2, pad_y - pad_y // 2),
                                 (pad_x // 2, pad_x - pad_x // 2), (0, 0)), mode="edge")
    patches = np.zeros((k, max_patches, patch, patch, c), np.uint8)
    mask = np.zeros((k, max_patches), np.float32)
    for j, (top, left) in enumerate(cells):
        patches[:, j] = frames[:, top:top + patch, left:left + patch]
        mask[:, j] = 1.0
    n = len(cells)
    if fill and n < max_patches:
        for r in range(1, min(len(FILL_VIEWS), max_patches // n)):
            patches[:, r * n:(r + 1) * n] = _oriented(patches[:, :n], *FILL_VIEWS[r])
            mask[:, r * n:(r + 1) * n] = 1.0
    return patches, mask


def clip_length(frames_per_key, max_patches: int) -> int:
    """T, checked: an integer in 1..M that divides M = ``max_patches``, so the M patch
    slots hold M / T whole clips (the one rule the preprocessor, the backbone and
    ``prepare`` apply)."""
    if isinstance(frames_per_key, bool) or int(frames_per_key) != frames_per_key \
            or not 1 <= int(frames_per_key) <= max_patches or max_patches % int(frames_per_key):
        raise ValueError(f"low_level_frames T must be an integer in 1..M that divides the "
                         f"patch slots M = {max_patches} (a multiple of the frames per "
                         f"clip), got {frames_per_key!r}")
    return int(frames_per_key)


# Seconds between a key frame and the next frame of a high-level view of Hf >= 2 frames
# (decoders bring the frame this long after each key frame, at any frame rate): the
# frame interval of the 12 fps clips the motion input was trained on, so that it reads
# motion on one time scale whether the video runs at 12, 30 or 60 fps.
MOTION_FRAME_GAP_S = 1 / 12


def high_level_frames_check(frames_per_key) -> int:
    """Hf, checked: the frames per key frame in the high-level view, an integer >= 1 (1:
    the key frames alone; 2: each key frame and the frame after it)."""
    if isinstance(frames_per_key, bool) or int(frames_per_key) != frames_per_key \
            or int(frames_per_key) < 1:
        raise ValueError(f"high_level_frames must be an integer >= 1, got {frames_per_key!r}")
    return int(frames_per_key)


def low_level_clips(frames: np.ndarray, frames_per_key: int, max_side: int, patch: int,
                    max_patches: int, fill: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Patch clips: each of M / T grid cells cut from a key frame and from the T - 1
    frames after it, at the same place (``low_level_patches`` on each, one grid).

    Args:
        frames: uint8[K * T, H, W, 3], key-major (``keyframes.decode_keyframes`` with
            ``frames_per_key=T``).
        frames_per_key: T; M must be a multiple of it.

    Returns:
        (uint8[K, M, P, P, 3] patches, float32[K, M] mask): slot c * T + j holds cell c
        of the j-th frame of its clip, so M slots cost M patch reads whatever T is.
    """
    t = clip_length(frames_per_key, max_patches)
    cut = [low_level_patches(frames[j::t], max_side, patch, max_patches // t, fill)
           for j in range(t)]
    patches = np.stack([c[0] for c in cut], axis=2)  # [K, M / T, T, P, P, 3]
    mask = np.stack([c[1] for c in cut], axis=2)
    k = patches.shape[0]
    return patches.reshape(k, max_patches, *patches.shape[3:]), mask.reshape(k, max_patches)


def display_size(height: int, width: int, display_height: int | None) -> tuple[int, int]:
    """(h, w) of a frame as a player shows it at ``display_height``: a frame shorter than
    that is enlarged to it (aspect kept, width rounded); others keep their size."""
    if display_height is None or height >= int(display_height):
        return height, width
    return int(display_height), max(1, round(width * int(display_height) / height))


def display_frames(frames: np.ndarray, display_height: int | None) -> np.ndarray:
    """uint8[N, H, W, 3] -> uint8[N, H', W', 3] at ``display_size`` (bilinear, the
    triangle filter of ``resize_bilinear``): a rung of a multi-size ladder seen at the
    size of the ladder's largest rung, as a viewer sees it and as VMAF at display size
    measures it. None, or a frame at least that tall: the frames unchanged."""
    frames = np.asarray(frames)
    h, w = display_size(frames.shape[1], frames.shape[2], display_height)
    if (h, w) == frames.shape[1:3]:
        return frames
    return resize_bilinear(frames, h, w)


def model_frame_inputs(frames: np.ndarray, image_size: int, max_side: int,
                       patch_size: int, max_patches: int, patch_fill: bool = False,
                       frames_per_key: int = 1, high_frames_per_key: int = 1,
                       display_height: int | None = None) -> dict:
    """Decoded native-size frames uint8[K * F, H, W, 3] -> the model's frame inputs.

    The one function every path uses. The SigLIP view resizes its own copy of each key
    frame to S x S; the VideoPrism patches are cut at native resolution
    (``low_level_patches``, with ``fill=patch_fill``). The frames come key-major, F =
    max(T, Hf) of them per key frame (key frame i at row i * F, then the F - 1 after it):
    with T = ``frames_per_key`` > 1 the patches are clips of the first T
    (``low_level_clips``); with Hf = ``high_frames_per_key`` > 1 the S x S view also
    holds the Hf - 1 frames after each key frame (what ``MotionShift`` reads as a
    per-frame motion measure). With ``display_height`` the patches are cut from the
    frames as displayed at that height (``display_frames``: a smaller rung enlarged
    first, so its patches hold the upscaled pixels a viewer sees); the S x S view is the
    same either way.

    Returns {"high_frames": uint8[K * Hf, S, S, 3], "low_patches": uint8[K, M, P, P, 3],
    "patch_mask": float32[K, M]}.
    """
    frames = np.asarray(frames)
    t = clip_length(frames_per_key, max_patches)
    h = high_level_frames_check(high_frames_per_key)
    f = max(t, h)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] % f:
        raise ValueError(f"frames must be uint8[K * {f}, H, W, 3], got shape {frames.shape}")
    groups = frames.reshape(-1, f, *frames.shape[1:])
    low = display_frames(groups[:, :t].reshape(-1, *frames.shape[1:]), display_height)
    if t == 1:
        patches, mask = low_level_patches(low, max_side, patch_size, max_patches,
                                          patch_fill)
    else:
        patches, mask = low_level_clips(low, t, max_side, patch_size, max_patches,
                                        patch_fill)
    return {
        "high_frames": high_level_frames(groups[:, :h].reshape(-1, *frames.shape[1:]),
                                         image_size),
        "low_patches": patches,
        "patch_mask": np.asarray(mask, np.float32),
    }
