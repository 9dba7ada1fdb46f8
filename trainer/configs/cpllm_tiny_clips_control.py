"""The control of `cpllm_tiny_clips.py`: the same start (illustration seed 1, unpacked
from the bundled preset), data (the recorded build alone), seed, learning rate and 1,000
steps, without patch clips, so that the effect of the clips is measured apart from that
of 1,000 more steps on this data. docs/TRAINING.md "Patch clips".

    PYTHONHASHSEED=0 python -m trainer.train \
        --config trainer/configs/cpllm_tiny_clips_control.py --workdir DIR \
        --export_preset out/cpllm_tiny_clips_control --override eval_every=0
"""
from trainer.configs import cpllm_tiny_motion


def get_config():
    c = cpllm_tiny_motion.get_config()  # illustration seed 1's recipe, 5e-4, 1,000 steps
    c.model.preset = "out/cpllm_tiny_paths/path3"
    c.model.backbone_overrides = None
    c.data.dir = "out/tiny_data"
    c.data.extra_train_dirs = ()
    return c
