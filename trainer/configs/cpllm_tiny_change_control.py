"""The control of `cpllm_tiny_change.py`: the same run without the per-cell change input.
docs/TRAINING.md "A per-cell change input".

    PYTHONHASHSEED=0 python -m trainer.train \
        --config trainer/configs/cpllm_tiny_change_control.py \
        --workdir DIR --export_preset out/cpllm_tiny_change_ctl --override eval_every=0

The pack's third path (illustration seed 1 with the frame-to-frame motion input) trained
1,000 steps more on its own three builds plus the noisy 24 and 60 fps builds, read as
one-frame patches (records prepared with frame pairs for the motion input, 16 cells a
frame). It reads the same key-frame cells in the same order as the change run, so what
differs between the two is the change input alone.
"""
from trainer.configs import cpllm_tiny_motion_frame_control

# 24 and 60 fps ladders of the natural families with camera noise and film grain
# (make_tiny_dataset --families photo,composite,dark,pinknoise, seeds 8 and 9): where the
# single-frame paths mis-order grainy rungs (docs/TRAINING.md "Twenty-four and sixty
# frames a second"), prepared from catalogs whose ids carry n24_ / n60_ (a few of their
# source names collide with the recorded builds').
NOISY_BUILDS = ("noisy24_data", "noisy60_data")


def get_config():
    c = cpllm_tiny_motion_frame_control.get_config()
    c.model.backbone_overrides = None  # motion input and Hf 2 are in the saved path
    c.data.extra_train_dirs = cpllm_tiny_motion_frame_control.PAIR_EXTRA + tuple(
        f"out/{b}_hf2" for b in NOISY_BUILDS)
    return c
