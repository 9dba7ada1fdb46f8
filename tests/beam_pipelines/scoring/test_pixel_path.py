"""One pixel path: prepare's and score's frame inputs for a real 720p clip are identical.

Training data (`prepare.DecodeAndPreprocess`) and scoring (`dofns.DecodeKeyframes` with
`score.model_preprocessing`) must decode the same frames (native size up to the
preprocessor's `decode_max_side()`, never pre-scaled) and run the same
`preprocessor.frame_inputs`, or the model is scored on pixels it never trained on.
"""
import numpy as np
import pytest

PRESET = "cpllm_tiny"
SIZE = (1280, 720)  # (width, height)


@pytest.fixture(scope="module")
def clip_720p(tmp_path_factory):
    from beam_pipelines.media import samples

    path = tmp_path_factory.mktemp("pixel_path") / "testsrc2_720p.mp4"
    return samples.make_clip(str(path), "testsrc2", seconds=1.0, size=SIZE, fps=12,
                             lossless=False)


@pytest.fixture(scope="module")
def clip_720p_24fps(tmp_path_factory):
    from beam_pipelines.media import samples

    path = tmp_path_factory.mktemp("pixel_path_24") / "testsrc2_720p_24fps.mp4"
    return samples.make_clip(str(path), "testsrc2", seconds=1.0, size=SIZE, fps=24,
                             lossless=False)


def test_prepare_and_score_produce_identical_tensors(clip_720p):
    from beam_pipelines import dofns, prepare, score
    from beam_pipelines.media import keyframes

    row = {"video_id": "v720", "uri": clip_720p, "blockiness": None, "blur": None}
    prep = prepare.DecodeAndPreprocess(PRESET, measure_artifacts=False, decode_timeout_s=60)
    prep.setup()
    prepared = list(prep.process(dict(row)))
    assert len(prepared) == 1 and isinstance(prepared[0], dict), prepared

    frame_inputs, k, side = score.model_preprocessing(PRESET)
    assert side == prep.preprocessor.decode_max_side() >= max(SIZE)  # no pre-scaling
    decode = dofns.DecodeKeyframes(frame_inputs, k, max_side=side, timeout_s=60)
    scored = list(decode.process({"video_id": "v720", "uri": clip_720p}))
    assert len(scored) == 1 and isinstance(scored[0], tuple), scored
    video_id, value = scored[0]
    assert video_id == "v720"
    assert (value["meta"]["width"], value["meta"]["height"]) == SIZE

    x = value["inputs"]
    assert set(x) == {"high_frames", "low_patches", "patch_mask"}
    for name in x:
        a, b = np.asarray(prepared[0][name]), np.asarray(x[name])
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name  # byte for byte

    # The patches are the decoded frame's own pixels at 1280x720 (native resolution).
    from cpllm_model.frames import patch_grid

    pre = prep.preprocessor
    native = keyframes.decode_keyframes(clip_720p, k=k, timeout_s=60).frames
    assert native.shape[1:3] == (SIZE[1], SIZE[0])
    _, cells = patch_grid(SIZE[1], SIZE[0], pre.low_level_max_side, pre.patch_size,
                          pre.max_patches)
    assert x["patch_mask"].sum() == k * pre.max_patches
    p = pre.patch_size
    for j, (top, left) in enumerate(cells):
        np.testing.assert_array_equal(x["low_patches"][:, j],
                                      native[:, top:top + p, left:left + p])


def _both_paths(clip, tmp_path, **preprocessor_config):
    """(prepare's row, score's inputs) of `clip` for the bundled preset with
    `preprocessor_config` changed, and that preprocessor."""
    import json
    import shutil

    from beam_pipelines import dofns, prepare, score
    from cpllm_model import preset_registry

    preset = tmp_path / "changed"
    shutil.copytree(preset_registry.resolve(PRESET), preset)
    config = json.loads((preset / "preprocessor.json").read_text())
    config["config"].update(preprocessor_config)
    (preset / "preprocessor.json").write_text(json.dumps(config))

    prep = prepare.DecodeAndPreprocess(str(preset), measure_artifacts=False,
                                       decode_timeout_s=60)
    prep.setup()
    (prepared,) = list(prep.process({"video_id": "v", "uri": clip, "blockiness": None,
                                     "blur": None}))
    frame_inputs, k, side = score.model_preprocessing(str(preset))
    decode = dofns.DecodeKeyframes(frame_inputs, k, max_side=side, timeout_s=60)
    ((_, value),) = list(decode.process({"video_id": "v", "uri": clip}))
    for name, b in value["inputs"].items():
        assert np.asarray(prepared[name]).tobytes() == np.asarray(b).tobytes(), name
    return prepared, value["inputs"], prep.preprocessor


def test_patch_clips_are_the_same_in_prepare_and_score(clip_720p, tmp_path):
    """A preset whose preprocessor cuts clips of T = 2 frames: both paths decode every key
    frame with the frame after it and cut the same clips."""
    from beam_pipelines.media import keyframes
    from cpllm_model.frames import low_level_patches

    _, inputs, pre = _both_paths(clip_720p, tmp_path, low_level_frames=2)
    k = pre.num_keyframes
    native = keyframes.decode_keyframes(clip_720p, k=k, timeout_s=60, frames_per_key=2)
    m = pre.max_patches
    for j in range(2):  # slot 2c + j: cell c of the key frame (j = 0) or the next (j = 1)
        want, _ = low_level_patches(native.frames[j::2], pre.low_level_max_side,
                                    pre.patch_size, m // 2)
        np.testing.assert_array_equal(inputs["low_patches"][:, j::2], want)
    # testsrc2 moves: the frame after a key frame is another picture.
    assert not np.array_equal(native.frames[0::2], native.frames[1::2])


def test_frame_pairs_of_the_high_level_view_are_the_same_in_prepare_and_score(
        clip_720p_24fps, tmp_path):
    """A preset whose high-level view holds each key frame and the frame 1/12 s after it
    (`high_level_frames` 2, the per-frame motion input): both paths decode the pairs,
    two frames apart at 24 fps; the patches stay the key frames' own, as with one frame."""
    from beam_pipelines.media import keyframes
    from cpllm_model.frames import MOTION_FRAME_GAP_S, high_level_frames

    clip = clip_720p_24fps
    _, inputs, pre = _both_paths(clip, tmp_path, high_level_frames=2)
    k = pre.num_keyframes
    assert pre.frame_gap_s == MOTION_FRAME_GAP_S
    native = keyframes.decode_keyframes(clip, k=k, timeout_s=60, frames_per_key=2,
                                        frame_gap_s=MOTION_FRAME_GAP_S)
    assert native.frame_stride == 2
    gaps = native.frame_times_s[1::2] - native.frame_times_s[::2]
    np.testing.assert_allclose(gaps[:-1], 2 / 24, atol=1e-3)  # the last one: past the end
    assert inputs["high_frames"].shape == (2 * k, pre.image_size, pre.image_size, 3)
    np.testing.assert_array_equal(inputs["high_frames"],
                                  high_level_frames(native.frames, pre.image_size))
    one = pre.__class__.from_config({**pre.get_config(), "high_level_frames": 1})
    np.testing.assert_array_equal(inputs["low_patches"],
                                  one.frame_inputs(native.frames[::2])["low_patches"])


def test_a_rung_shown_at_display_height_is_the_same_in_prepare_and_score(tmp_path):
    """A 360p rung of a 720p ladder: prepare (the catalog row's display_height) and score
    (--display_height, i.e. DecodeKeyframes(display_height=...)) cut the same patches,
    those of the frames enlarged to 720 rows; the catalog's value wins over the flag."""
    from beam_pipelines import dofns, prepare, score
    from beam_pipelines.media import keyframes, samples
    from cpllm_model import frames

    clip = samples.make_clip(str(tmp_path / "rung_360p.mp4"), "testsrc2", seconds=1.0,
                             size=(640, 360), fps=12, lossless=False)
    prep = prepare.DecodeAndPreprocess(PRESET, measure_artifacts=False, decode_timeout_s=60)
    prep.setup()
    row = {"video_id": "r", "uri": clip, "blockiness": None, "blur": None}
    (prepared,) = list(prep.process(dict(row, display_height=720)))
    (native,) = list(prep.process(dict(row)))
    frame_inputs, k, side = score.model_preprocessing(PRESET)
    decode = dofns.DecodeKeyframes(frame_inputs, k, max_side=side, timeout_s=60,
                                   display_height=720)
    ((_, value),) = list(decode.process({"video_id": "r", "uri": clip}))
    ((_, wins),) = list(decode.process({"video_id": "r", "uri": clip, "display_height": 360}))
    for name, b in value["inputs"].items():
        assert np.asarray(prepared[name]).tobytes() == np.asarray(b).tobytes(), name
        assert np.asarray(native[name]).tobytes() == np.asarray(wins["inputs"][name]).tobytes()
    assert value["meta"]["display_height"] == 720 and wins["meta"]["display_height"] == 360
    assert (value["meta"]["width"], value["meta"]["height"]) == (640, 360)
    pre = prep.preprocessor
    decoded = keyframes.decode_keyframes(clip, k=k, timeout_s=60, **pre.decode_options())
    shown = frames.display_frames(decoded.frames, 720)
    assert shown.shape[1:3] == (720, 1280)
    np.testing.assert_array_equal(
        value["inputs"]["low_patches"],
        pre.frame_inputs(shown)["low_patches"])
    assert not np.array_equal(value["inputs"]["low_patches"], native["low_patches"])
