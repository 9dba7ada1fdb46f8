"""make_tiny_dataset: the source plan (held-out contents never in training) and the
blockdetect baseline's SRCC computation on hand-made rows."""
import pytest

from beam_pipelines import make_tiny_dataset as mtd
from beam_pipelines.media import samples


def test_plan_holds_out_whole_contents_and_has_enough_sources():
    plan = mtd.source_plan(variants=2, seed=0)
    train = [p for p in plan if p["split"] == "train"]
    holdout = [p for p in plan if p["split"] == "holdout"]
    assert len(train) >= 24 and len(holdout) == len(mtd.HOLDOUT)
    assert not {p["content"] for p in train} & {p["content"] for p in holdout}
    assert len({p["source_id"] for p in plan}) == len(plan)
    assert {p["content"] for p in plan} == set(samples.SOURCES) - set(mtd.EXCLUDED)
    # same seed -> same plan; another seed moves the pan/zoom paths only
    assert plan == mtd.source_plan(variants=2, seed=0)
    other = mtd.source_plan(variants=2, seed=1)
    assert [p["source_id"] for p in other] == [p["source_id"] for p in plan]
    assert [p["variant_seed"] for p in other] != [p["variant_seed"] for p in plan]


def test_blockdetect_baseline_srcc():
    rows = []
    for s, sign in (("a", 1.0), ("b", -1.0)):
        for i, crf in enumerate(mtd.FINE):
            rows.append({"source_id": s, "crf": str(crf), "vmaf_raw": str(100 - 3 * i),
                         "blockiness": str(10 + sign * i)})
    out = mtd.blockdetect_baseline(rows)
    assert out["fine"]["renditions"] == 2 * len(mtd.FINE)
    assert out["fine"]["srcc_per_source"] == pytest.approx([1.0, -1.0])
    coarse_n = len(set(mtd.COARSE) & set(mtd.FINE))  # only even CRFs exist in these rows
    assert out["coarse"]["renditions"] == 2 * coarse_n


def test_blockdetect_baseline_skips_non_finite():
    rows = [{"source_id": "a", "crf": str(c), "vmaf_raw": str(100 - c),
             "blockiness": "inf" if c == 18 else str(c)} for c in mtd.COARSE]
    out = mtd.blockdetect_baseline(rows)
    assert out["coarse"]["renditions"] == len(mtd.COARSE) - 1
    assert out["coarse"]["srcc_pooled"] == pytest.approx(1.0)  # more blocking, lower VMAF
