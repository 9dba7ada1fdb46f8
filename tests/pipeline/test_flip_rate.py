"""Flip-rate table against a hand-computed expectation (given scores, not model output)."""
import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_pipelines import flip_rate, runner, schemas

# Two ladders with known scores.
#   s1: crf 20 -> 70, 30 -> 75 (flip), 40 -> 60        (rungs 0, 1, 2)
#   s2: crf 20 -> 80, 30 -> 80 (tie),   40 -> 81 (flip vs 30 and vs 20)
#   s3: crf 25 only (no pair); plus rows without a ladder, which are ignored.
SCORES = [
    ("s1", 20, 70.0), ("s1", 30, 75.0), ("s1", 40, 60.0),
    ("s2", 20, 80.0), ("s2", 30, 80.0), ("s2", 40, 81.0),
    ("s3", 25, 50.0),
    (None, 30, 10.0), ("s4", None, 10.0),
]


def _row(source, level, lo, hi, diff, pairs, flips, ties):
    return {"source_id": source, "level": level, "crf_low": lo, "crf_high": hi,
            "rung_diff": diff, "pairs": pairs, "flips": flips, "ties": ties,
            "flip_rate": flips / pairs}


P, R = schemas.LEVEL_PAIR, schemas.LEVEL_RUNG_DIFF
EXPECTED = [
    # s1: (20,30) flip; (30,40) ok; (20,40) ok
    _row("s1", P, 20, 30, 1, 1, 1, 0), _row("s1", P, 30, 40, 1, 1, 0, 0),
    _row("s1", P, 20, 40, 2, 1, 0, 0),
    _row("s1", R, None, None, 1, 2, 1, 0), _row("s1", R, None, None, 2, 1, 0, 0),
    # s2: (20,30) tie; (30,40) flip; (20,40) flip
    _row("s2", P, 20, 30, 1, 1, 0, 1), _row("s2", P, 30, 40, 1, 1, 1, 0),
    _row("s2", P, 20, 40, 2, 1, 1, 0),
    _row("s2", R, None, None, 1, 2, 1, 1), _row("s2", R, None, None, 2, 1, 1, 0),
    # all sources
    _row("*", P, 20, 30, 1, 2, 1, 1), _row("*", P, 30, 40, 1, 2, 1, 0),
    _row("*", P, 20, 40, 2, 2, 1, 0),
    _row("*", R, None, None, 1, 4, 2, 1), _row("*", R, None, None, 2, 2, 1, 0),
]


def test_pure_function_matches_hand_computed():
    assert sorted(flip_rate.flip_rate_rows(SCORES), key=str) == sorted(EXPECTED, key=str)
    assert flip_rate.overall_flip_rate(SCORES) == pytest.approx(3 / 6)


def test_beam_transform_matches_hand_computed_and_schema():
    rows = [{"video_id": f"v{i}", "source_id": s, "crf": c, "score": x}
            for i, (s, c, x) in enumerate(SCORES)]
    p = test_pipeline.TestPipeline(runner=runner.offline_runner(PipelineOptions([])))
    out = p | beam.Create(rows) | flip_rate.FlipRate()
    assert_that(out, equal_to(EXPECTED))
    p.run().wait_until_finish()
    # The rows fit the Parquet schema exactly.
    assert pa.Table.from_pylist(EXPECTED, schema=schemas.FLIP_RATE_SCHEMA).num_rows == 15


def test_rung_diff_uses_each_sources_own_ladder():
    rows = flip_rate.flip_rate_rows([("a", 18, 3.0), ("a", 30, 2.0), ("b", 18, 3.0),
                                     ("b", 24, 2.5), ("b", 30, 2.0)])
    pairs = sorted((r["source_id"], r["crf_low"], r["crf_high"], r["rung_diff"], r["pairs"])
                   for r in rows if r["level"] == P)
    assert pairs == [
        ("*", 18, 24, 1, 1), ("*", 18, 30, 1, 1), ("*", 18, 30, 2, 1), ("*", 24, 30, 1, 1),
        ("a", 18, 30, 1, 1),
        ("b", 18, 24, 1, 1), ("b", 18, 30, 2, 1), ("b", 24, 30, 1, 1),
    ]


def test_same_crf_renditions_are_not_pairs():
    rows = flip_rate.flip_rate_rows([("a", 23, 1.0), ("a", 23, 2.0)])
    assert rows == []
    assert flip_rate.overall_flip_rate([]) != flip_rate.overall_flip_rate([])  # NaN
