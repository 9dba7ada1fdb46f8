"""A score path of the bundled cpllm_tiny trained on further with mixed-preset ladders:
docs/TRAINING.md "Two encoders in one ladder".

    python -m beam_pipelines.make_tiny_dataset --output_dir out/presets_data --seed 5 \
        --num_train 1040 --num_holdout 0 --train_from 881 --train_rung_steps 2,3,4 \
        --train_mixed_presets
    PYTHONHASHSEED=0 python -m trainer.train --config trainer/configs/cpllm_tiny_presets.py \
        --workdir DIR --export_preset out/cpllm_tiny_presets_i0

Every training ladder so far used one x264 preset per source, so no same-source pair
ever compared two encoders at nearly the same quality. On the BD-rate benchmark's static
photo (h0007) the paths score x264 `veryfast` at CRF 29 twenty points below `slow` at
CRF 29 while VMAF has them one point apart: `veryfast` flattens the sensor noise of a sky
into faint blocks. This build's ladders (160 sources, t0881..t1040, the recorded build's
families) alternate a fast and a slow preset rung by rung, 2-4 CRF apart. Defaults:
illustration seed 0 (a bundled member) on its own data plus this build, from the trained
path at a quarter of the from-scratch learning rate, as `cpllm_tiny_dark.py`; the other
members by `--override seed=..`, `model.preset=..` and `data.extra_train_dirs=..`.
"""
from trainer.configs import cpllm_tiny_dark


def get_config():
    c = cpllm_tiny_dark.get_config()
    c.seed = 0
    c.model.preset = "out/cpllm_tiny_illustration"
    c.data.extra_train_dirs = ("out/graphics_data", "out/illustration_data",
                               "out/presets_data")
    return c
