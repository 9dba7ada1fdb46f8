"""trainer.metrics against values computed by hand on small arrays."""
import math

import numpy as np
import pytest

from trainer import metrics


def test_srcc_with_ties_matches_hand_computation():
    # ranks of y with average ranks for the tie: [1, 2, 3.5, 5, 3.5]
    # centred rank products: 4 + 1 + 0 + 2 + 1 = 8; sums of squares 10 and 9.5
    assert metrics.srcc([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))


def test_srcc_is_one_for_monotone_and_minus_one_for_reversed():
    x = [0.1, 0.5, 0.7, 3.0]
    assert metrics.srcc(x, [1, 10, 100, 1000]) == pytest.approx(1.0)
    assert metrics.srcc(x, [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_plcc_matches_hand_computation():
    # dx = [-1, 0, 1], dy = [-4/3, -1/3, 5/3]: r = 3 / sqrt(2 * 42/9) = 9 / sqrt(84)
    assert metrics.plcc([1, 2, 3], [1, 2, 4]) == pytest.approx(9 / math.sqrt(84))


def test_krcc_with_one_discordant_pair():
    # 6 pairs, 5 concordant, 1 discordant, no ties: tau = 4/6
    assert metrics.krcc([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)


@pytest.mark.parametrize("fn", [metrics.srcc, metrics.plcc, metrics.krcc,
                                metrics.correlations])
def test_constant_input_is_a_clear_error(fn):
    with pytest.raises(metrics.MetricError, match="constant"):
        fn([1, 2, 3, 4, 5], [3, 3, 3, 3, 3])
    with pytest.raises(metrics.MetricError, match="predictions are constant"):
        fn([7.0] * 5, [1, 2, 3, 4, 5])


def test_too_few_points_nan_and_length_mismatch_are_clear_errors():
    with pytest.raises(metrics.MetricError, match="at least 3"):
        metrics.srcc([1, 2], [2, 1])
    with pytest.raises(metrics.MetricError, match="not finite"):
        metrics.plcc([1, 2, float("nan"), 4], [1, 2, 3, 4])
    with pytest.raises(metrics.MetricError, match="differ in length"):
        metrics.plcc([1, 2, 3], [1, 2, 3, 4])
    with pytest.raises(metrics.MetricError, match="at least 5"):
        metrics.fit_logistic([1, 2, 3, 4], [1, 2, 3, 5])


def test_logistic_fit_recovers_known_curve_and_linearises_plcc():
    x = np.linspace(0, 100, 21)
    true = (80.0, 20.0, 50.0, 10.0)
    y = metrics.logistic_4(x, *true)
    # the logistic's value at its midpoint is (b1 + b2) / 2
    assert metrics.logistic_4(50.0, *true) == pytest.approx(50.0)
    value, fit = metrics.plcc_logistic(x, y)
    assert fit.converged, fit.message
    b1, b2, b3, b4 = fit.params
    assert (b1, b2, b3, abs(b4)) == pytest.approx(true, rel=1e-4)
    assert value == pytest.approx(1.0, abs=1e-9)
    assert metrics.plcc(x, y) < 0.99  # the raw PLCC sees the S shape


def test_logistic_non_convergence_is_reported_not_nan():
    x = np.linspace(0, 100, 21)
    y = metrics.logistic_4(x, 80.0, 20.0, 50.0, 10.0) + np.sin(x)
    value, fit = metrics.plcc_logistic(x, y, maxfev=3)
    assert value is None
    assert not fit.converged
    assert "maxfev" in fit.message or "RuntimeError" in fit.message
    with pytest.raises(metrics.MetricError, match="did not converge"):
        fit(x)


def test_correlations_dict_is_json_ready_and_reports_small_n():
    out = metrics.correlations([1, 2, 3, 4], [1, 3, 2, 4])
    assert out["n"] == 4
    assert out["plcc_logistic"] is None and out["logistic_converged"] is False
    assert "at least 5" in out["logistic_message"]
    out = metrics.correlations(np.arange(10.0), np.arange(10.0) ** 2)
    assert out["srcc"] == pytest.approx(1.0)
    assert out["logistic_converged"] is True
    assert out["plcc_logistic"] > out["plcc"]


def test_flip_rate_by_crf_difference_hand_counted():
    # source a: CRF 20 -> 80, 30 -> 70, 40 -> 75 (40 beats 30: one flip, diff 10)
    # source b: CRF 20 -> 60, 30 -> 60 (tie, diff 10), 40 -> 50
    src = ["a", "a", "a", "b", "b", "b"]
    crf = [20, 30, 40, 20, 30, 40]
    score = [80, 70, 75, 60, 60, 50]
    by_crf = metrics.flip_rate_by_diff(src, crf, score)
    assert [(g.key, g.pairs, g.flips, g.ties) for g in by_crf] == [(10, 4, 1, 1), (20, 2, 0, 0)]
    assert by_crf[0].flip_rate == 0.25 and by_crf[0].tie_rate == 0.25
    overall = metrics.flip_rate(src, crf, score)
    assert (overall.pairs, overall.flips, overall.ties) == (6, 1, 1)
    by_rung = metrics.flip_rate_by_diff(["a", "a", "a"], [18, 23, 35], [50, 49, 49.5],
                                        by="rung_diff")
    # pairs (18,23) rung 1 ok; (23,35) rung 1 flip; (18,35) rung 2 ok
    assert [(g.key, g.pairs, g.flips) for g in by_rung] == [(1, 2, 1), (2, 1, 0)]


def test_flip_rate_errors():
    with pytest.raises(metrics.MetricError, match="no pair"):
        metrics.flip_rate_by_diff(["a", "b"], [20, 30], [1.0, 2.0])
    with pytest.raises(metrics.MetricError, match="not finite"):
        metrics.flip_rate_by_diff(["a", "a"], [20, 30], [1.0, float("nan")])


def test_flip_rate_two_renditions_at_one_crf_are_not_compared():
    # a: x264 and x265 at CRF 20 (80, 60), CRF 30 at 70: pairs (20,30) twice, one flip
    groups = metrics.flip_rate_by_diff(["a", "a", "a"], [20, 20, 30], [80.0, 60.0, 70.0])
    assert [(g.key, g.pairs, g.flips) for g in groups] == [(10, 2, 1)]
