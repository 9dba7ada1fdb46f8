"""Illustration seed 1 (one of the bundled cpllm_tiny's score paths) trained on further
with low-light content added: docs/TRAINING.md "Low light at heavy compression".

    python -m beam_pipelines.make_tiny_dataset --output_dir out/dark_data --seed 4 \
        --num_train 880 --num_holdout 0 --train_from 721 --families dark
    PYTHONHASHSEED=0 python -m trainer.train --config trainer/configs/cpllm_tiny_dark.py \
        --workdir DIR --export_preset out/cpllm_tiny_dark

Every score path of the bundled preset scores dark ladders higher from CRF 44 to 49
(x264 flattens the noise of a dark frame into smooth blocks, which read as clean). The
`dark` family (low-light pictures and textures) is 26 of the recorded build's 240
sources; this build adds 160 more (t0721..t0880, seed 4). The run starts from the
trained path, not from fresh weights, at a quarter of the from-scratch learning rate.
Everything else is `cpllm_tiny_illustration.py`'s.
"""
from trainer.configs import cpllm_tiny_illustration


def get_config():
    c = cpllm_tiny_illustration.get_config()
    c.seed = 1
    c.model.preset = "out/cpllm_tiny_illustration_seed1"
    c.model.reinitialize = False
    c.model.init_score_bias_to_label_mean = False
    c.model.backbone_overrides = None  # already in the starting preset's saved config
    c.data.extra_train_dirs = ("out/graphics_data", "out/illustration_data",
                               "out/dark_data")
    c.optimizer = type(c.optimizer)(learning_rate=5e-4, warmup_steps=50, clipnorm=1.0)
    c.num_steps = 1000
    c.checkpoint_every = 200
    return c
