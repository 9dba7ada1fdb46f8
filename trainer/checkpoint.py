"""Training checkpoints: exact resume after an interruption.

`WORKDIR/checkpoints/step_NNNNNNNN/` holds
  model.weights.h5   the model's weights (`model.save_weights`, loadable on its own)
  state.npz          every trainable, non-trainable (incl. RNG seed-generator state) and
                     optimizer variable, bit-exact, in the model's/optimizer's order
  state.json         step, seed and the config: the data-iterator position is the step
                     (see `input_pipeline.BatchSchedule`)
A checkpoint is written to a temporary directory and renamed into place, so a run killed
while saving leaves the previous checkpoint intact; only the newest `keep` are kept.
"""
from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np

_STEP_RE = re.compile(r"^step_(\d{8})$")


def _root(workdir: str) -> str:
    return os.path.join(workdir, "checkpoints")


def all_steps(workdir: str) -> list[int]:
    root = _root(workdir)
    if not os.path.isdir(root):
        return []
    steps = []
    for name in os.listdir(root):
        m = _STEP_RE.match(name)
        if m and os.path.exists(os.path.join(root, name, "state.json")):
            steps.append(int(m.group(1)))
    return sorted(steps)


def latest_step(workdir: str) -> int | None:
    steps = all_steps(workdir)
    return steps[-1] if steps else None


def save(workdir: str, step: int, model, state: dict, info: dict, keep: int = 2) -> str:
    """Writes checkpoint `step`.

    Args:
      model: the Keras model, whose variables already hold `state` (for the .h5 file).
      state: {"trainable": [...], "non_trainable": [...], "optimizer": [...]} arrays.
      info: JSON-able dict stored in state.json (step is added).
    """
    root = _root(workdir)
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"step_{step:08d}")
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    model.save_weights(os.path.join(tmp, "model.weights.h5"))
    arrays = {f"{group}_{i:05d}": np.asarray(v)
              for group, values in state.items() for i, v in enumerate(values)}
    np.savez(os.path.join(tmp, "state.npz"), **arrays)
    with open(os.path.join(tmp, "state.json"), "w") as f:
        json.dump({**info, "step": step,
                   "counts": {g: len(v) for g, v in state.items()}}, f, indent=1)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in all_steps(workdir)[:-keep]:
        shutil.rmtree(os.path.join(root, f"step_{old:08d}"), ignore_errors=True)
    return final


def restore(workdir: str, step: int) -> tuple[dict, dict]:
    """Returns (state dict of lists of np.ndarray, info) of checkpoint `step`."""
    path = os.path.join(_root(workdir), f"step_{step:08d}")
    with open(os.path.join(path, "state.json")) as f:
        info = json.load(f)
    with np.load(os.path.join(path, "state.npz")) as z:
        state = {g: [z[f"{g}_{i:05d}"] for i in range(n)]
                 for g, n in info["counts"].items()}
    return state, info
