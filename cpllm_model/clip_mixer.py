"""ClipMixer: VideoPrism's temporal step over short patch clips, as a gated residual.

    mixer = ClipMixer(frames=T, num_heads=h, intermediate_dim=f, name="clip_mixer")
    tokens = mixer(spatial_tokens)
      spatial_tokens float[N * T, Nl, Dl] (VideoPrism's spatial encoder on every patch of
      N clips of T frames, clip-major) -> float[N, Nl, Dl]

Each clip is a grid cell cut from a key frame and from the T - 1 frames after it
(`frames.low_level_clips`). Per spatial token, a temporal position embedding and
keras-hub's VideoPrism temporal layers (`VideoPrismTemporalEmbedding`,
`VideoPrismEncoder`, as in `VideoPrismBackbone`, without the final norm) attend across
the T frames; the key frame's tokens come out as

    key + gate * (temporal(key, next frames)[key] - key),

gate float32[Dl], zeros at first: an added ClipMixer changes no score until trained, and a
trained one reads the same pixels whatever the spacing of the key frames (the frames of a
clip are always neighbours).

Why: the key frames are scored one by one, so nothing in the low-level path sees how a
patch changes from one frame to the next: whether it moves at all (x264 leaves a static
title much cleaner than a moving one at one CRF) and whether its fine detail changes as
camera noise does or stands still as compression leaves it. docs/TRAINING.md "Patch
clips".
"""
import keras
from keras import ops
from keras_hub.src.models.video_prism.video_prism_layers import (
    VideoPrismEncoder,
    VideoPrismTemporalEmbedding,
)

PACKAGE = "cpllm"


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClipMixer(keras.layers.Layer):
    """See the module docstring. frames: T >= 2; num_layers, num_heads,
    intermediate_dim, layer_norm_epsilon: the temporal encoder's (the low-level
    encoder's own, by default in `CPLLMBackbone`)."""

    def __init__(self, frames, num_heads, intermediate_dim, num_layers=1,
                 layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        if isinstance(frames, bool) or int(frames) != frames or int(frames) < 2:
            raise ValueError(f"ClipMixer needs frames >= 2, got {frames!r}")
        self.frames = int(frames)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.num_layers = int(num_layers)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.embedding = None
        self.encoder = None

    def build(self, input_shape):
        _, tokens, width = input_shape
        self.embedding = VideoPrismTemporalEmbedding(
            num_frames=self.frames, hidden_dim=width, dtype=self.dtype_policy,
            name="temporal_embedding")
        self.embedding.build(input_shape)
        self.encoder = VideoPrismEncoder(
            num_layers=self.num_layers, num_heads=self.num_heads, hidden_dim=width,
            intermediate_dim=self.intermediate_dim,
            layer_norm_epsilon=self.layer_norm_epsilon, use_final_layernorm=False,
            dtype=self.dtype_policy, name="temporal_encoder")
        self.encoder.build((None, self.frames, width))
        self.gate = self.add_weight(name="gate", shape=(width,), initializer="zeros",
                                    dtype="float32")
        self.built = True

    def call(self, x):
        t = self.frames
        tokens, width = x.shape[1], x.shape[2]
        y = self.encoder(self.embedding(x))                      # [N * Nl, T, Dl]
        y = ops.reshape(y, (-1, tokens, t, width))[:, :, 0]      # the key frame's
        key = ops.reshape(x, (-1, t, tokens, width))[:, 0]       # [N, Nl, Dl]
        return key + ops.cast(self.gate, x.dtype) * (y - key)

    def compute_output_shape(self, input_shape):
        n = None if input_shape[0] is None else input_shape[0] // self.frames
        return (n, input_shape[1], input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update({
            "frames": self.frames,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "num_layers": self.num_layers,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        })
        return config
