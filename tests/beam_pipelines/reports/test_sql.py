"""The analyst SQL of docs/EVALUATION.md, run with DuckDB on a real scoring run's Parquet."""
import os
import re
from pathlib import Path

import duckdb
import pytest

from beam_pipelines import bdrate, flip_rate, rate_quality, report, tables

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "EVALUATION.md")


def doc_queries() -> dict:
    text = Path(DOC).read_text(encoding="utf-8")
    return {name: sql for sql, name in
            re.findall(r"```sql\n(-- duckdb: (\w+)\n.*?)```", text, re.DOTALL)}


def run(sql: str, output_dir: str) -> list[dict]:
    sql = sql.replace("demo_out/tables", output_dir)
    rel = duckdb.sql(sql)
    return [dict(zip(rel.columns, row)) for row in rel.fetchall()]


def test_doc_has_the_queries():
    assert set(doc_queries()) == {"flip_rate_per_crf_pair", "worst_ladders",
                                  "ladder_advice_per_title", "off_hull_rungs",
                                  "bdrate_worst_sources", "bdrate_summaries"}


@pytest.fixture(scope="module")
def bdrate_output(tmp_path_factory):
    """A bdrate table of three sources: B saves 20 % and 50 % on two, and one whose B
    ladder has a rung beaten by a cheaper one (unreliable)."""
    rates, quality = [100.0, 300.0, 900.0, 2700.0], [30.0, 50.0, 70.0, 90.0]

    def ladder(source, scale, qualities=quality):
        return [{"source_id": source, "bitrate_kbps": r * scale, "score": q}
                for r, q in zip(rates, qualities)]

    a = ladder("s20", 1.0) + ladder("s50", 1.0) + ladder("dips", 1.0)
    b = (ladder("s20", 0.8) + ladder("s50", 0.5)
         + ladder("dips", 1.0, [30.0, 70.0, 50.0, 90.0]))
    rows = bdrate.compute(a, b, label_a="fast", label_b="slow", metric="score")
    out = tmp_path_factory.mktemp("bdrate")
    bdrate.write(rows, str(out))
    return str(out), {r["source_id"]: r for r in rows}


def run_bdrate(name, output):
    return run(doc_queries()[name].replace("'out/bdrate", f"'{output}/bdrate"), output)


def test_bdrate_worst_sources_puts_the_mean_first_then_the_biggest_loss(bdrate_output):
    output, table = bdrate_output
    got = run_bdrate("bdrate_worst_sources", output)
    assert [r["source_id"] for r in got] == ["*"] + sorted(
        ["s20", "s50", "dips"], key=lambda s: -table[s]["bd_rate_percent"])
    by_source = {r["source_id"]: r for r in got}
    assert by_source["s20"]["bd_rate"] == pytest.approx(-20.0)
    assert by_source["s50"]["bd_rate"] == pytest.approx(-50.0)
    assert by_source["dips"]["unreliable"] is True
    assert by_source["s20"]["unreliable"] is False and by_source["*"]["unreliable"] is None
    assert by_source["*"]["reason"] == table["*"]["reason"]


def test_bdrate_summaries_are_the_mean_median_and_reliable_mean(bdrate_output):
    output, table = bdrate_output
    (got,) = run_bdrate("bdrate_summaries", output)
    values = [table[s]["bd_rate_percent"] for s in ("s20", "s50", "dips")]
    assert got["mean"] == pytest.approx(round(sum(values) / 3, 2))
    assert got["median"] == pytest.approx(round(sorted(values)[1], 2))
    assert got["mean_reliable"] == pytest.approx(-35.0)
    assert "1 of them unreliable" in got["reason"]


def test_flip_rate_per_crf_pair_matches_the_pipeline_table(pipeline_output):
    got = run(doc_queries()["flip_rate_per_crf_pair"], pipeline_output)
    table = [r for r in tables.read_table(pipeline_output, "flip_rate")
             if r["source_id"] == "*" and r["level"] == "pair"]
    assert len(got) == len(table) == 3  # CRF pairs of a 3-rung ladder
    want = {(r["crf_low"], r["crf_high"]): (r["pairs"], r["flips"], r["ties"]) for r in table}
    assert {(r["crf_low"], r["crf_high"]): (r["pairs"], r["flips"], r["ties"])
            for r in got} == want
    for r in got:
        assert r["crf_diff"] == r["crf_high"] - r["crf_low"]
        assert r["flip_rate"] == pytest.approx(r["flips"] / r["pairs"], abs=1e-4)


def test_worst_ladders_lists_each_flipped_pair(pipeline_output):
    got = run(doc_queries()["worst_ladders"], pipeline_output)
    scores = tables.read_table(pipeline_output, "scores")
    ladders = report.ladders(scores)
    want = {s: report.flipped_pairs(l) for s, l in ladders.items()}
    assert {r["source_id"] for r in got} == {s for s, f in want.items() if f}
    for r in got:
        flips = want[r["source_id"]]
        assert r["flips"] == len(flips) and r["pairs"] == 3
        assert r["flipped_pairs"] == ", ".join(f"{a['crf']}->{b['crf']}" for a, b in flips)
    rates = [r["flip_rate"] for r in got]
    assert rates == sorted(rates, reverse=True)
    # same counts as the pipeline's own per-source aggregate
    per_source = flip_rate.flip_rate_rows((s["source_id"], s["crf"], s["score"])
                                          for s in scores)
    for r in got:
        flips = sum(x["flips"] for x in per_source
                    if x["source_id"] == r["source_id"] and x["level"] == "pair")
        assert flips == r["flips"]


def test_ladder_advice_per_title_is_the_pipeline_table(pipeline_output):
    got = run(doc_queries()["ladder_advice_per_title"], pipeline_output)
    table = tables.read_table(pipeline_output, "ladder_advice")
    assert len(got) == len(table) == 2 * len(rate_quality.DEFAULT_TARGETS)
    want = {(r["source_id"], r["ladder_id"], r["target_score"]): r for r in table}
    for r in got:
        t = want[(r["source_id"], r["ladder_id"], r["target_score"])]
        assert (r["met"], r["cheapest_video_id"], r["crf"]) == (
            t["met"], t["cheapest_video_id"], t["crf"])
        if t["met"]:
            assert r["saving_pct"] == pytest.approx(100 * t["savings_fraction"], abs=0.05)
        else:
            assert r["kbps"] is None and r["reason"] == t["reason"]
    keys = [(r["source_id"], r["ladder_id"], r["target_score"]) for r in got]
    assert keys == sorted(keys)


def test_off_hull_rungs_are_the_scores_not_on_the_hull(pipeline_output):
    got = run(doc_queries()["off_hull_rungs"], pipeline_output)
    scores = tables.read_table(pipeline_output, "scores")
    assert {r["video_id"] for r in got} == {r["video_id"] for r in scores
                                            if r["on_hull"] is False}
    summary = {(r["source_id"], r["ladder_id"]): r
               for r in tables.read_table(pipeline_output, "ladder_summary")}
    for r in got:
        assert r["video_id"] not in summary[(r["source_id"], r["ladder_id"])]["hull_video_ids"]
    # every scored ladder rung is on the hull or listed here
    hull = {v for s in summary.values() for v in s["hull_video_ids"]}
    assert hull | {r["video_id"] for r in got} == {r["video_id"] for r in scores
                                                   if r["source_id"] is not None}
