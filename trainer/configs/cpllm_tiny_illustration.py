"""`cpllm_tiny_graphics.py` trained also on skies and line art: seed 0 is one of the
bundled cpllm_tiny's three score paths (since 2026-12-05, fifth session; docs/TRAINING.md
"Skies and line art in training").

    python -m beam_pipelines.make_tiny_dataset --output_dir out/illustration_data --seed 2 \
        --num_train 560 --num_holdout 0 --train_from 401 --families illustration
    PYTHONHASHSEED=0 python -m trainer.train \
        --config trainer/configs/cpllm_tiny_illustration.py --workdir DIR \
        --export_preset out/cpllm_tiny_illustration

Screen and diagram content (`graphics`) made the runs err less on the held-out `text`
family. Two weaknesses remain that no training family covers well: smooth gradients that
x264 bands at low rates (read as clean; the gradient ladder of the BD-rate benchmark) and
thin curved strokes. The `illustration` family (`media.procedural._illustration`: skies of
multi-stop gradients with faint clouds, a glow and a horizon; anti-aliased Bezier line art,
cel fills and hatching on paper or over a sky) adds 160 training sources of that kind
(t0401..t0560, seed 2). Everything else is `cpllm_tiny_graphics.py`'s.
"""
from trainer.configs import cpllm_tiny_graphics


def get_config():
    c = cpllm_tiny_graphics.get_config()
    c.data.extra_train_dirs = ("out/graphics_data", "out/illustration_data")
    return c
