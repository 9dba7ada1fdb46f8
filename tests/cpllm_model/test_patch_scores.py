"""CPLLMBackbone(patch_scores=True): every patch scored by the same head, frames by the
mean of their patches' logits."""
import numpy as np
import pytest

VISION = ("high_frames", "low_patches", "patch_mask")


@pytest.fixture(scope="module")
def patch_model(tiny_model):
    """The bundled model's own score path (its `score_members` left out) in a backbone
    that scores per patch (the head's weights have the same shapes either way)."""
    from cpllm_model import CPLLM

    bb = CPLLM.from_preset("cpllm_tiny", own_run_only=True).backbone
    patch_bb = type(bb).from_config({**bb.get_config(), "patch_scores": True})
    patch_bb.set_weights(bb.get_weights())
    return CPLLM(backbone=patch_bb, preprocessor=tiny_model.preprocessor)


def test_config_round_trip_keeps_patch_scores(tiny_model):
    bb = tiny_model.backbone
    assert bb.patch_scores  # the bundled preset scores per patch
    for flag in (True, False):
        built = type(bb).from_config({**bb.get_config(), "patch_scores": flag})
        assert built.patch_scores is flag
        assert type(bb).from_config(built.get_config()).patch_scores is flag


def test_one_patch_per_frame_scores_as_the_pooled_head(tiny_model, make_videos):
    """With a single real patch in each frame (one view), the patch's feature is the
    frame's pooled low tokens, so both heads give the same scores with the same weights."""
    from cpllm_model import CPLLM

    bb = tiny_model.backbone
    models = []
    for patch_scores in (False, True):
        one_view = type(bb).from_config({**bb.get_config(), "patch_scores": patch_scores,
                                         "low_level_views": 1})
        one_view.set_weights(bb.get_weights())
        models.append(CPLLM(backbone=one_view, preprocessor=tiny_model.preprocessor))
    videos = make_videos(3, seed=7)
    videos["patch_mask"][:] = 0.0
    videos["patch_mask"][:, :, 0] = 1.0
    pooled, per_patch = (m.score(videos) for m in models)
    np.testing.assert_allclose(per_patch["frame_scores"], pooled["frame_scores"],
                               rtol=1e-4, atol=1e-3)


def test_frame_score_is_the_sigmoid_of_the_mean_real_patch_logit(patch_model, make_videos,
                                                                 jit_run):
    bb = patch_model.backbone
    videos = make_videos(2, seed=3)
    videos["patch_mask"][1, :, 3:] = 0.0

    def outputs(x):
        return bb.vision_outputs(*(x[n] for n in VISION))

    out = {k: np.asarray(v) for k, v in jit_run(patch_model, outputs, videos).items()}
    views = bb.low_level_views
    m = videos["patch_mask"].shape[2]
    assert out["patch_logits"].shape == (2, bb.num_keyframes, m * views)
    np.testing.assert_array_equal(out["patch_logit_mask"],
                                  np.concatenate([videos["patch_mask"]] * views, axis=2))
    mask = out["patch_logit_mask"]
    logit = (out["patch_logits"] * mask).sum(-1) / mask.sum(-1)
    np.testing.assert_allclose(out["frame_scores"], 100 / (1 + np.exp(-logit)), rtol=1e-5)
    np.testing.assert_allclose(out["score"], out["frame_scores"].mean(-1), rtol=1e-6)
    assert np.all((out["score"] >= 0) & (out["score"] <= 100))
    # The patch logits differ between patches: the head reads each patch, not a mean.
    assert np.ptp(out["patch_logits"][0, 0]) > 1e-3


def test_padding_patches_do_not_change_the_score(patch_model, make_videos):
    videos = make_videos(2, seed=5)
    videos["patch_mask"][:, :, -4:] = 0.0
    before = patch_model.score(videos)["score"]
    videos["low_patches"][:, :, -4:] = 255 - videos["low_patches"][:, :, -4:]
    np.testing.assert_array_equal(patch_model.score(videos)["score"], before)
