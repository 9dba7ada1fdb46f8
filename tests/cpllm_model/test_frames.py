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


def _scene(h, w, seed=0):
    """A smooth-ish textured image (native pixels, no resizing)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    base = (128 + 60 * np.sin(yy / 7.0) * np.cos(xx / 11.0)).astype(np.int64)
    noise = rng.integers(-20, 21, (h, w, 3))
    return np.clip(base[..., None] + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("h,w,side,p,m,grid", [
    (1080, 1920, 3840, 32, 16, (33, 60)),   # native 1080p: never resized
    (360, 640, 3840, 32, 16, (11, 20)),
    (1080, 1920, 3840, 288, 8, (3, 6)),     # paper geometry at native 1080p
    (1920, 1080, 3840, 288, 8, (6, 3)),     # portrait
    (100, 100, 3840, 16, 100, (6, 6)),      # fewer cells than M: all of them
    (2160, 7680, 3840, 64, 16, (16, 60)),   # above max_side: downscaled to 1080x3840
])
def test_grid_count_positions_aligned_no_overlap(h, w, side, p, m, grid):
    (rh, rw), cells = F.patch_grid(h, w, side, p, m)
    if max(h, w) <= side:
        assert (rh, rw) == (h, w)  # native size
    else:
        assert max(rh, rw) == side
        assert rw / rh == pytest.approx(w / h, rel=0.01)  # aspect preserved
    rows, cols = grid
    assert (rh // p, rw // p) == grid
    assert len(cells) == min(m, rows * cols)
    y0 = (rh - rows * p) // 2 // 16 * 16  # centred, rounded down to the 16-pixel grid
    x0 = (rw - cols * p) // 2 // 16 * 16
    ys, xs = zip(*cells)
    assert set(ys) <= {y0 + r * p for r in range(rows)}
    assert set(xs) <= {x0 + c * p for c in range(cols)}
    assert all(y % 16 == 0 and x % 16 == 0 for y, x in cells)  # macroblock aligned
    assert len(set(cells)) == len(cells)  # distinct aligned cells never overlap
    assert all(0 <= y and y + p <= rh and 0 <= x and x + p <= rw for y, x in cells)
    assert cells == sorted(cells)  # raster order


@pytest.mark.parametrize("h,w", [(1080, 1920), (360, 640), (240, 320), (720, 1280),
                                 (1088, 1920), (480, 854), (1920, 1080), (200, 200)])
def test_cells_aligned_and_always_m_patches(h, w):
    f = np.zeros((1, h, w, 3), np.uint8)
    patches, mask = F.low_level_patches(f, 3840, 32, 16)
    assert patches.shape == (1, 16, 32, 32, 3)
    assert mask.sum() == 16  # every grid here has >= M cells: cost is resolution-free
    _, cells = F.patch_grid(h, w, 3840, 32, 16)
    assert all(y % 16 == 0 and x % 16 == 0 for y, x in cells)


def test_same_pixels_same_patches_across_resolutions():
    # A 640x360 crop of a 1080p frame holds the same pixels at the same scale: every
    # cell the two grids share (same aligned origin) must give the identical patch.
    big = _scene(1080, 1920, seed=5)[None]
    small = big[:, :360, :640].copy()
    pb, _ = F.low_level_patches(big, 3840, 32, 16)
    ps, _ = F.low_level_patches(small, 3840, 32, 16)
    _, cb = F.patch_grid(1080, 1920, 3840, 32, 16)
    _, cs = F.patch_grid(360, 640, 3840, 32, 16)
    shared = set(cb) & set(cs)
    assert shared  # (128, 224): row 4, column 7 of both grids
    for cell in shared:
        np.testing.assert_array_equal(pb[:, cb.index(cell)], ps[:, cs.index(cell)])
        y, x = cell
        np.testing.assert_array_equal(ps[:, cs.index(cell)], big[:, y:y + 32, x:x + 32])
    # And every patch is the frame's own pixels (no resampling below max_side).
    for j, (y, x) in enumerate(cb):
        np.testing.assert_array_equal(pb[:, j], big[:, y:y + 32, x:x + 32])


def test_only_frames_above_max_side_are_downscaled():
    f = _scene(600, 800, seed=2)[None]
    _, cells = F.patch_grid(600, 800, 800, 32, 4)
    patches, _ = F.low_level_patches(f, 800, 32, 4)  # at the cap: untouched
    for j, (y, x) in enumerate(cells):
        np.testing.assert_array_equal(patches[:, j], f[:, y:y + 32, x:x + 32])
    (h, w), cells = F.patch_grid(600, 800, 400, 32, 4)
    assert (h, w) == (300, 400)
    patches, _ = F.low_level_patches(f, 400, 32, 4)
    small = F.resize_bilinear(f, 300, 400)
    for j, (y, x) in enumerate(cells):
        np.testing.assert_array_equal(patches[:, j], small[:, y:y + 32, x:x + 32])
    # Small frames are never enlarged.
    assert F.patch_grid(90, 160, 3840, 32, 4)[0] == (90, 160)


def test_subset_is_spread_uniformly_in_2d():
    _, cells = F.patch_grid(32 * 33, 32 * 60, 3840, 32, 16)  # 33x60 grid, keep 16
    rows = sorted({y // 32 for y, _ in cells})
    cols = sorted({x // 32 for _, x in cells})
    assert rows == [4, 12, 20, 28] and cols == [7, 22, 37, 52]  # a 4x4 sub-grid
    assert len(cells) == 16
    # A grid with fewer rows than a square sub-grid needs takes more columns.
    _, cells = F.patch_grid(64, 32 * 40, 3840, 32, 16)  # 2x40 grid: 1 x 16 spacing
    assert {y // 32 for y, _ in cells} == {1}  # rows 2 / 1 ~ columns 40 / 16
    assert sorted(x // 32 for _, x in cells) == [int((j + 0.5) * 2.5) for j in range(16)]
    _, cells = F.patch_grid(32 * 3, 32 * 12, 3840, 32, 16)  # 3x12 grid: 2 x 8
    assert sorted({y // 32 for y, _ in cells}) == [0, 2]
    assert len({x for _, x in cells}) == 8 and len(cells) == 16
    # No factorisation fits (M = 7 on a 2x5 grid): raster-order spread.
    _, cells = F.patch_grid(64, 160, 3840, 32, 7)
    raster = [(y // 32) * 5 + x // 32 for y, x in cells]
    assert raster == [int((j + 0.5) * 10 / 7) for j in range(7)] == [0, 2, 3, 5, 6, 7, 9]


def test_patches_are_native_pixels_and_mask_pads():
    f = _random(2, 48, 96, seed=3)
    patches, mask = F.low_level_patches(f, 3840, 32, 5)
    assert patches.shape == (2, 5, 32, 32, 3) and mask.shape == (2, 5)
    assert mask.dtype == np.float32
    # 48x96 stays 48x96: grid 1x3 at y0 = 8 // 16 * 16 = 0; two padded slots.
    np.testing.assert_array_equal(mask, [[1, 1, 1, 0, 0]] * 2)
    np.testing.assert_array_equal(patches[:, 0], f[:, 0:32, 0:32])
    np.testing.assert_array_equal(patches[:, 2], f[:, 0:32, 64:96])
    assert (patches[:, 3:] == 0).all()


def test_extreme_aspect_is_padded_to_one_patch():
    f = np.zeros((1, 4, 400, 3), np.uint8)
    f[:, :, :, 0] = 200
    patches, mask = F.low_level_patches(f, 3840, 32, 8)
    (rh, rw), cells = F.patch_grid(4, 400, 3840, 32, 8)
    assert (rh, rw) == (32, 400) and len(cells) == 8
    assert mask[0].tolist() == [1] * 8
    assert (patches[0, :, :, :, 0] == 200).all()  # edge replication, not black bars


def test_tiny_frame_padded_to_one_patch():
    f = np.full((2, 10, 20, 3), 9, np.uint8)
    patches, mask = F.low_level_patches(f, 3840, 32, 4)
    assert F.patch_grid(10, 20, 3840, 32, 4) == ((32, 32), [(0, 0)])
    assert mask.tolist() == [[1, 0, 0, 0]] * 2
    assert (patches[:, 0] == 9).all() and (patches[:, 1:] == 0).all()


def test_model_frame_inputs_is_the_preprocessor_path():
    f = _scene(90, 160, seed=4)[None].repeat(2, 0)
    x = F.model_frame_inputs(f, 32, 3840, 32, 4)
    assert set(x) == {"high_frames", "low_patches", "patch_mask"}
    np.testing.assert_array_equal(x["high_frames"], F.high_level_frames(f, 32))
    p, m = F.low_level_patches(f, 3840, 32, 4)
    np.testing.assert_array_equal(x["low_patches"], p)
    np.testing.assert_array_equal(x["patch_mask"], m)
    assert x["patch_mask"].dtype == np.float32


def test_fill_repeats_a_small_frames_cells_in_other_orientations():
    f = _random(2, 48, 96, seed=5)  # grid 1 x 3: three cells
    plain, plain_mask = F.low_level_patches(f, 3840, 32, 8)
    patches, mask = F.low_level_patches(f, 3840, 32, 8, fill=True)
    # Two whole rounds fit in 8 slots (3 + 3); the last two slots stay padding, so every
    # cell counts equally in the patch mean.
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1, 1, 1, 0, 0]] * 2)
    np.testing.assert_array_equal(patches[:, :3], plain[:, :3])
    np.testing.assert_array_equal(plain_mask[:, :3], mask[:, :3])
    for i in range(3):  # round 1 = FILL_VIEWS[1]: half a turn, no mirror
        np.testing.assert_array_equal(patches[:, 3 + i], plain[:, i, ::-1, ::-1])
    assert (patches[:, 6:] == 0).all()
    # Four rounds at most (with the model's first two views: all eight orientations).
    p, m = F.low_level_patches(f, 3840, 32, 64, fill=True)
    assert m[0].sum() == 12 and (p[:, 12:] == 0).all()
    np.testing.assert_array_equal(p[:, 6], plain[:, 0, :, ::-1])        # mirror
    np.testing.assert_array_equal(p[:, 9], plain[:, 0, ::-1, :])        # half turn + mirror
    # A frame with at least M cells is unchanged by fill.
    big = _random(1, 96, 96, seed=6)  # 3 x 3 cells
    for a, b in zip(F.low_level_patches(big, 3840, 32, 9, fill=True),
                    F.low_level_patches(big, 3840, 32, 9)):
        np.testing.assert_array_equal(a, b)


def test_clips_hold_each_cell_of_a_key_frame_and_of_the_frames_after_it():
    rng = np.random.default_rng(3)
    k, t, m, p = 3, 2, 8, 16
    frames = rng.integers(0, 256, (k * t, 64, 96, 3), dtype=np.uint8)
    x = F.model_frame_inputs(frames, 32, 3840, p, m, frames_per_key=t)
    assert x["low_patches"].shape == (k, m, p, p, 3) and x["patch_mask"].shape == (k, m)
    # Slot c * T + j: cell c of frame j of the clip, on one grid for all frames.
    for j in range(t):
        want, want_mask = F.low_level_patches(frames[j::t], 3840, p, m // t)
        np.testing.assert_array_equal(x["low_patches"][:, j::t], want)
        np.testing.assert_array_equal(x["patch_mask"][:, j::t], want_mask)
    # SigLIP sees the key frames only.
    np.testing.assert_array_equal(x["high_frames"], F.high_level_frames(frames[::t], 32))
    # T = 1 is the one-frame contract.
    one = F.model_frame_inputs(frames[::t], 32, 3840, p, m)
    np.testing.assert_array_equal(one["high_frames"], x["high_frames"])


def test_clips_need_whole_clips_of_frames_and_of_slots():
    frames = np.zeros((6, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="multiple of the frames per"):
        F.model_frame_inputs(frames, 16, 3840, 16, 5, frames_per_key=2)
    with pytest.raises(ValueError, match="frames must be"):
        F.model_frame_inputs(frames[:5], 16, 3840, 16, 4, frames_per_key=2)
    with pytest.raises(ValueError, match="low_level_frames T must be"):
        F.model_frame_inputs(frames, 16, 3840, 16, 4, frames_per_key=0)


def test_preprocessor_cuts_clips_from_k_times_t_frames():
    from cpllm_model import CPLLMPreprocessor, presets

    pre = CPLLMPreprocessor(presets.tiny_tokenizer(), num_keyframes=2, image_size=32,
                            patch_size=16, max_patches=4, low_level_frames=2)
    assert pre.input_geometry()["low_level_frames"] == 2
    assert CPLLMPreprocessor.from_config(pre.get_config()).low_level_frames == 2
    frames = np.random.default_rng(4).integers(0, 256, (4, 32, 48, 3), dtype=np.uint8)
    x = pre.frame_inputs(frames)
    np.testing.assert_array_equal(
        x["low_patches"], F.model_frame_inputs(frames, 32, 3840, 16, 4, frames_per_key=2)[
            "low_patches"])
    with pytest.raises(ValueError, match=r"uint8\[4, H, W, 3\]"):
        pre.frame_inputs(frames[:2])
    with pytest.raises(ValueError, match="low_level_frames"):
        CPLLMPreprocessor(presets.tiny_tokenizer(), max_patches=4, low_level_frames=0)


@pytest.mark.parametrize("t", [0, 3, 17, 1.5, True, "2"])
def test_clip_length_is_one_rule_for_preprocessor_and_backbone(t):
    from cpllm_model import CPLLMPreprocessor, presets

    assert F.clip_length(2, 16) == 2 and F.clip_length(2.0, 16) == 2
    with pytest.raises((ValueError, TypeError)):
        F.clip_length(t, 16)
    with pytest.raises((ValueError, TypeError)):
        CPLLMPreprocessor(presets.tiny_tokenizer(), max_patches=16, low_level_frames=t)


def test_high_level_view_can_keep_the_frame_after_each_key_frame():
    rng = np.random.default_rng(5)
    k, p, m = 3, 16, 4
    frames = rng.integers(0, 256, (k * 2, 48, 64, 3), dtype=np.uint8)
    x = F.model_frame_inputs(frames, 32, 3840, p, m, high_frames_per_key=2)
    # Key-major: key frame i, then the frame after it; both at S x S.
    np.testing.assert_array_equal(x["high_frames"], F.high_level_frames(frames, 32))
    # The patches and the key frames' view are those of the key frames alone.
    keys = F.model_frame_inputs(frames[::2], 32, 3840, p, m)
    np.testing.assert_array_equal(x["high_frames"][::2], keys["high_frames"])
    np.testing.assert_array_equal(x["low_patches"], keys["low_patches"])
    # With patch clips of T = 2 as well, both read the same two frames of each key.
    both = F.model_frame_inputs(frames, 32, 3840, p, m, frames_per_key=2,
                                high_frames_per_key=2)
    clips = F.model_frame_inputs(frames, 32, 3840, p, m, frames_per_key=2)
    np.testing.assert_array_equal(both["low_patches"], clips["low_patches"])
    np.testing.assert_array_equal(both["high_frames"], x["high_frames"])
    with pytest.raises(ValueError, match="high_level_frames must be"):
        F.model_frame_inputs(frames, 32, 3840, p, m, high_frames_per_key=0)


def test_preprocessor_asks_decoders_for_the_frames_both_views_read():
    from cpllm_model import CPLLMPreprocessor, presets

    pre = CPLLMPreprocessor(presets.tiny_tokenizer(), num_keyframes=2, image_size=32,
                            patch_size=16, max_patches=4, high_level_frames=2)
    assert pre.frames_per_key == 2 and pre.input_geometry()["high_level_frames"] == 2
    assert pre.frame_gap_s == F.MOTION_FRAME_GAP_S == 1 / 12  # the training clips' interval
    assert CPLLMPreprocessor.from_config(
        {**pre.get_config(), "high_level_frames": 1}).frame_gap_s is None
    assert CPLLMPreprocessor.from_config(pre.get_config()).high_level_frames == 2
    frames = np.random.default_rng(6).integers(0, 256, (4, 32, 48, 3), dtype=np.uint8)
    assert pre.frame_inputs(frames)["high_frames"].shape == (4, 32, 32, 3)
    with pytest.raises(ValueError, match=r"uint8\[4, H, W, 3\]"):
        pre.frame_inputs(frames[::2])


def test_display_height_cuts_the_patches_from_the_enlarged_frame():
    """A 60-row rung shown at 120 rows: its patches are those of the frame enlarged
    (bilinear, aspect kept) to 160 x 120, the S x S view is unchanged; a frame already
    that tall, or no display height, gives today's inputs."""
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (2, 60, 80, 3), dtype=np.uint8)
    assert F.display_size(60, 80, 120) == (120, 160)
    assert F.display_size(120, 160, 60) == (120, 160)
    assert F.display_size(60, 80, None) == (60, 80)
    shown = F.resize_bilinear(small, 120, 160)
    got = F.model_frame_inputs(small, 32, 3840, 16, 12, display_height=120)
    want = F.model_frame_inputs(shown, 32, 3840, 16, 12)
    np.testing.assert_array_equal(got["low_patches"], want["low_patches"])
    np.testing.assert_array_equal(got["patch_mask"], want["patch_mask"])
    np.testing.assert_array_equal(got["high_frames"],
                                  F.model_frame_inputs(small, 32, 3840, 16, 12)["high_frames"])
    # Enlarged, a cell holds a quarter of the pixels it held: smoother than the native one.
    native = F.model_frame_inputs(small, 32, 3840, 16, 12)["low_patches"].astype(float)
    assert np.abs(np.diff(got["low_patches"].astype(float), axis=3)).mean() \
        < 0.7 * np.abs(np.diff(native, axis=3)).mean()
    for height in (None, 60, 40):
        np.testing.assert_array_equal(
            F.model_frame_inputs(small, 32, 3840, 16, 12, display_height=height)["low_patches"],
            native.astype(np.uint8))
