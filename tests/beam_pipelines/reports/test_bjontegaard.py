"""beam_pipelines.bjontegaard: BD-rate against hand-computed cases."""
import math

import numpy as np
import pytest

from beam_pipelines import bjontegaard as bj

Q = [30.0, 50.0, 70.0, 90.0]
R = [100.0, 300.0, 900.0, 2700.0]  # log-rate linear in quality: x3 per 20 points


@pytest.mark.parametrize("piecewise", [False, True])
def test_halved_rates_at_the_same_qualities_is_minus_50_percent(piecewise):
    res = bj.bd_rate(R, Q, [r / 2 for r in R], Q, piecewise=piecewise)
    assert res.status == bj.OK and (res.quality_low, res.quality_high) == (30.0, 90.0)
    assert res.bd_rate_percent == pytest.approx(-50.0, abs=1e-9)
    back = bj.bd_rate([r / 2 for r in R], Q, R, Q, piecewise=piecewise)
    assert back.bd_rate_percent == pytest.approx(100.0, abs=1e-9)  # A costs twice B


@pytest.mark.parametrize("piecewise", [False, True])
def test_quality_shift_on_a_log_linear_ladder_has_a_closed_form(piecewise):
    # log r_A(q) = a + s q with s = ln 3 / 20; B reaches each rate 5 points higher:
    # log r_B(q) = a + s (q - 5), so log r_B - log r_A = -5 s everywhere and
    # BD-rate = exp(-5 s) - 1 = 3 ** (-1/4) - 1 over the overlap [35, 90].
    res = bj.bd_rate(R, Q, R, [q + 5 for q in Q], piecewise=piecewise)
    assert (res.quality_low, res.quality_high) == (35.0, 90.0)
    assert res.bd_rate_percent == pytest.approx((3 ** -0.25 - 1) * 100, abs=1e-9)
    assert res.bd_rate_percent == pytest.approx(-24.0164, abs=1e-4)


def _cubic_bd_by_hand(ra, qa, rb, qb):
    """The BD-rate formula written out: fit, integrate the cubic term by term."""
    lo, hi = max(min(qa), min(qb)), min(max(qa), max(qb))

    def integral(q, r):
        c3, c2, c1, c0 = np.polyfit(q, np.log(r), 3)
        f = lambda x: c3 * x**4 / 4 + c2 * x**3 / 3 + c1 * x**2 / 2 + c0 * x  # noqa: E731
        return f(hi) - f(lo)

    return (math.exp((integral(qb, rb) - integral(qa, ra)) / (hi - lo)) - 1) * 100


def test_curved_ladders_match_the_formula_written_out():
    # Realistic ladders: quality saturating with rate, B shifted and bent.
    ra = [250.0, 500.0, 1000.0, 2000.0, 4000.0]
    qa = [42.0, 58.5, 71.0, 80.2, 86.0]
    rb = [200.0, 420.0, 800.0, 1700.0, 3500.0]
    qb = [44.0, 60.0, 73.5, 82.0, 88.5]
    expected = _cubic_bd_by_hand(ra, qa, rb, qb)
    res = bj.bd_rate(ra, qa, rb, qb)
    assert res.status == bj.OK and res.bd_rate_percent == pytest.approx(expected, rel=1e-9)
    assert res.bd_rate_percent < 0  # B is cheaper at every quality
    pchip = bj.bd_rate(ra, qa, rb, qb, piecewise=True)
    assert pchip.bd_rate_percent < 0
    assert pchip.bd_rate_percent == pytest.approx(res.bd_rate_percent, abs=3.0)


def test_too_few_rungs_no_overlap_and_bad_values_are_reported():
    few = bj.bd_rate(R[:3], Q[:3], R, Q)
    assert few.status == bj.TOO_FEW_RUNGS and few.bd_rate_percent is None
    assert "A has 3 usable rungs" in few.reason and (few.rungs_a, few.rungs_b) == (3, 4)
    # A NaN quality and a zero rate are left out, leaving too few rungs.
    bad = bj.bd_rate(R, [30.0, 50.0, 70.0, math.nan], [0.0, *R[1:]], Q)
    assert bad.status == bj.TOO_FEW_RUNGS and "left out" in bad.reason
    # Four rungs but only three distinct qualities (VMAF saturating).
    flat = bj.bd_rate(R, [30.0, 50.0, 100.0, 100.0], R, Q)
    assert flat.status == bj.TOO_FEW_RUNGS and "3 distinct" in flat.reason
    apart = bj.bd_rate(R, Q, R, [q + 100 for q in Q])
    assert apart.status == bj.NO_OVERLAP and apart.bd_rate_percent is None
    assert "do not overlap" in apart.reason


def test_rungs_beaten_by_a_cheaper_rung_are_counted():
    assert bj.beaten_rungs(R, Q) == 0
    assert bj.beaten_rungs(R, [30.0, 50.0, 100.0, 100.0]) == 0  # level, not beaten
    # The bottom of a ladder that collapses (a rotating gradient at CRF 34-49): the
    # rungs at 11, 25 and 463 kbps score below the 9 or 20 kbps rung.
    rates = [9.0, 11.0, 20.0, 25.0, 463.0, 1604.0, 3228.0]
    scores = [77.8, 76.7, 82.8, 67.0, 69.5, 80.7, 85.9]
    assert bj.beaten_rungs(rates, scores) == 4
    res = bj.bd_rate(rates, scores, R, Q)
    assert res.status == bj.OK and (res.beaten_a, res.beaten_b) == (4, 0)
    assert bj.bd_rate(R[:3], Q[:3], rates, scores).beaten_b == 4  # told also without one


# Rising rungs whose qualities bunch up: 62-68 over a 16x range of rate, 10 at the
# bottom (a generated pattern that the score calls flat until it collapses).
BUNCHED_R = [100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0]
BUNCHED_Q = [10.0, 62.0, 64.0, 66.0, 67.0, 68.0]


def test_a_cubic_that_bends_back_through_rising_rungs_is_flagged():
    assert bj.beaten_rungs(BUNCHED_R, BUNCHED_Q) == 0
    qb = [q + d for q, d in zip(BUNCHED_Q, [0.0, 1.0, 2.0, 2.0, 1.0, 0.0])]
    rb = [r * 0.9 for r in BUNCHED_R]  # B: 10 % cheaper and a little better everywhere
    cubic = bj.bd_rate(BUNCHED_R, BUNCHED_Q, rb, qb)
    # The least-squares cubic of log-rate falls between the bottom rung and the bunch,
    # and the integral runs away: B is called 10^5 times dearer.
    assert cubic.status == bj.OK and cubic.bd_rate_percent > 1e5
    assert (cubic.beaten_a, cubic.beaten_b) == (0, 0)
    assert cubic.fit_fall_a > 100 and cubic.fit_fall_b > bj.FIT_FALL_LIMIT
    # PCHIP through the same rising rungs cannot fall; it says B is cheaper.
    pchip = bj.bd_rate(BUNCHED_R, BUNCHED_Q, rb, qb, piecewise=True)
    assert (pchip.fit_fall_a, pchip.fit_fall_b) == (1.0, 1.0)
    assert -40.0 < pchip.bd_rate_percent < -10.0
    # Well-spread qualities: neither fit falls.
    for piecewise in (False, True):
        res = bj.bd_rate(R, Q, [r / 2 for r in R], Q, piecewise=piecewise)
        assert (res.fit_fall_a, res.fit_fall_b) == (1.0, 1.0)
    assert bj.bd_rate(R[:3], Q[:3], R, Q).fit_fall_a is None  # no fit, no answer


def test_fit_fall_factor_reads_the_fit_inside_the_interval_only():
    # log-rate = (q - 50)^2 / 100: falls from 16 at q = 10 to 0 at q = 50, then rises.
    q = np.array([50.0, 60.0, 70.0, 80.0, 90.0])
    fit = bj._fit_cubic(np.concatenate([q - 40, q]),
                        np.concatenate([(q - 40 - 50) ** 2, (q - 50) ** 2]) / 100)
    assert bj.fit_fall_factor(fit, 10.0, 90.0) == pytest.approx(math.exp(16.0), rel=1e-6)
    assert bj.fit_fall_factor(fit, 30.0, 90.0) == pytest.approx(math.exp(4.0), rel=1e-5)
    assert bj.fit_fall_factor(fit, 50.5, 90.0) == 1.0
