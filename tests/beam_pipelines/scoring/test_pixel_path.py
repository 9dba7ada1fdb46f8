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
