"""Describers: deterministic measured sentences; catalog passthrough; pluggable chain."""
import numpy as np

from beam_pipelines import describer, frame_stats

# A dim, colourful natural clip, heavily compressed.
STATS = {"brightness": 61.0, "colorfulness": 38.0, "detail": 29.0, "motion": 3.0,
         "flat_fraction": 0.0, "edge_density": 0.02, "contrast": 30.0}
ROW = {"video_id": "rocket__pan_1__crf43", "source_id": "rocket__pan_1", "crf": 43,
       "mos": 31.5, "blockiness": 38.0, "blur": 6.9, **STATS}


def _d(row):
    return describer.MeasuredDescriber().describe(row)


def test_measured_is_deterministic_and_has_three_sentences():
    a, b = _d(dict(ROW)), _d(dict(ROW))
    assert a == b
    assert a.count(". ") == 2 and a.endswith(".")
    assert describer.get("generated").describe(ROW) == a
    assert describer.GeneratedDescriber is describer.MeasuredDescriber


def test_measured_sentences_follow_the_measurements():
    text = _d(ROW)
    assert text == ("A dim, colourful scene with moderate detail and slow motion. "
                    "The style is natural-looking content. "
                    "The quality is bad: strong blocking and visible blurring.")
    bright = _d(dict(ROW, brightness=200.0, colorfulness=2.0, detail=150.0, motion=40.0))
    assert bright.startswith("A bright, nearly monochrome scene with fine texture and fast "
                             "motion.")
    assert "A dark, very colourful scene with smooth surfaces and no motion." in _d(
        dict(ROW, brightness=10.0, colorfulness=120.0, detail=5.0, motion=0.0))


def test_never_names_the_picture():
    for row in (ROW, {"source_id": "chelsea__zoom", "content": "cat", "crf": 23}):
        text = _d(row).lower()
        for name in ("rocket", "chelsea", "cat ", "zoom", "pan", "crf"):
            assert name not in text


def test_style_from_flat_regions_and_edges():
    assert "graphics with flat regions and sharp edges" in _d(
        dict(ROW, flat_fraction=0.6, edge_density=0.04))
    assert "smooth gradients" in _d(dict(ROW, detail=1.0, edge_density=0.0, contrast=30.0))
    assert "a nearly uniform picture" in _d(dict(ROW, detail=0.0, edge_density=0.0,
                                               contrast=0.5))
    assert "natural-looking content" in _d(ROW)


def test_quality_follows_measurements():
    clean = dict(ROW, crf=18, mos=96.0, blockiness=10.0, blur=4.0)
    text = _d(clean)
    assert text.endswith("The quality is excellent with no visible compression artifacts.")
    assert _d(dict(ROW, mos=60.0, blockiness=25.0, blur=10.0)).endswith(
        "The quality is fair: visible blocking and strong blurring.")
    assert _d(dict(clean, mos=20.0)).endswith("The quality is bad: loss of fine detail.")
    # vmaf stands in for a missing mos; no score at all -> artifacts only
    assert "The quality is good" in _d(dict(clean, mos=None, vmaf=80.0))
    assert _d(dict(ROW, mos=None)).endswith(
        "The picture shows strong blocking and visible blurring.")


def test_missing_stats_are_left_out():
    text = _d({"crf": 23})
    assert text.startswith("The content was not measured.")
    assert _d({"brightness": 100.0}).startswith("A well-lit scene.")


def test_describes_real_frame_stats():
    frames = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    text = _d(dict(frame_stats.measure(frames), mos=50.0))
    assert text.startswith("A well-lit, very colourful scene with fine texture and fast motion.")


def test_catalog_descriptions_and_auto_chain():
    cat = describer.CatalogDescriptions()
    assert cat.describe({"description": "  A cat. Natural. Sharp. "}) == "A cat. Natural. Sharp."
    assert cat.describe({"description": ""}) is None
    assert cat.describe({"description": float("nan")}) is None
    auto = describer.get("auto")
    assert auto.describe(dict(ROW, description="Given text.")) == "Given text."
    assert auto.describe(dict(ROW, description=None)) == _d(ROW)
    assert describer.get("none").describe(ROW) is None
    # rows without frame stats (nothing measured) and no description: auto writes nothing
    assert auto.describe({"video_id": "ia-batch1_0042", "crf": None}) is None
    assert auto.describe({"video_id": "ia-batch1_0042", "crf": None, **STATS})


def test_non_finite_measurements_are_ignored():
    text = _d(dict(ROW, blockiness=float("inf"), blur=float("nan"), mos=80.0,
                   detail=float("nan")))
    assert "blocking" not in text and "blurring" not in text
    assert "detail" not in text.split(".")[0]
    assert text.endswith("The quality is good with no visible compression artifacts.")


def test_tokenizer_corpus_covers_every_sentence():
    """The tiny vocabulary's corpus mirrors the describer's word lists and templates."""
    import itertools

    from cpllm_model import tokenizer_corpus as tc

    def words(bands):
        return [w for _, w in bands]

    assert words(describer.BRIGHTNESS) == tc.BRIGHTNESS
    assert words(describer.COLOUR) == tc.COLOUR
    assert words(describer.DETAIL) == tc.DETAIL
    assert words(describer.MOTION) == tc.MOTION
    assert words(describer._LEVELS) == tc.LEVELS
    contents, qualities = set(tc.content_sentences()), set(tc.quality_sentences())
    styles = {f"The style is {s}." for s in tc.STYLE}
    m = describer.MeasuredDescriber()
    values = {"brightness": (10, 60, 100, 200), "colorfulness": (0, 10, 40, 100),
              "detail": (0, 20, 50, 150), "motion": (0, 2, 10, 30)}
    for b, c, d, mo in itertools.product(*values.values()):
        row = {"brightness": b, "colorfulness": c, "detail": d, "motion": mo}
        assert m.content_sentence(row) in contents
    assert m.content_sentence({}) in contents
    for flat, edges, contrast, detail in itertools.product((0, 1), (0, .1), (0, 50), (0, 50)):
        assert m.style_sentence({"flat_fraction": flat, "edge_density": edges,
                                 "contrast": contrast, "detail": detail}) in styles
    for mos, block, blur in itertools.product((None, 95, 80, 60, 40, 10),
                                              (None, 10, 25, 40), (None, 3, 7, 12)):
        assert m.quality_sentence({"mos": mos, "blockiness": block, "blur": blur}) in qualities
