"""Shapes and dtypes through every part, prefix-LM attention, text packing."""
import numpy as np

from cpllm_model import prompts

VISION = ("high_frames", "low_patches", "patch_mask")


def test_part_shapes(tiny_model, videos8, jit_run):
    bb = tiny_model.backbone
    p = tiny_model.preprocessor
    k, d = p.num_keyframes, bb.hidden_dim

    def parts(x):
        high, low = bb.encode_vision(*(x[n] for n in VISION))
        return {"high": high, "low": low, "vision": bb.vision_sequence(high, low)}

    out = jit_run(tiny_model, parts, {n: videos8[n] for n in VISION})
    assert tuple(out["high"].shape) == (8, k, (p.image_size // 16) ** 2, d)
    assert tuple(out["low"].shape) == (8, k, bb.num_low_tokens, d)
    assert bb.num_low_tokens == (p.patch_size // bb.low_level_encoder.patch_size) ** 2
    assert out["high"].dtype == out["low"].dtype == "float32"
    assert tuple(out["vision"].shape) == (8, bb.image_sequence_length, d)
    # Low-level tokens are LayerNorm-ed over the feature axis: undoing the learned scale and
    # offset leaves zero mean and unit variance per token.
    norm = bb.low_level_norm
    unit = (np.asarray(out["low"]) - np.asarray(norm.beta)) / np.asarray(norm.gamma)
    np.testing.assert_allclose(unit.mean(-1), 0.0, atol=1e-3)
    np.testing.assert_allclose(unit.var(-1), 1.0, atol=1e-2)


def test_forward_outputs(tiny_model, videos8, jit_run):
    p = tiny_model.preprocessor
    text = p.tokenize_description("The video shows a cat. Score 80.", sequence_length=64)
    # The training forward pass takes the records' M (the backbone's), fewer patches
    # than the preset scores with.
    m = tiny_model.backbone.max_patches
    videos = {k: v[:2] for k, v in videos8.items()}
    videos["low_patches"] = videos["low_patches"][:, :, :m]
    videos["patch_mask"] = videos["patch_mask"][:, :, :m]
    inputs = dict(videos)
    inputs.update({k: np.stack([v] * 2) for k, v in text.items()})
    out = jit_run(tiny_model, lambda x: tiny_model(x), inputs)
    # The bundled preset scores every patch (CPLLMBackbone(patch_scores=True)): its
    # outputs also carry the per-patch logits the patch ranking loss trains on.
    assert tiny_model.backbone.patch_scores
    # Its primary is kept for the decoder; its own path's scores are reported, not counted.
    assert set(out) == {"frame_scores", "score", "logits", "patch_logits", "patch_logit_mask",
                        "own_frame_scores"}
    assert tuple(out["own_frame_scores"].shape) == tuple(out["frame_scores"].shape)
    views = tiny_model.backbone.low_level_views
    k = tiny_model.preprocessor.num_keyframes
    assert tuple(out["patch_logits"].shape) == (2, k, m * views)
    assert tuple(out["patch_logit_mask"].shape) == (2, k, m * views)
    assert tuple(out["logits"].shape) == (2, 64, tiny_model.backbone.vocabulary_size)
    assert out["score"].dtype == "float32" and tuple(out["score"].shape) == (2,)
    scored = tiny_model.score(videos)
    np.testing.assert_allclose(np.asarray(out["score"]), scored["score"], rtol=1e-5)
    # The functional backbone graph agrees with the task's forward pass.
    bb_out = jit_run(tiny_model, lambda x: tiny_model.backbone(x), inputs)
    assert tuple(bb_out["sequence_output"].shape) == (
        2, tiny_model.backbone.image_sequence_length + 64,
        tiny_model.backbone.hidden_dim)
    np.testing.assert_allclose(np.asarray(bb_out["score"]), scored["score"], rtol=1e-5)


def test_pairwise_forward(tiny_model, make_videos, jit_run):
    a, b = make_videos(1, seed=31), make_videos(1, seed=32)
    text = tiny_model.preprocessor.tokenize_comparison(71, 45, sequence_length=48)
    inputs = dict(a)
    inputs.update({k + "_b": v for k, v in b.items()})
    inputs.update({k: v[None] for k, v in text.items()})
    out = jit_run(tiny_model, lambda x: tiny_model(x), inputs)
    assert set(out) == {"frame_scores", "score", "frame_scores_b", "score_b", "logits",
                        "patch_logits", "patch_logit_mask", "patch_logits_b",
                        "patch_logit_mask_b", "own_frame_scores", "own_frame_scores_b"}
    assert tuple(out["logits"].shape) == (1, 48, tiny_model.backbone.vocabulary_size)
    np.testing.assert_allclose(np.asarray(out["score_b"]),
                               tiny_model.score(b)["score"], rtol=1e-5)


def test_prefix_lm_attention_mask(tiny_model):
    """A prefix token sees the whole prefix and no answer token; an answer token sees
    everything before it (and itself)."""
    block = tiny_model.backbone.transformer_layers[0]
    v, t = 3, 5  # 3 vision tokens, text = 3 prompt tokens + 2 answer tokens
    padding = np.array([[1, 1, 1, 1, 1]])
    response = np.array([[0, 0, 0, 1, 1]])
    x = np.zeros((1, v + t, 4), "float32")
    mask = np.asarray(block._compute_attention_mask(x, padding, None, 0, response))[0]
    for i in range(v + 3):
        assert mask[i, : v + 3].all() and not mask[i, v + 3 :].any()
    for i in range(v + 3, v + t):
        assert mask[i, : i + 1].all() and not mask[i, i + 1 :].any()


def test_prefix_lm_information_flow(tiny_model, make_videos, jit_run):
    """Changing an answer token leaves the prefix and earlier answer states unchanged;
    changing the last prompt token changes the first vision state (bidirectional)."""
    bb = tiny_model.backbone
    videos = make_videos(1, seed=33)
    v = bb.image_sequence_length
    text = tiny_model.preprocessor.build_training_text("Rate it.", "Score 45.", 16)
    ids, pad, resp = (text[k][None] for k in ("token_ids", "padding_mask", "response_mask"))
    first_answer = int(np.argmax(resp[0]))

    def states(x):
        high, low = bb.encode_vision(*(x[n] for n in VISION))
        return bb.decode(bb.vision_sequence(high, low), x["token_ids"], x["padding_mask"],
                         x["response_mask"])

    def run(token_ids):
        x = dict(videos, token_ids=token_ids, padding_mask=pad, response_mask=resp)
        return np.asarray(jit_run(tiny_model, states, x))

    base = run(ids)
    changed = ids.copy()
    changed[0, first_answer + 1] = (changed[0, first_answer + 1] + 7) % 1000 + 4
    out = run(changed)
    cut = v + first_answer + 1
    np.testing.assert_allclose(out[:, :cut], base[:, :cut], atol=1e-6)
    assert not np.allclose(out[:, cut], base[:, cut], atol=1e-4)

    changed = ids.copy()
    changed[0, first_answer - 1] = (changed[0, first_answer - 1] + 7) % 1000 + 4
    out = run(changed)
    assert not np.allclose(out[:, 0], base[:, 0], atol=1e-6)


def test_build_training_text(tiny_model):
    p = tiny_model.preprocessor
    tok = p.tokenizer
    text = p.build_training_text(prompts.describe_prompt(), "The video shows a cat.", 96)
    ids, pad, resp = text["token_ids"], text["padding_mask"], text["response_mask"]
    assert ids.dtype == pad.dtype == resp.dtype == np.int32 and ids.shape == (96,)
    n = int(pad.sum())
    assert ids[0] == tok.start_token_id and ids[n - 1] == tok.end_token_id
    assert (ids[n:] == tok.pad_token_id).all() and not resp[n:].any()
    answer = ids[resp.astype(bool)]
    assert answer[-1] == tok.end_token_id
    assert tok.detokenize(answer[:-1]) == "The video shows a cat."
    prompt_ids = ids[1 : n - len(answer)]
    assert tok.detokenize(prompt_ids) == prompts.describe_prompt()
    # Truncation keeps the prompt and the <eos>.
    short = p.tokenize_description("The video shows a cat. " * 20, sequence_length=64)
    assert short["padding_mask"].sum() == 64 and short["token_ids"][-1] == tok.end_token_id
    # No description: no answer tokens at all (no lone <eos> to learn), prompt kept.
    for missing in (None, "", "  "):
        empty = p.tokenize_description(missing, sequence_length=96)
        assert not empty["response_mask"].any()
        n = int(empty["padding_mask"].sum())
        assert tok.detokenize(empty["token_ids"][1:n]) == prompts.describe_prompt()
        assert tok.end_token_id not in empty["token_ids"][:n].tolist()


def test_bench_model_inputs_are_read_by_the_bundled_model(tiny_model):
    """`bench.bench_model`'s random videos take the preset's geometry: the bundled pack
    reads K · Hf high-level frames (before, the bench made K and `--parts tiny` stopped
    with a shape error in the score head)."""
    from bench import bench_model

    scores = np.asarray(tiny_model.score(bench_model._videos(tiny_model, 1))["score"])
    assert scores.shape == (1,) and 0.0 <= scores[0] <= 100.0
