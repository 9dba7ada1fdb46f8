"""cpllm_model.frames: resize and patch-grid contract (pure numpy, no Beam)."""
import numpy as np
import pytest
from PIL import Image

from cpllm_model import frames as F


def _random(k, h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (k, h, w, 3), np.uint8)


def test_high_level_shape_ignores_aspect():
    out = F.high_level_frames(_random(3, 90, 160), 32)
    assert out.shape == (3, 32, 32, 3) and out.dtype == np.uint8


def test_resize_keeps_constant_frames_constant():
    f = np.full((2, 33, 17, 3), 77, np.uint8)
    assert (F.high_level_frames(f, 5) == 77).all()
    assert (F.resize_bilinear(f, 100, 3) == 77).all()


def test_resize_matches_pil_bilinear():
    x = _random(1, 60, 90, seed=1)[0]
    smooth = np.asarray(Image.fromarray(x).resize((45, 30), Image.BOX))  # remove noise
    for size in ((23, 17), (131, 97)):
        pil = np.asarray(Image.fromarray(smooth).resize(size, Image.BILINEAR)).astype(int)
        ours = F.resize_bilinear(smooth[None], size[1], size[0])[0].astype(int)
        assert np.abs(pil - ours).mean() < 1.0


def test_downscale_is_antialiased():
    # A 1-pixel checkerboard averages to grey; point-sampled bilinear would alias it.
    board = ((np.indices((64, 64)).sum(0) % 2) * 255).astype(np.uint8)
    f = np.repeat(board[None, ..., None], 3, axis=-1)
    out = F.high_level_frames(f, 16)
    assert np.abs(out[:, 1:-1, 1:-1].astype(int) - 127.5).max() <= 1  # borders: edge taps


def test_deterministic():
    f = _random(2, 70, 50)
    a = F.low_level_patches(f, 64, 16, 6)
    b = F.low_level_patches(f, 64, 16, 6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("h,w,fit,p,m,grid", [
    (1080, 1920, 1152, 288, 8, (2, 4)),   # 16:9 -> 648x1152, 2x4 cells
    (480, 640, 1152, 288, 16, (3, 4)),    # upscaled to 864x1152
    (1920, 1080, 1152, 288, 8, (4, 2)),   # portrait
    (100, 100, 64, 16, 100, (4, 4)),
])
def test_grid_count_positions_no_overlap(h, w, fit, p, m, grid):
    (rh, rw), cells = F.patch_grid(h, w, fit, p, m)
    assert max(rh, rw) == fit
    assert rw / rh == pytest.approx(w / h, rel=0.01)  # aspect preserved
    rows, cols = grid
    assert (rh // p, rw // p) == grid
    assert len(cells) == min(m, rows * cols)
    y0, x0 = (rh - rows * p) // 2, (rw - cols * p) // 2  # centred
    ys, xs = zip(*cells)
    assert set(ys) <= {y0 + r * p for r in range(rows)}
    assert set(xs) <= {x0 + c * p for c in range(cols)}
    assert len(set(cells)) == len(cells)  # distinct aligned cells never overlap
    assert all(0 <= y and y + p <= rh and 0 <= x and x + p <= rw for y, x in cells)


def test_subset_is_spread_uniformly():
    _, cells = F.patch_grid(64 * 4, 64 * 6, 64 * 6, 64, 6)  # 4x6 grid, keep 6
    raster = [(y // 64) * 6 + x // 64 for y, x in cells]
    assert raster == [2, 6, 10, 14, 18, 22]
    assert {y // 64 for y, _ in cells} == {0, 1, 2, 3}  # every row represented


def test_patches_are_the_resized_pixels_and_mask_pads():
    f = _random(2, 48, 96, seed=3)
    patches, mask = F.low_level_patches(f, 96, 32, 5)
    assert patches.shape == (2, 5, 32, 32, 3) and mask.shape == (2, 5)
    assert mask.dtype == np.float32
    # fit 96 keeps 48x96: grid 1x3, three real cells, two padded slots.
    np.testing.assert_array_equal(mask, [[1, 1, 1, 0, 0]] * 2)
    np.testing.assert_array_equal(patches[:, 0], f[:, 8:40, 0:32])
    np.testing.assert_array_equal(patches[:, 2], f[:, 8:40, 64:96])
    assert (patches[:, 3:] == 0).all()


def test_extreme_aspect_is_padded_to_one_patch():
    f = np.zeros((1, 4, 400, 3), np.uint8)
    f[:, :, :, 0] = 200
    patches, mask = F.low_level_patches(f, 128, 32, 8)
    (rh, rw), cells = F.patch_grid(4, 400, 128, 32, 8)
    assert (rh, rw) == (32, 128) and len(cells) == 4
    assert mask[0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert (patches[0, :4, :, :, 0] == 200).all()  # edge replication, not black bars
