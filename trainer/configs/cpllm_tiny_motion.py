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
Everything else is `cpllm_tiny_illustration.py`'s.
"""
from trainer.configs import cpllm_tiny_illustration


def get_config():
    c = cpllm_tiny_illustration.get_config()
    c.seed = 1
    c.model.preset = "out/cpllm_tiny_illustration_seed1"
    c.model.reinitialize = False
    c.model.init_score_bias_to_label_mean = False
    c.model.backbone_overrides = {"motion_input": True}  # added to the trained preset
    c.optimizer = type(c.optimizer)(learning_rate=5e-4, warmup_steps=50, clipnorm=1.0)
    c.num_steps = 1000
    c.checkpoint_every = 200
    return c
