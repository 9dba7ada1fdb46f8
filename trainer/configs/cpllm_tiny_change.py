"""The pack's third score path trained on further with a per-cell change input: each
low-level cell's mean luma change to the frame after its key frame, added to the cell's
patch feature (`low_level_change`, `cpllm_model.patch_change`). docs/TRAINING.md "A
per-cell change input".

    P="python -m beam_pipelines.prepare --model cpllm_tiny --describer generated \
       --high_level_frames 2 --direct_num_workers 2 --direct_running_mode multi_threading \
       --max_patches 32 --low_level_frames 2 --patch_fill false --num_shards 4"
    $P --catalog out/tiny_data/catalog.csv --output_dir out/tiny_data_ch \
        --holdout_sources @out/tiny_data_holdout_sources.txt
    # the same for graphics_data, illustration_data (no held-out) and for noisy24_data,
    # noisy60_data from catalog_n24.csv / catalog_n60.csv (ids prefixed n24_ / n60_)
    PYTHONHASHSEED=0 python -m trainer.train --config trainer/configs/cpllm_tiny_change.py \
        --workdir DIR --export_preset out/cpllm_tiny_change --override eval_every=0

Records hold clips of two frames (each of 16 cells a frame with the same cell of the frame
1/12 s later: 32 patch slots); VideoPrism still reads the key frames' cells alone, so a
step costs what the control's does. The added layer starts as a no-op; it and the whole
score path train for 1,000 steps at 5e-4, seed 1, as the control
(`cpllm_tiny_change_control.py`). The export scores 256 cells a frame as the bundled
preset does (512 patch slots; still 256 VideoPrism reads).
"""
from trainer.configs import cpllm_tiny_change_control


def get_config():
    c = cpllm_tiny_change_control.get_config()
    c.model.backbone_overrides = {"low_level_frames": 2, "low_level_change": True}
    c.model.max_patches = 32
    c.model.score_max_patches = 512
    c.data.dir = "out/tiny_data_ch"
    c.data.extra_train_dirs = tuple(
        f"out/{b}_ch" for b in ("graphics_data", "illustration_data",
                                *cpllm_tiny_change_control.NOISY_BUILDS))
    return c
