"""trainer.eval_compare: pairs of neighbouring rungs, figures by hand, a real run."""
import numpy as np
import pytest

from trainer import eval_compare


def test_neighbour_pairs_are_same_source_neighbouring_crfs():
    source = np.array(["s1", "s1", "s1", "s2", "s2", "s1"])
    crf = np.array([30, 20, -1, 25, 40, 40])
    assert eval_compare.neighbour_pairs(source, crf, 6) == [(1, 0), (0, 5), (3, 4)]
    assert eval_compare.neighbour_pairs(source, crf, 1) == [(0, 5), (3, 4)]


def test_extreme_pairs_are_lowest_against_highest_crf():
    source = np.array(["s1", "s1", "s1", "s2", "s2", "s1", "s3"])
    crf = np.array([30, 20, -1, 25, 40, 40, 30])
    assert eval_compare.extreme_pairs(source, crf) == [(1, 5), (3, 4)]


def test_figures_by_hand():
    def q(pair, better, sa, sb, ha, hb, ca, cb, ra, rb, source="text"):
        return {"pair": pair, "better": better, "score_a": sa, "score_b": sb,
                "head_a": ha, "head_b": hb, "crf_a": ca, "crf_b": cb, "row_a": ra,
                "row_b": rb, "source": source}

    answers = [
        q(0, "A", 80, 60, 78, 62, 20, 30, 0, 1),   # agrees with head and CRF
        q(0, "B", 60, 80, 62, 78, 30, 20, 1, 0),   # swapped: names row 0 again
        q(1, "A", 50, 40, 45, 55, 25, 35, 2, 3),   # head says B, CRF says A
        q(1, "A", 50, 40, 55, 45, 35, 25, 3, 2),   # swapped: names row 3 (inconsistent)
        q(2, "A", 0, 0, 50, 50, 20, 30, 4, 5, source="score_head"),  # did not parse
    ]
    f = eval_compare.figures(answers)
    assert f["questions"] == 5 and f["parsed"] == pytest.approx(4 / 5)
    assert f["agree_head"] == pytest.approx(3 / 4)
    assert f["agree_crf"] == pytest.approx(3 / 4)
    assert f["swap_consistent"] == pytest.approx(1 / 2)
    assert f["verdict_matches_scores"] == 1.0  # no text_verdict given: taken as "better"
    assert f["mae_vs_head"] == pytest.approx((2 + 2 + 2 + 2 + 5 + 15 + 5 + 5) / 8)


def test_evaluate_runs_compare_on_real_records(tiny_preset, tiny_data):
    f, answers = eval_compare.evaluate(tiny_preset, tiny_data, "holdout",
                                       max_pairs_per_source=6)
    assert f["questions"] == 4 == len(answers)  # 1 source x 3 CRFs: 2 neighbouring pairs,
    # both orders; each question keeps its videos and the answer's own words
    assert {(a["video_a"], a["video_b"]) for a in answers} == {
        ("rgbtestsrc_crf20", "rgbtestsrc_crf35"), ("rgbtestsrc_crf35", "rgbtestsrc_crf20"),
        ("rgbtestsrc_crf35", "rgbtestsrc_crf50"), ("rgbtestsrc_crf50", "rgbtestsrc_crf35")}
    assert all(isinstance(a["text"], str) for a in answers)
    assert 0.0 <= f["parsed"] <= 1.0


def test_write_results_reads_back(tmp_path, capsys):
    import json
    result = {"pairs": 2, "agree_crf": 0.5}
    answers = [{"video_a": "a", "text": "Video A."}, {"video_a": "b", "text": "Video B."}]
    out, lines = tmp_path / "f.json", tmp_path / "a.jsonl"
    eval_compare.write_results(result, answers, str(out), str(lines))
    assert json.loads(out.read_text()) == result
    assert [json.loads(x) for x in lines.read_text().splitlines()] == answers
    assert json.loads(capsys.readouterr().out) == result
    eval_compare.write_results(result, answers, None, None)
    assert json.loads(capsys.readouterr().out) == result
