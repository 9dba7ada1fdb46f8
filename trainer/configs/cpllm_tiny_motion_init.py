"""`cpllm_tiny_motion.py` with its motion shift started from a calibration fitted on other
data instead of from zero: docs/TRAINING.md "Calibrating titles by their motion".

    PYTHONHASHSEED=0 python -m trainer.train \
        --config trainer/configs/cpllm_tiny_motion_init.py \
        --workdir DIR --export_preset out/cpllm_tiny_motion_init_i1

(w, c) = (-0.3135, 0.1895): the least-squares fit of G's logits shifted by
w * log(1 + activity) + c against VMAF on the first 64 sources of the mixed-preset build
(out/presets_data, seed 5), which neither the bundled preset nor the held-out set
contains. The motion run from zero reached w = -0.117 in 1,000 steps.
"""
from trainer.configs import cpllm_tiny_motion


def get_config():
    c = cpllm_tiny_motion.get_config()
    c.model.init_motion_shift = (-0.3135, 0.1895)
    return c
