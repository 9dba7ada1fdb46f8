"""Writes a trained preset as the preset it scores as.

    python -m trainer.export --preset out/cpllm_tiny_trained \
        --config trainer/configs/cpllm_tiny.py \
        --output cpllm_model/assets/presets/cpllm_tiny

The same step `trainer.train --export_preset` runs at the end of training
(`train.save_scoring_preset`): the config's `model.score_max_patches` (patches per frame)
and `model.score_low_level_views` (views per patch) replace the training choices in the
saved preprocessor and backbone configs. Weights are copied unchanged.
"""
from __future__ import annotations

import os

from absl import app, flags, logging

from trainer import config_lib, train

FLAGS = flags.FLAGS


def define_flags() -> None:
    """--preset and --output; --config and --override are trainer.train's (defined when it
    is imported). Defined only when run as a program, so importing `export` beside the
    evaluation CLIs (which also have --preset and --output) does not clash."""
    flags.DEFINE_string("preset", None, "Trained preset directory (trainer.train's export).")
    flags.DEFINE_string("output", None, "Directory to write the preset to (replaced).")


def export(preset: str, config, output: str) -> None:
    """Loads `preset`, applies `config`'s scoring choices and saves it to `output`."""
    import shutil

    from cpllm_model import CPLLM

    if os.path.abspath(preset) == os.path.abspath(output):
        raise ValueError("--output must differ from --preset (the preset is read first)")
    model = CPLLM.from_preset(preset)
    if os.path.isdir(output):
        shutil.rmtree(output)
    train.save_scoring_preset(model, config, output)
    logging.info("wrote %s: M = %d, low_level_views = %d", output,
                 model.preprocessor.max_patches, model.backbone.low_level_views)


def main(argv):
    del argv
    config = config_lib.apply_overrides(config_lib.load_config(FLAGS.config), FLAGS.override)
    export(FLAGS.preset, config, FLAGS.output)


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["preset", "config", "output"])
    app.run(main)
