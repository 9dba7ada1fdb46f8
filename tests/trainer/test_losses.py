"""The three losses against hand-computed values."""
import math

import numpy as np
import pytest

from trainer import losses


def test_ranking_correct_order_with_clearance_is_zero():
    # a is better (order +1) and scored 3 points above b: hinge relu(-(3) + 1) = 0.
    loss = losses.ranking_loss(np.array([73.0]), np.array([70.0]), np.array([1.0]), margin=1.0)
    assert float(loss) == 0.0


def test_ranking_wrong_order_is_positive_by_hand():
    # pair 0: a better but scored 2 below b: relu(-(+1) * (-2) + 1) = 3.
    # pair 1: b better but a scored 0.5 above: relu(-(-1) * 0.5 + 1) = 1.5.
    loss = losses.ranking_loss(
        np.array([68.0, 50.5]), np.array([70.0, 50.0]), np.array([1.0, -1.0]), margin=1.0)
    assert float(loss) == pytest.approx((3.0 + 1.5) / 2)


def test_ranking_swapping_members_and_order_is_symmetric():
    a, b, o = np.array([1.0, 5.0]), np.array([4.0, 2.0]), np.array([1.0, 1.0])
    l1 = float(losses.ranking_loss(a, b, o, margin=0.5))
    l2 = float(losses.ranking_loss(b, a, -o, margin=0.5))
    assert l1 == pytest.approx(l2) and l1 > 0


def test_ranking_ties_and_masked_pairs_are_excluded():
    # pair 0 tie (excluded), pair 1 wrong by 1 -> relu(1 + 0) = 1, pair 2 masked out.
    loss = losses.ranking_loss(
        np.array([10.0, 1.0, 0.0]), np.array([0.0, 2.0, 9.0]), np.array([0.0, 1.0, 1.0]),
        margin=0.0, pair_mask=np.array([1.0, 1.0, 0.0]))
    assert float(loss) == pytest.approx(1.0)
    only_ties = losses.ranking_loss(np.array([1.0]), np.array([3.0]), np.array([0.0]), 1.0)
    assert float(only_ties) == 0.0


def test_regression_uses_only_masked_targets_and_ignores_nan():
    loss = losses.regression_loss(
        np.array([50.0, 10.0, 30.0]), np.array([47.0, np.nan, 0.0]),
        np.array([True, False, False]))
    assert float(loss) == pytest.approx(9.0)
    loss2 = losses.regression_loss(
        np.array([50.0, 10.0, 30.0]), np.array([47.0, np.nan, 34.0]),
        np.array([True, False, True]))
    assert float(loss2) == pytest.approx((9.0 + 16.0) / 2)
    assert float(losses.regression_loss(np.zeros(2), np.ones(2), np.zeros(2))) == 0.0


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_text_loss_by_hand_and_ignores_prompt_and_image_positions():
    rng = np.random.default_rng(0)
    b, t, v = 2, 6, 7
    logits = rng.normal(size=(b, t, v)).astype(np.float32)
    tokens = rng.integers(1, v, size=(b, t)).astype(np.int32)
    # sample 0: prompt = positions 0..2, answer = 3..5; sample 1: answer 4..4, then pad.
    mask = np.array([[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 0]], bool)
    lp = _log_softmax(logits)
    s0 = -(lp[0, 2, tokens[0, 3]] + lp[0, 3, tokens[0, 4]] + lp[0, 4, tokens[0, 5]]) / 3
    s1 = -lp[1, 3, tokens[1, 4]]
    loss = float(losses.text_loss(logits, tokens, mask))
    assert loss == pytest.approx((s0 + s1) / 2, rel=1e-5)

    # Changing logits that predict prompt tokens, or prompt token ids themselves, or the
    # last position (predicts nothing), leaves the loss unchanged.
    logits2 = logits.copy()
    logits2[0, :2] += 100 * rng.normal(size=(2, v))
    logits2[1, :3] += 100 * rng.normal(size=(3, v))
    logits2[:, -1] = 0.0
    tokens2 = tokens.copy()
    tokens2[:, :3] = (tokens2[:, :3] + 1) % v
    assert float(losses.text_loss(logits2, tokens2, mask)) == pytest.approx(loss, rel=1e-6)
    # ... while changing an answer-token prediction changes it.
    logits3 = logits.copy()
    logits3[0, 3, tokens[0, 4]] += 5.0
    assert float(losses.text_loss(logits3, tokens, mask)) < loss


def test_text_loss_perfect_prediction_is_near_zero():
    tokens = np.array([[1, 2, 3, 4]])
    logits = np.full((1, 4, 5), -1e4, np.float32)
    for t in range(3):
        logits[0, t, tokens[0, t + 1]] = 1e4
    loss = float(losses.text_loss(logits, tokens, np.array([[0, 1, 1, 1]], bool)))
    assert math.isclose(loss, 0.0, abs_tol=1e-6)


def test_text_loss_skips_videos_without_a_description():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 5, 6)).astype(np.float32)
    tokens = rng.integers(1, 6, size=(2, 5)).astype(np.int32)
    described = np.array([[0, 0, 1, 1, 1]], bool)
    alone = float(losses.text_loss(logits[:1], tokens[:1], described))
    # the second video has no answer tokens: it neither adds nor dilutes the loss
    mask = np.concatenate([described, np.zeros((1, 5), bool)])
    assert float(losses.text_loss(logits, tokens, mask)) == pytest.approx(alone, rel=1e-6)
    assert float(losses.text_loss(logits, tokens, np.zeros((2, 5), bool))) == 0.0


def test_patch_ranking_by_hand_with_ties_and_masks():
    # Pair 0 (a better): patch logits a - b = [+1, -0.5, 0 (masked in b), -2 (masked in a)]
    #   -> hinges relu(-(+1) * d + 0.1): 0, 0.6, excluded, excluded.
    # Pair 1 (b better): a - b = [0.2, -1, 0, 0] -> relu(+1 * d + 0.1): 0.3, 0, 0.1, 0.1.
    # Pair 2 is a tie: excluded whatever its logits.
    a = np.array([[[1.0, 0.0, 3.0, 0.0]], [[0.2, 0.0, 5.0, 5.0]], [[9.0, 9.0, 9.0, 9.0]]])
    b = np.array([[[0.0, 0.5, 3.0, 2.0]], [[0.0, 1.0, 5.0, 5.0]], [[0.0, 0.0, 0.0, 0.0]]])
    mask_a = np.array([[[1.0, 1.0, 1.0, 0.0]], [[1.0] * 4], [[1.0] * 4]])
    mask_b = np.array([[[1.0, 1.0, 0.0, 1.0]], [[1.0] * 4], [[1.0] * 4]])
    loss = losses.patch_ranking_loss(a, b, mask_a, mask_b, np.array([1.0, -1.0, 0.0]),
                                     margin=0.1)
    assert float(loss) == pytest.approx((0.0 + 0.6 + 0.3 + 0.0 + 0.1 + 0.1) / 6)


def test_patch_ranking_of_identical_patches_is_zero_without_margin():
    # A patch that compression left alone scores the same in both videos: no loss.
    x = np.random.default_rng(0).normal(size=(2, 3, 5))
    ones = np.ones_like(x)
    assert float(losses.patch_ranking_loss(x, x, ones, ones, np.array([1.0, -1.0]))) == 0.0


def test_text_loss_with_float_weights_is_the_weighted_mean_by_hand():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(1, 4, 6)).astype(np.float32)
    tokens = np.array([[1, 2, 3, 4]], np.int32)
    lp = _log_softmax(logits)
    nll = [-lp[0, t, tokens[0, t + 1]] for t in range(3)]
    weights = np.array([[0.0, 1.0, 4.0, 1.0]], np.float32)
    expected = (nll[0] + 4 * nll[1] + nll[2]) / 6
    assert float(losses.text_loss(logits, tokens, weights)) == pytest.approx(expected, rel=1e-5)
    # Weights of 1 are the boolean mask.
    ones = float(losses.text_loss(logits, tokens, np.array([[0, 1, 1, 1]], np.float32)))
    assert ones == pytest.approx(float(losses.text_loss(
        logits, tokens, np.array([[0, 1, 1, 1]], bool))), rel=1e-6)


def test_verdict_weights_by_hand():
    tokens = np.array([[5, 9, 7, 2, 9, 3], [9, 9, 1, 0, 0, 0]], np.int32)
    answer = np.array([[0, 1, 1, 1, 1, 0], [0, 1, 1, 0, 0, 0]], bool)
    w = np.asarray(losses.verdict_weights(answer, tokens, 9, 4.0))
    np.testing.assert_allclose(w, [[0, 1, 4, 1, 1, 0], [0, 4, 4, 0, 0, 0]])


def test_verdict_marker_is_the_token_before_the_verdict_letter(tiny_model):
    from cpllm_model import prompts

    tok = tiny_model.preprocessor.tokenizer
    marker = losses.verdict_marker_id(tok)
    a = np.asarray(tok(prompts.compare_answer(71, 45))).tolist()
    b = np.asarray(tok(prompts.compare_answer(45, 71))).tolist()
    j = len(a) - 1 - a[::-1].index(marker)  # the marker's last place in the answer
    assert a[j + 1] != b[len(b) - len(a) + j + 1]  # the letter after it names A or B
    assert a[j + 2:] == b[len(b) - len(a) + j + 2:]  # "is better." is the same
    assert tok.id_to_token(marker).strip("▁") == "Video"
