"""describe/compare: KV-cached generation equals uncached, samplers, fixed buckets."""
import numpy as np
import pytest
from generation_reference import greedy_uncached  # tests/cpllm_model/ is on sys.path

from cpllm_model import prompts


@pytest.fixture(scope="module")
def lively_model():
    """A tiny model whose random decoder does not just copy its last input token."""
    from cpllm_model.presets import build_tiny

    model = build_tiny(seed=5)
    for block in model.backbone.transformer_layers:
        for layer in (block.ffw_linear, block.attention.output_dense):
            layer.kernel.assign(layer.kernel.numpy() * 30.0)
    return model


@pytest.fixture(scope="module")
def lively_videos(lively_model, videos_for):
    """lively_videos(batch, seed) -> random vision inputs for `lively_model`."""
    return lambda batch, seed: videos_for(batch, lively_model, seed)


def _prompted(model, videos, prompt, max_new_tokens):
    inputs = dict(videos)
    text = model.preprocessor.generation_inputs(prompt, len(videos["patch_mask"]),
                                                max_new_tokens)
    inputs.update(text)
    return inputs, int(text["padding_mask"].sum(axis=1)[0])


def test_cached_equals_uncached_greedy(lively_model, lively_videos):
    videos = lively_videos(2, seed=21)
    inputs, n = _prompted(lively_model, videos, prompts.describe_prompt(), 16)
    cached = lively_model.generate_tokens(inputs, 16)  # same compile as describe()
    uncached = greedy_uncached(lively_model, inputs, 16)
    eos = lively_model.preprocessor.tokenizer.end_token_id
    for c, u in zip(cached, uncached):  # cached generation stops at <eos>
        stops = np.flatnonzero(c[n : n + 16] == eos)
        end = n + (stops[0] + 1 if len(stops) else 16)
        np.testing.assert_array_equal(c[:end], u[:end])
        assert end - n >= 8
    assert len(set(cached[:, n : n + 8].ravel().tolist())) > 4  # not a constant stream
    assert not np.array_equal(cached[0, n : n + 8], cached[1, n : n + 8])


def test_cached_equals_uncached_pairwise(lively_model, lively_videos):
    a, b = lively_videos(1, seed=22), lively_videos(1, seed=23)
    inputs, n = _prompted(lively_model, a, prompts.compare_prompt(), 8)
    inputs.update({k + "_b": v for k, v in b.items()})
    cached = lively_model.generate_tokens(inputs, 8, stop=False)
    uncached = greedy_uncached(lively_model, inputs, 8)
    np.testing.assert_array_equal(cached[:, : n + 8], uncached[:, : n + 8])


def test_describe_greedy_and_seeded_sampler(lively_model, lively_videos):
    videos = lively_videos(2, seed=24)
    greedy = lively_model.describe(videos, max_new_tokens=12)
    assert greedy == lively_model.describe(videos, max_new_tokens=12)
    assert len(greedy) == 2 and all(isinstance(t, str) and t for t in greedy)
    s3 = lively_model.describe(videos, max_new_tokens=12, sampler="random", seed=3)
    assert s3 == lively_model.describe(videos, max_new_tokens=12, sampler="random", seed=3)
    assert s3 != lively_model.describe(videos, max_new_tokens=12, sampler="random", seed=4)


def test_generation_buckets_avoid_recompiles(lively_model, lively_videos):
    p = lively_model.preprocessor
    a = p.generation_inputs(prompts.describe_prompt(), 2, 10)["token_ids"].shape
    b = p.generation_inputs(prompts.describe_prompt(), 2, 20)["token_ids"].shape
    assert a == b and a[1] % p.prompt_bucket == 0


def test_compare_returns_contract(tiny_model, make_videos):
    a, b = make_videos(1, seed=25), make_videos(1, seed=26)
    out = tiny_model.compare({k: v[0] for k, v in a.items()}, {k: v[0] for k, v in b.items()})
    assert out["better"] in ("A", "B")
    assert isinstance(out["text"], str)
    assert out["source"] in ("text", "score_head")
    if out["source"] == "score_head":  # untrained decoder: scores come from the head
        sa, sb = tiny_model.score(a)["score"][0], tiny_model.score(b)["score"][0]
        assert out["score_a"] == pytest.approx(sa) and out["score_b"] == pytest.approx(sb)
        assert out["better"] == ("A" if sa >= sb else "B")
        assert out["text_verdict"] is None
    else:  # the answer's two scores decide; its verdict word is reported beside them
        assert out["better"] == ("A" if out["score_a"] >= out["score_b"] else "B")
        assert out["text_verdict"] in ("A", "B")


def test_compare_answer_round_trip():
    text = prompts.compare_answer(71.2, 45)
    assert text == "Score A: 71. Score B: 45. Video A is better."
    assert prompts.parse_compare_answer(text) == ("A", 71.0, 45.0)
    assert prompts.parse_compare_answer("video b is better, score a: 3 score b: 90") == (
        "B", 3.0, 90.0)
    assert prompts.parse_compare_answer("Score A: 50. Score B: 61.5. Video B is better.") == (
        "B", 50.0, 61.5)
    assert prompts.parse_compare_answer("no idea") == (None, None, None)
