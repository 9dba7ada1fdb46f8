"""The jitted multi-task train step and the score function, stateless (Keras 3 on JAX).

State is a tuple of three lists of arrays, in the order of the backbone's variables:
`(trainable, non_trainable, optimizer)`. The forward pass runs inside a
`keras.StatelessScope` mapping the model's variables to those arrays, so one traced
function serves every step; `jax.value_and_grad` differentiates the total loss w.r.t. the
trainable list, and `optimizer.stateless_apply` (Adam) updates it.

Per step (batch layout in `trainer.input_pipeline`), with s = score / label_scale and
y = label / label_scale:
  ranking    = losses.ranking_loss(s[0:2P:2], s[1:2P:2], pair_order, margin)
  regression = losses.regression_loss(s, y, regression_mask)
  text       = losses.text_loss(logits of the text positions, token_ids, response_mask)
               (on the last `loss.text_videos` videos only, if set)
  patch      = losses.patch_ranking_loss(patch logits of each pair's two videos, ...)
               (only with a `patch_scores` backbone and loss.patch_ranking_weight > 0)
  compare    = losses.text_loss(pairwise answer logits, ...) on the first C pairs, fed as
               video A + video B (`CPLLM` pair inputs) with `input_pipeline.ComparisonText`
               (only with loss.compare_weight > 0 and loss.compare_pairs = C > 0; the
               verdict letter weighs loss.compare_verdict_weight, the other tokens 1)
  total      = w_rank * ranking + w_reg * regression + w_text * text + w_patch * patch
               + w_compare * compare
"""
from __future__ import annotations

import jax
import keras
import numpy as np
from keras import ops

from cpllm_model.cpllm import PAIR_SUFFIX
from trainer import losses

MODEL_INPUT_KEYS = ("high_frames", "low_patches", "patch_mask",
                    "token_ids", "padding_mask", "response_mask")


def initial_state(backbone, optimizer) -> tuple:
    """Copies of the variables' values (the step donates its state buffers, which must
    not be the Keras variables' own)."""
    optimizer.build(backbone.trainable_variables)

    def copy(variables):
        return [jax.numpy.array(v.value, copy=True) for v in variables]

    return (copy(backbone.trainable_variables), copy(backbone.non_trainable_variables),
            copy(optimizer.variables))


def assign_state(backbone, optimizer, state) -> None:
    """Writes a state tuple back into the Keras variables (before saving); optimizer
    None writes the backbone's only."""
    trainable, non_trainable, opt = state
    for v, x in zip(backbone.trainable_variables, trainable):
        v.assign(x)
    for v, x in zip(backbone.non_trainable_variables, non_trainable):
        v.assign(x)
    for v, x in zip(optimizer.variables if optimizer is not None else (), opt):
        v.assign(x)


def _mapping(backbone, trainable, non_trainable):
    return (list(zip(backbone.trainable_variables, trainable))
            + list(zip(backbone.non_trainable_variables, non_trainable)))


def comparison_pairs(loss_config, num_pairs: int) -> tuple[int, float]:
    """(C, weight): how many of a batch's pairs also train the pairwise answer
    (`loss.compare_pairs`, at most the pairs a batch has; 0 when `loss.compare_weight`
    is 0 or unset) and the weight of that text loss."""
    weight = float(loss_config.get("compare_weight", 0.0) or 0.0)
    pairs = int(loss_config.get("compare_pairs", 0) or 0)
    if not weight or not pairs or not num_pairs:
        return 0, 0.0
    return min(pairs, num_pairs), weight


def pair_row_indices(num_pairs: int, pair_rows=None) -> tuple[np.ndarray, np.ndarray]:
    """(first, second) int32[num_pairs]: the batch rows of each pair's two videos
    (`pair_rows` as given, else pairs leading the batch: rows 2i and 2i + 1)."""
    if pair_rows is not None:
        return tuple(np.asarray(r, np.int32) for r in pair_rows)
    first = np.arange(0, 2 * num_pairs, 2, dtype=np.int32)
    return first, first + 1


def compare_row_indices(num_pairs: int, pair_rows, compare_pairs: int, groups: int = 1
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(first, second) int32[C]: the batch rows of the C = `compare_pairs` pairs that also
    train the pairwise answer. One block: the batch's first C pairs. G shard-group blocks
    (`pair_rows` from `input_pipeline.blocks_pair_rows`, `num_pairs` / G pairs a block):
    the first C / G pairs of every block, in block order, so that each process feeds the
    answers of its own blocks (C must be a multiple of G)."""
    first, second = pair_row_indices(num_pairs, pair_rows)
    if groups <= 1:
        return first[:compare_pairs], second[:compare_pairs]
    if compare_pairs % groups or num_pairs % groups:
        raise ValueError(f"loss.compare_pairs={compare_pairs} must be a multiple of "
                         f"input.shard_groups={groups} (the pairs of {num_pairs} a "
                         "batch has are split evenly over its blocks)")
    per, c = num_pairs // groups, compare_pairs // groups
    take = np.concatenate([np.arange(g * per, g * per + c) for g in range(groups)])
    return first[take], second[take]


def keyframe_subset(k: int, n: int) -> np.ndarray:
    """int32[n]: n of k key frames evenly spread (floor((j + 0.5) * k / n))."""
    return ((np.arange(n) + 0.5) * k / n).astype(np.int32)


def _answer_mask(response_mask, padding_mask):
    """bool[B, T]: the answer tokens the text loss counts (response and not padding)."""
    return ops.logical_and(ops.cast(response_mask, "bool"), ops.cast(padding_mask, "bool"))


def make_loss_fn(model, loss_config, num_pairs: int, pair_rows=None, groups: int = 1):
    """`loss_fn(trainable, non_trainable, batch) -> (total, (parts, non_trainable))`.

    pair_rows: None (pairs lead the batch: rows 2i, 2i + 1 for i < num_pairs) or
    (first, second) int32[num_pairs], the rows of a batch of shard-group blocks
    (`input_pipeline.blocks_pair_rows`) of `groups` blocks.

    `model` is the `CPLLM` task (its call returns score and text logits); the state
    lists follow `model.backbone`'s variable order. A score-only model
    (`include_decoder=False`, e.g. a member unpacked by `trainer.ensemble`) trains its
    score path alone: its text loss is 0 and pairwise answers are refused.
    """
    backbone = model.backbone
    has_decoder = backbone.include_decoder
    scale = float(loss_config.label_scale)
    text_videos = loss_config.get("text_videos")
    patch_weight = float(loss_config.get("patch_ranking_weight", 0.0) or 0.0)
    compare_pairs, compare_weight = comparison_pairs(loss_config, num_pairs)
    if compare_pairs and not has_decoder:
        raise ValueError("loss.compare_pairs > 0 needs a language decoder; this model is "
                         "score-only (include_decoder=False)")
    first, second = pair_row_indices(num_pairs, pair_rows)
    compare_first, compare_second = compare_row_indices(num_pairs, pair_rows, compare_pairs,
                                                        groups)
    compare_frames = loss_config.get("compare_keyframes")
    verdict_weight = float(loss_config.get("compare_verdict_weight", 1.0))
    verdict_marker = (losses.verdict_marker_id(model.preprocessor.tokenizer)
                      if compare_pairs and verdict_weight != 1.0 else None)

    def comparison_inputs(inputs, batch):
        """Video A (pair's first) and B (second) of the first C pairs, at most
        `compare_keyframes` key frames each (evenly spread), with the pairwise text."""
        pair = {}
        for key in MODEL_INPUT_KEYS[:3]:
            for suffix, rows in (("", compare_first), (PAIR_SUFFIX, compare_second)):
                x = ops.take(inputs[key], rows, axis=0)
                if compare_frames and compare_frames < x.shape[1]:
                    x = ops.take(x, keyframe_subset(x.shape[1], compare_frames), axis=1)
                pair[key + suffix] = x
        pair["token_ids"] = batch["compare_token_ids"]
        pair["padding_mask"] = ops.cast(batch["compare_padding_mask"], "int32")
        pair["response_mask"] = ops.cast(batch["compare_response_mask"], "int32")
        return pair

    def loss_fn(trainable, non_trainable, batch):
        inputs = {k: batch[k] for k in MODEL_INPUT_KEYS}
        inputs["padding_mask"] = ops.cast(inputs["padding_mask"], "int32")
        inputs["response_mask"] = ops.cast(inputs["response_mask"], "int32")
        compare_logits = None
        with keras.StatelessScope(
                state_mapping=_mapping(backbone, trainable, non_trainable)) as scope:
            if has_decoder and not text_videos:
                out = model(inputs, training=True)
                logits = out["logits"]
            else:
                # Scores for the whole batch without the decoder; the text loss (if the
                # model has a decoder) on the last `text_videos` videos only (an unbiased
                # sample of the same loss at a fraction of the decoder's cost, which
                # dominates a tiny model's step).
                out = model({k: inputs[k] for k in MODEL_INPUT_KEYS[:3]}, training=True)
                logits = None
                if has_decoder:
                    text_in = {k: v[-text_videos:] for k, v in inputs.items()}
                    logits = model(text_in, training=True)["logits"]
            if compare_pairs:
                compare_logits = model(comparison_inputs(inputs, batch),
                                       training=True)["logits"]
        new_non_trainable = []
        for v, old in zip(backbone.non_trainable_variables, non_trainable):
            value = scope.get_current_value(v)
            new_non_trainable.append(old if value is None else value)

        s = out["score"] / scale
        y = batch["label"] / scale
        if num_pairs:
            rank = losses.ranking_loss(ops.take(s, first), ops.take(s, second),
                                       batch["pair_order"], loss_config.ranking_margin)
        else:
            rank = ops.zeros((), "float32")
        patch = ops.zeros((), "float32")
        if num_pairs and patch_weight:
            if "patch_logits" not in out:
                raise ValueError("loss.patch_ranking_weight > 0 needs a backbone with "
                                 "patch_scores=True (model.backbone_overrides)")
            patch_logits, patch_mask = out["patch_logits"], out["patch_logit_mask"]
            patch = losses.patch_ranking_loss(
                ops.take(patch_logits, first, axis=0), ops.take(patch_logits, second, axis=0),
                ops.take(patch_mask, first, axis=0), ops.take(patch_mask, second, axis=0),
                batch["pair_order"], loss_config.get("patch_ranking_margin", 0.0))
        reg = losses.regression_loss(s, y, batch["regression_mask"])
        if logits is None:
            text = ops.zeros((), "float32")
        else:
            answer = _answer_mask(batch["response_mask"], batch["padding_mask"])
            if text_videos:
                answer = answer[-text_videos:]
            text = losses.text_loss(logits, inputs["token_ids"][-logits.shape[0]:], answer)
        total = (loss_config.ranking_weight * rank + loss_config.regression_weight * reg
                 + loss_config.text_weight * text)
        parts = {"loss": total, "ranking_loss": rank, "regression_loss": reg,
                 "text_loss": text}
        if patch_weight:
            total = total + patch_weight * patch
            parts.update(loss=total, patch_ranking_loss=patch)
        if compare_pairs:
            answer = _answer_mask(batch["compare_response_mask"],
                                  batch["compare_padding_mask"])
            if verdict_marker is not None:
                answer = losses.verdict_weights(answer, batch["compare_token_ids"],
                                                verdict_marker, verdict_weight)
            compare = losses.text_loss(compare_logits, batch["compare_token_ids"], answer)
            total = total + compare_weight * compare
            parts.update(loss=total, compare_text_loss=compare)
        return total, (parts, new_non_trainable)

    return loss_fn


def make_train_step(model, optimizer, loss_config, num_pairs: int, pair_rows=None,
                    groups: int = 1):
    """Jitted `train_step(state, batch) -> (state, parts dict of scalars)`."""
    loss_fn = make_loss_fn(model, loss_config, num_pairs, pair_rows, groups)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def train_step(state, batch):
        trainable, non_trainable, opt = state
        (_, (parts, non_trainable)), grads = grad_fn(trainable, non_trainable, batch)
        parts["grad_norm"] = jax.numpy.sqrt(
            sum(jax.numpy.sum(jax.numpy.square(g)) for g in grads))
        trainable, opt = optimizer.stateless_apply(opt, grads, trainable)
        return (trainable, non_trainable, opt), parts

    return jax.jit(train_step, donate_argnums=(0,))


def make_score_fn(backbone):
    """Jitted `score(trainable, non_trainable, frames) -> float32[B]` (no decoder)."""

    def score(trainable, non_trainable, frames):
        with keras.StatelessScope(state_mapping=_mapping(backbone, trainable, non_trainable)):
            _, video_score = backbone.score_videos(
                frames["high_frames"], frames["low_patches"], frames["patch_mask"])
        return video_score

    return jax.jit(score)
