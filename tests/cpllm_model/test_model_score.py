"""`CPLLM.score`: shapes, determinism, batch-mate independence, decoder independence."""
import numpy as np
import pytest


def _take(batch, i):
    return {k: v[i : i + 1] for k, v in batch.items()}


def test_score_shapes_and_dtypes(tiny_model, videos8):
    out = tiny_model.score(videos8)
    assert out["score"].shape == (8,) and out["score"].dtype == np.float32
    assert out["frame_scores"].shape == (8, tiny_model.num_keyframes)
    assert out["frame_scores"].dtype == np.float32
    np.testing.assert_allclose(out["score"], out["frame_scores"].mean(axis=1), rtol=1e-6)
    assert np.all(np.isfinite(out["score"]))
    # Different videos get different scores (the head sees the pixels).
    assert len(set(out["score"].tolist())) == 8


def test_score_is_bitwise_repeatable(tiny_model, videos8):
    a = tiny_model.score(videos8)["score"]
    b = tiny_model.score(videos8)["score"]
    assert a.tobytes() == b.tobytes()


def test_score_independent_of_batch_mates(tiny_model, videos8, make_videos):
    """Same video at positions 0 and 5 of a padded batch of 8, different neighbours."""
    target = _take(videos8, 3)
    others = make_videos(8, seed=7)
    batch_a = {k: v.copy() for k, v in others.items()}
    batch_b = {k: np.zeros_like(v) for k, v in others.items()}  # zero padding rows
    for k, value in target.items():
        batch_a[k][0] = value[0]
        batch_b[k][5] = value[0]
    sa = tiny_model.score(batch_a)
    sb = tiny_model.score(batch_b)
    assert sa["score"][0].tobytes() == sb["score"][5].tobytes()
    assert sa["frame_scores"][0].tobytes() == sb["frame_scores"][5].tobytes()


def test_batch_matches_one_at_a_time(tiny_model, videos8):
    batched = tiny_model.score(videos8)["score"]
    single = np.array([tiny_model.score(_take(videos8, i))["score"][0] for i in range(8)])
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-4)


def test_score_compiles_once_per_shape(tiny_model, videos8, make_videos):
    tiny_model.score(videos8)
    fn = tiny_model._score_function()
    before = fn.counter["traces"]
    for seed in (11, 12):
        tiny_model.score(make_videos(8, seed))
    assert fn.counter["traces"] == before


def test_score_ignores_decoder_weights(tiny_model, videos8):
    before = tiny_model.score(videos8)["score"]
    decoder_vars = [v for layer in tiny_model.backbone.decoder_layers() for v in layer.weights]
    saved = [v.numpy().copy() for v in decoder_vars]
    rng = np.random.default_rng(0)
    try:
        for v in decoder_vars:
            v.assign(rng.normal(size=v.shape).astype(v.dtype))
        after = tiny_model.score(videos8)["score"]
    finally:
        for v, value in zip(decoder_vars, saved):
            v.assign(value)
    assert before.tobytes() == after.tobytes()
    # ...while the same perturbation of a counted score path's head does change them;
    # the bundled primary's own head, kept out of the mean (score_own_path=False), not.
    bb = tiny_model.backbone
    assert not bb.score_own_path
    for head, counts in ((bb.score_members[0].backbone.score_head, True),
                         (bb.score_head, False)):
        kernel = head.output_dense.kernel
        kept = kernel.numpy().copy()
        try:
            kernel.assign(kept + 1.0)
            changed = tiny_model.score(videos8)["score"]
        finally:
            kernel.assign(kept)
        assert np.allclose(before, changed) is not counts


def test_score_survives_save_and_load(tiny_model, videos8, tmp_path):
    from cpllm_model import CPLLM

    tiny_model.save_to_preset(str(tmp_path / "preset"))
    loaded = CPLLM.from_preset(str(tmp_path / "preset"))
    a = tiny_model.score(videos8)
    b = loaded.score(videos8)
    assert a["score"].tobytes() == b["score"].tobytes()
    assert a["frame_scores"].tobytes() == b["frame_scores"].tobytes()


def test_score_only_load_scores_bit_for_bit_without_a_decoder(tiny_model, videos8,
                                                               tmp_path):
    """score_only=True builds no decoder, reads the full preset's weights into the rest,
    and scores exactly as the full model does; text generation is refused clearly."""
    from cpllm_model import CPLLM

    tiny_model.save_to_preset(str(tmp_path / "preset"))
    scorer = CPLLM.from_preset(str(tmp_path / "preset"), score_only=True)
    bb = scorer.backbone
    assert not bb.include_decoder and bb.decoder_layers() == []
    assert "token_ids" not in bb.input and "sequence_output" not in bb.output
    decoder_params = sum(int(np.prod(w.shape)) for layer in
                         tiny_model.backbone.decoder_layers() for w in layer.weights)
    assert bb.count_params() == tiny_model.backbone.count_params() - decoder_params
    a, b = tiny_model.score(videos8), scorer.score(videos8)
    assert a["score"].tobytes() == b["score"].tobytes()
    assert a["frame_scores"].tobytes() == b["frame_scores"].tobytes()
    with pytest.raises(ValueError, match="score-only"):
        scorer.describe(videos8, max_new_tokens=4)
    assert bb.get_config()["include_decoder"] is False
    with pytest.raises(ValueError, match="score_only loads a trained preset"):
        CPLLM.from_preset("cpllm_paper", score_only=True)


def test_score_is_bounded_0_100_by_construction(tiny_model, videos8):
    """Huge head weights saturate the score at the ends of the scale, never past them
    (every score path's head: the backbone's own and its score members')."""
    bb = tiny_model.backbone
    heads = [bb.score_head] + [m.backbone.score_head for m in bb.score_members]
    variables = [v for h in heads for v in (h.output_dense.kernel, h.output_dense.bias)]
    kept = [v.numpy().copy() for v in variables]
    try:
        for sign in (1.0, -1.0):
            for v in variables:
                v.assign(np.full(v.shape, sign * 1e6, v.dtype))
            out = tiny_model.score(videos8)
            for name in ("score", "frame_scores"):
                x = out[name]
                assert x.dtype == np.float32 and np.all(np.isfinite(x))
                assert np.all((x >= 0.0) & (x <= 100.0)), (name, sign, x.min(), x.max())
            assert np.allclose(out["score"], 100.0 if sign > 0 else 0.0)
    finally:
        for v, value in zip(variables, kept):
            v.assign(value)


def test_score_bias_is_the_initial_score_and_round_trips(tiny_model, videos8):
    from cpllm_model.backbone import CPLLMBackbone
    from cpllm_model.score_head import score_logit

    assert score_logit(50.0) == 0.0
    config = dict(tiny_model.backbone.get_config(), score_bias=80.0, score_members=[],
                  score_own_path=True)
    bb = CPLLMBackbone.from_config(config)
    assert bb.get_config()["score_bias"] == 80.0
    assert CPLLMBackbone.from_config(bb.get_config()).get_config() == bb.get_config()
    np.testing.assert_allclose(bb.score_head.output_dense.bias.numpy(), [np.log(0.8 / 0.2)], rtol=1e-6)
    bb.score_head.output_dense.kernel.assign(np.zeros(bb.score_head.output_dense.kernel.shape, "float32"))
    frame_scores, score = bb.score_videos(*(videos8[k][:2] for k in
                                            ("high_frames", "low_patches", "patch_mask")))
    np.testing.assert_allclose(np.asarray(score), [80.0, 80.0], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(frame_scores), 80.0, rtol=1e-5)


def test_any_number_of_keyframes_scores_per_frame(tiny_model, videos8):
    """Frame scores are per frame: 4 key frames alone score as they do among 8 (the same
    4 twice, so that a motion input, a per-video shift from the mean change over the key
    frames' pairs, reads the same video in both)."""
    hf = tiny_model.preprocessor.high_level_frames
    four = {k: v[:, :4 * hf] if k == "high_frames" else v[:, :4] for k, v in videos8.items()}
    eight = {k: np.concatenate([v, v], axis=1) for k, v in four.items()}
    out8, out4 = tiny_model.score(eight), tiny_model.score(four)
    assert out4["frame_scores"].shape == (8, 4) and out8["frame_scores"].shape == (8, 8)
    np.testing.assert_allclose(out4["frame_scores"], out8["frame_scores"][:, :4],
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out8["frame_scores"][:, 4:], out8["frame_scores"][:, :4],
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out4["score"], out4["frame_scores"].mean(axis=1), rtol=1e-6)


def test_more_patches_average_the_same_features(tiny_model, videos8):
    """The low-level features are a masked mean over patches: each patch given twice
    (M = 2 x 16) scores as the 16 once; padding cells beyond them change nothing."""
    twice = dict(videos8)
    twice["low_patches"] = np.concatenate([videos8["low_patches"]] * 2, axis=2)
    twice["patch_mask"] = np.concatenate([videos8["patch_mask"]] * 2, axis=2)
    np.testing.assert_allclose(tiny_model.score(twice)["score"],
                               tiny_model.score(videos8)["score"], rtol=1e-5, atol=1e-4)
    padded = dict(videos8)
    padded["low_patches"] = np.concatenate(
        [videos8["low_patches"], np.zeros_like(videos8["low_patches"])], axis=2)
    padded["patch_mask"] = np.concatenate(
        [videos8["patch_mask"], np.zeros_like(videos8["patch_mask"])], axis=2)
    np.testing.assert_allclose(tiny_model.score(padded)["score"],
                               tiny_model.score(videos8)["score"], rtol=1e-5, atol=1e-4)
