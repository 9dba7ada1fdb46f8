"""fine_detail against scipy's Laplacian, masks, clips, and what x264 does to it."""
import numpy as np
import pytest
from scipy import ndimage

from cpllm_model.fine_detail import fine_detail


def reference(patches, mask, scale, edge_weight=0.0, grid=4):
    """Per video, scipy.ndimage.laplace of each cell's BT.709 luma averaged over
    scale x scale blocks (skimage's downscale_local_mean) at the inner positions, less
    edge_weight x the block edges' excess, counted pixel pair by pixel pair."""
    from skimage.transform import downscale_local_mean

    out = []
    for video, m in zip(patches, mask):
        inner, edges = [], []
        for frame, fm in zip(video, m):
            for cell, real in zip(frame, fm):
                if not real:
                    continue
                y = cell.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])
                lap = np.abs(ndimage.laplace(downscale_local_mean(y, (scale, scale))))
                inner.append(np.log1p(lap[1:-1, 1:-1].mean()))
                on, off = [[], []], [[], []]
                for a in range(y.shape[0]):
                    for b in range(y.shape[1] - 1):
                        side = on if b % grid == grid - 1 else off
                        side[0].append(abs(y[a, b + 1] - y[a, b]))
                        side[1].append(abs(y[b + 1, a] - y[b, a]))
                edges.append(np.log1p((np.mean(on[0]) + np.mean(on[1])) / 2)
                             - np.log1p((np.mean(off[0]) + np.mean(off[1])) / 2))
        out.append(np.mean(inner) - edge_weight * np.mean(edges) if inner else 0.0)
    return np.array(out)


@pytest.mark.parametrize("scale,edge_weight", [
    (2, 6 / 11), (1, 0.5), (1, 0.0), (2, 0.0), (4, 0.0), (4, 1.0)])
def test_matches_scipys_laplacian_over_the_real_cells(scale, edge_weight):
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 256, (3, 2, 5, 16, 16, 3), dtype=np.uint8)
    patches[0, 0, 0] //= 8  # cells with steps of several sizes
    mask = (rng.random((3, 2, 5)) > 0.4).astype(np.float32)
    mask[2] = 0.0  # a video without a real cell
    got = fine_detail(patches, mask, scale=scale, edge_weight=edge_weight)
    assert got.dtype == np.float32 and got.shape == (3,)
    want = reference(patches, mask, scale, edge_weight)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert got[2] == 0.0


def test_the_default_reading_is_the_documented_one():
    rng = np.random.default_rng(2)
    patches = rng.integers(0, 256, (2, 1, 3, 32, 32, 3), dtype=np.uint8)
    mask = np.ones((2, 1, 3), np.float32)
    np.testing.assert_allclose(fine_detail(patches, mask),
                               reference(patches, mask, 2, 6 / 11), rtol=1e-5)


def test_a_block_edge_step_counts_against_the_cell():
    """The same two flat halves, split on a 4-pixel grid line or off it: on it the step
    is a block edge, its excess taken off the detail it adds; off it, detail."""
    on = np.zeros((1, 1, 1, 16, 16, 3), np.uint8)
    on[..., :, 8:, :] = 40
    off = np.zeros_like(on)
    off[..., :, 10:, :] = 40
    mask = np.ones((1, 1, 1), np.float32)
    assert fine_detail(on, mask)[0] < fine_detail(off, mask)[0]
    same = fine_detail(on, mask, edge_weight=0.0)[0]
    assert same == fine_detail(off, mask, edge_weight=0.0)[0] > 0.0


def test_a_scale_or_grid_that_does_not_fit_the_patch_is_refused():
    patches = np.zeros((1, 1, 1, 16, 16, 3), np.uint8)
    mask = np.ones((1, 1, 1), np.float32)
    for scale in (3, 8, 0):
        with pytest.raises(ValueError, match="multiple of scale"):
            fine_detail(patches, mask, scale=scale)
    with pytest.raises(ValueError, match="grid"):
        fine_detail(patches, mask, grid=1)


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


def x264_round_trip(picture, crf, preset="medium"):
    """picture uint8[H, W, 3] through one H.264 intra frame at `crf` (ffmpeg, x264
    `preset`) and back to RGB."""
    import subprocess

    from beam_pipelines.media import ffmpeg_bin

    h, w, _ = picture.shape
    enc = subprocess.run(
        [ffmpeg_bin.ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", f"{w}x{h}", "-i", "-", "-c:v", "libx264", "-preset", preset, "-crf",
         str(crf), "-pix_fmt", "yuv420p", "-threads", "1", "-f", "h264", "-"],
        input=picture.tobytes(), capture_output=True, check=True).stdout
    dec = subprocess.run(
        [ffmpeg_bin.ffmpeg_exe(), "-v", "error", "-f", "h264", "-i", "-", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"], input=enc, capture_output=True, check=True).stdout
    return np.frombuffer(dec, np.uint8).reshape(h, w, 3)


@pytest.mark.parametrize("preset", ["medium", "ultrafast"])
@pytest.mark.parametrize("name", ["astronaut", "camera"])
def test_x264_lowers_it_crf_by_crf_and_flat_cells_read_zero(name, preset):
    """With and without x264's deblocking filter (`ultrafast` turns it off and leaves
    the 4 x 4 block edges that a Laplacian across them would read as detail)."""
    from skimage import color, data

    picture = getattr(data, name)()[:256, :256]
    if picture.ndim == 2:
        picture = (color.gray2rgb(picture)).astype(np.uint8)
    mask = np.ones((1, 1, 64), np.float32)
    detail = [fine_detail(cells_of(x264_round_trip(picture, crf, preset)), mask)[0]
              for crf in (12, 24, 30, 36, 42, 48)]
    assert all(a > b for a, b in zip(detail, detail[1:])), detail
    flat = np.full((1, 1, 4, 16, 16, 3), 128, np.uint8)
    assert fine_detail(flat, np.ones((1, 1, 4), np.float32))[0] == 0.0
