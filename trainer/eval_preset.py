"""Evaluates a saved preset on a prepared split (held-out TFRecords) with `model.score`.

    python -m trainer.eval_preset --preset cpllm_tiny --data_dir out/tiny_data \
        [--split holdout] [--ladders coarse=19:49:5,fine=24:36:2] [--output m.json]

The production scoring path (`CPLLM.from_preset(...).score`, never the decoder), the
same metrics as the training-time eval callback (`trainer.eval_callback`): SRCC/PLCC vs
the labels and vs VMAF, flip rate overall, by rung distance and by CRF difference, per
named ladder spacing. Used to decide whether a trained model may replace the bundled one.
"""
from __future__ import annotations

import json

from absl import app, flags

from beam_pipelines import ladder_defaults

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", "cpllm_tiny", "Preset name or directory.")
flags.DEFINE_string("data_dir", None, "Directory with manifest.json and the split.")
flags.DEFINE_string("split", "holdout", "Split to evaluate.")
flags.DEFINE_string("ladders", f"coarse={ladder_defaults.as_range(ladder_defaults.COARSE)},"
                    f"fine={ladder_defaults.as_range(ladder_defaults.FINE)}",
                    "Named ladders name=first:last:step (CRF), comma-separated.")
flags.DEFINE_integer("batch_size", 16, "Videos per score call (padded, fixed shape).")
flags.DEFINE_string("output", None, "Write the metrics here as JSON.")


def parse_ladders(text: str) -> dict:
    out = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        name, _, rng = item.partition("=")
        first, last, step = (int(x) for x in rng.split(":"))
        out[name] = list(range(first, last + 1, step))
    return out


def evaluate_preset(preset: str, data_dir: str, split: str = "holdout",
                    ladders: dict | None = None, batch_size: int = 16) -> dict:
    """Metrics dict of `preset` on `data_dir/split` (see trainer.eval_callback)."""
    from cpllm_model import CPLLM
    from trainer import eval_callback, input_pipeline

    model = CPLLM.from_preset(preset)
    data = input_pipeline.load_split(data_dir, split)
    evaluator = eval_callback.HeldOutEvaluator(data, batch_size, ladders)
    return evaluator(lambda frames: model.score(frames)["score"])


def main(argv):
    del argv
    result = evaluate_preset(FLAGS.preset, FLAGS.data_dir, FLAGS.split,
                             parse_ladders(FLAGS.ladders), FLAGS.batch_size)
    text = json.dumps(result, indent=1, sort_keys=True)
    print(text)
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    flags.mark_flags_as_required(["data_dir"])
    app.run(main)
