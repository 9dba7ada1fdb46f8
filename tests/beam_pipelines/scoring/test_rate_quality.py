"""Rate–quality per ladder: hull, advice and flips against hand-computed cases and a
brute-force oracle; the Beam transform against the pure function."""
import csv
import fractions
import itertools
import os
import random

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_pipelines import rate_quality, runner, schemas, tables

hull = rate_quality.upper_hull


def dominated_by_a_mix(points, i):
    """Oracle, in exact fractions: is some mix of the other points (one point, or two
    with i's bitrate between them) at least as good for at most i's bitrate? In 2-D that
    covers every convex combination: the best mix at bitrate <= b is either at b (two
    points) or at a single vertex. Exact duplicates: only the first counts as itself."""
    b, s = (fractions.Fraction(v) for v in points[i])
    others = [(j, fractions.Fraction(p[0]), fractions.Fraction(p[1]))
              for j, p in enumerate(points) if j != i]
    for j, bj, sj in others:
        if bj <= b and sj >= s and ((bj, sj) != (b, s) or j < i):
            return True
    for (_, bj, sj), (_, bk, sk) in itertools.permutations(others, 2):
        if bj < b < bk and sj + (sk - sj) * (b - bj) / (bk - bj) >= s:
            return True
    return False


def oracle_hull(points):
    on = [i for i in range(len(points)) if not dominated_by_a_mix(points, i)]
    return sorted(on, key=lambda i: points[i][0])


# ----------------------------------------------------------------------------- hull


def test_hull_hand_computed():
    # A(100,50) B(200,70) F(250,60) C(300,75) D(400,90) E(500,88)
    # F: B is cheaper and better. E: D is cheaper and better. C: half B + half D costs
    # 300 kb/s and scores 80 > 75. A, B, D are vertices of the concave frontier.
    points = [(100, 50), (200, 70), (300, 75), (400, 90), (500, 88), (250, 60)]
    assert hull(points) == [0, 1, 3]


def test_collinear_middle_rung_is_a_mix_not_a_hull_rung():
    assert hull([(100, 50), (200, 60), (300, 70)]) == [0, 2]
    # just above the chord: a vertex
    assert hull([(100, 50), (200, 60.001), (300, 70)]) == [0, 1, 2]


def test_equal_bitrates_keep_the_higher_score():
    assert hull([(100, 50), (100, 60), (200, 70)]) == [1, 2]
    # exact duplicates: only the first of them
    assert hull([(100, 50), (100, 50)]) == [0]
    assert hull([(300, 80), (100, 50), (100, 50), (300, 80)]) == [1, 0]


def test_one_and_two_rungs():
    assert hull([(500, 10)]) == [0]
    assert hull([(100, 50), (200, 60)]) == [0, 1]
    assert hull([(200, 60), (100, 50)]) == [1, 0]  # bitrate order
    assert hull([(100, 60), (200, 50)]) == [0]  # costs more, scores less
    assert hull([(100, 50), (200, 50)]) == [0]  # costs more for the same score
    assert hull([]) == []


@pytest.mark.parametrize("seed", range(40))
def test_hull_matches_the_brute_force_oracle(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 9)
    # a coarse integer grid makes equal bitrates, duplicates and collinear rungs common
    points = [(rng.randint(1, 6) * 100, rng.randint(0, 8) * 5) for _ in range(n)]
    assert hull(points) == oracle_hull(points), points


# ----------------------------------------------------------------------------- ladder

# A 5-rung ladder, hand-computed below.
#   crf  kbps  score
#   18   1000  92
#   23    600  85    off the hull: half v33 + half v18 costs 600 and scores 86.5
#   28    350  78    off: v33 is cheaper and better (and a flip: crf 33 > crf 28)
#   33    200  81
#   38    120  60
RUNGS = [("v18", 18, 1000.0, 92.0), ("v23", 23, 600.0, 85.0), ("v28", 28, 350.0, 78.0),
         ("v33", 33, 200.0, 81.0), ("v38", 38, 120.0, 60.0)]


def _rows(rungs, source="s", ladder="x264"):
    return [{"video_id": v, "source_id": source, "ladder_id": ladder, "crf": c,
             "bitrate_kbps": b, "score": x, "width": 96, "height": 64}
            for v, c, b, x in rungs]


def test_summary_and_advice_hand_computed():
    res = rate_quality.summarise_ladder("s", "x264", _rows(RUNGS), (70, 80, 90, 95))
    assert res.on_hull == {"v18": True, "v23": False, "v28": False, "v33": True,
                           "v38": True}
    assert res.summary == {
        "source_id": "s", "ladder_id": "x264", "rungs": 5, "rungs_with_bitrate": 5,
        "min_bitrate_kbps": 120.0, "max_bitrate_kbps": 1000.0, "min_score": 60.0,
        "max_score": 92.0, "crf_pairs": 4, "flips": 1, "hull_rungs": 3,
        "hull_video_ids": ["v38", "v33", "v18"], "frame_sizes": 1}
    by_target = {r["target_score"]: r for r in res.advice}
    assert list(by_target) == [70.0, 80.0, 90.0, 95.0]
    # >= 70 and >= 80: v33 (200 kb/s) is the cheapest; saves 1 - 200/1000
    for t in (70.0, 80.0):
        r = by_target[t]
        assert (r["met"], r["cheapest_video_id"], r["crf"], r["bitrate_kbps"],
                r["score"]) == (True, "v33", 33, 200.0, 81.0)
        assert r["savings_fraction"] == pytest.approx(0.8)
    assert by_target[90.0]["cheapest_video_id"] == "v18"
    assert by_target[90.0]["savings_fraction"] == 0.0
    unmet = by_target[95.0]
    assert unmet["met"] is False and unmet["cheapest_video_id"] is None
    assert unmet["bitrate_kbps"] is None and unmet["savings_fraction"] is None
    assert "best is 92.00 (v18" in unmet["reason"]
    for r in res.advice:
        assert (r["reference_video_id"], r["reference_bitrate_kbps"]) == ("v18", 1000.0)
    # every row fits the Parquet schemas
    pa.Table.from_pylist([res.summary], schema=schemas.LADDER_SUMMARY_SCHEMA)
    pa.Table.from_pylist(res.advice, schema=schemas.LADDER_ADVICE_SCHEMA)


def test_frame_sizes_count_the_distinct_sizes_of_the_rungs():
    rows = _rows(RUNGS)
    assert rate_quality.summarise_ladder("s", "x", rows).summary["frame_sizes"] == 1
    rows[0].update(width=1920, height=1080)
    rows[1].update(width=1280, height=720)
    rows[2].update(width=None, height=None)  # size unknown: not counted
    assert rate_quality.summarise_ladder("s", "x", rows).summary["frame_sizes"] == 3


def test_target_met_exactly_and_equal_bitrate_ties():
    rungs = [("a", 20, 300.0, 80.0), ("b", 25, 300.0, 85.0), ("c", 30, 100.0, 70.0)]
    res = rate_quality.summarise_ladder("s", "s", _rows(rungs, ladder="s"), (70, 80))
    by_target = {r["target_score"]: r for r in res.advice}
    assert by_target[70.0]["cheapest_video_id"] == "c"  # score == target meets it
    # a and b cost the same: the better-scoring one is advised, and it is the hull's
    assert by_target[80.0]["cheapest_video_id"] == "b"
    assert by_target[80.0]["reference_video_id"] == "b"
    assert by_target[80.0]["savings_fraction"] == 0.0
    assert res.on_hull == {"a": False, "b": True, "c": True}
    assert res.summary["flips"] == 1 and res.summary["crf_pairs"] == 2  # 20->25 flips


def test_single_rung_ladder():
    res = rate_quality.summarise_ladder("s", "s", _rows([("only", 23, 400.0, 75.0)]),
                                        (70, 80))
    assert res.on_hull == {"only": True}
    assert res.summary["hull_rungs"] == 1 and res.summary["crf_pairs"] == 0
    assert [(r["met"], r["cheapest_video_id"]) for r in res.advice] == [
        (True, "only"), (False, None)]


def test_the_ladders_source_scored_beside_it_is_not_a_rung():
    # beam_pipelines.ladder's catalog.csv lists the lossless original (video_id =
    # source_id, no crf) beside its rungs; as a rung it would be the savings reference.
    with_source = _rows(RUNGS) + _rows([("s", None, 90000.0, 99.0)])
    res = rate_quality.summarise_ladder("s", "x264", with_source, (70, 80, 90, 95))
    plain = rate_quality.summarise_ladder("s", "x264", _rows(RUNGS), (70, 80, 90, 95))
    assert res.summary == plain.summary and res.advice == plain.advice
    assert res.on_hull == {**plain.on_hull, "s": None}
    alone = rate_quality.summarise_ladder("s", "s", _rows([("s", None, 900.0, 99.0)]), (90,))
    assert alone.on_hull == {"s": True} and alone.advice[0]["cheapest_video_id"] == "s"


def test_rungs_without_bitrate_are_counted_but_not_placed():
    rows = _rows(RUNGS)
    rows[0]["bitrate_kbps"] = None  # v18
    rows[2]["bitrate_kbps"] = float("nan")  # v28
    res = rate_quality.summarise_ladder("s", "x264", rows, (90,))
    assert res.on_hull["v18"] is None and res.on_hull["v28"] is None
    assert res.summary["rungs"] == 5 and res.summary["rungs_with_bitrate"] == 3
    assert res.summary["max_score"] == 92.0  # the score range covers every rung
    assert res.summary["max_bitrate_kbps"] == 600.0
    (advice,) = res.advice
    assert advice["met"] is False  # v18 scores 92 but has no bitrate to advise
    assert advice["reference_video_id"] == "v23"


def test_no_bitrate_at_all_is_a_ladder_error():
    rows = _rows(RUNGS)
    for r in rows:
        r["bitrate_kbps"] = None
    with pytest.raises(rate_quality.NoBitrate, match="none of its 5 scored rungs"):
        rate_quality.summarise_ladder("s", "x264", rows)


def test_flips_compare_adjacent_distinct_crfs_only():
    # two renditions at crf 20 (two resolutions), one at 30, one at 40
    rows = _rows([("a", 20, 500.0, 70.0), ("b", 20, 300.0, 60.0), ("c", 30, 200.0, 65.0),
                  ("d", 40, 100.0, 66.0)])
    # (20,30): a vs c ok, b vs c flip; (30,40): c vs d flip; 20 vs 40 is not adjacent
    assert rate_quality.adjacent_crf_flips(rows) == (3, 2)
    assert rate_quality.adjacent_crf_flips([{**r, "crf": None} for r in rows]) == (0, 0)


@pytest.mark.parametrize("text,want", [("70,80,90", (70.0, 80.0, 90.0)),
                                       (" 90, 70,70 ", (70.0, 90.0)), ("42.5", (42.5,))])
def test_parse_targets(text, want):
    assert rate_quality.parse_targets(text) == want


@pytest.mark.parametrize("text", ["", " , ", "70,high", "nan", "inf"])
def test_parse_targets_refuses(text):
    with pytest.raises(ValueError):
        rate_quality.parse_targets(text)


# ----------------------------------------------------------------------------- Beam


def test_beam_transform_matches_the_pure_function():
    def renamed(rungs, prefix):
        return [(prefix + v, c, b, x) for v, c, b, x in rungs]

    rows = (_rows(RUNGS, "s", "x264") + _rows(renamed(RUNGS[:2], "x265_"), "s", "x265")
            + _rows(renamed(RUNGS[2:], "t_"), "t", "t"))
    nobit = _rows([("n1", 20, None, 50.0), ("n2", 30, None, 40.0)], "u", "u")
    loose = [{"video_id": "loose", "source_id": None, "ladder_id": None, "crf": None,
              "bitrate_kbps": 10.0, "score": 1.0, "width": 1, "height": 1}]
    scores = rows + nobit + loose
    targets = (70.0, 95.0)
    results, errors = rate_quality.ladder_results(scores, targets)
    assert set(results) == {("s", "x264"), ("s", "x265"), ("t", "t")}
    assert set(errors) == {("u", "u")}
    on_hull = {v: h for res in results.values() for v, h in res.on_hull.items()}
    expected_scores = [{**r, "on_hull": on_hull.get(r["video_id"])} for r in scores]

    p = test_pipeline.TestPipeline(runner=runner.offline_runner(PipelineOptions([])))
    out = p | beam.Create(scores) | rate_quality.RateQuality(targets)
    assert_that(out["scores"], equal_to(expected_scores), label="Scores")
    assert_that(out["ladder_summary"],
                equal_to([r.summary for r in results.values()]), label="Summary")
    assert_that(out["ladder_advice"],
                equal_to([a for r in results.values() for a in r.advice]), label="Advice")
    assert_that(out["failures"] | beam.Map(lambda f: (f["video_id"], f["stage"],
                                                      f["error_type"])),
                equal_to([(None, "ladder", "NoBitrate")]), label="Failures")
    p.run().wait_until_finish()
    assert on_hull["v23"] is False and "n1" not in on_hull
    assert len([a for r in results.values() for a in r.advice]) == 3 * 2


# ----------------------------------------------------------------------------- pipeline
# score.run end to end on real H.264 ladders (bitrates probed from the files), with the
# catalog's mos as the score (a stand-in model, as in test_flip_rate.py) so that flips and
# unmet targets are known: source "t" encoded by x264 ultrafast and slow (two ladder_ids),
# source "u" whose bitrates are made unknown (its ladder cannot be summarised), and one
# video on no ladder.
MOS = {("x264_ultrafast", 18): 80.0, ("x264_ultrafast", 30): 82.0,  # a flip
       ("x264_ultrafast", 42): 50.0,
       ("x264_slow", 18): 70.0, ("x264_slow", 30): 65.0, ("x264_slow", 42): 55.0,
       ("u", 18): 75.0, ("u", 30): 70.0, ("u", 42): 60.0}
TARGETS = (60.0, 75.0, 95.0)


class _NoModel:
    pass


def _mos_handler():
    from beam_pipelines import inference

    class MosScoringHandler(inference.KerasCPLLMHandler):
        """No model: score = the catalog's mos."""

        def load_model(self):
            return _NoModel()

        def run_inference(self, batch, model, inference_args=None):
            from apache_beam.ml.inference.base import PredictionResult
            return [PredictionResult(example=e["meta"],
                                     inference={"score": float(e["meta"]["mos"]),
                                                "frame_scores": [float(e["meta"]["mos"])]},
                                     model_id=self.model_id) for e in batch]

    return MosScoringHandler


@pytest.fixture(scope="module")
def rq_run(tmp_path_factory):
    from beam_pipelines import dofns, inference, score
    from beam_pipelines.media import samples

    root = tmp_path_factory.mktemp("rate_quality")
    rows = []
    master = samples.make_clip(str(root / "t.mkv"), "testsrc2", seconds=1.0,
                               size=(96, 64), fps=12)
    for ladder_id, preset in (("x264_ultrafast", "ultrafast"), ("x264_slow", "slow")):
        for r in samples.make_ladder(master, str(root / ladder_id), [18, 30, 42],
                                     source_id="t", preset=preset):
            rows.append({**r, "video_id": f"{ladder_id}_{r['crf']}", "ladder_id": ladder_id,
                         "mos": MOS[(ladder_id, r["crf"])]})
    for r in samples.make_ladder(master, str(root / "u"), [18, 30, 42], source_id="u",
                                 preset="ultrafast"):
        rows.append({**r, "video_id": f"u_{r['crf']}", "mos": MOS[("u", r["crf"])]})
    rows.append({"video_id": "loose", "uri": rows[0]["uri"], "mos": 50.0})
    path = root / "catalog.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf", "mos",
                                          "ladder_id"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    real_bitrate = dofns.rendition_bitrate

    def bitrate_unknown_for_u(info, entry):
        return (None, None) if entry.get("source_id") == "u" else real_bitrate(info, entry)

    out = str(root / "out")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inference, "KerasCPLLMHandler", _mos_handler())
        mp.setattr(dofns, "rendition_bitrate", bitrate_unknown_for_u)
        summary = score.run(["--catalog", str(path), "--output_dir", out,
                             "--target_scores", ",".join(f"{t:g}" for t in TARGETS)])
    arrow = {name: [pq.read_table(root / "out" / f) for f in sorted(
        os.listdir(root / "out")) if f.startswith(name + "-")] for name in score.TABLE_NAMES}
    return {"out": out, "summary": summary, "rows": rows, "tables": arrow,
            "read": {name: tables.read_table(out, name) for name in score.TABLE_NAMES}}


def test_pipeline_tables_have_the_declared_schemas(rq_run):
    for name, (schema, _) in schemas.TABLES.items():
        assert rq_run["tables"][name], name
        for table in rq_run["tables"][name]:
            assert table.schema.remove_metadata() == schema, name


def test_pipeline_on_hull_matches_the_oracle_on_real_bitrates(rq_run):
    scores = {r["video_id"]: r for r in rq_run["read"]["scores"]}
    assert len(scores) == 10
    for ladder_id in ("x264_ultrafast", "x264_slow"):
        rungs = sorted((r for r in scores.values() if r["ladder_id"] == ladder_id),
                       key=lambda r: r["video_id"])
        assert len(rungs) == 3 and all(r["bitrate_source"] == "stream" for r in rungs)
        assert [r["score"] for r in rungs] == [MOS[(ladder_id, r["crf"])] for r in rungs]
        points = [(r["bitrate_kbps"], r["score"]) for r in rungs]
        on = {rungs[i]["video_id"] for i in oracle_hull(points)}
        assert {r["video_id"] for r in rungs if r["on_hull"]} == on
        assert all(r["on_hull"] is not None for r in rungs)
    # no bitrate (u) and no ladder (loose): unknown, not false
    assert all(scores[v]["on_hull"] is None for v in ("u_18", "u_30", "u_42", "loose"))


def test_pipeline_ladder_summary(rq_run):
    scores = rq_run["read"]["scores"]
    summary = {(r["source_id"], r["ladder_id"]): r for r in rq_run["read"]["ladder_summary"]}
    assert set(summary) == {("t", "x264_ultrafast"), ("t", "x264_slow")}
    for (source, ladder_id), row in summary.items():
        rungs = [r for r in scores if r["ladder_id"] == ladder_id]
        kbps = [r["bitrate_kbps"] for r in rungs]
        assert row["rungs"] == row["rungs_with_bitrate"] == 3
        assert (row["min_bitrate_kbps"], row["max_bitrate_kbps"]) == (min(kbps), max(kbps))
        assert (row["min_score"], row["max_score"]) == (
            min(r["score"] for r in rungs), max(r["score"] for r in rungs))
        assert row["crf_pairs"] == 2
        by_rate = sorted(rungs, key=lambda r: r["bitrate_kbps"])
        assert row["hull_video_ids"] == [r["video_id"] for r in by_rate if r["on_hull"]]
        assert row["hull_rungs"] == len(row["hull_video_ids"]) >= 1
        assert row["frame_sizes"] == len({(r["width"], r["height"]) for r in rungs})
    assert summary[("t", "x264_ultrafast")]["flips"] == 1  # CRF 18 -> 30: 80 -> 82
    assert summary[("t", "x264_slow")]["flips"] == 0


def test_pipeline_ladder_advice(rq_run):
    scores = rq_run["read"]["scores"]
    advice = rq_run["read"]["ladder_advice"]
    assert len(advice) == 2 * len(TARGETS)  # one row per ladder and target, met or not
    for row in advice:
        rungs = [r for r in scores if r["ladder_id"] == row["ladder_id"]]
        top = max(rungs, key=lambda r: r["bitrate_kbps"])
        meeting = [r for r in rungs if r["score"] >= row["target_score"]]
        assert row["reference_video_id"] == top["video_id"]
        assert row["met"] is bool(meeting)
        if not meeting:
            assert row["target_score"] > max(r["score"] for r in rungs)
            assert row["cheapest_video_id"] is None and row["savings_fraction"] is None
            assert f"no rung scores >= {row['target_score']:g}" in row["reason"]
            continue
        pick = min(meeting, key=lambda r: r["bitrate_kbps"])
        assert (row["cheapest_video_id"], row["crf"], row["bitrate_kbps"], row["score"],
                row["width"], row["height"]) == (
            pick["video_id"], pick["crf"], pick["bitrate_kbps"], pick["score"], 96, 64)
        assert row["savings_fraction"] == pytest.approx(
            1 - pick["bitrate_kbps"] / top["bitrate_kbps"])
    unmet = sorted((r["ladder_id"], r["target_score"]) for r in advice if not r["met"])
    assert unmet == [("x264_slow", 75.0), ("x264_slow", 95.0), ("x264_ultrafast", 95.0)]
    fast = {r["target_score"]: r for r in advice if r["ladder_id"] == "x264_ultrafast"}
    # >= 75 on the ultrafast ladder: CRF 30 (82) is cheaper than CRF 18 (80)
    assert fast[75.0]["crf"] == 30 and fast[75.0]["savings_fraction"] > 0


def test_pipeline_unsummarisable_ladder_is_a_failure_row(rq_run):
    failures = rq_run["read"]["failures"]
    (row,) = failures
    assert (row["video_id"], row["uri"], row["stage"], row["error_type"]) == (
        None, None, "ladder", "NoBitrate")
    assert "'u'" in row["message"] and "u_18" in row["message"]
    s = rq_run["summary"]
    # catalog rows: all scored; the ladder failure is counted apart
    assert (s["scored"], s["failed"], s["ladders"], s["ladders_failed"]) == (10, 0, 2, 1)
    assert not any(r["source_id"] == "u" for r in rq_run["read"]["ladder_advice"])


def test_pipeline_flip_rate_pairs_within_each_encoders_ladder(rq_run):
    pairs = [r for r in rq_run["read"]["flip_rate"]
             if r["source_id"] == "t" and r["level"] == "pair"]
    # 3 pairs per ladder; across ladders, slow CRF 18 (70) vs ultrafast CRF 30 (82) would
    # be a second flip
    assert sum(r["pairs"] for r in pairs) == 6
    assert sum(r["flips"] for r in pairs) == 1


def test_bad_target_scores_stop_the_launch(tmp_path, capsys):
    from beam_pipelines import score

    catalog = tmp_path / "c.csv"
    catalog.write_text("video_id,uri\nv,/nonexistent.mp4\n")
    out = tmp_path / "o"
    out.mkdir()
    (out / "scores-00000-of-00001.parquet").write_bytes(b"earlier run")
    argv = ["--catalog", str(catalog), "--output_dir", str(out), "--target_scores", "70,hi"]
    assert score.main(argv) == 2
    assert "--target_scores" in capsys.readouterr().err
    assert (out / "scores-00000-of-00001.parquet").exists()  # nothing deleted
