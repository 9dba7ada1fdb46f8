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
def own_path(own_key_frame_path):
    """The bundled model's own score path, without its score members, on key frames."""
    return own_key_frame_path


@pytest.fixture(scope="module")
def make_videos(own_path, videos_for):
    """Random inputs for `own_path` (key frames only)."""
    return lambda batch, seed: videos_for(batch, own_path, seed)


@pytest.fixture(scope="module")
def with_motion(own_path):
    from trainer import train

    return train.with_added_layers(own_path, {"motion_input": True})


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
        train.with_added_layers(own_path, {"patch_scores": False})
    with pytest.raises(ValueError, match="reinitialize=True"):
        train.with_added_layers(own_path, {"motion_input": False})
    assert train.with_added_layers(with_motion, {"motion_input": True}) is with_motion


def test_per_frame_activity_reads_each_key_frame_against_the_frame_after_it():
    s = 8
    x = np.zeros((1, 6, s, s, 3), np.uint8)  # K = 3 pairs (key, next)
    x[:, 1] = 30                             # pair 0 differs by 30
    x[:, 2:4] = 200                          # pair 1 equal (a cut between pairs)
    x[:, 5, : s // 2] = 60                   # pair 2: half the pixels by 60
    got = float(np.asarray(motion_shift.activity(x, frames_per_key=2))[0])
    np.testing.assert_allclose(got, (30 + 0 + 30) / 3, rtol=1e-6)
    # Read as consecutive key frames it would count the cut between pairs.
    assert float(np.asarray(motion_shift.activity(x))[0]) > got
    layer = motion_shift.MotionShift(frames_per_key=2)
    assert motion_shift.MotionShift.from_config(layer.get_config()).frames_per_key == 2


def test_per_frame_view_added_to_a_trained_preset(own_path, make_videos, tmp_path):
    """high_level_frames = 2 (with or without the shift) keeps every score of the key
    frames; the shift then reads each key frame against the frame after it."""
    from cpllm_model import CPLLM
    from trainer import train

    videos = make_videos(2, seed=13)
    keys = videos["high_frames"]
    nxt = keys.copy()
    nxt[1] = np.clip(nxt[1].astype(int) + 40, 0, 255).astype(np.uint8)  # video 1 moves
    paired = dict(videos, high_frames=np.stack([keys, nxt], axis=2).reshape(
        keys.shape[0], -1, *keys.shape[2:]))
    control = train.with_added_layers(own_path, {"high_level_frames": 2})
    assert control.preprocessor.high_level_frames == 2
    assert own_path.preprocessor.high_level_frames == 1  # the preset's own is left alone
    want = own_path.score(videos)["score"]
    np.testing.assert_array_equal(control.score(paired)["score"], want)
    moving = train.with_added_layers(own_path, {"motion_input": True,
                                                 "high_level_frames": 2})
    assert moving.backbone.motion_shift.frames_per_key == 2
    np.testing.assert_array_equal(moving.score(paired)["score"], want)
    moving.backbone.motion_shift.weight.assign(-1.0)
    act = np.asarray(motion_shift.activity(paired["high_frames"], 2))
    assert act[0] == 0.0 and act[1] > 20.0
    got = moving.score(paired)["score"]
    assert got[0] == pytest.approx(want[0], abs=1e-4) and got[1] < want[1] - 1.0
    path = str(tmp_path / "per_frame")
    moving.save_to_preset(path)
    loaded = CPLLM.from_preset(path)
    assert loaded.preprocessor.frames_per_key == 2
    assert loaded.backbone.motion_shift.frames_per_key == 2
    np.testing.assert_array_equal(loaded.score(paired)["score"], got)
