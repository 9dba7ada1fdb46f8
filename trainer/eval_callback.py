"""Held-out evaluation during training: SRCC, PLCC (vs labels and vs VMAF), flip rate.

`HeldOutEvaluator(split, batch_size)(score_fn)` scores every video of the held-out split
with `score_fn(frames batch) -> float[B]` (padded, fixed-shape batches: one compile) and
returns a flat dict of scalars for logs and TensorBoard:
  srcc, plcc                 vs the split's labels (pseudo-MOS)
  srcc_vmaf, plcc_vmaf       vs VMAF where measured
  flip_rate, tie_rate        over all same-source pairs of different CRF
  flip_rate_rung{d}          by rung distance d within each source's ladder
  flip_rate_crf{d}           by CRF difference d
Metrics that are undefined on the split (e.g. constant labels) are left out, never NaN.
"""
from __future__ import annotations

import numpy as np

from trainer import input_pipeline, metrics


class HeldOutEvaluator:
    def __init__(self, split: input_pipeline.Split, batch_size: int):
        self.split = split
        self.batch_size = batch_size

    def predict(self, score_fn) -> np.ndarray:
        """float32[N] scores of the split, in split order."""
        out = []
        for batch, valid in input_pipeline.eval_batches(self.split, self.batch_size):
            out.append(np.asarray(score_fn(batch), np.float32)[:valid])
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def __call__(self, score_fn) -> dict:
        return evaluate_scores(self.split, self.predict(score_fn))


def evaluate_scores(split: input_pipeline.Split, scores: np.ndarray) -> dict:
    """The metrics of `scores` float[N] on `split` (see the module docstring)."""
    out = {"n": float(len(scores)), "score_mean": float(np.mean(scores)),
           "score_std": float(np.std(scores))}
    for suffix, target in (("", split.label), ("_vmaf", split.vmaf)):
        ok = np.isfinite(target)
        try:
            out["srcc" + suffix] = metrics.srcc(scores[ok], target[ok])
            out["plcc" + suffix] = metrics.plcc(scores[ok], target[ok])
        except metrics.MetricError:
            pass
    ladder = split.crf >= 0
    src, crf, sc = split.source_id[ladder], split.crf[ladder], scores[ladder]
    try:
        overall = metrics.flip_rate(src, crf, sc)
        out["flip_rate"] = overall.flips / overall.pairs
        out["tie_rate"] = overall.ties / overall.pairs
        for by, name in (("rung_diff", "rung"), ("crf_diff", "crf")):
            for fc in metrics.flip_rate_by_diff(src, crf, sc, by=by):
                out[f"flip_rate_{name}{fc.key}"] = fc.flips / fc.pairs
    except metrics.MetricError:
        pass
    return out
