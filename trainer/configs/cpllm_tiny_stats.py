"""An experiment, not the shipped recipe: cpllm_tiny with compression statistics.

    python -m trainer.train --config trainer/configs/cpllm_tiny_stats.py --workdir DIR \
        [--override 'data.extra_train_dirs=("out/extra_data",)']

The shipped recipe (`cpllm_tiny.py`) plus the fixed per-patch compression statistics of
`cpllm_model/compression_statistics.py` beside the learned VideoPrism path
(`CPLLMBackbone(low_level_statistics=True)`), standardised on the training patches before
step 0. Everything not set here is the shipped recipe's value. Tried 2026-12-04 (held-out
figures in docs/TRAINING.md "Compression statistics beside VideoPrism").
"""
from trainer.configs import cpllm_tiny


def get_config():
    c = cpllm_tiny.get_config()
    c.model.backbone_overrides.low_level_statistics = True
    # Standardise the statistics on the training patches before step 0 (every feature
    # then enters the projection at unit scale).
    c.model.init_statistics_from_data = True
    # Scored as the bundled preset was when this was tried (2026-12-04).
    c.model.score_max_patches = 64
    c.model.score_patch_fill = False
    c.model.score_low_level_views = 8
    return c
