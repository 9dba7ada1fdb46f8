"""The control of `cpllm_tiny_motion_frame.py`: the same run without the motion input.
docs/TRAINING.md "A motion input read frame to frame".

    PYTHONHASHSEED=0 python -m trainer.train \
        --config trainer/configs/cpllm_tiny_motion_frame_control.py \
        --workdir DIR --export_preset out/cpllm_tiny_motion_frame_ctl

It reads the same records (each key frame's high-level view followed by the frame after
it, `prepare --high_level_frames 2`) in the same order; with no motion input the frame
after each key frame is read by nothing, so this is 1,000 more steps of illustration seed
1 on its own data, which is what the motion run is measured against.
"""
from trainer.configs import cpllm_tiny_motion

# The records of the member's three builds, prepared again with frame pairs (same
# commands as the recorded builds' records plus --high_level_frames 2).
PAIR_DATA = "out/tiny_data_hf2"
PAIR_EXTRA = ("out/graphics_data_hf2", "out/illustration_data_hf2")
# Illustration seed 1 as it is in the bundled preset: `trainer.ensemble --preset
# cpllm_tiny --unpack_to out/cpllm_tiny_paths` writes it as path3.
START = "out/cpllm_tiny_paths/path3"


def get_config():
    c = cpllm_tiny_motion.get_config()
    c.model.preset = START
    c.model.backbone_overrides = {"high_level_frames": 2}
    c.data.dir = PAIR_DATA
    c.data.extra_train_dirs = PAIR_EXTRA
    return c
