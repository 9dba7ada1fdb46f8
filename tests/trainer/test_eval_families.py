"""trainer.eval_families: figures per held-out group, scorers side by side."""
import numpy as np

from trainer import eval_families


def _rows():
    rows = []
    for s, group, base in (("a", "family:text", 90.0), ("b", "size:960x540", 70.0)):
        for crf in sorted(set(eval_families.COARSE) | set(eval_families.FINE)):
            rows.append({"video_id": f"{s}{crf}", "source_id": s, "crf": str(crf),
                         "holdout_group": group, "vmaf_raw": str(base - crf),
                         "blockiness": "inf" if s == "a" else str(crf),
                         "blur": str(-crf if crf == 26 else crf)})
    return rows


def test_table_per_group_and_scorer():
    rows = _rows()
    # A model that orders both ladders but swaps CRF 24 and 26 of source a.
    model = {r["video_id"]: 100.0 - int(r["crf"]) for r in rows}
    model["a24"], model["a26"] = model["a26"], model["a24"]
    out = eval_families.table(rows, model)
    assert set(out) == {"pooled", "family:text", "size:960x540", "offsets"}
    assert out["pooled"]["sources"] == 2
    crf = out["pooled"]["-crf"]
    assert crf["flip_coarse1"] == 0.0 and crf["flip_fine1"] == 0.0
    text = out["family:text"]["cpllm"]
    # Fine ladder 24..36: 6 neighbouring pairs, one flipped (24 vs 26).
    assert text["pairs_fine1"] == 6 and np.isclose(text["flip_fine1"], 1 / 6)
    # blockdetect is inf on source a: left out there, used on b.
    assert "n_coarse" in out["family:text"]["blockdetect"]
    assert out["family:text"]["blockdetect"]["n_coarse"] == 0
    assert out["size:960x540"]["blockdetect"]["n_coarse"] == len(eval_families.COARSE)
    # blurdetect flips where blur was made to drop (CRF 26 vs 24 on the fine ladder).
    assert out["size:960x540"]["blurdetect"]["flip_fine1"] > 0
    assert 0.0 < out["pooled"]["cpllm"]["srcc_coarse"] <= 1.0
    md = eval_families.markdown(out)
    assert md.count("\n") == 2 + 3 * len(eval_families.SCORERS) + 3 + 2  # 2 titles: no RMS line


def test_within_title_and_title_mean_srcc_and_offsets():
    """Three titles each ordered perfectly inside, but the wrong way round against each
    other: within-title 1.0, title means -1.0, and the offsets say by how much."""
    rows, model = [], {}
    for s, motion, vmaf_base, model_base in (("a", "static", 90.0, 50.0),
                                             ("b", "pan", 70.0, 90.0),
                                             ("c", "pan", 50.0, 110.0)):
        for crf in eval_families.COARSE:
            rows.append({"video_id": f"{s}{crf}", "source_id": s, "crf": str(crf),
                         "holdout_group": "family:text", "motion": motion, "family": "text",
                         "vmaf_raw": str(vmaf_base - crf), "blockiness": "1", "blur": "1"})
            model[f"{s}{crf}"] = model_base - crf
    out = eval_families.table(rows, model)
    cp = out["pooled"]["cpllm"]
    assert cp["srcc_within"] == 1.0 and cp["srcc_titles"] == -1.0
    assert cp["srcc_coarse"] < 0.5  # pooled: the title offsets swamp the order inside
    assert "srcc_titles" not in out["pooled"]["-crf"]  # one mean for every title
    assert out["pooled"]["-crf"]["srcc_within"] == 1.0
    assert out["offsets"]["motion:static"] == {"sources": 1, "offset": -40.0}
    assert out["offsets"]["motion:pan"] == {"sources": 2, "offset": 40.0}
    assert out["offsets"]["family:text"] == {"sources": 3, "offset": 40.0 / 3}
    assert "| motion:pan | 2 | +40.0 |" in eval_families.markdown(out)
    titles = out["offsets"]["titles"]
    assert np.isclose(titles["rms_offset"], np.sqrt((40 ** 2 + 20 ** 2 + 60 ** 2) / 3))
    assert titles["srcc_if_shrunk"]["0.00"] == cp["srcc_coarse"]
    assert titles["srcc_if_shrunk"]["1.00"] == 1.0  # offsets gone: VMAF's order exactly


def test_score_files_round_trip_and_average(tmp_path):
    import pytest

    a, b = {"v1": 10.0, "v2": 80.5}, {"v2": 79.5, "v1": 20.0}
    eval_families.write_scores(str(tmp_path / "a.parquet"), a)
    eval_families.write_scores(str(tmp_path / "b.parquet"), b)
    assert eval_families.read_mean_scores([str(tmp_path / "a.parquet")]) == a
    assert eval_families.read_mean_scores(
        [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]) == {"v1": 15.0, "v2": 80.0}
    eval_families.write_scores(str(tmp_path / "c.parquet"), {"v1": 1.0})
    with pytest.raises(ValueError, match="other videos"):
        eval_families.read_mean_scores([str(tmp_path / "a.parquet"),
                                        str(tmp_path / "c.parquet")])


def test_score_split_streams_the_records_and_scores_as_the_model(tiny_data, tiny_preset):
    """score_split reads the records batch by batch; its scores are the model's on the
    in-memory split, for every video, also with another number of views."""
    from cpllm_model import CPLLM
    from trainer import input_pipeline

    split = input_pipeline.load_split(tiny_data, "holdout")
    model = CPLLM.from_preset(tiny_preset)
    for views in (None, 2):
        if views:
            model.set_low_level_views(views)  # after a first score call: retraced
        want = model.score(split.frames)["score"]
        got = eval_families.score_split(tiny_preset, tiny_data, "holdout", batch_size=3,
                                        low_level_views=views)
        assert sorted(got) == sorted(split.video_id.tolist())
        np.testing.assert_allclose([got[v] for v in split.video_id], want, atol=1e-4)
    # The views change the scores: the override reached the model.
    base = eval_families.score_split(tiny_preset, tiny_data, "holdout", batch_size=3)
    assert max(abs(base[v] - got[v]) for v in base) > 1e-6
