"""PatchChange / CPLLMBackbone(low_level_change=True): each cell's luma change to the frame
after its key frame, added to the cell's patch feature, on a trained preset without
changing a score until trained."""
import numpy as np
import pytest

from cpllm_model.patch_change import PatchChange, cell_change


def test_cell_change_is_the_log_mean_luma_change_of_each_cell():
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (2, 3, 4, 8, 8, 3), dtype=np.uint8)  # 2 cells x 2 frames
    luma = clips.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])
    want = np.log1p(np.abs(luma[:, :, 1::2] - luma[:, :, ::2]).mean(axis=(3, 4)))
    got = np.asarray(cell_change(clips))
    assert got.shape == (2, 3, 2)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    still = clips.copy()
    still[:, :, 1::2] = still[:, :, ::2]
    np.testing.assert_array_equal(np.asarray(cell_change(still)), 0.0)


def test_layer_is_zero_until_trained_then_grows_with_the_change():
    rng = np.random.default_rng(1)
    clips = rng.integers(0, 256, (1, 2, 4, 8, 8, 3), dtype=np.uint8)
    layer = PatchChange(hidden_dim=5)
    out = np.asarray(layer(clips))
    assert out.shape == (1, 2, 2, 5)
    np.testing.assert_array_equal(out, 0.0)
    layer.projection.kernel.assign(np.ones((1, 5), "float32"))
    out = np.asarray(layer(clips))
    np.testing.assert_allclose(out[..., 0], np.asarray(cell_change(clips)), rtol=1e-6)


@pytest.fixture(scope="module")
def own_path(own_key_frame_path):
    return own_key_frame_path


@pytest.fixture(scope="module")
def with_change(own_path):
    from trainer import train

    return train.with_added_layers(own_path, {"low_level_frames": 2,
                                              "low_level_change": True})


def _key_slots(videos):
    return dict(videos, low_patches=videos["low_patches"][:, :, ::2],
                patch_mask=videos["patch_mask"][:, :, ::2])


def test_added_to_a_trained_preset_it_scores_the_key_frames_as_before(
        own_path, with_change, videos_for):
    bb = with_change.backbone
    assert bb.low_level_change and bb.low_level_frames == 2 and bb.clip_mixer is None
    assert with_change.preprocessor.low_level_frames == 2
    videos = videos_for(2, with_change, 31)
    np.testing.assert_allclose(with_change.score(videos)["frame_scores"],
                               own_path.score(_key_slots(videos))["frame_scores"],
                               rtol=1e-6, atol=1e-4)


def test_trained_change_reads_the_next_frames_and_survives_a_preset(
        with_change, videos_for, tmp_path):
    from cpllm_model import CPLLM

    kernel = with_change.backbone.patch_change.projection.kernel
    rng = np.random.default_rng(2)
    kernel.assign(rng.normal(0, 0.5, kernel.shape).astype("float32"))
    try:
        videos = videos_for(2, with_change, 32)
        still = dict(videos, low_patches=videos["low_patches"].copy())
        still["low_patches"][:, :, 1::2] = still["low_patches"][:, :, ::2]
        a = with_change.score(videos)["frame_scores"]
        b = with_change.score(still)["frame_scores"]
        assert np.abs(a - b).max() > 1e-3
        assert np.all((a >= 0.0) & (a <= 100.0))
        path = str(tmp_path / "change")
        with_change.save_to_preset(path)
        loaded = CPLLM.from_preset(path)
        assert loaded.backbone.low_level_change
        np.testing.assert_array_equal(loaded.score(videos)["frame_scores"], a)
    finally:
        kernel.assign(np.zeros(kernel.shape, "float32"))


@pytest.mark.parametrize("update", [{"low_level_frames": 1}, {"patch_scores": False},
                                    {"low_level_frames": 4}])
def test_change_needs_two_frame_clips_and_patch_scores(own_path, update):
    from cpllm_model import CPLLMBackbone

    config = own_path.backbone.get_config()
    config.update(low_level_change=True, low_level_frames=2, patch_scores=True)
    config.update(update)
    with pytest.raises(ValueError, match="low_level_change=True needs low_level_frames=2"):
        CPLLMBackbone.from_config(config)
