"""Held-out evaluation during training: SRCC, PLCC (vs labels and vs VMAF), flip rate.

`HeldOutEvaluator(split, batch_size)(score_fn)` scores every video of the held-out split
with `score_fn(frames batch) -> float[B]` (padded, fixed-shape batches: one compile) and
returns a flat dict of scalars for logs and TensorBoard:
  srcc, plcc                 vs the split's labels (pseudo-MOS)
  srcc_vmaf, plcc_vmaf       vs VMAF where measured
  flip_rate, tie_rate        over all same-source pairs of different CRF
  flip_rate_rung{d}          by rung distance d within each source's ladder
  flip_rate_crf{d}           by CRF difference d
and, for each named ladder of `ladders` ({"coarse": [18, 23, ...], ...}), the same keys
prefixed "coarse/" computed on the renditions whose CRF is in that ladder (a held-out
source can carry two spacings in one CRF set; each is evaluated as its own ladder).
Metrics that are undefined on the split (e.g. constant labels) are left out, never NaN.
"""
from __future__ import annotations

import numpy as np

from trainer import input_pipeline, metrics


class HeldOutEvaluator:
    def __init__(self, split: input_pipeline.Split, batch_size: int,
                 ladders: dict | None = None):
        self.split = split
        self.batch_size = batch_size
        self.ladders = ladders or {}

    def predict(self, score_fn) -> np.ndarray:
        """float32[N] scores of the split, in split order."""
        out = []
        for batch, valid in input_pipeline.eval_batches(self.split, self.batch_size):
            out.append(np.asarray(score_fn(batch), np.float32)[:valid])
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def __call__(self, score_fn) -> dict:
        return evaluate_scores(self.split, self.predict(score_fn), self.ladders)


def evaluate_scores(split: input_pipeline.Split, scores: np.ndarray,
                    ladders: dict | None = None) -> dict:
    """The metrics of `scores` float[N] on `split` (see the module docstring)."""
    out = _metrics(split.label, split.vmaf, split.source_id, split.crf, scores,
                   split.crf >= 0)
    for name, crfs in (ladders or {}).items():
        sel = np.isin(split.crf, np.asarray(crfs))
        if sel.any():
            out.update({f"{name}/{k}": v for k, v in _metrics(
                split.label[sel], split.vmaf[sel], split.source_id[sel], split.crf[sel],
                scores[sel], np.ones(int(sel.sum()), bool)).items()})
    return out


def _metrics(label, vmaf, source_id, crfs, scores, ladder) -> dict:
    out = {"n": float(len(scores)), "score_mean": float(np.mean(scores)),
           "score_std": float(np.std(scores))}
    for suffix, target in (("", label), ("_vmaf", vmaf)):
        ok = np.isfinite(target)
        try:
            out["srcc" + suffix] = metrics.srcc(scores[ok], target[ok])
            out["plcc" + suffix] = metrics.plcc(scores[ok], target[ok])
        except metrics.MetricError:
            pass
    src, crf, sc = source_id[ladder], crfs[ladder], scores[ladder]
    try:
        overall = metrics.flip_rate(src, crf, sc)
        out["flip_rate"] = overall.flips / overall.pairs
        out["tie_rate"] = overall.ties / overall.pairs
        for by, name in (("rung_diff", "rung"), ("crf_diff", "crf")):
            for fc in metrics.flip_rate_by_diff(src, crf, sc, by=by):
                out[f"flip_rate_{name}{fc.key}"] = fc.flips / fc.pairs
                out[f"pairs_{name}{fc.key}"] = float(fc.pairs)
    except metrics.MetricError:
        pass
    return out
