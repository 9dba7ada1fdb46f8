"""ClipMixer / CPLLMBackbone(low_level_frames=T): patch clips of a key frame and the frames
after it, mixed by VideoPrism's temporal layers, added to a trained preset without
changing a score until trained."""
import numpy as np
import pytest

from cpllm_model.clip_mixer import ClipMixer


def test_mixer_returns_the_key_frames_tokens_until_its_gate_opens():
    rng = np.random.default_rng(0)
    n, t, tokens, width = 3, 2, 4, 8
    x = rng.normal(size=(n * t, tokens, width)).astype("float32")
    mixer = ClipMixer(frames=t, num_heads=2, intermediate_dim=16)
    out = np.asarray(mixer(x))
    assert out.shape == (n, tokens, width)
    np.testing.assert_array_equal(out, x[::t])
    mixer.gate.assign(np.full((width,), 0.5, "float32"))
    moved = x.copy()
    moved[1::t] = rng.normal(size=moved[1::t].shape)  # only the frames after the keys
    a, b = np.asarray(mixer(x)), np.asarray(mixer(moved))
    assert np.abs(a - x[::t]).max() > 1e-3  # the open gate mixes
    assert np.abs(a - b).max() > 1e-3       # and reads the next frames


@pytest.mark.parametrize("frames", [1, 0, True, 1.5])
def test_mixer_needs_two_frames_or_more(frames):
    with pytest.raises(ValueError, match="frames >= 2"):
        ClipMixer(frames=frames, num_heads=2, intermediate_dim=16)


@pytest.fixture(scope="module")
def own_path(own_key_frame_path):
    """The bundled model's own score path, without its score members, on key frames."""
    return own_key_frame_path


@pytest.fixture(scope="module")
def make_videos(own_path, videos_for):
    """Random inputs for `own_path` (key frames only)."""
    return lambda batch, seed: videos_for(batch, own_path, seed)


@pytest.fixture(scope="module")
def with_clips(own_path):
    from trainer import train

    return train.with_added_layers(own_path, {"low_level_frames": 2})


def _key_slots(videos):
    return dict(videos, low_patches=videos["low_patches"][:, :, ::2],
                patch_mask=videos["patch_mask"][:, :, ::2])


def test_added_to_a_trained_preset_it_scores_the_key_frames_as_before(
        own_path, with_clips, make_videos):
    assert with_clips.backbone.low_level_frames == 2
    assert own_path.backbone.low_level_frames == 1
    videos = make_videos(2, seed=21)
    # Untrained (gate 0), a clip reads as its key frame's patch alone: the scores are
    # those of the preset on the key frames' M / 2 cells.
    np.testing.assert_allclose(with_clips.score(videos)["frame_scores"],
                               own_path.score(_key_slots(videos))["frame_scores"],
                               rtol=1e-6, atol=1e-4)


def test_trained_gate_reads_the_next_frames_and_survives_a_preset(
        with_clips, make_videos, tmp_path):
    from cpllm_model import CPLLM

    mixer = with_clips.backbone.clip_mixer
    mixer.gate.assign(np.full(mixer.gate.shape, 0.7, "float32"))
    try:
        videos = make_videos(2, seed=22)
        still = dict(videos, low_patches=videos["low_patches"].copy())
        still["low_patches"][:, :, 1::2] = still["low_patches"][:, :, ::2]  # no change
        a = with_clips.score(videos)["frame_scores"]
        b = with_clips.score(still)["frame_scores"]
        assert np.abs(a - b).max() > 1e-3
        assert np.all((a >= 0.0) & (a <= 100.0))
        path = str(tmp_path / "clips")
        with_clips.save_to_preset(path)
        loaded = CPLLM.from_preset(path)
        assert loaded.backbone.low_level_frames == 2
        assert loaded.preprocessor.low_level_frames == 2
        np.testing.assert_array_equal(loaded.score(videos)["frame_scores"], a)
    finally:
        mixer.gate.assign(np.zeros(mixer.gate.shape, "float32"))


def test_frames_per_clip_must_divide_the_patch_slots(own_path):
    from cpllm_model import CPLLMBackbone

    config = own_path.backbone.get_config()
    config.update(low_level_frames=3)  # the bundled M = 16 is no multiple of 3
    with pytest.raises(ValueError, match="that divides the patch slots M = 16"):
        CPLLMBackbone.from_config(config)


def test_only_switching_clips_on_skips_reinitialize(own_path, with_clips):
    from trainer import train

    for value in (1, True, 0):
        with pytest.raises(ValueError, match="reinitialize=True"):
            train.with_added_layers(own_path, {"low_level_frames": value})
    assert train.with_added_layers(with_clips, {"low_level_frames": 2}) is with_clips
