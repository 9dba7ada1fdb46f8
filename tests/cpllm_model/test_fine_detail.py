"""fine_detail against scipy's Laplacian, masks, clips, and what x264 does to it."""
import numpy as np
import pytest
from scipy import ndimage

from cpllm_model.fine_detail import fine_detail


def reference(patches, mask, scale):
    """Per video, scipy.ndimage.laplace of each cell's BT.709 luma averaged over
    scale x scale blocks (skimage's downscale_local_mean), inner positions."""
    from skimage.transform import downscale_local_mean

    out = []
    for video, m in zip(patches, mask):
        cells = []
        for frame, fm in zip(video, m):
            for cell, real in zip(frame, fm):
                if real:
                    y = cell.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])
                    y = downscale_local_mean(y, (scale, scale))
                    lap = ndimage.laplace(y)[1:-1, 1:-1]
                    cells.append(np.log1p(np.abs(lap).mean()))
        out.append(np.mean(cells) if cells else 0.0)
    return np.array(out)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_matches_scipys_laplacian_over_the_real_cells(scale):
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 256, (3, 2, 5, 16, 16, 3), dtype=np.uint8)
    mask = (rng.random((3, 2, 5)) > 0.4).astype(np.float32)
    mask[2] = 0.0  # a video without a real cell
    got = fine_detail(patches, mask, scale=scale)
    assert got.dtype == np.float32 and got.shape == (3,)
    np.testing.assert_allclose(got, reference(patches, mask, scale), rtol=1e-5)
    assert got[2] == 0.0


def test_a_scale_that_does_not_fit_the_patch_is_refused():
    patches = np.zeros((1, 1, 1, 16, 16, 3), np.uint8)
    for scale in (3, 8, 0):
        with pytest.raises(ValueError, match="multiple of scale"):
            fine_detail(patches, np.ones((1, 1, 1), np.float32), scale=scale)


def test_clips_read_their_key_frames_cells_only():
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 256, (2, 2, 4, 8, 8, 3), dtype=np.uint8)
    clips = np.zeros((2, 2, 8, 8, 8, 3), np.uint8)
    clips[:, :, ::2] = keys
    clips[:, :, 1::2] = 255 - keys  # the frames after: must not count
    mask = np.ones((2, 2, 8), np.float32)
    np.testing.assert_array_equal(fine_detail(clips, mask, low_level_frames=2),
                                  fine_detail(keys, mask[:, :, ::2]))


def cells_of(picture):
    """uint8[256, 256, 3] -> the 64 cells of 32 x 32, uint8[1, 1, 64, 32, 32, 3]."""
    return picture.reshape(8, 32, 8, 32, 3).transpose(0, 2, 1, 3, 4).reshape(
        1, 1, 64, 32, 32, 3)


def x264_round_trip(picture, crf):
    """picture uint8[H, W, 3] through one H.264 intra frame at `crf` (ffmpeg, x264) and
    back to RGB."""
    import subprocess

    from beam_pipelines.media import ffmpeg_bin

    h, w, _ = picture.shape
    enc = subprocess.run(
        [ffmpeg_bin.ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", f"{w}x{h}", "-i", "-", "-c:v", "libx264", "-preset", "medium", "-crf",
         str(crf), "-pix_fmt", "yuv420p", "-threads", "1", "-f", "h264", "-"],
        input=picture.tobytes(), capture_output=True, check=True).stdout
    dec = subprocess.run(
        [ffmpeg_bin.ffmpeg_exe(), "-v", "error", "-f", "h264", "-i", "-", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"], input=enc, capture_output=True, check=True).stdout
    return np.frombuffer(dec, np.uint8).reshape(h, w, 3)


@pytest.mark.parametrize("scale", [1, 2])
def test_x264_lowers_it_crf_by_crf_and_flat_cells_read_zero(scale):
    from skimage import data

    picture = data.astronaut()[:256, :256]
    mask = np.ones((1, 1, 64), np.float32)
    detail = [fine_detail(cells_of(x264_round_trip(picture, crf)), mask, scale=scale)[0]
              for crf in (12, 24, 36, 48)]
    assert all(a > b for a, b in zip(detail, detail[1:])), detail
    flat = np.full((1, 1, 4, 16, 16, 3), 128, np.uint8)
    assert fine_detail(flat, np.ones((1, 1, 4), np.float32), scale=scale)[0] == 0.0
