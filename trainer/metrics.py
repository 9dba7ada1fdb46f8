"""The paper's quality-predictor criteria: SRCC, PLCC (raw and logistic-mapped), flip rate.

All functions take plain sequences or numpy arrays (`float[N]`) and never return a silent
NaN: too few points, non-finite values or a constant input raise `MetricError`, and a
4-parameter logistic fit that does not converge is reported in `LogisticFit.converged`
(its PLCC is then `None`, never a number from a failed fit).

The logistic is the standard VQEG mapping (monotonic, 4 parameters):

    f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2
"""
from __future__ import annotations

import dataclasses
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.optimize
import scipy.stats

from beam_pipelines import ladder_pairs as pairs_lib

MIN_POINTS = 3          # correlations
MIN_POINTS_LOGISTIC = 5  # 4 parameters + at least one degree of freedom


class MetricError(ValueError):
    """A metric cannot be computed on these inputs (with the reason)."""


def _as_pair(pred, label, *, min_points: int = MIN_POINTS) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(pred, dtype=np.float64).ravel()
    y = np.asarray(label, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise MetricError(f"predictions and labels differ in length: {x.size} vs {y.size}")
    if x.size < min_points:
        raise MetricError(f"need at least {min_points} points, got {x.size}")
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise MetricError(f"{int(bad.sum())} of {x.size} pairs are not finite (NaN/inf)")
    for name, v in (("predictions", x), ("labels", y)):
        if np.ptp(v) == 0.0:
            raise MetricError(f"{name} are constant ({v[0]!r} for all {v.size} points): "
                              "correlation is undefined")
    return x, y


def srcc(pred, label) -> float:
    """Spearman rank correlation (average ranks for ties) of `float[N]` vs `float[N]`."""
    x, y = _as_pair(pred, label)
    return float(scipy.stats.spearmanr(x, y).statistic)


def krcc(pred, label) -> float:
    """Kendall rank correlation (tau-b) of `float[N]` vs `float[N]`."""
    x, y = _as_pair(pred, label)
    return float(scipy.stats.kendalltau(x, y).statistic)


def plcc(pred, label) -> float:
    """Pearson linear correlation of the raw predictions with the labels."""
    x, y = _as_pair(pred, label)
    return float(scipy.stats.pearsonr(x, y).statistic)


def logistic_4(x, b1, b2, b3, b4):
    """The VQEG 4-parameter logistic; `x` float[N] -> float[N]."""
    z = np.clip(-(np.asarray(x, dtype=np.float64) - b3) / np.abs(b4), -500.0, 500.0)
    return (b1 - b2) / (1.0 + np.exp(z)) + b2


@dataclasses.dataclass(frozen=True)
class LogisticFit:
    """Result of fitting `logistic_4` from predictions to labels.

    params: (b1, b2, b3, b4), or None when the fit failed.
    converged: True when curve_fit converged to finite parameters with a finite
      covariance; False otherwise, with the reason in `message`.
    """

    params: tuple[float, float, float, float] | None
    converged: bool
    message: str

    def __call__(self, x) -> np.ndarray:
        if self.params is None:
            raise MetricError(f"logistic fit did not converge: {self.message}")
        return logistic_4(x, *self.params)


def fit_logistic(pred, label, *, maxfev: int = 20000) -> LogisticFit:
    """Fits `logistic_4` mapping predictions `float[N]` to labels `float[N]` (N >= 5)."""
    x, y = _as_pair(pred, label, min_points=MIN_POINTS_LOGISTIC)
    p0 = [float(y.max()), float(y.min()), float(np.mean(x)), float(np.std(x)) / 4.0 or 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.optimize.OptimizeWarning)
        try:
            params, cov = scipy.optimize.curve_fit(logistic_4, x, y, p0=p0, maxfev=maxfev)
        except (RuntimeError, scipy.optimize.OptimizeWarning) as e:
            return LogisticFit(None, False, f"{type(e).__name__}: {e}")
    if not np.all(np.isfinite(params)):
        return LogisticFit(None, False, f"non-finite parameters {params.tolist()}")
    if not np.all(np.isfinite(np.diag(cov))):
        return LogisticFit(None, False, "parameter covariance could not be estimated")
    return LogisticFit(tuple(float(p) for p in params), True, "converged")


def plcc_logistic(pred, label, *, maxfev: int = 20000) -> tuple[float | None, LogisticFit]:
    """PLCC after the 4-parameter logistic mapping: (plcc or None, the fit)."""
    fit = fit_logistic(pred, label, maxfev=maxfev)
    if not fit.converged:
        return None, fit
    x, y = _as_pair(pred, label, min_points=MIN_POINTS_LOGISTIC)
    mapped = fit(x)
    if np.ptp(mapped) == 0.0:
        return None, dataclasses.replace(fit, converged=False,
                                         message="fitted logistic is flat over the data")
    return float(scipy.stats.pearsonr(mapped, y).statistic), fit


def correlations(pred, label) -> dict:
    """All correlation criteria of predictions vs labels as one JSON-ready dict.

    Keys: n, srcc, krcc, plcc (raw), plcc_logistic (None if the fit did not converge),
    logistic_converged (bool), logistic_message, logistic_params (list or None).
    """
    x, y = _as_pair(pred, label)
    out = {"n": int(x.size), "srcc": srcc(x, y), "krcc": krcc(x, y), "plcc": plcc(x, y)}
    if x.size < MIN_POINTS_LOGISTIC:
        value, fit = None, LogisticFit(None, False, f"need at least {MIN_POINTS_LOGISTIC} "
                                                    f"points for the logistic, got {x.size}")
    else:
        value, fit = plcc_logistic(x, y)
    out.update(plcc_logistic=value, logistic_converged=fit.converged,
               logistic_message=fit.message,
               logistic_params=list(fit.params) if fit.params else None)
    return out


@dataclasses.dataclass(frozen=True)
class FlipCount:
    """Pairs of one group (same source, different CRF) and how they were ranked.

    flip: the higher-CRF rendition scored strictly higher. tie: equal scores.
    flip_rate = flips / pairs (ties are not flips; tie_rate reports them).
    """

    key: int
    pairs: int
    flips: int
    ties: int

    @property
    def flip_rate(self) -> float:
        return self.flips / self.pairs

    @property
    def tie_rate(self) -> float:
        return self.ties / self.pairs

    def as_dict(self, key_name: str) -> dict:
        return {key_name: self.key, "pairs": self.pairs, "flips": self.flips,
                "ties": self.ties, "flip_rate": self.flip_rate, "tie_rate": self.tie_rate}


def ladder_pairs(source_ids: Sequence, crfs: Sequence, scores: Sequence
                 ) -> Iterable[tuple[object, int, int, int, float, float]]:
    """Yields (source_id, crf_low, crf_high, rung_diff, score_low, score_high) for every
    pair of renditions of one source with different CRFs, as
    `beam_pipelines.ladder_pairs` defines them (the flip-rate table counts the same
    pairs). Raises MetricError for a score that is not finite."""
    by_source: dict = defaultdict(list)
    for s, c, v in zip(source_ids, crfs, scores):
        by_source[s].append((c, v))
    for s, renditions in by_source.items():
        try:
            pairs = pairs_lib.ladder_pairs(renditions)
        except pairs_lib.NonFiniteScore as e:
            raise MetricError(f"source {s!r}: {e}") from None
        for p in pairs:
            yield s, p.crf_low, p.crf_high, p.rung_diff, p.score_low, p.score_high


def flip_rate_by_diff(source_ids: Sequence, crfs: Sequence, scores: Sequence, *,
                      by: str = "crf_diff") -> list[FlipCount]:
    """Flip rate grouped by CRF difference (`by="crf_diff"`, the paper's Table 3) or by
    ladder rung difference (`by="rung_diff"`). Sorted by the difference; raises
    MetricError when there is no pair at all."""
    if by not in ("crf_diff", "rung_diff"):
        raise ValueError(f"by must be 'crf_diff' or 'rung_diff', got {by!r}")
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for _, lo, hi, rung_diff, s_lo, s_hi in ladder_pairs(source_ids, crfs, scores):
        c = counts[hi - lo if by == "crf_diff" else rung_diff]
        c[0] += 1
        c[1] += s_hi > s_lo
        c[2] += s_hi == s_lo
    if not counts:
        raise MetricError("no pair of renditions of one source with different CRFs")
    return [FlipCount(k, *counts[k]) for k in sorted(counts)]


def flip_rate(source_ids: Sequence, crfs: Sequence, scores: Sequence) -> FlipCount:
    """Overall flip rate over all same-source pairs (key = -1)."""
    groups = flip_rate_by_diff(source_ids, crfs, scores)
    return FlipCount(-1, sum(g.pairs for g in groups), sum(g.flips for g in groups),
                     sum(g.ties for g in groups))
