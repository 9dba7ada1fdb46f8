"""CPLLMBackbone: SigLIP + VideoPrism encoders, Gemma prefix-LM decoder, MLP score head.

Inputs (uint8 stays uint8 until inside the model):
    high_frames   uint8[B, K * Hf, S, S, 3] key frames (each followed by Hf - 1 frames) at S x S
    low_patches   uint8[B, K, M, P, P, 3]   M full-resolution P x P patches per key frame
    patch_mask    float32[B, K, M]          1.0 for real patches, 0.0 for padding cells
    token_ids     int32[B, T]               prompt (+ answer) tokens
    padding_mask  int32[B, T]               1 on real tokens
    response_mask int32[B, T]               1 on answer tokens (causal); 0 = prefix
Outputs (dict):
    sequence_output  float[B, V + T, D]  decoder states (V = K * (Nh + Nl) vision tokens)
    frame_scores     float32[B, K]       quality per key frame, in [0, 100] by construction
    score            float32[B]          mean of frame_scores (so also in [0, 100])

Per key frame: SigLIP tokens (Nh = (S / p_h)^2, width Dh) -> Dense(D); VideoPrism's
spatial encoder on each patch as a one-frame clip (Nl = (P / p_l)^2, width Dl) -> Dense(D)
-> masked mean over the M patches -> LayerNorm. The decoder prefix is
[high tokens of all K frames; low tokens of all K frames; prompt]. The score head is a
two-layer ReLU MLP on concat(mean of the frame's high tokens, mean of its low tokens),
bounded: frame_scores = 100 * sigmoid(logit), in float32 (`score_head.ScoreHead`, the
layer `score_head`).

Only VideoPrism's spatial path is used (its factorised encoder runs spatial layers per
frame, then temporal layers across frames: a patch fed as a one-frame clip gives the
temporal layers nothing to mix, and they were never trained on such clips); SigLIP's
MAP pooling head is unused. With `low_level_frames` T >= 2 (off in every shipped preset)
each patch slot group is a clip of a key frame and the frames after it, and `ClipMixer`
(instances of keras-hub's VideoPrism temporal layer classes, with weights of its own)
mixes each clip's frames after the spatial path, or, with `low_level_change`, the key
frame's cell alone is encoded and `PatchChange` adds the cell's luma change to the next
frame to its patch feature; the encoder's own temporal layers stay unused either way.
Both stay in the saved weights so that full keras-hub encoders round-trip unchanged.
"""
import keras
from keras import ops
from keras_hub.models import Backbone
from keras_hub.src.models.gemma.rms_normalization import RMSNormalization
from keras_hub.src.models.pali_gemma.pali_gemma_decoder_block import (
    PaliGemmaDecoderBlock,
)

from cpllm_model.clip_mixer import ClipMixer
from cpllm_model.compression_statistics import CompressionStatistics
from cpllm_model.frames import LUMA, clip_length, high_level_frames_check
from cpllm_model.motion_shift import MotionShift
from cpllm_model.patch_change import PatchChange
from cpllm_model.score_head import ScoreHead

PACKAGE = "cpllm"
VISION_KEYS = ("high_frames", "low_patches", "patch_mask")
SIGLIP_SCALE, SIGLIP_OFFSET = 1.0 / 127.5, -1.0  # SigLIP expects pixels in [-1, 1]
VIDEOPRISM_SCALE, VIDEOPRISM_OFFSET = 1.0 / 255.0, 0.0  # VideoPrism expects [0, 1]


def _serialize(layer):
    return keras.layers.serialize(layer)


def _deserialize(obj):
    return keras.layers.deserialize(obj) if isinstance(obj, dict) else obj


# (rotations by 90 degrees counter-clockwise, mirror left-right after the rotation)
DIHEDRAL_VIEWS = tuple((k, mirror) for mirror in (False, True) for k in range(4))


def dihedral_views(low_patches, patch_mask, views):
    """The first `views` of DIHEDRAL_VIEWS of every patch, as more patches.

    uint8[B, K, M, P, P, 3], float32[B, K, M] -> uint8[B, K, M * V, P, P, 3],
    float32[B, K, M * V] (view-major along the patch axis; masks repeated).
    """
    h, w = 3, 4  # the patch's row and column axes
    out = []
    for k, mirror in DIHEDRAL_VIEWS[:views]:
        x = low_patches
        for _ in range(k):  # np.rot90(x, 1, axes=(h, w)) = flip(swapaxes(x, h, w), h)
            x = ops.flip(ops.swapaxes(x, h, w), axis=h)
        out.append(ops.flip(x, axis=w) if mirror else x)
    return ops.concatenate(out, axis=2), ops.concatenate([patch_mask] * views, axis=2)


def _masked_patch_mean(x, patch_mask):
    """Mean over the real patches: float[B, K, M, ...], float32[B, K, M] -> [B, K, ...]
    (a frame with no real patch gives 0)."""
    mask = ops.cast(patch_mask, x.dtype)
    for _ in range(len(x.shape) - 3):
        mask = mask[..., None]
    count = ops.maximum(ops.sum(mask, axis=2), ops.cast(1.0, x.dtype))
    return ops.sum(x * mask, axis=2) / count


class ScoreMember(keras.layers.Layer):
    """One of `CPLLMBackbone.score_members`: a trained score-only backbone's score path run
    as a single layer, so that its layers stay out of the owner's functional graph.

    (uint8[B, K * Hf, S, S, 3], uint8[B, K, M, P, P, 3], float32[B, K, M]) -> frame_scores
    float32[B, K] (`CPLLMBackbone.score_videos` of `backbone`).
    """

    def __init__(self, backbone, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.built = True

    def call(self, high_frames, low_patches, patch_mask):
        return self.backbone.score_videos(high_frames, low_patches, patch_mask)[0]

    def compute_output_spec(self, high_frames, low_patches, patch_mask):
        return keras.KerasTensor(tuple(patch_mask.shape[:2]), dtype="float32")


@keras.saving.register_keras_serializable(package=PACKAGE)
class CPLLMBackbone(Backbone):
    """CP-LLM network (see module docstring for inputs and outputs).

    Args:
        high_level_encoder: a keras-hub `SigLIPVisionEncoder` (image_shape (S, S, 3)).
        low_level_encoder: a keras-hub `VideoPrismBackbone` in video-only mode
            (image_shape (P, P, 3); only its spatial path runs).
        vocabulary_size, num_layers, num_query_heads, num_key_value_heads, hidden_dim,
        intermediate_dim, head_dim, query_head_dim_normalize, use_post_ffw_norm,
        use_post_attention_norm, attention_logit_soft_cap, final_logit_soft_cap,
        use_sliding_window_attention, sliding_window_size, layer_norm_epsilon, dropout:
            the Gemma decoder, as in keras-hub's `GemmaBackbone` / `PaliGemmaBackbone`.
        num_keyframes: int K. max_patches: int M.
        head_hidden_dim: width of the score MLP's hidden layer.
        score_bias: initial score on the 0-100 scale (every frame scores this before
            training): the output Dense's bias starts at logit(score_bias / 100), so the
            default 50 gives bias 0. Must lie strictly inside (0, 100).
        low_level_detail_gain: 0 (default) feeds VideoPrism raw [0, 1] pixels; g > 0
            feeds it the detail layer g * (x - 3x3 mean) (`detail_layer`), for a
            low-level encoder trained from scratch.
        low_level_contrast_norm: with a detail gain g > 0, feed VideoPrism the luma's
            contrast-normalised detail layer instead (`normalized_detail_layer`, three
            channels: d / (sigma + c), g * d and log local contrast), so that a texture
            and its low-contrast copy look alike and what compression removes (small
            detail, flat blocks in textured areas) stands out (cpllm_tiny).
        low_level_statistics: also measure every patch with `CompressionStatistics`
            (fixed, weight-free statistics of detail per octave, flat runs, sparsity
            and block-boundary steps, standardised), average them over the patches
            like the VideoPrism tokens, project them to D (`statistics_projection`) and
            add them to each of the frame's low tokens: the score head and the decoder
            both read them (cpllm_tiny).
        low_level_views: V in 1..8. Each patch is also read in its first V dihedral
            views (`DIHEDRAL_VIEWS`: the four rotations, then their mirrors) and the
            low-level features are the masked mean over all M x V of them: compression
            artifacts have no orientation, so the extra views only lower the variance of
            that mean (as more patches do) without new pixels, and with V = 8 (4) the
            score is invariant to rotating or mirroring (rotating) the frames.
        patch_scores: score every patch (and view) with the score head, reading
            concat(mean high token, the patch's own feature), and take a frame's logit as
            the masked mean of its patches' logits (`ScoreHead.patch_logits`), instead of
            scoring the patch-averaged low tokens. The head's weights have the same
            shapes either way. The trainer then also ranks the same patch of two
            renditions of a source (`trainer.losses.patch_ranking_loss`).
        motion_input: add a trained shift of every score logit of a video from how much
            its frames differ (`MotionShift`, 0 until trained): consecutive key frames
            when `high_level_frames` is 1, each key frame and the frame after it when 2.
        high_level_frames: Hf, frames per key frame in `high_frames`
            (uint8[B, K * Hf, S, S, 3], key-major; the preprocessor's
            `high_level_frames` must be the same). The SigLIP path reads the key frames
            alone; the rest are there for `MotionShift`, whose frame pairs are then one
            frame apart whatever the video's length. No weights depend on it.
        low_level_frames: T. 1: every patch slot is one key frame's patch. T >= 2: the
            M slots hold M / T clips, each a grid cell of a key frame and of the T - 1
            frames after it (slot c * T + j, `frames.low_level_clips`; the preprocessor's
            `low_level_frames` must be the same), and `ClipMixer` (VideoPrism's temporal
            layers as a gated residual, a no-op until trained) turns each clip into its
            key frame's tokens: the low-level path then sees how each patch changes from
            one frame to the next. Low-level features, patch features and patch logits
            are per clip (M * V / T of them).
        low_level_change: with T = 2 and `patch_scores`, read each clip differently:
            VideoPrism encodes the key frame's cell alone (no `ClipMixer`), and the
            cell's mean luma change to the frame after it (`PatchChange`, zero until
            trained) is added to the cell's patch feature: whether its fine detail moves
            as noise does or stands still where compression copied the block, at the
            cost of a subtraction per cell rather than a second VideoPrism pass.
        score_members: other trained score paths (score-only `CPLLMBackbone`s, or their
            configs, `include_decoder=False`, same K, S and P) whose scores are averaged
            with this one's: frame_scores = mean over the 1 + E score paths of their frame
            scores (so still in [0, 100]). Independently trained score paths err
            differently; their mean flips a ladder's order less often than any one of them
            (BENCHMARKS.md). Members never train (`trainable=False`), read the same inputs
            with their own preprocessing weights, follow `set_low_level_views`, and do not
            feed the decoder: the vision tokens are this backbone's own. Built by
            `trainer.ensemble`.
        score_own_path: False leaves this backbone's own score path out of the mean:
            frame_scores = mean over the E `score_members` alone. The network is kept
            whole (its vision tokens still feed the decoder, its head still gives
            "patch_logits"), but `score_videos` does not run it. For a primary whose
            decoder answers well but whose own score path is weaker than other runs'.
            Needs at least one member.
        include_decoder: False builds the vision encoders and the score head only (no
            token inputs, no `sequence_output`): what scoring reads, without the decoder
            that holds most of a large preset's parameters (issue 14 item 11). The saved
            weights of a full preset load into it (the decoder's are left unread).
        dtype: dtype policy of the whole network.
    """

    def __init__(
        self,
        high_level_encoder,
        low_level_encoder,
        vocabulary_size,
        num_layers,
        num_query_heads,
        num_key_value_heads,
        hidden_dim,
        intermediate_dim,
        head_dim,
        num_keyframes=8,
        max_patches=4,
        head_hidden_dim=128,
        score_bias=50.0,
        low_level_detail_gain=0.0,
        low_level_contrast_norm=False,
        low_level_views=1,
        low_level_statistics=False,
        patch_scores=False,
        motion_input=False,
        low_level_frames=1,
        high_level_frames=1,
        low_level_change=False,
        score_members=None,
        score_own_path=True,
        include_decoder=True,
        query_head_dim_normalize=True,
        use_post_ffw_norm=False,
        use_post_attention_norm=False,
        attention_logit_soft_cap=None,
        final_logit_soft_cap=None,
        use_sliding_window_attention=False,
        sliding_window_size=4096,
        layer_norm_epsilon=1e-6,
        dropout=0,
        dtype=None,
        **kwargs,
    ):
        high_level_encoder = _deserialize(high_level_encoder)
        low_level_encoder = _deserialize(low_level_encoder)
        # === Layers ===
        self.high_level_encoder = high_level_encoder
        self.low_level_encoder = low_level_encoder
        self.high_level_rescaling = keras.layers.Rescaling(
            SIGLIP_SCALE, SIGLIP_OFFSET, dtype=dtype, name="high_level_rescaling"
        )
        self.low_level_rescaling = keras.layers.Rescaling(
            VIDEOPRISM_SCALE, VIDEOPRISM_OFFSET, dtype=dtype, name="low_level_rescaling"
        )
        self.high_level_projection = keras.layers.Dense(
            hidden_dim, dtype=dtype, name="high_level_projection"
        )
        self.low_level_projection = keras.layers.Dense(
            hidden_dim, dtype=dtype, name="low_level_projection"
        )
        self.low_level_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=dtype, name="low_level_norm"
        )
        self.low_level_statistics = bool(low_level_statistics)
        self.patch_scores = bool(patch_scores)
        self.compression_statistics = self.statistics_projection = None
        if self.low_level_statistics:
            self.compression_statistics = CompressionStatistics(
                dtype=dtype, name="compression_statistics")
            self.statistics_projection = keras.layers.Dense(
                hidden_dim, dtype=dtype, name="statistics_projection")
        self.score_head = ScoreHead(
            head_hidden_dim, score_bias, dtype=dtype, name="score_head"
        )
        self.high_level_frames = high_level_frames_check(high_level_frames)
        self.motion_input = bool(motion_input)
        self.motion_shift = MotionShift(
            frames_per_key=self.high_level_frames,
            name="motion_shift") if self.motion_input else None
        self.low_level_frames = clip_length(low_level_frames, max_patches)
        self.low_level_change = bool(low_level_change)
        if self.low_level_change and (self.low_level_frames != 2 or not self.patch_scores):
            raise ValueError(
                "low_level_change=True needs low_level_frames=2 (each cell with the same "
                "cell of the frame after it) and patch_scores=True (the change enters each "
                f"cell's own feature), got low_level_frames={low_level_frames!r}, "
                f"patch_scores={patch_scores!r}")
        self.clip_mixer = self.patch_change = None
        if self.low_level_change:
            self.patch_change = PatchChange(hidden_dim, dtype=dtype, name="patch_change")
        elif self.low_level_frames > 1:
            enc_config = low_level_encoder.get_config()
            self.clip_mixer = ClipMixer(
                frames=self.low_level_frames, num_heads=enc_config["num_heads"],
                intermediate_dim=enc_config["intermediate_dim"],
                num_layers=max(1, int(enc_config.get("num_temporal_layers") or 1)),
                layer_norm_epsilon=enc_config.get("layer_norm_epsilon", 1e-6),
                dtype=dtype, name="clip_mixer")
        self.score_members = [
            ScoreMember(_deserialize(m), dtype=dtype, name=f"score_member_{i}")
            for i, m in enumerate(score_members or [])]
        for member in self.score_members:
            member.trainable = False
        self.score_own_path = bool(score_own_path)
        self.include_decoder = bool(include_decoder)
        self.token_embedding, self.transformer_layers, self.layer_norm = None, [], None
        if self.include_decoder:
            self.token_embedding = keras.layers.ReversibleEmbedding(
                input_dim=vocabulary_size,
                output_dim=hidden_dim,
                tie_weights=True,
                embeddings_initializer=keras.initializers.VarianceScaling(
                    scale=1.0, mode="fan_in", distribution="untruncated_normal"
                ),
                logit_soft_cap=final_logit_soft_cap,
                dtype=dtype,
                name="token_embedding",
            )
            self.transformer_layers = []
            for i in range(num_layers):
                self.transformer_layers.append(
                    PaliGemmaDecoderBlock(
                        hidden_dim=hidden_dim,
                        intermediate_dim=intermediate_dim,
                        head_dim=head_dim,
                        num_query_heads=num_query_heads,
                        num_key_value_heads=num_key_value_heads,
                        query_head_dim_normalize=query_head_dim_normalize,
                        use_post_ffw_norm=use_post_ffw_norm,
                        use_post_attention_norm=use_post_attention_norm,
                        logit_soft_cap=attention_logit_soft_cap,
                        use_sliding_window_attention=(
                            use_sliding_window_attention and i % 2 == 0
                        ),
                        sliding_window_size=sliding_window_size,
                        dropout=dropout,
                        dtype=dtype,
                        name=f"decoder_block_{i}",
                    )
                )
            self.layer_norm = RMSNormalization(
                epsilon=layer_norm_epsilon, dtype=dtype, name="final_normalization"
            )

        # === Geometry (needed by the methods the functional graph calls) ===
        self.low_level_detail_gain = float(low_level_detail_gain)
        self.low_level_contrast_norm = bool(low_level_contrast_norm)
        if self.low_level_contrast_norm and not self.low_level_detail_gain:
            raise ValueError(
                "low_level_contrast_norm=True needs low_level_detail_gain > 0 (it "
                "normalises the detail layer; raw pixels have none)."
            )
        self.set_low_level_views(low_level_views)
        self.num_keyframes = num_keyframes
        self.max_patches = max_patches
        self.image_size = int(high_level_encoder.image_shape[0])
        self.patch_size = int(low_level_encoder.image_shape[0])
        self.hidden_dim = hidden_dim
        self.num_high_tokens = (self.image_size // high_level_encoder.patch_size) ** 2
        self.num_low_tokens = (self.patch_size // low_level_encoder.patch_size) ** 2
        self._check_score_members()

        # === Functional model ===
        k, s, m, p = num_keyframes, self.image_size, max_patches, self.patch_size
        inputs = {
            "high_frames": keras.Input((k * self.high_level_frames, s, s, 3), dtype="uint8",
                                       name="high_frames"),
            "low_patches": keras.Input((k, m, p, p, 3), dtype="uint8", name="low_patches"),
            "patch_mask": keras.Input((k, m), dtype="float32", name="patch_mask"),
        }
        vision = self.vision_outputs(
            inputs["high_frames"], inputs["low_patches"], inputs["patch_mask"]
        )
        high, low = vision["high"], vision["low"]
        outputs = {key: vision[key] for key in ("frame_scores", "score", "own_frame_scores")
                   if key in vision}  # own_frame_scores keeps the own path in the graph
        if self.include_decoder:
            inputs.update(
                token_ids=keras.Input((None,), dtype="int32", name="token_ids"),
                padding_mask=keras.Input((None,), dtype="int32", name="padding_mask"),
                response_mask=keras.Input((None,), dtype="int32", name="response_mask"),
            )
            outputs["sequence_output"] = self.decode(
                self.vision_sequence(high, low),
                inputs["token_ids"],
                inputs["padding_mask"],
                inputs["response_mask"],
            )
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.intermediate_dim = intermediate_dim
        self.head_dim = head_dim
        self.head_hidden_dim = head_hidden_dim
        self.score_bias = score_bias
        self.query_head_dim_normalize = query_head_dim_normalize
        self.use_post_ffw_norm = use_post_ffw_norm
        self.use_post_attention_norm = use_post_attention_norm
        self.attention_logit_soft_cap = attention_logit_soft_cap
        self.final_logit_soft_cap = final_logit_soft_cap
        self.use_sliding_window_attention = use_sliding_window_attention
        self.sliding_window_size = sliding_window_size
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dropout = dropout
        self.image_sequence_length = num_keyframes * (
            self.num_high_tokens + self.num_low_tokens
        )

    # ----------------------------------------------------------------- vision
    def _frames(self, x):
        """K of a [B, K, ...] input: its own (static) K, so that any number of key frames
        scores (frame scores are per frame); the preset's K in the symbolic graph."""
        k = x.shape[1]
        return self.num_keyframes if k is None else int(k)

    def _patches(self, low_patches):
        """M of a [B, K, M, P, P, 3] input: the low-level features are a masked mean over
        patches, so more patches than trained on only average more of the frame."""
        m = low_patches.shape[2]
        return self.max_patches if m is None else int(m)

    def encode_high(self, high_frames):
        """uint8[B, K * Hf, S, S, 3] -> projected SigLIP tokens of the K key frames
        [B, K, Nh, D] (Hf = `high_level_frames`)."""
        enc = self.high_level_encoder
        s = self.image_size
        if self.high_level_frames > 1:
            high_frames = high_frames[:, ::self.high_level_frames]
        x = self.high_level_rescaling(ops.reshape(high_frames, (-1, s, s, 3)))
        x = enc.embedding(x)
        for block in enc.encoder_layers:
            x = block(x)
        x = enc.post_layer_norm(x)
        x = self.high_level_projection(x)
        return ops.reshape(
            x, (-1, self._frames(high_frames), self.num_high_tokens, self.hidden_dim)
        )

    def encode_low(self, low_patches, patch_mask):
        """uint8[B, K, M, P, P, 3], float32[B, K, M] -> low tokens [B, K, Nl, D]."""
        return self.encode_low_patches(low_patches, patch_mask)[0]

    def encode_low_patches(self, low_patches, patch_mask):
        """The low tokens and, per patch (and view), the patches' own features.

        uint8[B, K, M, P, P, 3], float32[B, K, M] -> (low tokens [B, K, Nl, D],
        patch features [B, K, M * V / T, D], their mask float32[B, K, M * V / T]). A
        patch's feature is the mean over its Nl tokens of `low_level_norm` of its
        projected tokens (with one real patch in a frame it equals the frame's pooled low
        tokens); with clips (T = `low_level_frames` > 1) a patch is a clip, read as its
        key frame's tokens after `ClipMixer`.
        """
        enc = self.low_level_encoder
        p, t = self.patch_size, self.low_level_frames
        frames = self._frames(low_patches)
        change = None
        if self.low_level_change:  # the key frames' cells alone go through VideoPrism
            change = self.patch_change(low_patches)  # [B, K, M / T, D]
            low_patches, patch_mask, t = low_patches[:, :, ::t], patch_mask[:, :, ::t], 1
        statistics = None
        if self.low_level_statistics:
            # Measured on the patches as cut, before the dihedral views: the statistics
            # do not depend on a patch's orientation, so the views would only repeat them.
            # Of a clip, its key frame's patch.
            layer = self.compression_statistics
            keys, key_mask = low_patches[:, :, ::t], patch_mask[:, :, ::t]
            statistics = layer(self.low_level_rescaling(ops.reshape(keys, (-1, p, p, 3))))
            statistics = ops.reshape(statistics, (-1, frames, self._patches(low_patches) // t,
                                                  layer.num_features))
            statistics = _masked_patch_mean(statistics, key_mask)  # [B, K, F]
        if self.low_level_views > 1:
            low_patches, patch_mask = dihedral_views(low_patches, patch_mask,
                                                     self.low_level_views)
        x = self.low_level_rescaling(ops.reshape(low_patches, (-1, p, p, 3)))
        if self.low_level_contrast_norm:
            x = self.normalized_detail_layer(x)
        elif self.low_level_detail_gain:
            x = self.detail_layer(x)
        x = enc.spatial_embedding(x)
        x = enc.spatial_encoder(x)
        if t > 1:  # [B * K * M * V, Nl, Dl] -> per clip [B * K * M * V / T, Nl, Dl]
            x = self.clip_mixer(x)
            patch_mask = patch_mask[:, :, ::t]
        x = self.low_level_projection(x)
        x = ops.reshape(
            x, (-1, frames, self._patches(low_patches) // t, self.num_low_tokens,
                self.hidden_dim))
        patch_features = None
        if self.patch_scores:
            patch_features = ops.mean(self.low_level_norm(x), axis=3)  # [B, K, MV, D]
            if change is not None:  # a cell's change is the same in each of its views
                patch_features = patch_features + ops.concatenate(
                    [change] * self.low_level_views, axis=2)
        low = self.low_level_norm(_masked_patch_mean(x, patch_mask))
        if statistics is not None:
            statistics = self.statistics_projection(ops.cast(statistics, low.dtype))
            low = low + statistics[:, :, None, :]
        return low, patch_features, patch_mask

    def detail_layer(self, x):
        """Detail layer of [0, 1] patches [N, P, P, 3]: gain * (x - 3x3 local mean).

        A from-scratch encoder sees blocking, ringing and lost texture far sooner in
        this high-pass view than in raw pixels, whose 8x8 mean colour dominates every
        patch embedding (and invites memorising content). Fixed, no weights; off
        (gain 0) for pretrained VideoPrism, which expects raw [0, 1] pixels.
        """
        mean = ops.average_pool(x, pool_size=3, strides=1, padding="same")
        return self.low_level_detail_gain * (x - mean)

    def normalized_detail_layer(self, x):
        """Contrast-normalised luma detail of [0, 1] patches [N, P, P, 3] -> [N, P, P, 3].

        With Y the BT.709 luma (VMAF reads luma only), d = Y - 3x3 mean of Y and
        sigma = sqrt(5x5 mean of d^2), the channels are d / (sigma + c) (in the spirit
        of BRISQUE's MSCN coefficients: the same texture at any contrast looks alike),
        g * d (the absolute detail the first channel divides away) and
        log(1 + sigma / c) / 4 (how textured the neighbourhood is; ~0 where compression
        left a flat block). c = 2/255, two code values. Fixed, no weights.
        """
        c = 2.0 / 255.0
        luma = (LUMA[0] * x[..., 0:1] + LUMA[1] * x[..., 1:2] + LUMA[2] * x[..., 2:3])
        d = luma - ops.average_pool(luma, pool_size=3, strides=1, padding="same")
        sigma = ops.sqrt(ops.average_pool(d * d, pool_size=5, strides=1, padding="same"))
        return ops.concatenate(
            [d / (sigma + c), self.low_level_detail_gain * d,
             ops.log1p(sigma / c) / 4.0],
            axis=-1,
        )

    def set_low_level_views(self, views):
        """Sets V (`low_level_views`) here and on every score member: a scoring choice, no
        weights change. Functions traced before keep the V they saw: on a task, call
        `CPLLM.set_low_level_views`, which also drops its compiled functions."""
        if isinstance(views, bool) or int(views) != views or not (
                1 <= int(views) <= len(DIHEDRAL_VIEWS)):
            raise ValueError(f"low_level_views must be in 1..{len(DIHEDRAL_VIEWS)}, got "
                             f"{views!r}")
        self.low_level_views = int(views)
        for member in self.score_members:
            member.backbone.set_low_level_views(views)

    def _check_score_members(self):
        if not self.score_own_path and not self.score_members:
            raise ValueError("score_own_path=False needs score_members: without its own "
                             "score path and without members nothing would score")
        for i, member in enumerate(m.backbone for m in self.score_members):
            if not isinstance(member, CPLLMBackbone):
                raise ValueError(f"score_members[{i}] must be a CPLLMBackbone, got "
                                 f"{type(member).__name__}")
            if member.include_decoder or member.score_members:
                raise ValueError(f"score_members[{i}] must be a score-only backbone "
                                 "(include_decoder=False) without members of its own")
            mine = (self.num_keyframes, self.image_size, self.patch_size,
                    self.low_level_frames, self.high_level_frames)
            theirs = (member.num_keyframes, member.image_size, member.patch_size,
                      member.low_level_frames, member.high_level_frames)
            if mine != theirs:
                raise ValueError(f"score_members[{i}] reads (K, S, P, T, Hf) = {theirs}, this "
                                 f"backbone {mine}: members must read the same inputs")

    def encode_vision(self, high_frames, low_patches, patch_mask):
        """Returns (high tokens [B, K, Nh, D], low tokens [B, K, Nl, D])."""
        return self.encode_high(high_frames), self.encode_low(low_patches, patch_mask)

    def vision_outputs(self, high_frames, low_patches, patch_mask):
        """Tokens and scores in one pass: uint8[B, K * Hf, S, S, 3], uint8[B, K, M, P, P, 3],
        float32[B, K, M] -> {"high": [B, K, Nh, D], "low": [B, K, Nl, D],
        "frame_scores": float32[B, K], "score": float32[B]}, plus with `patch_scores`
        "patch_logits" float32[B, K, M * V / T] and "patch_logit_mask" of the same shape
        (view-major, `dihedral_views`; per clip when T = `low_level_frames` > 1), and with `score_own_path` False
        "own_frame_scores" float32[B, K] (this backbone's own path, not in the mean)."""
        high = self.encode_high(high_frames)
        low, features, mask = self.encode_low_patches(low_patches, patch_mask)
        out = {"high": high, "low": low}
        shift = self.motion_shift(high_frames) if self.motion_input else None
        if self.patch_scores:
            out["frame_scores"], out["score"], out["patch_logits"] = self.score_head(
                high, features, mask, logit_shift=shift)
            out["patch_logit_mask"] = mask
        else:
            out["frame_scores"], out["score"] = self.score_head(high, low,
                                                                logit_shift=shift)
        if self.score_members:
            if not self.score_own_path:
                out["own_frame_scores"] = out["frame_scores"]
            out["frame_scores"], out["score"] = self._mean_of_paths(
                out["frame_scores"], high_frames, low_patches, patch_mask)
        return out

    def _mean_of_paths(self, own_frame_scores, high_frames, low_patches, patch_mask):
        """(frame_scores, score) averaged over the counted score paths: the members,
        after this backbone's own unless `score_own_path` is False (own_frame_scores
        may then be None)."""
        frame_scores = [own_frame_scores] if self.score_own_path else []
        frame_scores += [member(high_frames, low_patches, patch_mask)
                         for member in self.score_members]
        frame_scores = ops.mean(ops.stack(frame_scores, axis=0), axis=0)
        return frame_scores, ops.mean(frame_scores, axis=-1)

    def score_videos(self, high_frames, low_patches, patch_mask):
        """The score path alone, the one every caller uses (task, trainer, tests):
        uint8[B, K * Hf, S, S, 3], uint8[B, K, M, P, P, 3], float32[B, K, M] ->
        (frame_scores float32[B, K], score float32[B]); the decoder never runs, nor
        this backbone's own encoders when `score_own_path` is False."""
        if not self.score_own_path:
            return self._mean_of_paths(None, high_frames, low_patches, patch_mask)
        out = self.vision_outputs(high_frames, low_patches, patch_mask)
        return out["frame_scores"], out["score"]

    def vision_sequence(self, high_tokens, low_tokens):
        """[high tokens of all K frames; low tokens of all K frames] -> [B, V, D]."""
        d, k = self.hidden_dim, self._frames(high_tokens)
        return ops.concatenate(
            [ops.reshape(high_tokens, (-1, k * self.num_high_tokens, d)),
             ops.reshape(low_tokens, (-1, k * self.num_low_tokens, d))],
            axis=1,
        )

    # ---------------------------------------------------------------- decoder
    def require_decoder(self, what):
        """Raises a clear error when a score-only backbone is asked to `what`."""
        if not self.include_decoder:
            raise ValueError(
                f"{what} needs the language decoder, but this model was loaded score-only "
                "(include_decoder=False, e.g. CPLLM.from_preset(..., score_only=True)); "
                "load it without score_only to describe or compare."
            )

    def embed_tokens(self, token_ids):
        self.require_decoder("Decoding text")
        x = self.token_embedding(token_ids)
        return x * ops.cast(ops.sqrt(self.hidden_dim), x.dtype)

    def decode(self, vision_embeddings, token_ids, padding_mask, response_mask=None):
        """Prefix-LM decoder over [vision; text] -> final-normed states [B, V + T, D]."""
        text = self.embed_tokens(token_ids)
        x = ops.concatenate([ops.cast(vision_embeddings, text.dtype), text], axis=1)
        for block in self.transformer_layers:
            x = block(x, padding_mask=padding_mask, response_mask=response_mask)
        return self.layer_norm(x)

    def logits(self, hidden_states):
        return self.token_embedding(hidden_states, reverse=True)

    # ------------------------------------------------------------- weight sets
    def decoder_layers(self):
        """The Gemma decoder's layers ([] for a score-only backbone)."""
        if not self.include_decoder:
            return []
        return [self.token_embedding, *self.transformer_layers, self.layer_norm]

    def scoring_layers(self, include_members=True):
        """Layers whose weights `score` reads (encoders, projections, head; then the
        `score_members` unless include_members=False: this run's own score path; the
        members alone when `score_own_path` is False and include_members is True)."""
        if include_members and not self.score_own_path:
            return list(self.score_members)
        layers = [
            self.high_level_encoder, self.low_level_encoder, self.high_level_projection,
            self.low_level_projection, self.low_level_norm, self.score_head,
        ]
        if self.low_level_statistics:
            layers += [self.compression_statistics, self.statistics_projection]
        if self.motion_input:
            layers.append(self.motion_shift)
        if self.clip_mixer is not None:
            layers.append(self.clip_mixer)
        if self.patch_change is not None:
            layers.append(self.patch_change)
        return layers + list(self.score_members) if include_members else layers

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        dtype = config.get("dtype")
        # Serialized sub-models (keras-hub encoders, score members) keep their own saved
        # dtype unless told otherwise.
        if dtype is not None:
            def with_dtype(sub):
                return {**sub, "config": {**sub["config"], "dtype": dtype}} if isinstance(
                    sub, dict) else sub

            for key in ("high_level_encoder", "low_level_encoder"):
                config[key] = with_dtype(config.get(key))
            config["score_members"] = [with_dtype(m) for m in config.get("score_members") or []]
        return super().from_config(config)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "high_level_encoder": _serialize(self.high_level_encoder),
                "low_level_encoder": _serialize(self.low_level_encoder),
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_query_heads": self.num_query_heads,
                "num_key_value_heads": self.num_key_value_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "head_dim": self.head_dim,
                "num_keyframes": self.num_keyframes,
                "max_patches": self.max_patches,
                "head_hidden_dim": self.head_hidden_dim,
                "score_bias": self.score_bias,
                "low_level_detail_gain": self.low_level_detail_gain,
                "low_level_contrast_norm": self.low_level_contrast_norm,
                "low_level_views": self.low_level_views,
                "low_level_statistics": self.low_level_statistics,
                "patch_scores": self.patch_scores,
                "motion_input": self.motion_input,
                "low_level_frames": self.low_level_frames,
                "high_level_frames": self.high_level_frames,
                "low_level_change": self.low_level_change,
                "score_members": [_serialize(m.backbone) for m in self.score_members],
                "score_own_path": self.score_own_path,
                "include_decoder": self.include_decoder,
                "query_head_dim_normalize": self.query_head_dim_normalize,
                "use_post_ffw_norm": self.use_post_ffw_norm,
                "use_post_attention_norm": self.use_post_attention_norm,
                "attention_logit_soft_cap": self.attention_logit_soft_cap,
                "final_logit_soft_cap": self.final_logit_soft_cap,
                "use_sliding_window_attention": self.use_sliding_window_attention,
                "sliding_window_size": self.sliding_window_size,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "dropout": self.dropout,
            }
        )
        return config
