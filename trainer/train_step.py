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
  total      = w_rank * ranking + w_reg * regression + w_text * text
"""
from __future__ import annotations

import jax
import keras
from keras import ops

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


def make_loss_fn(model, loss_config, num_pairs: int, pair_rows=None):
    """`loss_fn(trainable, non_trainable, batch) -> (total, (parts, non_trainable))`.

    pair_rows: None (pairs lead the batch: rows 2i, 2i + 1 for i < num_pairs) or
    (first, second) int32[num_pairs], the rows of a batch of shard-group blocks
    (`input_pipeline.blocks_pair_rows`).

    `model` is the `CPLLM` task (its call returns score and text logits); the state
    lists follow `model.backbone`'s variable order.
    """
    backbone = model.backbone
    scale = float(loss_config.label_scale)
    text_videos = loss_config.get("text_videos")

    def loss_fn(trainable, non_trainable, batch):
        inputs = {k: batch[k] for k in MODEL_INPUT_KEYS}
        inputs["padding_mask"] = ops.cast(inputs["padding_mask"], "int32")
        inputs["response_mask"] = ops.cast(inputs["response_mask"], "int32")
        with keras.StatelessScope(
                state_mapping=_mapping(backbone, trainable, non_trainable)) as scope:
            if text_videos:
                # Scores for the whole batch without the decoder; the text loss on the
                # last `text_videos` videos only (an unbiased sample of the same loss at
                # a fraction of the decoder's cost, which dominates a tiny model's step).
                vision = {k: inputs[k] for k in MODEL_INPUT_KEYS[:3]}
                out = model(vision, training=True)
                text_in = {k: v[-text_videos:] for k, v in inputs.items()}
                logits = model(text_in, training=True)["logits"]
            else:
                out = model(inputs, training=True)
                logits = out["logits"]
        new_non_trainable = []
        for v, old in zip(backbone.non_trainable_variables, non_trainable):
            value = scope.get_current_value(v)
            new_non_trainable.append(old if value is None else value)

        s = out["score"] / scale
        y = batch["label"] / scale
        if num_pairs and pair_rows is not None:
            rank = losses.ranking_loss(ops.take(s, pair_rows[0]), ops.take(s, pair_rows[1]),
                                       batch["pair_order"], loss_config.ranking_margin)
        elif num_pairs:
            rank = losses.ranking_loss(s[0:2 * num_pairs:2], s[1:2 * num_pairs:2],
                                       batch["pair_order"], loss_config.ranking_margin)
        else:
            rank = ops.zeros((), "float32")
        reg = losses.regression_loss(s, y, batch["regression_mask"])
        answer = ops.logical_and(ops.cast(batch["response_mask"], "bool"),
                                 ops.cast(batch["padding_mask"], "bool"))
        if text_videos:
            answer = answer[-text_videos:]
        text = losses.text_loss(logits, inputs["token_ids"][-logits.shape[0]:], answer)
        total = (loss_config.ranking_weight * rank + loss_config.regression_weight * reg
                 + loss_config.text_weight * text)
        parts = {"loss": total, "ranking_loss": rank, "regression_loss": reg,
                 "text_loss": text}
        return total, (parts, new_non_trainable)

    return loss_fn


def make_train_step(model, optimizer, loss_config, num_pairs: int, pair_rows=None):
    """Jitted `train_step(state, batch) -> (state, parts dict of scalars)`."""
    loss_fn = make_loss_fn(model, loss_config, num_pairs, pair_rows)
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
