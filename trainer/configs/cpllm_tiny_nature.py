"""`cpllm_tiny_illustration.py` trained also on natural surfaces (docs/TRAINING.md
"Natural surfaces in training", 2026-12-05, sixth session).

    python -m beam_pipelines.make_tiny_dataset --output_dir out/nature_data --seed 3 \
        --num_train 720 --num_holdout 0 --train_from 561 --families nature
    PYTHONHASHSEED=0 python -m trainer.train --config trainer/configs/cpllm_tiny_nature.py \
        --workdir DIR --export_preset out/cpllm_tiny_nature

Each content family added so far (`graphics`, then `illustration`) moved the single-run
held-out figures more than any change of loss or scoring. Camera footage is mostly
natural surfaces, and the only training families of that kind are 17 scikit-image
pictures and isotropic 1/f noise. The `nature` family (`media.procedural._nature`: Voronoi
stones with dark joints, grass and fur strokes along a smooth direction field, water
ripples with glints, marble bands and wood rings warped by turbulence) adds 160 training
sources (t0561..t0720, seed 3). Everything else is `cpllm_tiny_illustration.py`'s.
"""
from trainer.configs import cpllm_tiny_illustration


def get_config():
    c = cpllm_tiny_illustration.get_config()
    c.data.extra_train_dirs = ("out/graphics_data", "out/illustration_data", "out/nature_data")
    return c
