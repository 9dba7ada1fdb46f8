"""Fit a preset's ladder-consistency weight (beta, `CPLLM.ladder_detail_weight`) on
prepared training records, and write it into the preset's task.json.

    python -m trainer.fit_ladder_consistency --preset out/cpllm_tiny \
        --records out/tiny_data [--records out/illustration_data] [--split train] \
        [--write_to out/cpllm_tiny_ladder | --write_in_place]

It scores every rendition (crf >= 0) of the split with the preset (`model.score` gives
each one's "score"; `cpllm_model.fine_detail` of its cells, as the scoring pipeline
measures them), prints the renditions
and ladders it found, then for every beta of the grid (0, 0.25, ..., 8) the discordant
pairs and the pooled Spearman correlation of the adjusted score with the records' VMAF,
and the chosen beta; with --write_to (a copy of the preset) or --write_in_place it sets
task.json's config["ladder_detail_weight"] to it (weight files untouched).

The step it fits (`beam_pipelines.ladder_consistency`): within a ladder (the renditions
of one source), a rendition's score becomes

    100 * sigmoid(logit(score / 100) + beta * (fine_detail - the ladder's mean fine_detail))

Why: inside one ladder every step up in CRF removes fine detail (camera noise, film grain,
texture) first, so the rung that kept more has the larger fine_detail; across sources
fine_detail mostly measures the content (how detailed or noisy it is) and orders quality
not at all, so only its ladder-relative part is used, and the scores of a ladder whose
renditions kept the same detail are left as they are.

The fit: beta is the grid value with the fewest discordant pairs -- pairs of renditions of
one source with different CRF where the higher-CRF one gets the higher adjusted score --
ties broken toward the smallest beta (0, the step off, unless some beta does better).
A source is a ladder within one --records directory (source ids of two directories are
kept apart). docs/TRAINING.md "Ladder consistency".
"""
from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
from absl import app, flags

GRID = np.arange(0.0, 8.001, 0.25)
TASK_JSON = "task.json"
_EPS = 1e-6


def logit(score) -> np.ndarray:
    """logit(score / 100), float64, of scores on the 0-100 scale (clipped to
    [1e-6, 1 - 1e-6] so that 0 and 100 stay finite)."""
    p = np.clip(np.asarray(score, np.float64) / 100.0, _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


def ladder_relative(detail, source_id) -> np.ndarray:
    """float64[N]: each rendition's `detail` minus the mean of its source's renditions."""
    detail = np.asarray(detail, np.float64)
    _, inverse = np.unique(np.asarray(source_id), return_inverse=True)
    inverse = inverse.reshape(-1)
    means = np.bincount(inverse, weights=detail) / np.bincount(inverse)
    return detail - means[inverse]


def _movable(score) -> np.ndarray:
    """Where the step moves a score: strictly inside (0, 100), as
    `beam_pipelines.ladder_consistency.adjust_ladder` (0 and 100 stay as they are)."""
    score = np.asarray(score, np.float64)
    return (score > 0.0) & (score < 100.0)


def adjusted(score, detail, source_id, beta: float) -> np.ndarray:
    """The adjusted logit, float64[N]: logit(score / 100) + beta * ladder-relative
    detail (100 * sigmoid of it is the ladder score; a score of 0 or 100 is not moved)."""
    return logit(score) + float(beta) * _relative_moved(score, detail, source_id)


def _relative_moved(score, detail, source_id) -> np.ndarray:
    return np.where(_movable(score), ladder_relative(detail, source_id), 0.0)


def _ladders(source_id) -> list[np.ndarray]:
    """The row indices of each source's renditions."""
    source_id = np.asarray(source_id)
    _, inverse = np.unique(source_id, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(inverse[order])) + 1) if len(order) else []


def _discordant(values, crf, ladders) -> int:
    n = 0
    for rows in ladders:
        c, v = crf[rows], values[rows]
        higher_crf = c[:, None] > c[None, :]  # [i, j]: i has the higher CRF
        n += int(np.count_nonzero(higher_crf & (v[:, None] > v[None, :])))
    return n


def discordant_pairs(score, detail, source_id, crf, beta: float) -> int:
    """Over all pairs of renditions of one source with different CRF, how many have the
    higher-CRF rendition's adjusted score (`adjusted`) strictly above the lower-CRF one's."""
    return _discordant(adjusted(score, detail, source_id, beta), np.asarray(crf),
                       _ladders(source_id))


def fit_weight(score, detail, source_id, crf, grid=GRID) -> tuple[float, list]:
    """(beta, table): beta the `grid` value with the fewest `discordant_pairs` (ties: the
    smallest such beta); table [(beta, discordant pairs)] for every grid value, in grid
    order."""
    grid = np.asarray(grid, np.float64)
    if grid.size == 0:
        raise ValueError("fit_weight needs a non-empty grid")
    base, rel = logit(score), _relative_moved(score, detail, source_id)
    crf, ladders = np.asarray(crf), _ladders(source_id)
    table = [(float(b), _discordant(base + b * rel, crf, ladders)) for b in grid]
    best = min(table, key=lambda row: (row[1], row[0]))
    return best[0], table


def write_weight(preset_dir: str, beta: float, output_dir: str | None = None) -> str:
    """Sets config["ladder_detail_weight"] = beta (4 decimals) in the task.json of
    `output_dir`, a copy of `preset_dir` (`shutil.copytree`; it must not exist yet), or of
    `preset_dir` itself when `output_dir` is None. Only task.json changes: the weight files
    stay byte-identical. Returns the directory written."""
    beta = round(float(beta), 4)
    if not np.isfinite(beta) or beta < 0:
        raise ValueError(f"ladder_detail_weight must be a finite number >= 0, got {beta!r}")
    source = os.path.join(preset_dir, TASK_JSON)
    if not os.path.isfile(source):
        raise FileNotFoundError(f"{preset_dir} has no {TASK_JSON}: not a saved task preset "
                                "(a directory written by CPLLM.save_to_preset)")
    with open(source) as f:
        task = json.load(f)
    try:
        task["config"]["ladder_detail_weight"] = beta
    except (KeyError, TypeError, IndexError):
        raise ValueError(f"{source} has no \"config\" object: not a saved task "
                         "preset") from None
    target = preset_dir
    if output_dir is not None:
        shutil.copytree(preset_dir, output_dir)
        target = output_dir
    path = os.path.join(target, TASK_JSON)
    with open(path, "w") as f:
        f.write(json.dumps(task, indent=4))  # as keras-hub writes it
    return target


def records_fit_data(preset: str, data_dir: str, split: str = "train",
                     batch_size: int = 32, with_vmaf: bool = False) -> tuple:
    """(score float64[N], fine_detail float64[N], source_id str[N], crf int[N]) of the
    renditions (crf >= 0) of `split` of the records in `data_dir`, scored by `preset`
    (`model.score`; `fine_detail` of the records' cells); with `with_vmaf` also the records'
    vmaf float64[N] (NaN where unmeasured). The records may hold fewer patches per frame
    than the preset scores with; their (K, S, P, T, Hf) must be the preset's."""
    from beam_pipelines import records
    from cpllm_model import CPLLM
    from cpllm_model.fine_detail import fine_detail
    from trainer import eval_callback, record_stream

    spec = records.RecordSpec.from_manifest(os.path.join(data_dir, "manifest.json"))
    model = CPLLM.from_preset(preset, score_only=True)
    spec.check_read_by(model.preprocessor, preset)
    data = record_stream.StreamingSplit(record_stream.load_index(data_dir, split, spec),
                                        spec)
    n, details, done = len(data), [], [0, time.monotonic()]

    def score(frames):
        out = model.score(frames)
        details.append(fine_detail(frames["low_patches"], frames["patch_mask"],
                                   model.backbone.low_level_frames).astype(np.float64))
        done[0] = min(done[0] + batch_size, n)
        if done[0] == n or time.monotonic() - done[1] > 10.0:
            print(f"  scored {done[0]} / {n} videos of {data_dir} ({split})", flush=True)
            done[1] = time.monotonic()
        return out["score"]

    scores = eval_callback.HeldOutEvaluator(data, batch_size).predict(score)
    # eval_batches pads only the last batch (by repeating row 0): drop the padding.
    detail = np.concatenate(details)[:len(scores)] if details else np.zeros(0)
    keep = np.asarray(data.crf) >= 0
    out = (scores[keep].astype(np.float64), detail[keep],
           np.asarray(data.source_id).astype(str)[keep], np.asarray(data.crf)[keep])
    if with_vmaf:
        out += (np.asarray(data.vmaf, np.float64)[keep],)
    return out


def spearman_with(vmaf, values) -> float:
    """Spearman's rho of `values` with `vmaf` where vmaf is finite (NaN if undefined)."""
    from scipy import stats

    vmaf, values = np.asarray(vmaf, np.float64), np.asarray(values, np.float64)
    ok = np.isfinite(vmaf)
    if ok.sum() < 2 or np.ptp(vmaf[ok]) == 0 or np.ptp(values[ok]) == 0:
        return float("nan")
    return float(stats.spearmanr(values[ok], vmaf[ok])[0])


def run_on_records(preset, data_dirs, split="train", write_to=None, write_in_place=False,
                   grid=GRID, batch_size=32):
    """`records_fit_data` of every directory, pooled (a ladder never spans two
    directories), fitted and printed; writes beta when asked. Returns (beta, table)."""
    if write_to and write_in_place:
        raise app.UsageError("--write_to and --write_in_place exclude each other")
    parts = []
    for k, d in enumerate(data_dirs):
        print(f"scoring the {split} renditions of {d} with {preset}", flush=True)
        s, det, src, crf, vmaf = records_fit_data(preset, d, split, batch_size,
                                                  with_vmaf=True)
        parts.append((s, det, np.char.add(f"{k}:", src), crf, vmaf))
    score, detail, source, crf, vmaf = (np.concatenate([p[i] for p in parts])
                                        for i in range(5))
    if len(score) == 0:
        raise ValueError(f"no renditions (crf >= 0) in the {split} split of {data_dirs}")
    ladders = _ladders(source)
    pairs = sum(int(np.count_nonzero(crf[r][:, None] > crf[r][None, :])) for r in ladders)
    print(f"{len(score)} renditions in {len(ladders)} ladders, {pairs} same-source pairs "
          f"of different CRF; {int(np.isfinite(vmaf).sum())} with VMAF")
    beta, table = fit_weight(score, detail, source, crf, grid)
    rel = _relative_moved(score, detail, source)
    print(f"{'beta':>6} {'discordant':>10} {'share':>7} {'SRCC vs VMAF':>13}")
    for b, n in table:
        rho = spearman_with(vmaf, logit(score) + b * rel)
        print(f"{b:6.2f} {n:10d} {n / max(pairs, 1):7.4f} {rho:13.4f}")
    print(f"chosen beta = {beta:.4f} ({dict(table)[beta]} discordant pairs; "
          f"{table[0][1]} at beta 0)")
    if write_to or write_in_place:
        where = write_weight(preset, beta, write_to if write_to else None)
        print(f"wrote ladder_detail_weight = {round(beta, 4)} into {where}/{TASK_JSON}")
    return beta, table


def define_flags():
    """The command line's flags (defined only when run as a program)."""
    flags.DEFINE_string("preset", None, "The preset (a saved task directory) to fit beta "
                        "for.")
    flags.DEFINE_multi_string("records", None, "Prepared records (beam_pipelines.prepare "
                              "output: manifest.json, <split>/) to fit on; repeatable.")
    flags.DEFINE_string("split", "train", "The --records split to fit on.")
    flags.DEFINE_string("write_to", None, "Write beta into a copy of --preset here (must "
                        "not exist yet).")
    flags.DEFINE_bool("write_in_place", False, "Write beta into --preset's own task.json.")
    flags.DEFINE_integer("batch_size", 32, "Videos scored per batch.")


def main(argv):
    del argv
    f = flags.FLAGS
    if not f.preset or not f.records:
        raise app.UsageError("--preset and --records are required")
    run_on_records(f.preset, f.records, f.split, f.write_to, f.write_in_place,
                   batch_size=f.batch_size)


if __name__ == "__main__":
    define_flags()
    app.run(main)
