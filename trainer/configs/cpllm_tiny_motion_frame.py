"""Illustration seed 1 (one of the bundled cpllm_tiny's score paths) trained on further
with a motion input read frame to frame: docs/TRAINING.md "A motion input read frame to
frame".

    python -m trainer.fit_motion_shift --preset out/cpllm_tiny_paths/path3 \
        --records out/tiny_data_hf2 --records out/graphics_data_hf2 \
        --records out/illustration_data_hf2 --split train          # the init below
    PYTHONHASHSEED=0 python -m trainer.train \
        --config trainer/configs/cpllm_tiny_motion_frame.py \
        --workdir DIR --export_preset out/cpllm_tiny_motion_frame

`cpllm_tiny_motion_init.py` read how much consecutive *key frames* differ: 0.1 s apart in
the 1-s training clips, more than a second apart in the footage users score. This run's
`MotionShift` reads each key frame against the frame right after it
(`high_level_frames` 2), which are one frame apart whatever the video's length. The
shift starts from its least-squares fit on the run's own training records (the member's
scores and the records' frame pairs, `trainer.fit_motion_shift --records`); everything
else is the control's (`cpllm_tiny_motion_frame_control.py`).
"""
from trainer.configs import cpllm_tiny_motion_frame_control

INIT = (-0.3787, 0.3793)  # the fit above: 3,360 renditions, RMSE against VMAF 13.89 -> 12.70


def get_config():
    c = cpllm_tiny_motion_frame_control.get_config()
    c.model.backbone_overrides = {"motion_input": True, "high_level_frames": 2}
    c.model.init_motion_shift = INIT
    return c
