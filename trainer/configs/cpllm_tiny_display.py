"""A score path of the bundled pack trained on further with multi-size ladders, each
rung's patches cut as shown at its source's height: docs/TRAINING.md "Rungs of several
frame sizes, seen at display size".

    python -m trainer.ensemble --preset cpllm_model/assets/presets/cpllm_tiny \
        --unpack_to out/cpllm_tiny_paths
    python -m beam_pipelines.make_tiny_dataset --output_dir out/ms_train --seed 8 \
        --num_train 200 --num_holdout 0 --keep_rungs 1,3,5 --heights 720,480,360,240 \
        --until ladder
    python -m beam_pipelines.prepare --model cpllm_tiny --describer generated \
        --high_level_frames 2 --max_patches 16 --patch_fill false --num_shards 4 \
        --catalog out/ms_train/catalog.csv --output_dir out/ms_train_hf2
    PYTHONHASHSEED=0 python -m trainer.train --config trainer/configs/cpllm_tiny_display.py \
        --workdir DIR --export_preset out/cpllm_tiny_display_path3 --override eval_every=0
    # the pack's other score paths: --override model.preset=out/cpllm_tiny_paths/path1 ...

The pack scores each rendition at its own size: a 360p rung of a 1080p title scores like
the 1080p rung, where VMAF at display size is 20-45 points lower. This build gives 200
training sources (seed 8, the recorded build's families) 3 CRF rungs each at their own
size and downscaled to each of 720, 480, 360 and 240 rows below it, labelled by VMAF at
the source's size; `prepare` cuts the smaller rungs' patches from their frames enlarged
to the source's height (`display_height`), as `score --display_height` does. Pairs are
ranked by the label, not the CRF: across sizes a lower CRF is not a better rung. The
recipe is otherwise the frame-pair members' (1,000 steps at 5e-4 from the trained path).
"""
from trainer.configs import cpllm_tiny_motion_frame_control

DISPLAY_DATA = "out/ms_train_hf2"


def get_config():
    c = cpllm_tiny_motion_frame_control.get_config()
    c.model.preset = "out/cpllm_tiny_paths/path3"
    c.model.backbone_overrides = None  # motion input and Hf 2 are in the saved path
    c.data.dir = DISPLAY_DATA
    c.data.extra_train_dirs = ()
    c.data.eval_split = ""  # no held-out split in this build: measured apart (TRAINING.md)
    c.input.rank_by = "label"
    return c
