"""Illustration seed 1 (one of the bundled cpllm_tiny's score paths) trained on further
with a motion input added to its score (`motion_input`, `cpllm_model.motion_shift`):
docs/TRAINING.md "Calibrating titles by their motion".

    PYTHONHASHSEED=0 python -m trainer.train --config trainer/configs/cpllm_tiny_motion.py \
        --workdir DIR --export_preset out/cpllm_tiny_motion_i1

The key frames are scored one by one, so nothing in the score sees motion, and the
held-out titles' offsets from VMAF follow it (static titles under VMAF, moving ones over).
The added layer starts as a no-op (the preset's scores unchanged); it and the whole score
path train together for 1,000 steps at a quarter of the from-scratch learning rate, on the
run's own data, so the same-source ranking loss weighs the flips a shift could cause.
The recipe is `cpllm_tiny_dark.py`'s without the dark build.
"""
from trainer.configs import cpllm_tiny_dark, cpllm_tiny_illustration


def get_config():
    c = cpllm_tiny_dark.get_config()
    c.model.backbone_overrides = {"motion_input": True}  # added to the trained preset
    c.data.extra_train_dirs = cpllm_tiny_illustration.get_config().data.extra_train_dirs
    return c
