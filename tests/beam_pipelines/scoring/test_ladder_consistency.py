"""Ladder consistency: the adjustment against hand-computed cases, what it leaves alone,
order independence, and the Beam transform against the pure function."""
import math
import random

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_pipelines import ladder_consistency, runner

adjust = ladder_consistency.adjust_ladder


def row(video_id, score, detail, source="s", crf=None, ladder=None, height=360):
    return {"video_id": video_id, "source_id": source, "ladder_id": ladder, "crf": crf,
            "score": score, "score_alone": score, "fine_detail": detail,
            "width": height * 16 // 9, "height": height, "display_height": None}


def sigmoid_score(score, shift):
    z = math.log(score / (100 - score)) + shift
    return 100 / (1 + math.exp(-z))


def test_each_rung_moves_by_its_detail_relative_to_the_ladder_mean():
    rows = [row("a", 60.0, 3.0, crf=20), row("b", 62.0, 2.0, crf=30),
            row("c", 40.0, 1.0, crf=40)]
    out = {r["video_id"]: r for r in adjust(rows, 2.0)}
    # mean detail 2.0: a +1, b 0, c -1 on the logit scale, times beta 2
    assert out["a"]["score"] == pytest.approx(100 / (1 + math.exp(-(math.log(60 / 40) + 2))))
    assert out["b"]["score"] == pytest.approx(62.0)
    assert out["c"]["score"] == pytest.approx(sigmoid_score(40.0, -2.0))
    # The model's own scores are kept; the flip b > a is gone.
    assert [out[v]["score_alone"] for v in "abc"] == [60.0, 62.0, 40.0]
    assert out["a"]["score"] > out["b"]["score"] > out["c"]["score"]


def test_weight_zero_or_a_ladder_of_one_keeps_the_models_scores():
    rows = [row("a", 60.0, 3.0, crf=20), row("b", 62.0, 2.0, crf=30)]
    assert [r["score"] for r in adjust(rows, 0.0)] == [60.0, 62.0]
    assert [r["score"] for r in adjust(rows[:1], 5.0)] == [60.0]
    # A rung without a fine_detail neither moves nor counts towards the mean.
    rows = [row("a", 60.0, 3.0, crf=20), row("b", 62.0, None, crf=30),
            row("c", 40.0, 1.0, crf=40)]
    out = {r["video_id"]: r["score"] for r in adjust(rows, 1.0)}
    assert out["b"] == 62.0
    assert out["a"] == pytest.approx(sigmoid_score(60.0, 1.0))
    assert out["c"] == pytest.approx(sigmoid_score(40.0, -1.0))


def test_the_ladders_source_is_adjusted_but_not_in_the_mean():
    rows = [row("s", 90.0, 5.0), row("a", 60.0, 3.0, crf=20), row("b", 50.0, 1.0, crf=30)]
    out = {r["video_id"]: r["score"] for r in adjust(rows, 1.0)}
    assert out["a"] == pytest.approx(sigmoid_score(60.0, 1.0))  # mean of a, b only: 2.0
    assert out["s"] == pytest.approx(sigmoid_score(90.0, 3.0))
    # With only the source and one rung there is no ladder to read against.
    assert [r["score"] for r in adjust(rows[:2], 1.0)] == [90.0, 60.0]


def test_two_encoders_ladders_of_a_source_share_one_mean():
    # x265's rungs kept more detail than x264's at the same CRFs: one mean (2.5) for all
    # four, so the step does not take that difference out of the scores BD-rate compares.
    rows = [row("a", 60.0, 2.0, crf=20, ladder="x264"), row("b", 50.0, 1.0, crf=30,
                                                              ladder="x264"),
            row("c", 60.0, 4.0, crf=20, ladder="x265"), row("d", 50.0, 3.0, crf=30,
                                                              ladder="x265")]
    out = {r["video_id"]: r["score"] for r in adjust(rows, 1.0)}
    assert out["a"] == pytest.approx(sigmoid_score(60.0, -0.5))
    assert out["c"] == pytest.approx(sigmoid_score(60.0, 1.5))
    assert out["c"] > out["a"] and out["d"] > out["b"]


def test_rungs_of_different_frame_sizes_are_read_size_by_size():
    rows = [row("a", 60.0, 3.0, crf=20), row("b", 62.0, 1.0, crf=30),
            row("small_a", 50.0, 5.0, crf=20, height=180),
            row("small_b", 40.0, 4.0, crf=30, height=180),
            row("lone", 30.0, 9.0, crf=20, height=720)]
    out = {r["video_id"]: r["score"] for r in adjust(rows, 1.0)}
    assert out["a"] == pytest.approx(sigmoid_score(60.0, 1.0))  # mean of a, b: 2.0
    assert out["small_a"] == pytest.approx(sigmoid_score(50.0, 0.5))  # mean 4.5
    assert out["small_b"] == pytest.approx(sigmoid_score(40.0, -0.5))
    assert out["lone"] == 30.0  # the only rung of its size
    # Shown at one display height, rungs of two sizes are still two groups.
    shown = [{**r, "display_height": 720} for r in rows[:4]]
    assert [r["score"] for r in adjust(shown, 1.0)] == [out[v] for v in
                                                        ("a", "b", "small_a", "small_b")]


def test_scores_stay_inside_0_100_and_do_not_depend_on_row_order():
    rng = random.Random(0)
    rows = [row(f"v{i}", rng.uniform(0.5, 99.5), rng.uniform(0, 4), crf=15 + i)
            for i in range(12)]
    rows.append(row("edge", 100.0, 9.0, crf=50))  # a saturated score is left as it is
    first = {r["video_id"]: r["score"] for r in adjust(rows, 40.0)}
    assert all(0.0 <= s <= 100.0 for s in first.values())
    assert first["edge"] == 100.0
    for _ in range(3):
        rng.shuffle(rows)
        again = {r["video_id"]: r["score"] for r in adjust(rows, 40.0)}
        assert again == first  # bit for bit: the mean is summed in video_id order


def test_transform_adjusts_each_source_apart_and_passes_rows_without_one():
    rows = [row("a", 60.0, 3.0, crf=20), row("b", 62.0, 2.0, crf=30),
            row("x1", 70.0, 1.0, source="s", ladder="x265", crf=20),
            row("x2", 75.0, 0.5, source="s", ladder="x265", crf=30),
            row("t1", 50.0, 2.0, source="t", crf=20), row("t2", 30.0, 2.0, source="t", crf=30),
            {**row("loose", 44.0, 1.0, source=None), "score": None}]
    # Source s's two encoders' ladders are read together, source t apart.
    expected = adjust(rows[:4], 1.5) + adjust(rows[4:6], 1.5) + [{**rows[6], "score": 44.0}]
    assert expected[0]["score"] != 60.0 and expected[2]["score"] != 70.0
    p = test_pipeline.TestPipeline(runner=runner.offline_runner(PipelineOptions([])))
    out = p | beam.Create(rows) | ladder_consistency.LadderConsistency(1.5)
    assert_that(out, equal_to(expected))
    p.run().wait_until_finish()


def test_a_bad_weight_is_refused():
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number >= 0"):
            ladder_consistency.LadderConsistency(bad)
