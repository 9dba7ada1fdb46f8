"""fine_detail against scipy's Laplacian, masks, clips, and what compression does to it."""
import numpy as np
import pytest
from scipy import ndimage

from cpllm_model.fine_detail import fine_detail


def reference(patches, mask):
    """Per video, scipy.ndimage.laplace of each cell's BT.709 luma (inner pixels)."""
    out = []
    for video, m in zip(patches, mask):
        cells = []
        for frame, fm in zip(video, m):
            for cell, real in zip(frame, fm):
                if real:
                    y = cell.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])
                    lap = ndimage.laplace(y)[1:-1, 1:-1]
                    cells.append(np.log1p(np.abs(lap).mean()))
        out.append(np.mean(cells) if cells else 0.0)
    return np.array(out)


def test_matches_scipys_laplacian_over_the_real_cells():
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 256, (3, 2, 5, 16, 16, 3), dtype=np.uint8)
    mask = (rng.random((3, 2, 5)) > 0.4).astype(np.float32)
    mask[2] = 0.0  # a video without a real cell
    got = fine_detail(patches, mask)
    assert got.dtype == np.float32 and got.shape == (3,)
    np.testing.assert_allclose(got, reference(patches, mask), rtol=1e-5)
    assert got[2] == 0.0


def test_clips_read_their_key_frames_cells_only():
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 256, (2, 2, 4, 8, 8, 3), dtype=np.uint8)
    clips = np.zeros((2, 2, 8, 8, 8, 3), np.uint8)
    clips[:, :, ::2] = keys
    clips[:, :, 1::2] = 255 - keys  # the frames after: must not count
    mask = np.ones((2, 2, 8), np.float32)
    np.testing.assert_array_equal(fine_detail(clips, mask, low_level_frames=2),
                                  fine_detail(keys, mask[:, :, ::2]))


def test_blurring_a_picture_lowers_it_and_flat_cells_read_zero():
    from skimage import data

    picture = data.astronaut()[:256, :256]
    cells = picture.reshape(8, 32, 8, 32, 3).transpose(0, 2, 1, 3, 4).reshape(1, 1, 64, 32, 32, 3)
    blurred = ndimage.uniform_filter(picture.astype(np.float32), size=(3, 3, 1))
    blurred_cells = np.round(blurred).astype(np.uint8).reshape(8, 32, 8, 32, 3).transpose(
        0, 2, 1, 3, 4).reshape(1, 1, 64, 32, 32, 3)
    mask = np.ones((1, 1, 64), np.float32)
    sharp, soft = fine_detail(cells, mask)[0], fine_detail(blurred_cells, mask)[0]
    assert sharp > soft + 0.5
    flat = np.full((1, 1, 4, 16, 16, 3), 128, np.uint8)
    assert fine_detail(flat, np.ones((1, 1, 4), np.float32))[0] == pytest.approx(0.0)
