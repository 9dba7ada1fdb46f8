"""Presets saved before the score head was one named layer, read as today's.

Until 2026-12-03 the score MLP was two bare Dense layers of the backbone, saved by Keras
under their class-order names `layers/dense_2` (hidden, [2D, H]) and `layers/dense_3`
(output, [H, 1]); it is now the layer `score_head` (`score_head.ScoreHead`), saved as
`layers/score_head/hidden` and `layers/score_head/output_dense`. The values are the
same, only the paths moved, so an old preset is upgraded by renaming the two groups of
its weights file:

    legacy_weights.needs_upgrade(preset_dir)   # bool
    legacy_weights.upgrade(preset_dir)         # renames in place

`preset_io.load_task` does this on a temporary copy when it meets an old preset, so old
presets keep loading; the preset directory itself is never written by a load.
"""
import os

import h5py

WEIGHTS_FILE = "model.weights.h5"
RENAMES = (("layers/dense_2", "layers/score_head/hidden"),
           ("layers/dense_3", "layers/score_head/output_dense"))


def needs_upgrade(preset_dir):
    """True when `preset_dir`'s weights have the old two-Dense score head."""
    path = os.path.join(preset_dir, WEIGHTS_FILE)
    if not os.path.isfile(path):
        return False
    with h5py.File(path, "r") as f:
        return "layers/dense_3" in f and "layers/score_head" not in f


def upgrade(preset_dir):
    """Renames the old score head's weight groups in place (see the module docstring)."""
    path = os.path.join(preset_dir, WEIGHTS_FILE)
    with h5py.File(path, "r+") as f:
        hidden, output = f["layers/dense_2/vars/0"], f["layers/dense_3/vars/0"]
        if output.shape != (hidden.shape[1], 1):
            raise ValueError(
                f"{path}: layers/dense_2 {hidden.shape} and layers/dense_3 {output.shape} "
                "are not the old score head ([2D, H] and [H, 1]); not upgraded")
        for old, new in RENAMES:
            f.move(old, new)
