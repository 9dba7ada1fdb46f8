"""Flip-rate table against a hand-computed expectation (given scores, not model output)."""
import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_pipelines import flip_rate, inference, runner, schemas, score, tables

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


# --- rungs from the catalog's ladder (issue 14, item 2) ---------------------------------
# Source "b" lists crf 20, 30, 40 in the catalog but its crf-30 rendition failed: the
# (20, 40) pair is still two rungs apart, and pools with source "a"'s (20, 40) pair.
LADDER = [("a", 20), ("a", 30), ("a", 40), ("b", 20), ("b", 30), ("b", 40)]
SCORED = [("a", 20, 9.0), ("a", 30, 8.0), ("a", 40, 7.0), ("b", 20, 9.0), ("b", 40, 7.0)]


def _pairs(rows, source):
    return sorted((r["crf_low"], r["crf_high"], r["rung_diff"], r["pairs"])
                  for r in rows if r["source_id"] == source and r["level"] == P)


def test_failed_rendition_does_not_shift_rung_diff():
    rows = flip_rate.flip_rate_rows(SCORED, ladder=LADDER)
    assert _pairs(rows, "b") == [(20, 40, 2, 1)]
    assert _pairs(rows, "*") == [(20, 30, 1, 1), (20, 40, 2, 2), (30, 40, 1, 1)]
    # Without the catalog's ladder, b's surviving pair reads as one rung apart.
    assert _pairs(flip_rate.flip_rate_rows(SCORED), "b") == [(20, 40, 1, 1)]


def test_beam_transform_takes_rungs_from_the_catalog_ladder():
    scores = [{"video_id": f"{s}{c}", "source_id": s, "crf": c, "score": x}
              for s, c, x in SCORED]
    entries = [{"video_id": f"{s}{c}", "uri": "x", "source_id": s, "crf": c}
               for s, c in LADDER + [("c", 25)]]  # a source with nothing scored
    p = test_pipeline.TestPipeline(runner=runner.offline_runner(PipelineOptions([])))
    ladder = p | "Entries" >> beam.Create(entries)
    out = p | "Scores" >> beam.Create(scores) | flip_rate.FlipRate(ladder=ladder)
    assert_that(out, equal_to(flip_rate.flip_rate_rows(SCORED, ladder=LADDER)))
    p.run().wait_until_finish()


def test_all_sources_key_is_rejected_as_a_source():
    with pytest.raises(ValueError, match="reserved"):
        flip_rate.flip_rate_rows([("*", 20, 1.0), ("*", 30, 2.0)])
    from beam_pipelines import catalog
    with pytest.raises(catalog.RowError, match="reserved"):
        catalog.normalize_row({"video_id": "v", "uri": "/x.mp4", "source_id": " * "}, "c.csv")


class _NoModel:
    pass


class CrfScoringHandler(inference.KerasCPLLMHandler):
    """No model: score = -crf, so scores fall with CRF (no flips)."""

    def load_model(self):
        return _NoModel()

    def run_inference(self, batch, model, inference_args=None):
        from apache_beam.ml.inference.base import PredictionResult
        return [PredictionResult(example=e["meta"],
                                 inference={"score": -float(e["meta"]["crf"]),
                                            "frame_scores": [-float(e["meta"]["crf"])]},
                                 model_id=self.model_id) for e in batch]


def test_score_pipeline_takes_rungs_from_the_catalog(tmp_path, monkeypatch, ladder_rows):
    import csv
    monkeypatch.setattr(inference, "KerasCPLLMHandler", CrfScoringHandler)
    rows = [dict(r) for r in ladder_rows]
    crfs = sorted({int(r["crf"]) for r in rows})
    lost = next(r for r in rows if int(r["crf"]) == crfs[1])  # a middle rung fails
    lost["uri"] = str(tmp_path / "gone.mp4")
    star = dict(rows[0], video_id="star", source_id="*")
    path = tmp_path / "c.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf"],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(rows + [star])
    out = str(tmp_path / "out")
    score.run(["--catalog", str(path), "--output_dir", out])
    failures = {r["video_id"]: r for r in tables.read_table(out, "failures")}
    assert failures[lost["video_id"]]["stage"] == "read"
    assert failures["star"]["stage"] == "catalog" and "reserved" in failures["star"]["message"]
    flips = tables.read_table(out, "flip_rate")
    lo, hi = crfs[0], crfs[-1]
    assert _pairs(flips, lost["source_id"]) == [(lo, hi, 2, 1)]
    assert [p for p in _pairs(flips, "*") if p[:2] == (lo, hi)] == [(lo, hi, 2, 2)]
    assert all(r["flips"] == 0 for r in flips)


# --- two encoders' ladders of one source are never paired (issue 12) -------------------
# Source "s" encoded by two encoders: ladder "A" (CRF 20/30/40 -> 90/80/70) and ladder
# "B" (CRF 25/35/45 -> 60/50/40). Neither ladder flips. Paired across ladders (grouping
# by source_id alone) B's CRF 25 (60) vs A's CRF 30 (80) would be a flip, and the rungs
# would interleave (20, 25, 30, ...), so rung_diff would be wrong too.
TWO_LADDERS = [("s", 20, 90.0, "A"), ("s", 30, 80.0, "A"), ("s", 40, 70.0, "A"),
               ("s", 25, 60.0, "B"), ("s", 35, 50.0, "B"), ("s", 45, 40.0, "B")]
TWO_LADDERS_PAIRS = [(20, 30, 1, 1), (20, 40, 2, 1), (25, 35, 1, 1), (25, 45, 2, 1),
                     (30, 40, 1, 1), (35, 45, 1, 1)]


def test_two_ladders_of_one_source_are_not_paired():
    rows = flip_rate.flip_rate_rows(TWO_LADDERS)
    assert _pairs(rows, "s") == _pairs(rows, "*") == TWO_LADDERS_PAIRS
    assert all(r["flips"] == 0 for r in rows)
    # without a ladder_id (3-tuples) the ladder is the source: all 15 pairs, with flips
    one = flip_rate.flip_rate_rows([t[:3] for t in TWO_LADDERS])
    assert sum(r["pairs"] for r in one if r["source_id"] == "s" and r["level"] == P) == 15
    assert sum(r["flips"] for r in one if r["source_id"] == "s" and r["level"] == P) > 0


def test_beam_transform_pairs_within_a_ladder_only():
    scores = [{"video_id": f"{lad}{c}", "source_id": s, "crf": c, "score": x,
               "ladder_id": lad} for s, c, x, lad in TWO_LADDERS]
    entries = [{"video_id": v["video_id"], "uri": "x", "source_id": "s", "crf": v["crf"],
                "ladder_id": v["ladder_id"]} for v in scores]
    p = test_pipeline.TestPipeline(runner=runner.offline_runner(PipelineOptions([])))
    ladder = p | "Entries" >> beam.Create(entries)
    out = p | "Scores" >> beam.Create(scores) | flip_rate.FlipRate(ladder=ladder)
    pairs = (out | beam.Filter(lambda r: r["level"] == P and r["source_id"] == "s")
             | beam.Map(lambda r: (r["crf_low"], r["crf_high"], r["rung_diff"], r["pairs"],
                                   r["flips"])))
    assert_that(pairs, equal_to([t + (0,) for t in TWO_LADDERS_PAIRS]))
    p.run().wait_until_finish()
