"""Model configurations: the `cpllm_tiny` preset (bundled) and its builder.

`cpllm_tiny` fits a 2-core CPU and still sees compression artifacts: K = 8 key frames,
high-level S = 64 (SigLIP patch 16 -> 16 tokens, width 64, 2 layers); low-level
P = 32 patches cut at the frame's native resolution (frames above 3840 on the longer side
are downscaled to it), M = 16 of them per frame spread over the 16-pixel-aligned grid
(a 1080p frame has a 33x60 grid, a 360p one 11x20; both give a 4x4 spread) (VideoPrism
patch 8 -> 16 tokens of 8x8 pixels, one H.264 transform block each; width 64, 2 spatial
layers, intermediate 128, 2 heads), a 2-layer Gemma
(width 128, 2 query heads, 1 KV head) over a 1024-piece BPE SentencePiece vocabulary
(`python -m cpllm_model.tokenizer_corpus`).

Writing the untrained bundled preset (seed fixed; the trainer later overwrites it):
    python -m cpllm_model.presets [--out_dir cpllm_model/assets/presets/cpllm_tiny]
"""
import os

import keras
from absl import app, flags
from keras_hub.models import SigLIPVisionEncoder, VideoPrismBackbone

from cpllm_model import tokenizer_corpus
from cpllm_model.backbone import CPLLMBackbone
from cpllm_model.cpllm import CPLLM
from cpllm_model.preprocessor import CPLLMPreprocessor, CPLLMTokenizer
from cpllm_model.preset_registry import PRESET_DIR

TINY = {
    "num_keyframes": 8,
    "image_size": 64,
    "low_level_max_side": 3840,
    "patch_size": 32,
    "max_patches": 16,
    "sequence_length": 128,
    "siglip": dict(patch_size=16, hidden_dim=64, num_layers=2, num_heads=2,
                   intermediate_dim=128),
    "videoprism": dict(num_frames=1, patch_size=8, hidden_dim=64, intermediate_dim=128,
                       num_heads=2, num_spatial_layers=2, num_temporal_layers=1,
                       num_auxiliary_layers=0),
    "decoder": dict(num_layers=2, num_query_heads=2, num_key_value_heads=1,
                    hidden_dim=128, intermediate_dim=256, head_dim=64),
    "head_hidden_dim": 64,
    # VideoPrism here is trained from scratch: it reads the detail layer of its patches
    # (backbone.detail_layer), where compression artifacts are not swamped by colour.
    "low_level_detail_gain": 8.0,
    "low_level_contrast_norm": True,
}


def tiny_tokenizer():
    return CPLLMTokenizer(
        proto=os.path.join(tokenizer_corpus.ASSET_DIR, tokenizer_corpus.VOCAB_FILE)
    )


def build_tiny(seed=0, dtype=None, config=None):
    """Builds an untrained `cpllm_tiny` CPLLM with fixed seed."""
    c = dict(TINY, **(config or {}))
    keras.utils.set_random_seed(seed)
    s, p = c["image_size"], c["patch_size"]
    siglip = SigLIPVisionEncoder(image_shape=(s, s, 3), dtype=dtype, **c["siglip"])
    prism = VideoPrismBackbone(image_shape=(p, p, 3), dtype=dtype, **c["videoprism"])
    tokenizer = tiny_tokenizer()
    backbone = CPLLMBackbone(
        high_level_encoder=siglip,
        low_level_encoder=prism,
        vocabulary_size=tokenizer.vocabulary_size(),
        num_keyframes=c["num_keyframes"],
        max_patches=c["max_patches"],
        head_hidden_dim=c["head_hidden_dim"],
        low_level_detail_gain=c["low_level_detail_gain"],
        low_level_contrast_norm=c.get("low_level_contrast_norm", False),
        low_level_statistics=c.get("low_level_statistics", False),
        dtype=dtype,
        **c["decoder"],
    )
    preprocessor = CPLLMPreprocessor(
        tokenizer,
        num_keyframes=c["num_keyframes"],
        image_size=s,
        low_level_max_side=c["low_level_max_side"],
        patch_size=p,
        max_patches=c["max_patches"],
        sequence_length=c["sequence_length"],
    )
    return CPLLM(backbone=backbone, preprocessor=preprocessor)


def main(argv):
    del argv
    build_tiny(seed=flags.FLAGS.seed).save_to_preset(flags.FLAGS.out_dir)
    print(flags.FLAGS.out_dir)


if __name__ == "__main__":
    flags.DEFINE_string("out_dir", os.path.join(PRESET_DIR, "cpllm_tiny"),
                        "Preset directory to write.")
    flags.DEFINE_integer("seed", 0, "Initialisation seed.")
    app.run(main)
