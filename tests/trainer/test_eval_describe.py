"""trainer.eval_describe: parsing, rung choice, figures by hand, a real run."""
import numpy as np
import pytest

from trainer import eval_describe

REF = ("A dim, muted scene with rich detail and moderate motion. The style is "
       "natural-looking content. The quality is {}.")


def test_parse_reads_the_three_sentences():
    got = eval_describe.parse(REF.format("fair: loss of fine detail"))
    assert got == {"content": "A dim, muted scene with rich detail and moderate motion.",
                   "style": "The style is natural-looking content.", "level": "fair",
                   "artifacts": "loss of fine detail"}
    good = eval_describe.parse(REF.format("good with no visible compression artifacts"))
    assert (good["level"], good["artifacts"]) == ("good", "no visible compression artifacts")
    assert eval_describe.parse(REF.format("superb: none")) is None  # not a level
    assert eval_describe.parse("The video shows a cat.") is None
    assert eval_describe.parse("") is None


def test_rungs_spread_over_each_ladder_with_both_ends():
    source = np.array(["b"] * 7 + ["a"] * 2 + ["b"])
    crf = np.array([19, 24, 29, 34, 39, 44, 49, 30, 20, -1])
    assert eval_describe.rungs(source, crf, 3) == [8, 7, 0, 3, 6]
    assert eval_describe.rungs(source, crf, 2) == [8, 7, 0, 6]


def test_figures_by_hand():
    def a(source, vmaf, score, text, ref):
        return {"source_id": source, "vmaf": vmaf, "score": score,
                "text": REF.format(text), "reference": REF.format(ref)}

    answers = [
        a("s1", 90.0, 92.0, "excellent with no visible compression artifacts",
          "excellent with no visible compression artifacts"),
        a("s1", 60.0, 80.0, "fair: loss of fine detail", "fair: loss of fine detail"),
        a("s1", 20.0, 30.0, "fair: visible blocking", "bad: strong blocking"),
        a("s2", 50.0, 50.0, "poor: visible blurring", "poor: visible blurring"),
        {"source_id": "s2", "vmaf": 40.0, "score": 40.0, "text": "gibberish",
         "reference": REF.format("poor: visible blurring")},
    ]
    f = eval_describe.figures(answers)
    assert f["described"] == 5 and f["parsed"] == pytest.approx(4 / 5)
    assert f["content_matches"] == f["style_matches"] == 1.0
    assert f["level_matches"] == pytest.approx(3 / 4)
    assert f["level_within_one"] == pytest.approx(3 / 4)  # fair vs bad: two bands apart
    assert f["artifacts_match"] == pytest.approx(3 / 4)
    # Bands of the scores 92, 80, 30, 50: excellent, good, bad, poor.
    assert f["level_matches_score"] == pytest.approx(2 / 4)
    # Levels 4, 2, 2, 1 against VMAF 90, 60, 20, 50.
    assert f["level_srcc_vmaf"] == pytest.approx(0.6324555, abs=1e-6)
    # Only s1 has more than one parsed answer: levels 4, 2, 2 against 90, 60, 20.
    assert f["level_srcc_vmaf_within_source"] == pytest.approx(0.8660254, abs=1e-6)
    assert f["sources_with_varying_level"] == 1


def test_evaluate_describes_real_records(tiny_data, tiny_preset):
    f, answers = eval_describe.evaluate(tiny_preset, tiny_data, "holdout",
                                        rungs_per_source=2)
    assert f["described"] == 2 == len(answers)  # 1 source: its CRF 20 and CRF 50 rungs
    assert [x["crf"] for x in answers] == [20, 50]
    assert all(x["reference"].startswith("A rgbtestsrc test pattern") for x in answers)
    assert all(isinstance(x["text"], str) for x in answers)
    assert 0.0 <= f["parsed"] <= 1.0
