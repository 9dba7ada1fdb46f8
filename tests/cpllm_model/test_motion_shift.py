"""MotionShift / CPLLMBackbone(motion_input=True): a video's motion as a trained shift of
its score logits, added to a trained preset without changing a score until trained."""
import numpy as np
import pytest

from cpllm_model import motion_shift


def test_activity_is_the_mean_absolute_difference_of_consecutive_frames():
    k, s = 4, 8
    static = np.full((1, k, s, s, 3), 77, np.uint8)
    flashing = np.zeros((1, k, s, s, 3), np.uint8)
    flashing[:, 1::2] = 200  # 0, 200, 0, 200: every step differs by 200
    half = np.zeros((1, k, s, s, 3), np.uint8)
    half[:, 2:, : s // 2] = 90  # one step of 3 changes half the pixels by 90
    got = np.asarray(motion_shift.activity(np.concatenate([static, flashing, half])))
    np.testing.assert_allclose(got, [0.0, 200.0, 90 / 2 / 3], rtol=1e-6)


@pytest.fixture(scope="module")
def own_path(tiny_model):
    """The bundled model's own score path, without its score members."""
    from cpllm_model import CPLLM

    return CPLLM.from_preset("cpllm_tiny", own_run_only=True)


@pytest.fixture(scope="module")
def with_motion(own_path):
    from trainer import train

    return train._with_added_layers(own_path, {"motion_input": True})


def test_added_to_a_trained_preset_it_changes_no_score(own_path, with_motion, make_videos):
    assert with_motion.backbone.motion_input and not own_path.backbone.motion_input
    videos = make_videos(3, seed=11)
    np.testing.assert_array_equal(with_motion.score(videos)["score"],
                                  own_path.score(videos)["score"])


def test_trained_shift_moves_every_logit_of_a_video(own_path, with_motion, make_videos,
                                                    tmp_path):
    from cpllm_model import CPLLM

    shift_layer = with_motion.backbone.motion_shift
    shift_layer.weight.assign(-0.8)
    shift_layer.offset.assign(0.3)
    videos = make_videos(3, seed=12)
    videos["high_frames"][0] = videos["high_frames"][0, :1]  # a static video: no motion
    before = own_path.score(videos)["frame_scores"].astype(np.float64)
    after = with_motion.score(videos)["frame_scores"]
    act = np.asarray(motion_shift.activity(videos["high_frames"]), np.float64)
    assert act[0] == 0.0 and act[1] > 10.0
    shift = -0.8 * np.log1p(act) + 0.3
    logit = np.log(before / (100.0 - before))
    np.testing.assert_allclose(after, 100.0 / (1.0 + np.exp(-(logit + shift[:, None]))),
                               rtol=1e-4, atol=1e-3)
    assert np.all((after >= 0.0) & (after <= 100.0))
    # The preset keeps the layer and its trained weights.
    path = str(tmp_path / "motion")
    with_motion.save_to_preset(path)
    loaded = CPLLM.from_preset(path)
    assert loaded.backbone.motion_input
    np.testing.assert_array_equal(loaded.score(videos)["frame_scores"], after)
    # Packed as a score member (trainer.ensemble), it keeps its shift: a pack of it alone
    # scores as it does.
    from trainer import ensemble

    primary = str(tmp_path / "primary")
    own_path.save_to_preset(primary)
    pack = ensemble.build(primary, [path], score_own_path=False)
    np.testing.assert_allclose(pack.score(videos)["frame_scores"], after, rtol=1e-6,
                               atol=1e-4)
    shift_layer.weight.assign(0.0)
    shift_layer.offset.assign(0.0)


def test_only_layer_adding_options_skip_reinitialize(own_path, with_motion):
    from trainer import train

    with pytest.raises(ValueError, match="reinitialize=True"):
        train._with_added_layers(own_path, {"patch_scores": False})
    with pytest.raises(ValueError, match="reinitialize=True"):
        train._with_added_layers(own_path, {"motion_input": False})
    assert train._with_added_layers(with_motion, {"motion_input": True}) is with_motion
