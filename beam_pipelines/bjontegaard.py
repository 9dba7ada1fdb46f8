"""Bjøntegaard delta rate (BD-rate): pure math, no Beam, no I/O.

BD-rate of ladder B against ladder A is the mean bitrate difference at equal quality
(G. Bjøntegaard, VCEG-M33, 2001; the piecewise-cubic variant of VCEG-AL22 / JCTVC-L0242):

    for each ladder, fit log(rate) as a function of quality
        cubic:     least-squares polynomial of degree 3 (numpy.polyfit)
        piecewise: monotone piecewise-cubic Hermite interpolation
                   (scipy.interpolate.PchipInterpolator) through the rungs
    over the overlapping quality interval [lo, hi] =
        [max(min q_A, min q_B), min(max q_A, max q_B)]
    d = (integral of (log r_B - log r_A) dq over [lo, hi]) / (hi - lo)
    BD-rate = (exp(d) - 1) * 100  percent

Negative: B needs fewer bits than A for the same quality (B is better). Rates in any unit
(both ladders in the same one); qualities higher-is-better (our score, VMAF, ...).

A ladder needs at least ``MIN_RUNGS`` rungs with ``MIN_RUNGS`` distinct qualities (a
cubic has 4 coefficients); rungs with a non-positive or non-finite rate or a non-finite
quality are left out first. Equal qualities within one ladder (VMAF saturating at 100)
are merged for the piecewise fit (mean log rate). No answer comes back as a result with a
``status`` and a ``reason``, never as an exception.

Both fits assume quality rises with rate. Each result counts the rungs of each ladder
that a cheaper rung of the same ladder beats on quality (``beaten_a``, ``beaten_b``):
above 0, log-rate is not a function of quality over the whole ladder, and a few points of
quality can move the BD-rate by tens of percent or change its sign. Each result also
gives how far each ladder's fit bends back inside the overlap (``fit_fall_a``,
``fit_fall_b``, `fit_fall_factor`): the largest factor by which the fitted rate at a
lower quality exceeds the fitted rate at a higher one, 1.0 for a fit that never falls. A
fit through rungs that all rise can still bend back when the qualities bunch up (a
ladder that scores 62–68 over a 16× range of rate and 10 at the bottom), and the cubic
then runs away: +10⁷ % where the rungs say a few tens. Small wiggles are common (a
cubic through VMAF rungs that saturate near 100 dips by a few percent); above
``FIT_FALL_LIMIT`` the fit is no rate–quality curve and, like a beaten rung, makes the
BD-rate unreliable.
"""
from __future__ import annotations

import dataclasses

import numpy as np

MIN_RUNGS = 4
OK = "ok"
TOO_FEW_RUNGS = "too_few_rungs"
NO_OVERLAP = "no_overlap"
STATUSES = (OK, TOO_FEW_RUNGS, NO_OVERLAP)


@dataclasses.dataclass(frozen=True)
class BDResult:
    """bd_rate_percent: None unless status is "ok"; quality_low/high: the overlap
    interval (None when a ladder has too few rungs); beaten_a/b: `beaten_rungs` of
    each ladder's usable rungs; fit_fall_a/b: `fit_fall_factor` of each ladder's fit
    over the overlap (None without a BD-rate)."""

    status: str
    bd_rate_percent: float | None
    quality_low: float | None
    quality_high: float | None
    rungs_a: int
    rungs_b: int
    reason: str = ""
    beaten_a: int = 0
    beaten_b: int = 0
    fit_fall_a: float | None = None
    fit_fall_b: float | None = None


def _clean(rates, qualities):
    r = np.asarray(rates, dtype=float).ravel()
    q = np.asarray(qualities, dtype=float).ravel()
    if r.shape != q.shape:
        raise ValueError(f"{r.size} rates but {q.size} qualities")
    keep = np.isfinite(r) & (r > 0) & np.isfinite(q)
    return r[keep], q[keep], int(r.size - keep.sum())


def beaten_rungs(rates, qualities) -> int:
    """How many rungs have a strictly cheaper rung of strictly higher quality (0 when
    quality rises, or stays level, with rate): float[N], float[N] -> int."""
    r = np.asarray(rates, dtype=float).ravel()
    q = np.asarray(qualities, dtype=float).ravel()
    return int(sum(bool(np.any((r < r[i]) & (q > q[i]))) for i in range(r.size)))


# Qualities of the overlap, evenly spaced, at which `fit_fall_factor` reads a fit.
FIT_POINTS = 1025
# Above this `fit_fall_factor` a fit is no rate-quality curve: its BD-rate is unreliable.
# On 36 held-out titles (docs/EVALUATION.md "BD-rate") cubic fits that merely wiggle
# reach 1.29 (model score) and 1.20 (VMAF); those that bend back, 2.25-4.79 (score) and
# 1.40-3.61 (VMAF); a runaway, 10^4 and more.
FIT_FALL_LIMIT = 1.5


def _fit_cubic(q, log_r):
    """log-rate(quality) as a `numpy.poly1d` least-squares cubic."""
    return np.poly1d(np.polyfit(q, log_r, 3))


def _fit_pchip(q, log_r):
    """log-rate(quality) as a `PchipInterpolator` through the rungs (equal qualities
    merged: mean log-rate)."""
    from scipy.interpolate import PchipInterpolator

    uq, inverse = np.unique(q, return_inverse=True)
    mean_log_r = np.bincount(inverse, weights=log_r) / np.bincount(inverse)
    return PchipInterpolator(uq, mean_log_r)


def _integral(fit, lo, hi) -> float:
    if isinstance(fit, np.poly1d):
        p = np.polyint(fit)
        return float(p(hi) - p(lo))
    return float(fit.integrate(lo, hi))


def fit_fall_factor(fit, lo, hi) -> float:
    """The largest factor by which a fit of log-rate on quality (`_fit_cubic` or
    `_fit_pchip`) gives a higher rate at a lower quality than at a higher one inside
    [lo, hi], read at `FIT_POINTS` evenly spaced qualities: 1.0 when it never falls."""
    log_r = fit(np.linspace(lo, hi, FIT_POINTS))
    return float(np.exp(np.max(np.maximum.accumulate(log_r) - log_r)))


def bd_rate(rates_a, qualities_a, rates_b, qualities_b, *, piecewise=False) -> BDResult:
    """BD-rate (percent) of ladder B against ladder A at equal quality; see the module."""
    ra, qa, dropped_a = _clean(rates_a, qualities_a)
    rb, qb, dropped_b = _clean(rates_b, qualities_b)
    n_a, n_b = int(ra.size), int(rb.size)
    beaten = {"beaten_a": beaten_rungs(ra, qa), "beaten_b": beaten_rungs(rb, qb)}
    short = []
    for name, r, q, dropped in (("A", ra, qa, dropped_a), ("B", rb, qb, dropped_b)):
        distinct = int(np.unique(q).size)
        if r.size < MIN_RUNGS or distinct < MIN_RUNGS:
            extra = f", {dropped} left out (no rate or quality)" if dropped else ""
            short.append(f"{name} has {r.size} usable rungs with {distinct} distinct "
                         f"qualities{extra}")
    if short:
        return BDResult(TOO_FEW_RUNGS, None, None, None, n_a, n_b,
                        "; ".join(short) + f" (at least {MIN_RUNGS} needed)", **beaten)
    lo, hi = max(qa.min(), qb.min()), min(qa.max(), qb.max())
    if not hi > lo:
        return BDResult(NO_OVERLAP, None, None, None, n_a, n_b,
                        f"quality ranges do not overlap: A [{qa.min():.4g}, {qa.max():.4g}], "
                        f"B [{qb.min():.4g}, {qb.max():.4g}]", **beaten)
    fit = _fit_pchip if piecewise else _fit_cubic
    fit_a, fit_b = fit(qa, np.log(ra)), fit(qb, np.log(rb))
    d = (_integral(fit_b, lo, hi) - _integral(fit_a, lo, hi)) / (hi - lo)
    return BDResult(OK, float(np.expm1(d) * 100.0), float(lo), float(hi), n_a, n_b,
                    fit_fall_a=fit_fall_factor(fit_a, lo, hi),
                    fit_fall_b=fit_fall_factor(fit_b, lo, hi), **beaten)
