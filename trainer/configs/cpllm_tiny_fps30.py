"""The bundled pack's third score path (illustration seed 1 with the frame-to-frame motion
input, `out/cpllm_tiny_motion_frame`) trained on further with 30 fps ladders added:
docs/TRAINING.md "Thirty frames a second".

    python -m beam_pipelines.make_tiny_dataset --output_dir out/fps30_data --seed 6 \
        --num_train 1200 --num_holdout 0 --train_from 1041 --frames 30 --fps 30 \
        --until ladder
    python -m beam_pipelines.prepare --model cpllm_tiny --describer generated \
        --high_level_frames 2 --max_patches 16 --patch_fill false --num_shards 4 \
        --catalog out/fps30_data/catalog.csv --output_dir out/fps30_data_hf2
    PYTHONHASHSEED=0 python -m trainer.train --config trainer/configs/cpllm_tiny_fps30.py \
        --workdir DIR --export_preset out/cpllm_tiny_fps30

Every training and held-out clip so far was 12 frames at 12 fps. The same held-out
sources rendered at 30 fps (the same motion per second) are scored with a worse order
inside a title, by every path alike, with or without the motion input. This build (160
sources of the training families, t1041..t1200, seed 6) is 30 frames at 30 fps. The run
keeps the path's own data and recipe (`cpllm_tiny_motion_frame.py`: 1,000 steps at
5e-4, seed 1) and starts from the trained path; the motion shift is already in its
saved config and weights. The control (`--override 'data.extra_train_dirs=(...)'`
without the 30 fps build) separates the new content from 1,000 more steps.
"""
from trainer.configs import cpllm_tiny_motion_frame, cpllm_tiny_motion_frame_control

FPS30_DATA = "out/fps30_data_hf2"


def get_config():
    c = cpllm_tiny_motion_frame.get_config()
    c.model.preset = "out/cpllm_tiny_motion_frame"
    c.model.backbone_overrides = None  # motion_input and Hf 2 are in the saved preset
    c.model.init_motion_shift = None   # trained already
    c.data.extra_train_dirs = cpllm_tiny_motion_frame_control.PAIR_EXTRA + (FPS30_DATA,)
    return c
