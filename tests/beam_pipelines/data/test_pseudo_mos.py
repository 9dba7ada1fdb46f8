"""ladder.pseudo_mos: the order assumption (higher CRF never better) on hand-made ladders."""
import pytest

from beam_pipelines import ladder


def _ladder(vmafs, source_mos=None):
    rows = [{"source_id": "s", "crf": None, "vmaf_raw": 99.0, "source_mos": source_mos}]
    rows += [{"source_id": "s", "crf": c, "vmaf_raw": v, "source_mos": source_mos}
             for c, v in vmafs.items()]
    return rows


def test_vmaf_label_keeps_order_and_counts_fixes():
    rows, fixes = ladder.pseudo_mos(_ladder({18: 95.0, 28: 96.5, 38: 70.0, 48: 71.0}), "auto")
    assert [r["crf"] for r in rows] == [None, 18, 28, 38, 48]
    assert [r["mos"] for r in rows] == [99.0, 95.0, 95.0, 70.0, 70.0]
    assert fixes == 2


def test_mos_label_scales_source_mos_and_never_exceeds_it():
    rows, fixes = ladder.pseudo_mos(_ladder({18: 100.0, 33: 80.0, 43: 50.0}, 60.0), "auto")
    assert [r["mos"] for r in rows] == pytest.approx([60.0, 60.0, 48.0, 30.0])
    assert fixes == 0


def test_forced_mos_without_source_mos_fails():
    with pytest.raises(ValueError):
        ladder.pseudo_mos(_ladder({18: 90.0}), "mos")


def test_parse_crfs():
    assert ladder.parse_crfs("28, 18,23") == [18, 23, 28]
    with pytest.raises(ValueError):
        ladder.parse_crfs("18,60")
