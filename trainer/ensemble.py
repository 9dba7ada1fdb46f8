"""Writes a preset whose score is the mean of several trained score paths.

    python -m trainer.ensemble --preset out/cpllm_tiny_patch_compare \
        --member out/cpllm_tiny_patch_seed1 --member out/cpllm_tiny_patch_seed2 \
        --output cpllm_model/assets/presets/cpllm_tiny

`--preset` is the primary: its whole network (encoders, score head, decoder, tokenizer,
preprocessor) is kept as it is. Each `--member` contributes its score path only (loaded
score-only, `CPLLM.from_preset(..., score_only=True)`) as one of the backbone's
`score_members`: a frame's score becomes the mean of the 1 + E score paths' frame scores
(`CPLLMBackbone.score_members`). Descriptions and pairwise answers come from the primary's
decoder and vision tokens, unchanged. Members must read the same inputs as the primary
(the preprocessor configs must be equal, tokenizer aside); they follow the primary's
`low_level_views`. A primary without a motion input takes on its members' high-level view
(`high_level_frames`, the frame after each key frame that their motion input reads): its
own scores and descriptions read the key frames only and do not change. Weights are
copied, never changed.

`--noscore_own_path` leaves the primary's own score path out of the mean (the score is
the members' mean alone, and scoring does not run the primary's encoders): for a primary
kept for its decoder while other runs score better (`CPLLMBackbone.score_own_path`).

The reverse, one preset per score path (path 0: the primary alone, decoder included;
path i: member i, score-only), so that the runs of a bundled preset can be scored alone or
packed again in another combination:

    python -m trainer.ensemble --preset cpllm_model/assets/presets/cpllm_tiny \
        --unpack_to out/cpllm_tiny_paths    # writes path0/, path1/, ...
"""
from __future__ import annotations

import os
import shutil

from absl import app, flags, logging

FLAGS = flags.FLAGS

def define_flags() -> None:
    flags.DEFINE_string("preset", None, "The primary preset (kept whole, decoder included).")
    flags.DEFINE_multi_string("member", [], "A preset whose score path joins the mean "
                              "(repeat the flag for more).")
    flags.DEFINE_bool("score_own_path", True, "Count the primary's own score path in the "
                      "mean; --noscore_own_path averages the members alone and keeps the "
                      "primary for its decoder (and its vision tokens).")
    flags.DEFINE_string("output", None, "Directory to write the preset to (replaced).")
    flags.DEFINE_string("unpack_to", None, "Instead of packing: write each of --preset's "
                        "score paths as its own preset, DIR/path0 (the primary, decoder "
                        "included), DIR/path1, ... (its members, score-only).")


def own_layers(bb):
    """A backbone's own weighted layers in a fixed order (its score members excluded)."""
    return bb.scoring_layers(include_members=False) + bb.decoder_layers()


def build(preset: str, members: list[str], score_own_path: bool = True):
    """The primary task of `preset` rebuilt with `members`' score paths (its own path
    counted in the mean unless score_own_path is False); returns a CPLLM."""
    from cpllm_model import CPLLM
    from cpllm_model.backbone import CPLLMBackbone

    if not members:
        raise ValueError("give at least one --member")
    primary = CPLLM.from_preset(preset)
    if primary.backbone.score_members:
        raise ValueError(f"{preset} already has score members: start from a single run")
    if getattr(primary.backbone, "_lora_rank", None) is not None:
        raise ValueError(f"{preset} has LoRA enabled: export it merged first")
    loaded_members = [CPLLM.from_preset(path, score_only=True) for path in members]
    primary = _with_members_view(primary, loaded_members, preset)
    want = primary.preprocessor.input_geometry()
    loaded = []
    for path, member in zip(members, loaded_members, strict=True):
        got = member.preprocessor.input_geometry()
        if got != want:
            raise ValueError(f"member {path} prepares its inputs as {got}, the primary as "
                             f"{want}: members must read the same inputs")
        loaded.append(member.backbone)
    config = primary.backbone.get_config()
    config["score_members"] = loaded
    config["score_own_path"] = score_own_path
    backbone = CPLLMBackbone.from_config(config)
    for src, dst in zip(own_layers(primary.backbone), own_layers(backbone), strict=True):
        dst.set_weights(src.get_weights())  # Keras refuses a shape that differs
    return CPLLM(backbone=backbone, preprocessor=primary.preprocessor)


def _with_members_view(primary, members, preset):
    """`primary` given its members' high-level view (Hf frames per key frame) when it
    reads fewer: it adds no layer and changes no weight, and the primary's encoders and
    decoder read the key frames only, so its scores and descriptions stay what they were.
    A primary with a motion input is refused (that input would read other frames)."""
    from trainer import train

    views = {m.preprocessor.high_level_frames for m in members}
    mine = primary.preprocessor.high_level_frames
    if len(views) != 1 or views == {mine}:
        return primary  # members that disagree are refused with the other geometry
    (hf,) = views
    if hf < mine or primary.backbone.motion_input:
        raise ValueError(f"members read {hf} high-level frames per key frame, {preset} "
                         f"reads {mine}" + (" and has a motion input" if hf > mine else "")
                         + ": members must read the same inputs")
    return train.with_added_layers(primary, {"high_level_frames": hf})


def unpack(preset: str, output_dir: str) -> list[str]:
    """Writes each score path of the ensemble `preset` as a preset of its own; returns
    their directories (path0: the primary without members, its own score path counted
    whether or not it was in `preset`'s mean; pathI: member I, score-only,
    with the primary's preprocessor and tokenizer). Weights are copied, never changed."""
    from cpllm_model import CPLLM
    from cpllm_model.backbone import CPLLMBackbone

    model = CPLLM.from_preset(preset)
    if not model.backbone.score_members:
        raise ValueError(f"{preset} has no score members: it is a single run already")
    paths = []
    primary = CPLLMBackbone.from_config(dict(model.backbone.get_config(), score_members=[],
                                             score_own_path=True))
    for src, dst in zip(own_layers(model.backbone), own_layers(primary), strict=True):
        dst.set_weights(src.get_weights())
    runs = [primary] + [m.backbone for m in model.backbone.score_members]
    for i, backbone in enumerate(runs):
        path = os.path.join(output_dir, f"path{i}")
        if os.path.isdir(path):
            shutil.rmtree(path)
        CPLLM(backbone=backbone, preprocessor=model.preprocessor).save_to_preset(path)
        paths.append(path)
    return paths


def main(argv):
    del argv
    if FLAGS.unpack_to:
        for path in unpack(FLAGS.preset, FLAGS.unpack_to):
            logging.info("wrote %s", path)
        return
    if not FLAGS.output:
        raise app.UsageError("give --output (or --unpack_to)")
    if os.path.abspath(FLAGS.preset) == os.path.abspath(FLAGS.output):
        raise app.UsageError("--output must differ from --preset (the preset is read first)")
    model = build(FLAGS.preset, FLAGS.member, FLAGS.score_own_path)
    if os.path.isdir(FLAGS.output):
        shutil.rmtree(FLAGS.output)
    model.save_to_preset(FLAGS.output)
    logging.info("wrote %s: the mean of %d score paths", FLAGS.output,
                 int(FLAGS.score_own_path) + len(model.backbone.score_members))


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["preset"])
    app.run(main)
