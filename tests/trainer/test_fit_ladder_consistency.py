"""trainer.fit_ladder_consistency: ladder-relative detail, discordant pairs, the fit of
beta, writing it into a preset, and the fit on real prepared records."""
import json
import os

import numpy as np
import pytest

from trainer import fit_ladder_consistency as flc

CRFS = (20, 26, 32, 38, 44)


def _ladders(n_sources):
    """source_id, crf of n_sources ladders of the CRFS."""
    source = np.repeat([f"s{i}" for i in range(n_sources)], len(CRFS))
    crf = np.tile(CRFS, n_sources)
    return source, crf


def test_detail_that_orders_the_rungs_fixes_scores_that_do_not():
    rng = np.random.default_rng(0)
    source, crf = _ladders(40)
    n = len(crf)
    # Each source its own content level (scores and detail both), the rungs' scores
    # barely ordered by CRF and noisy; detail falls steadily with CRF inside each ladder.
    content = np.repeat(rng.normal(0, 1.5, 40), len(CRFS))
    score = 100 / (1 + np.exp(-(content - 0.01 * crf + rng.normal(0, 0.3, n))))
    detail = np.repeat(rng.uniform(1, 4, 40), len(CRFS)) - 0.05 * (crf - 20)
    beta, table = flc.fit_weight(score, detail, source, crf)
    by_beta = dict(table)
    assert [b for b, _ in table] == list(flc.GRID)
    assert by_beta[0.0] == flc.discordant_pairs(score, detail, source, crf, 0.0) > 0
    assert beta > 0
    assert by_beta[beta] < by_beta[0.0]
    assert by_beta[beta] == min(by_beta.values())
    assert by_beta[beta] == flc.discordant_pairs(score, detail, source, crf, beta)


def test_detail_that_says_nothing_about_the_rungs_leaves_beta_at_zero():
    rng = np.random.default_rng(1)
    source, crf = _ladders(30)
    score = rng.uniform(5, 95, len(crf))
    # Constant within each ladder (it differs across sources, which must not matter):
    # the ladder-relative detail is 0, every beta ties, the smallest wins.
    detail = np.repeat(rng.uniform(0, 5, 30), len(CRFS))
    beta, table = flc.fit_weight(score, detail, source, crf)
    assert beta == 0.0
    assert len({n for _, n in table}) == 1 and table[0][1] > 0


def test_ties_go_to_the_smallest_beta_and_a_worse_detail_stays_off():
    # One ladder, scores already in order; detail rising with CRF would only break it.
    score = np.array([80.0, 60.0, 40.0])
    detail = np.array([1.0, 2.0, 3.0])
    beta, table = flc.fit_weight(score, detail, ["a"] * 3, [20, 30, 40], grid=[2.0, 0.0, 1.0])
    assert beta == 0.0 and dict(table)[0.0] == 0 and dict(table)[2.0] > 0
    assert [b for b, _ in table] == [2.0, 0.0, 1.0]


def test_ladder_relative_is_zero_mean_per_source():
    rng = np.random.default_rng(2)
    source = rng.choice(["a", "b", "c", "d"], 50)
    detail = rng.uniform(0, 10, 50).astype(np.float32)
    rel = flc.ladder_relative(detail, source)
    assert rel.dtype == np.float64
    for s in "abcd":
        assert abs(rel[source == s].mean()) < 1e-12
        mine = detail[source == s].astype(np.float64)
        np.testing.assert_allclose(rel[source == s], mine - mine.mean(), rtol=1e-12)
    np.testing.assert_array_equal(flc.ladder_relative([3.0, 5.0, 7.0], ["x", "y", "y"]),
                                  [0.0, -1.0, 1.0])


def test_discordant_pairs_by_hand():
    # Source a: CRF 20, 30, 40 with scores 50, 60, 40 -> pairs (20, 30): 60 > 50 discordant;
    # (20, 40): fine; (30, 40): fine. Source b: CRF 20, 20, 30 -> the equal-CRF pair does
    # not count; both (20, 30) pairs are discordant (70 > 60 and 70 > 65). A lone c: none.
    score = np.array([50.0, 60.0, 40.0, 60.0, 65.0, 70.0, 10.0])
    source = np.array(["a", "a", "a", "b", "b", "b", "c"])
    crf = np.array([20, 30, 40, 20, 20, 30, 25])
    flat = np.zeros(7)
    assert flc.discordant_pairs(score, flat, source, crf, 0.0) == 3
    assert flc.discordant_pairs(score, flat, source, crf, 5.0) == 3  # no detail: no change
    # Detail in a: 2, 0, 1 (mean 1 -> +1, -1, 0). At beta 1 the logits move by +1, -1, 0:
    # logit(.5) + 1 = 1 > logit(.6) - 1 = -0.59: (20, 30) fixed; logit(.4) = -0.41 is
    # still below 1 and now above -0.59: (30, 40) becomes discordant. Still 3 in all.
    detail = np.array([2.0, 0.0, 1.0, 0.0, 0.0, 0.0, 9.0])
    assert flc.discordant_pairs(score, detail, source, crf, 1.0) == 3
    # Detail in a falling with CRF (3, 2, 1): beta 1 orders a; b unchanged.
    detail = np.array([3.0, 2.0, 1.0, 0.0, 0.0, 0.0, 9.0])
    assert flc.discordant_pairs(score, detail, source, crf, 1.0) == 2
    # A score of 0 or 100 is not moved (as the pipeline's step leaves it).
    assert flc.discordant_pairs([100.0, 100.0], [0.0, 5.0], ["a", "a"], [20, 30], 9.0) == 0
    # Equal adjusted scores are not discordant.
    assert flc.discordant_pairs([50.0, 50.0], [0.0, 0.0], ["a", "a"], [20, 30], 0.0) == 0


def _files(directory):
    """{relative path: bytes} of every file under `directory`."""
    out = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = f.read()
    return out


def test_write_weight_copies_the_preset_and_the_weight_loads(tiny_preset, tmp_path):
    from cpllm_model import CPLLM

    before = _files(tiny_preset)
    out = str(tmp_path / "with_beta")
    assert flc.write_weight(tiny_preset, 1.234567, out) == out
    with open(os.path.join(out, "task.json")) as f:
        assert json.load(f)["config"]["ladder_detail_weight"] == 1.2346
    copied = _files(out)
    assert sorted(copied) == sorted(before)
    assert [n for n in before if copied[n] != before[n]] == ["task.json"]
    assert _files(tiny_preset) == before  # the source preset is untouched
    assert CPLLM.from_preset(out, score_only=True).ladder_detail_weight == 1.2346
    # In place (on a copy of our own); a directory that is no preset is refused.
    mine = str(tmp_path / "mine")
    flc.write_weight(out, 0.5, mine)
    flc.write_weight(mine, 2.0)
    with open(os.path.join(mine, "task.json")) as f:
        assert json.load(f)["config"]["ladder_detail_weight"] == 2.0
    with pytest.raises(FileNotFoundError, match="no task.json"):
        flc.write_weight(str(tmp_path), 1.0, str(tmp_path / "x"))
    with pytest.raises(ValueError, match=">= 0"):
        flc.write_weight(mine, -1.0)


def test_fit_on_records_scores_the_renditions_and_writes_beta(tiny_preset, tiny_data,
                                                              tmp_path, capsys):
    from cpllm_model import CPLLM
    from cpllm_model.fine_detail import fine_detail
    from trainer import input_pipeline

    score, detail, source, crf = flc.records_fit_data(tiny_preset, tiny_data, "train",
                                                      batch_size=4)
    split = input_pipeline.load_split(tiny_data, "train")
    assert len(score) == len(split.label) == 6  # 2 sources x 3 CRFs, no originals
    np.testing.assert_array_equal(source, split.source_id)
    np.testing.assert_array_equal(crf, split.crf)
    model = CPLLM.from_preset(tiny_preset, score_only=True)
    np.testing.assert_allclose(score, model.score(split.frames)["score"], rtol=1e-5,
                               atol=1e-4)
    np.testing.assert_allclose(detail, fine_detail(split.frames["low_patches"],
                                                   split.frames["patch_mask"]), rtol=1e-6)
    # The generator patterns lose fine detail as CRF rises, ladder by ladder.
    for s in set(source):
        d = detail[source == s][np.argsort(crf[source == s])]
        assert np.all(np.diff(d) < 0), (s, d)
    out = str(tmp_path / "fitted")
    beta, table = flc.run_on_records(tiny_preset, [tiny_data], write_to=out, batch_size=4)
    printed = capsys.readouterr().out
    assert "6 renditions in 2 ladders, 6 same-source pairs" in printed
    assert "scored 6 / 6 videos" in printed and "chosen beta" in printed
    assert len(table) == len(flc.GRID) and beta == flc.fit_weight(score, detail, source,
                                                                 crf)[0]
    # The table is discordant_pairs over the grid; a beta strong enough makes the detail
    # decide, and the detail falls with CRF in every ladder (above): none discordant.
    assert [t[1] for t in table] == [flc.discordant_pairs(score, detail, source, crf, b)
                                     for b in flc.GRID]
    assert dict(table)[beta] == min(t[1] for t in table)
    assert flc.discordant_pairs(score, detail, source, crf, 1000.0) == 0
    with open(os.path.join(out, "task.json")) as f:
        assert json.load(f)["config"]["ladder_detail_weight"] == round(beta, 4)


def test_the_fit_adjusts_as_the_pipeline_step_does():
    # The fit's vectorised adjustment (a grid of betas over thousands of renditions) and
    # beam_pipelines.ladder_consistency.adjust_ladder, the step it fits, must agree.
    from beam_pipelines import ladder_consistency

    rng = np.random.default_rng(3)
    source = np.repeat([f"s{i}" for i in range(5)], 6)
    crf = np.tile(np.arange(20, 50, 5), 5)
    score = rng.uniform(1.0, 99.0, source.size)
    detail = rng.uniform(0.5, 3.0, source.size)
    beta = 2.75
    rows = [{"video_id": f"{s}_{c}", "source_id": s, "crf": int(c), "score_alone": float(q),
             "fine_detail": float(d), "width": 640, "height": 360, "display_height": None}
            for s, c, q, d in zip(source, crf, score, detail)]
    step = {r["video_id"]: r["score"] for s in set(source)
            for r in ladder_consistency.adjust_ladder(
                [r for r in rows if r["source_id"] == s], beta)}
    fit = 100.0 / (1.0 + np.exp(-flc.adjusted(score, detail, source, beta)))
    np.testing.assert_allclose(fit, [step[r["video_id"]] for r in rows], rtol=1e-9)
