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


def test_a_ladder_of_two_presets_is_clamped_preset_by_preset():
    # veryfast at CRF 28 scores 80; slow at CRF 30 scores 84: slow is allowed to beat a
    # cheaper-preset rung of lower CRF; only the slow chain's own order is enforced.
    rows = _ladder({26: 90.0, 28: 80.0, 30: 84.0, 32: 86.0})
    for r, preset in zip(rows[1:], ["slow", "veryfast", "slow", "slow"]):
        r["x264_preset"] = preset
    rows, fixes = ladder.pseudo_mos(rows, "auto")
    assert [r["crf"] for r in rows] == [None, 26, 28, 30, 32]
    assert [r["mos"] for r in rows] == [99.0, 90.0, 80.0, 84.0, 84.0]
    assert [r["vmaf"] for r in rows] == [99.0, 90.0, 80.0, 84.0, 84.0]
    assert fixes == 1  # slow CRF 32 above slow CRF 30
    # the same numbers as one chain: every rung after CRF 28 clamped to 80
    one, one_fixes = ladder.pseudo_mos(_ladder({26: 90.0, 28: 80.0, 30: 84.0, 32: 86.0}),
                                       "auto")
    assert [r["mos"] for r in one] == [99.0, 90.0, 80.0, 80.0, 80.0]
    assert one_fixes == 2


def test_every_preset_chain_starts_below_the_source():
    rows = _ladder({20: 99.5, 22: 99.8})
    rows[1]["x264_preset"], rows[2]["x264_preset"] = "ultrafast", "slow"
    rows, fixes = ladder.pseudo_mos(rows, "auto")
    assert [r["mos"] for r in rows] == [99.0, 99.0, 99.0]
    assert fixes == 2
