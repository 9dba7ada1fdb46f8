"""Describers: deterministic generated sentences; catalog passthrough; pluggable chain."""
from beam_pipelines import describer

ROW = {"video_id": "rocket__pan_1__crf43", "source_id": "rocket__pan_1", "crf": 43,
       "mos": 31.5, "blockiness": 38.0, "blur": 6.9}


def test_generated_is_deterministic_and_has_three_sentences():
    a = describer.GeneratedDescriber().describe(dict(ROW))
    b = describer.GeneratedDescriber().describe(dict(ROW))
    assert a == b
    assert a.count(". ") == 2 and a.endswith(".")


def test_generated_mentions_content_motion_and_crf():
    text = describer.GeneratedDescriber().describe(ROW)
    assert "rocket" in text
    assert "slow pan" in text
    assert "CRF 43" in text
    assert "macroblocks" in text and "blurring" in text


def test_generated_quality_follows_measurements():
    clean = dict(ROW, crf=18, mos=96.0, blockiness=10.0, blur=4.0)
    text = describer.GeneratedDescriber().describe(clean)
    assert "sharp and clean" in text and "CRF 18" in text
    assert "artifact" not in text and "blurring" not in text
    original = describer.GeneratedDescriber().describe(dict(clean, crf=None))
    assert "CRF" not in original


def test_unknown_content_uses_its_name():
    text = describer.GeneratedDescriber().describe({"source_id": "my_beach__zoom", "crf": 23})
    assert "my beach" in text and "slow zoom" in text


def test_catalog_descriptions_and_auto_chain():
    cat = describer.CatalogDescriptions()
    assert cat.describe({"description": "  A cat. Natural. Sharp. "}) == "A cat. Natural. Sharp."
    assert cat.describe({"description": ""}) is None
    assert cat.describe({"description": float("nan")}) is None
    auto = describer.get("auto")
    assert auto.describe(dict(ROW, description="Given text.")) == "Given text."
    assert auto.describe(dict(ROW, description=None)) == describer.GeneratedDescriber().describe(ROW)
    assert describer.get("none").describe(ROW) is None
    # real videos with opaque ids and no description: auto writes nothing
    assert auto.describe({"video_id": "ia-batch1_0042", "crf": None}) is None
    assert auto.describe({"video_id": "x", "content": "my beach", "crf": 23})


def test_non_finite_measurements_are_ignored():
    text = describer.GeneratedDescriber().describe(
        dict(ROW, blockiness=float("inf"), blur=float("nan"), mos=80.0))
    assert "macroblocks" not in text and "blurring" not in text
