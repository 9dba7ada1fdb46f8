"""beam_pipelines.ladder_pairs, the one definition of a ladder's pairs and flips, and the
callers that count with it agreeing on the same ladders."""
import math
import random

import pytest

from beam_pipelines import flip_rate, ladder_pairs, rate_quality, report, schemas
from trainer import metrics


def test_pairs_flips_ties_and_rungs():
    pairs = ladder_pairs.ladder_pairs([(28, 70.0, "b"), (23, 80.0, "a"), (33, 75.0, "c"),
                                       (33, 70.0, "d")])
    got = [(p.crf_low, p.crf_high, p.rung_diff, p.flip, p.tie, p.item_low, p.item_high)
           for p in pairs]
    assert got == [(23, 28, 1, False, False, "a", "b"), (23, 33, 2, False, False, "a", "c"),
                   (23, 33, 2, False, False, "a", "d"), (28, 33, 1, True, False, "b", "c"),
                   (28, 33, 1, False, True, "b", "d")]  # same-CRF c, d never paired
    assert [p.crf_diff for p in pairs] == [5, 10, 10, 5, 5]


def test_catalog_rungs_fix_rung_diff_and_adjacent_only():
    scored = [(20, 9.0), (40, 8.0)]
    assert [p.rung_diff for p in ladder_pairs.ladder_pairs(scored)] == [1]
    assert [p.rung_diff for p in ladder_pairs.ladder_pairs(scored, rungs=[30])] == [2]
    three = [(20, 9.0), (30, 8.0), (40, 7.0)]
    assert [(p.crf_low, p.crf_high) for p in
            ladder_pairs.ladder_pairs(three, adjacent_only=True)] == [(20, 30), (30, 40)]


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_score_is_an_error_everywhere(bad):
    with pytest.raises(ladder_pairs.NonFiniteScore, match="CRF 30 is not finite"):
        ladder_pairs.ladder_pairs([(20, 1.0), (30, bad)])
    with pytest.raises(ValueError, match="not finite"):
        flip_rate.flip_rate_rows([("a", 20, 1.0), ("a", 30, bad)])
    with pytest.raises(metrics.MetricError, match="'a'.*not finite"):
        metrics.flip_rate(["a", "a"], [20, 30], [1.0, bad])
    rows = [{"video_id": f"a{c}", "source_id": "a", "crf": c, "score": s,
             "bitrate_kbps": 1000.0 / c} for c, s in ((20, 1.0), (30, bad))]
    results, errors = rate_quality.ladder_results(rows)
    assert not results and "not finite" in str(errors[("a", "a")])


def test_every_counter_agrees_on_random_ladders():
    rng = random.Random(0)
    rows = []
    for s in range(6):
        for crf in rng.sample(range(18, 45), 5) + [30]:  # CRF 30 twice in some
            rows.append({"video_id": f"s{s}c{crf}{len(rows)}", "source_id": f"s{s}",
                         "crf": crf, "score": float(rng.randint(40, 60))})
    want = {}
    for s in sorted({r["source_id"] for r in rows}):
        ladder = sorted((r for r in rows if r["source_id"] == s), key=lambda r: r["crf"])
        want[s] = ladder_pairs.ladder_pairs((r["crf"], r["score"]) for r in ladder)
        assert len(report.flipped_pairs(ladder)) == sum(p.flip for p in want[s])
        adjacent = [p for p in want[s] if p.rung_diff == 1]
        assert rate_quality.adjacent_crf_flips(ladder) == (len(adjacent),
                                                           sum(p.flip for p in adjacent))
    all_pairs = [p for ps in want.values() for p in ps]
    overall = metrics.flip_rate([r["source_id"] for r in rows], [r["crf"] for r in rows],
                                [r["score"] for r in rows])
    assert (overall.pairs, overall.flips, overall.ties) == (
        len(all_pairs), sum(p.flip for p in all_pairs), sum(p.tie for p in all_pairs))
    table = flip_rate.flip_rate_rows([(r["source_id"], r["crf"], r["score"]) for r in rows])
    pooled = [t for t in table if t["source_id"] == schemas.ALL_SOURCES
              and t["level"] == schemas.LEVEL_PAIR]
    assert sum(t["pairs"] for t in pooled) == overall.pairs
    assert sum(t["flips"] for t in pooled) == overall.flips > 0
    assert sum(t["ties"] for t in pooled) == overall.ties > 0
