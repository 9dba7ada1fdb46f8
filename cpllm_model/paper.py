"""`cpllm_paper`: CP-LLM assembled from keras-hub presets (SigLIP, VideoPrism, Gemma).

    model = assemble("siglip_so400m_patch14_224", "videoprism_public_v1_base",
                     "gemma_2b_en")           # or local / gs:// preset directories
    model = CPLLM.from_preset("cpllm_paper")  # the same, with these defaults

The three arguments are keras-hub preset handles or directories (or already-built
keras-hub models). SigLIP may be a `SigLIPBackbone` (its vision tower is taken) or a
`SigLIPVisionEncoder`; VideoPrism a `VideoPrismBackbone` (only its spatial path runs, so
any `num_frames` works); Gemma a `GemmaBackbone` whose embedding, decoder blocks and final
norm are copied into CP-LLM's prefix-LM blocks (`PaliGemmaDecoderBlock` has exactly
Gemma's weights), with its tokenizer. The projections, low-level LayerNorm and score head
start untrained.

Defaults the paper text lost (our choices, also in trainer/configs/cpllm_paper.py): K = 8 key frames, S = the
SigLIP preset's size (224), P = the VideoPrism preset's size (288), M = 8.
Low-level patches are cut at the frame's native resolution (frames longer than
`low_level_max_side` = 3840 are downscaled to it): a 1080p frame has a 3 x 6 grid of
288-pixel cells, of which M = 8 spread over it (2 x 4) are used.
"""
import keras
import numpy as np
from keras_hub.models import (
    Backbone,
    GemmaBackbone,
    GemmaTokenizer,
    SigLIPBackbone,
    SigLIPVisionEncoder,
    VideoPrismBackbone,
)

from cpllm_model import preset_registry
from cpllm_model.backbone import CPLLMBackbone
from cpllm_model.cpllm import CPLLM
from cpllm_model.preprocessor import CPLLMPreprocessor, CPLLMTokenizer

SIGLIP_PRESET = "siglip_so400m_patch14_224"
VIDEOPRISM_PRESET = "videoprism_public_v1_base"
GEMMA_PRESET = "gemma_2b_en"

# Architectures of the presets above (for building without weights, e.g. benchmarks).
SIGLIP_SO400M_224 = dict(patch_size=14, hidden_dim=1152, num_layers=27, num_heads=16,
                         intermediate_dim=4304, image_shape=(224, 224, 3))
VIDEOPRISM_B = dict(num_frames=16, patch_size=18, hidden_dim=768, intermediate_dim=3072,
                    num_heads=12, num_spatial_layers=12, num_temporal_layers=4,
                    num_auxiliary_layers=0, image_shape=(288, 288, 3))
GEMMA_2B = dict(vocabulary_size=256000, num_layers=18, num_query_heads=8,
                num_key_value_heads=1, hidden_dim=2048, intermediate_dim=32768,
                head_dim=256)
GEMMA_DECODER_KEYS = (
    "query_head_dim_normalize", "use_post_ffw_norm", "use_post_attention_norm",
    "attention_logit_soft_cap", "final_logit_soft_cap", "use_sliding_window_attention",
    "sliding_window_size", "layer_norm_epsilon",
)


def _load(preset, load_weights, dtype):
    if isinstance(preset, keras.Model):
        return preset
    return Backbone.from_preset(preset, load_weights=load_weights, dtype=dtype)


def _siglip_vision(preset, load_weights, dtype):
    model = _load(preset, load_weights, dtype)
    if isinstance(model, SigLIPBackbone):
        model = model.vision_encoder
    if not isinstance(model, SigLIPVisionEncoder):
        raise TypeError(f"{preset!r} is not a SigLIP preset (got {type(model).__name__})")
    return model


def assemble(
    siglip=SIGLIP_PRESET,
    videoprism=VIDEOPRISM_PRESET,
    gemma=GEMMA_PRESET,
    *,
    load_weights=True,
    num_keyframes=8,
    low_level_max_side=3840,
    max_patches=8,
    head_hidden_dim=1024,
    sequence_length=256,
    dtype=None,
):
    """Builds a `CPLLM` from three keras-hub presets (handles, directories or models)."""
    high = _siglip_vision(siglip, load_weights, dtype)
    low = _load(videoprism, load_weights, dtype)
    if not isinstance(low, VideoPrismBackbone):
        raise TypeError(f"{videoprism!r} is not a VideoPrism preset")
    if isinstance(gemma, keras.Model):
        gemma_model, tokenizer = gemma, None
    else:
        gemma_model = GemmaBackbone.from_preset(gemma, load_weights=load_weights,
                                                dtype=dtype)
        tokenizer = GemmaTokenizer.from_preset(gemma)
    if not isinstance(gemma_model, GemmaBackbone):
        raise TypeError(f"{gemma!r} is not a Gemma preset")
    tokenizer = CPLLMTokenizer(proto=tokenizer.proto) if tokenizer is not None else None

    backbone = CPLLMBackbone(
        high_level_encoder=high,
        low_level_encoder=low,
        vocabulary_size=gemma_model.vocabulary_size,
        num_layers=gemma_model.num_layers,
        num_query_heads=gemma_model.num_query_heads,
        num_key_value_heads=gemma_model.num_key_value_heads,
        hidden_dim=gemma_model.hidden_dim,
        intermediate_dim=gemma_model.intermediate_dim,
        head_dim=gemma_model.head_dim,
        num_keyframes=num_keyframes,
        max_patches=max_patches,
        head_hidden_dim=head_hidden_dim,
        dtype=dtype,
        **{k: getattr(gemma_model, k) for k in GEMMA_DECODER_KEYS},
    )
    copy_gemma_weights(gemma_model, backbone)
    preprocessor = None
    if tokenizer is not None:
        preprocessor = CPLLMPreprocessor(
            tokenizer,
            num_keyframes=num_keyframes,
            image_size=backbone.image_size,
            low_level_max_side=low_level_max_side,
            patch_size=backbone.patch_size,
            max_patches=max_patches,
            sequence_length=sequence_length,
        )
    return CPLLM(backbone=backbone, preprocessor=preprocessor)


def paper_preprocessor(gemma=GEMMA_PRESET, *, num_keyframes=8, image_size=224,
                       low_level_max_side=3840, patch_size=288, max_patches=8,
                       sequence_length=256):
    """The preprocessor of `assemble`'s defaults, without building the model."""
    tokenizer = CPLLMTokenizer(proto=GemmaTokenizer.from_preset(gemma).proto)
    return CPLLMPreprocessor(tokenizer, num_keyframes=num_keyframes, image_size=image_size,
                             low_level_max_side=low_level_max_side, patch_size=patch_size,
                             max_patches=max_patches, sequence_length=sequence_length)


def copy_gemma_weights(gemma, backbone):
    """Copies a GemmaBackbone's embedding, decoder blocks and final norm (exact shapes)."""
    pairs = [(gemma.token_embedding, backbone.token_embedding),
             (gemma.layer_norm, backbone.layer_norm)]
    pairs += list(zip(gemma.transformer_layers, backbone.transformer_layers))
    for src, dst in pairs:
        dst.set_weights(src.get_weights())


def cpllm_paper(load_weights=True, **kwargs):
    """`CPLLM.from_preset("cpllm_paper")`: `assemble` on the default Kaggle presets."""
    return assemble(load_weights=load_weights, **kwargs)


preset_registry.register_assembly(preset_registry.PAPER_PRESET, cpllm_paper,
                                  paper_preprocessor)


def parameter_counts(num_keyframes=8, max_patches=8, head_hidden_dim=1024):
    """Parameter counts of the paper-size CP-LLM, built from shapes only.

    Variables created inside a `keras.StatelessScope(initialize_variables=False)` are
    never allocated, so the whole 3B-parameter model is built in about a second. Returns a dict of ints:
    siglip_vision, videoprism, gemma (embedding + decoder blocks + norm), connector
    (projections, low-level norm, score MLP), total, and score_only (what
    `CPLLM.from_preset(..., score_only=True)` builds: the same network without the
    decoder).
    """
    from keras.src.backend.common import global_state

    def count(weights):
        return int(sum(np.prod(w.shape) for w in weights))

    pending = list(global_state.get_global_attribute("uninitialized_variables") or [])
    with keras.StatelessScope(initialize_variables=False):
        high = SigLIPVisionEncoder(**SIGLIP_SO400M_224)
        low = VideoPrismBackbone(**VIDEOPRISM_B)
        backbone = CPLLMBackbone(high, low, num_keyframes=num_keyframes,
                                 max_patches=max_patches, head_hidden_dim=head_hidden_dim,
                                 **GEMMA_2B)
        counts = {
            "siglip_vision": count(high.weights),
            "videoprism": count(low.weights),
            "gemma": count(w for layer in backbone.decoder_layers() for w in layer.weights),
            "total": count(backbone.weights),
        }
        scorer = CPLLMBackbone(high, low, num_keyframes=num_keyframes,
                               max_patches=max_patches, head_hidden_dim=head_hidden_dim,
                               include_decoder=False, **GEMMA_2B)
        counts["score_only"] = count(scorer.weights)
    # Forget the shape-only variables, or the next StatelessScope would allocate them.
    global_state.set_global_attribute("uninitialized_variables", pending)
    counts["connector"] = counts["total"] - sum(
        counts[k] for k in ("siglip_vision", "videoprism", "gemma"))
    return counts
