"""Stage 1 of the bundled `cpllm_tiny` (since 2026-12-04): scoring every patch, ranked
patch against patch.

    PYTHONHASHSEED=0 python -m trainer.train --config trainer/configs/cpllm_tiny_patch.py \
        --workdir DIR --export_preset out/cpllm_tiny_patch

Stage 2 (`cpllm_tiny_compare.py`, decoder only) starts from that export.

The pooled recipe (`cpllm_tiny.py`) with `CPLLMBackbone(patch_scores=True)`: the score
head scores each patch (with its frame's high-level context) and a frame's logit is the
mean of its patches' logits. Both videos of a training pair hold the same key frames cut
on the same grid, so patch j of one and patch j of the other show the same content at two
CRFs: the patch ranking loss (`trainer.losses.patch_ranking_loss`) orders every such
patch pair like the videos, a dense same-content signal that the video-level ranking
gives only once per pair. Pairs share their rotation/mirror (`input.align_pairs`) so the
patches stay aligned. Everything not set here is `cpllm_tiny.py`'s value.
"""
from trainer.configs import cpllm_tiny


def get_config():
    c = cpllm_tiny.get_config()
    c.model.backbone_overrides.patch_scores = True
    c.input.align_pairs = True
    # Logit units (frame score = 100 * sigmoid(mean patch logit)); margin 0: a patch
    # compression did not change has equal logits in both videos and costs nothing.
    c.loss.patch_ranking_weight = 1.0
    c.loss.patch_ranking_margin = 0.0
    return c
