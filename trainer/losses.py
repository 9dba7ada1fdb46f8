"""CP-LLM's three training losses (paper section 3.2), backend-agnostic (keras.ops).

All three return a scalar float32 and are 0 when nothing in the batch selects them (no
valid pair, no regression target, no answer token), so a batch without pairs or without
originals still trains the other terms.

Ranking (eq. 1): over pairs (a, b) of the same source,
    relu(-sign(y_a - y_b) * (s_a - s_b) + margin)
averaged over valid pairs. Ties (sign 0: equal labels, or equal CRF when ranking on CRF)
are EXCLUDED, not scored: with a tie the hinge would reduce to `relu(margin)`, a constant
that gives no gradient and only dilutes the mean; excluding them keeps the loss a mean over
pairs that carry an order.

Patch ranking (not in the paper; `CPLLMBackbone(patch_scores=True)`): the same hinge on
the score head's logits of the SAME patch (same key frame, same grid cell, same view) in
the two videos of a pair. Both hold the same content at two CRFs, so every patch that
compression changed must order like the pair; a patch compression left alone has equal
logits and costs nothing (margin 0).

Regression (eq. 2): mean squared error over the videos selected by `mask` (the paper:
originals only; the tiny config: every rendition with a VMAF pseudo-MOS).

Text (eq. 3): next-token cross-entropy where `logits[:, t]` predicts `token_ids[:, t + 1]`,
counted only where `loss_mask[:, t + 1]` is true (the answer tokens: prompt, image and
padding positions never count); averaged per sample over its answer tokens, then over the
samples that have any (the paper's 1/L_i inside, 1/B outside).
"""
from keras import ops


def _safe_mean(values, weights):
    weights = ops.cast(weights, "float32")
    total = ops.sum(ops.cast(values, "float32") * weights)
    count = ops.sum(weights)
    return total / ops.maximum(count, 1.0)


def ranking_loss(score_a, score_b, order, margin=0.0, pair_mask=None):
    """Pairwise hinge loss on predicted scores.

    Args:
      score_a, score_b: float[N] predicted scores of the two videos of each pair.
      order: float[N], `sign(y_a - y_b)`: +1 if a is better, -1 if b is better, 0 = tie
        (excluded). Any real values work; only their sign is used.
      margin: hinge margin, in the units of the scores.
      pair_mask: optional bool/float[N], 0 drops a pair (e.g. batch padding).
    Returns:
      float32 scalar, mean over valid non-tied pairs (0 if there are none).
    """
    sign = ops.sign(ops.cast(order, "float32"))
    diff = ops.cast(score_a, "float32") - ops.cast(score_b, "float32")
    hinge = ops.relu(-sign * diff + margin)
    valid = ops.cast(ops.not_equal(sign, 0.0), "float32")
    if pair_mask is not None:
        valid = valid * ops.cast(pair_mask, "float32")
    return _safe_mean(hinge, valid)


def patch_ranking_loss(logits_a, logits_b, mask_a, mask_b, order, margin=0.0):
    """The ranking hinge between aligned patches of each pair's two videos.

    Args:
      logits_a, logits_b: float[N, K, M] patch logits of the two videos of each pair.
      mask_a, mask_b: float[N, K, M], 1 on real patches.
      order: float[N], the pair order (its sign; 0 = tie, excluded).
    Returns:
      float32 scalar, mean over the patches real in both videos of non-tied pairs.
    """
    mask = ops.cast(mask_a, "float32") * ops.cast(mask_b, "float32")
    order = ops.cast(order, "float32")[:, None, None] + ops.zeros_like(mask)
    return ranking_loss(ops.reshape(logits_a, (-1,)), ops.reshape(logits_b, (-1,)),
                        ops.reshape(order, (-1,)), margin, ops.reshape(mask, (-1,)))


def regression_loss(score, target, mask):
    """Mean squared error over the selected videos.

    Args:
      score, target: float[N]. mask: bool/float[N]; NaN targets must be masked out
        (they are zeroed before use so they cannot poison the gradient).
    """
    mask = ops.cast(mask, "float32")
    target = ops.where(mask > 0, ops.cast(target, "float32"), 0.0)
    err = ops.square(ops.cast(score, "float32") - target)
    return _safe_mean(err, mask)


def text_loss(logits, token_ids, loss_mask):
    """Next-token cross-entropy on answer tokens only.

    Args:
      logits: float[B, T, V] for the text positions; `logits[:, t]` predicts token t+1.
      token_ids: int[B, T] prompt + answer tokens.
      loss_mask: bool[B, T], true on answer (description) tokens that are real (not pad),
        or float[B, T] weights (0 off the answer; `verdict_weights`).
    Returns:
      float32 scalar: per-sample (weighted) mean over its answer tokens, averaged over
      samples with at least one answer token.
    """
    logits = ops.cast(logits[:, :-1, :], "float32")
    targets = token_ids[:, 1:]
    weights = ops.cast(loss_mask[:, 1:], "float32")
    log_probs = ops.log_softmax(logits, axis=-1)
    picked = ops.take_along_axis(
        log_probs, ops.expand_dims(ops.cast(targets, "int32"), -1), axis=-1)[..., 0]
    nll = -picked * weights
    per_sample_count = ops.sum(weights, axis=-1)
    per_sample = ops.sum(nll, axis=-1) / ops.maximum(per_sample_count, 1.0)
    return _safe_mean(per_sample, per_sample_count > 0)


def verdict_marker_id(tokenizer) -> int:
    """The token id after which `prompts.compare_answer` writes its verdict letter ("Video"
    in "... Video A is better.")."""
    from cpllm_model import prompts

    def ids(a, b):
        return [int(i) for i in ops.convert_to_numpy(tokenizer(prompts.compare_answer(a, b)))]

    names_a, names_b = ids(71, 45), ids(45, 71)
    # Read from the end, the first token where an answer naming A and one naming B
    # differ is the verdict letter; the token before it is the marker.
    tail_a, tail_b = names_a[::-1], names_b[::-1]
    for k, (x, y) in enumerate(zip(tail_a, tail_b)):
        if x != y:
            return tail_a[k + 1]
    raise ValueError("compare_answer names A and B with the same tokens")


def verdict_weights(answer_mask, token_ids, marker_id: int, weight: float):
    """float32[B, T]: 1 on the answer tokens of `answer_mask` (bool[B, T]), `weight` on
    an answer token that follows `marker_id` in `token_ids` (int[B, T]): the pairwise
    answer's verdict letter."""
    after_marker = ops.pad(ops.equal(token_ids[:, :-1], marker_id), [[0, 0], [1, 0]])
    mask = ops.cast(answer_mask, "float32")
    return mask * (1.0 + (weight - 1.0) * ops.cast(after_marker, "float32"))
