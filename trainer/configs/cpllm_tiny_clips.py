"""Patch clips, tried on one score path: illustration seed 1 (one of the bundled
cpllm_tiny's score paths, unpacked from the preset) trained on further with every patch
read as a clip of its key frame and the frame after it (`low_level_frames` = 2,
`cpllm_model.clip_mixer`): docs/TRAINING.md "Patch clips".

    python -m trainer.ensemble --preset cpllm_model/assets/presets/cpllm_tiny \
        --unpack_to out/cpllm_tiny_paths
    python -m beam_pipelines.prepare --catalog out/tiny_data/catalog.csv \
        --output_dir out/tiny_data_clips --model cpllm_tiny --describer generated \
        --max_patches 32 --low_level_frames 2 --patch_fill false --num_shards 4 \
        --holdout_sources @out/tiny_data_holdout_sources.txt
    PYTHONHASHSEED=0 python -m trainer.train --config trainer/configs/cpllm_tiny_clips.py \
        --workdir DIR --export_preset out/cpllm_tiny_clips --override eval_every=0

The key frames are scored one by one: nothing in the low-level path sees how a patch
changes from one frame to the next, although at one CRF x264 leaves a static title much
cleaner than a moving one and smooths away the frame-to-frame change of camera noise.
The added layer starts as a no-op; it and the whole score path train for 1,000 steps at
5e-4 (the motion runs' recipe) on the recorded build alone, with the same 16 cells per
frame as the records of its control (`cpllm_tiny_clips_control.py`), each now a clip of
two frames (32 patch slots). The export scores 256 cells a frame, as the bundled preset
does, so 512 patch reads (twice its cost).
"""
from trainer.configs import cpllm_tiny_clips_control


def get_config():
    c = cpllm_tiny_clips_control.get_config()
    c.model.backbone_overrides = {"low_level_frames": 2}
    c.model.max_patches = 32
    c.model.score_max_patches = 512
    c.data.dir = "out/tiny_data_clips"
    # The mixer's gate at the start, every channel (None: 0, the added layer a no-op).
    # From 0 it opened to ~0.02 in this run; a later try can start it open here.
    c.model.init_clip_gate = None
    return c
