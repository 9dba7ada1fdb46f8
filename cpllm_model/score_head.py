"""ScoreHead: the bounded MLP that turns a key frame's vision tokens into its score.

    head = ScoreHead(hidden_dim=128, score_bias=50.0, name="score_head")
    frame_scores, score = head(high_tokens, low_tokens)
      high_tokens float[B, K, Nh, D], low_tokens float[B, K, Nl, D]
      -> frame_scores float32[B, K] in [0, 100], score float32[B] (their mean)

Per frame: pooled = concat(mean of the high tokens, mean of the low tokens) [2D];
frame score = 100 * sigmoid(output(relu(hidden(pooled)))), computed in float32 whatever
the layer's compute dtype, so the 0-100 scale is bounded by construction, never clipped.
The output bias starts at logit(score_bias / 100): an untrained head scores every frame
`score_bias`.

Per-patch scoring (`CPLLMBackbone(patch_scores=True)`,
`head(high_tokens, patch_features, patch_mask)` -> frame_scores, score, patch_logits):
the same MLP reads
concat(mean of the frame's high tokens, one patch's feature) for every patch
(`patch_logits`, float32[B, K, M]); the frame's logit is the masked mean of its patches'
logits (`masked_frame_scores`), so a frame scores lower whenever its patches do, and the
trainer can rank the same patch of two renditions of one source against each other.
"""
import math

import keras
from keras import ops

PACKAGE = "cpllm"


def score_logit(score):
    """The output logit giving ``score`` on the 0-100 scale: logit(score / 100).

    The score head's inverse: frame score = 100 * sigmoid(logit).
    """
    p = float(score) / 100.0
    if not 0.0 < p < 1.0:
        raise ValueError(f"score must lie strictly inside (0, 100), got {score}")
    return math.log(p / (1.0 - p))


@keras.saving.register_keras_serializable(package=PACKAGE)
class ScoreHead(keras.layers.Layer):
    """See the module docstring.

    Args:
        hidden_dim: width of the hidden ReLU layer.
        score_bias: initial score on the 0-100 scale, strictly inside (0, 100).
    """

    def __init__(self, hidden_dim=128, score_bias=50.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.score_bias = float(score_bias)
        self.hidden = keras.layers.Dense(
            self.hidden_dim, activation="relu", dtype=self.dtype_policy, name="hidden"
        )
        self.output_dense = keras.layers.Dense(
            1,
            bias_initializer=keras.initializers.Constant(score_logit(score_bias)),
            dtype=self.dtype_policy,
            name="output",
        )

    def build(self, high_tokens_shape, low_tokens_shape, patch_mask_shape=None):
        width = high_tokens_shape[-1] + low_tokens_shape[-1]
        self.hidden.build((None, None, width))
        self.output_dense.build((None, None, self.hidden_dim))
        self.built = True

    def frame_logits(self, high_tokens, low_tokens):
        """float[B, K, Nh, D], float[B, K, Nl, D] -> float32[B, K] output logits."""
        pooled = ops.concatenate(
            [ops.mean(high_tokens, axis=2), ops.mean(low_tokens, axis=2)], axis=-1
        )
        return ops.cast(self.output_dense(self.hidden(pooled))[..., 0], "float32")

    def patch_logits(self, high_tokens, patch_features):
        """float[B, K, Nh, D], float[B, K, M, D] -> float32[B, K, M] output logits."""
        context = ops.mean(high_tokens, axis=2, keepdims=True)  # [B, K, 1, D]
        context = context + ops.zeros_like(patch_features[..., :1])  # [B, K, M, D]
        pooled = ops.concatenate([context, patch_features], axis=-1)
        return ops.cast(self.output_dense(self.hidden(pooled))[..., 0], "float32")

    @staticmethod
    def masked_frame_scores(patch_logits, patch_mask):
        """float32[B, K, M] logits, float32[B, K, M] mask -> (frame_scores float32[B, K],
        score float32[B]): 100 * sigmoid(masked mean of the frame's patch logits)."""
        mask = ops.cast(patch_mask, "float32")
        logit = ops.sum(patch_logits * mask, axis=-1) / ops.maximum(
            ops.sum(mask, axis=-1), 1.0)
        frame_scores = 100.0 * ops.sigmoid(logit)
        return frame_scores, ops.mean(frame_scores, axis=-1)

    def call(self, high_tokens, low_tokens, patch_mask=None, logit_shift=None):
        """(high tokens, low tokens) -> (frame_scores, score); with `patch_mask`
        float32[B, K, M], `low_tokens` are per-patch features [B, K, M, D] and the
        result is (frame_scores, score, patch_logits float32[B, K, M]). `logit_shift`
        float32[B] is added to every logit of the video (`MotionShift`)."""
        if patch_mask is not None:
            logits = self.patch_logits(high_tokens, low_tokens)
            if logit_shift is not None:
                logits = logits + logit_shift[:, None, None]
            return (*self.masked_frame_scores(logits, patch_mask), logits)
        logits = self.frame_logits(high_tokens, low_tokens)
        if logit_shift is not None:
            logits = logits + logit_shift[:, None]
        frame_scores = 100.0 * ops.sigmoid(logits)
        return frame_scores, ops.mean(frame_scores, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim, "score_bias": self.score_bias})
        return config
