"""trainer.evaluate: the CLI on a scores Parquet + label files, outputs read back."""
import json
import os
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_pipelines import tables
from trainer import evaluate, metrics


@pytest.fixture()
def lsvq_case(tmp_path):
    # 6 originals labelled in LSVQ's format (3 train, 3 test) + a 3-rung ladder of "s1".
    labels = tmp_path / "labels_train_test.csv"
    mos = {"v1": 20.0, "v2": 35.0, "v3": 50.0, "v4": 60.0, "v5": 75.0, "v6": 90.0}
    with open(labels, "w") as f:
        f.write("name,height,width,mos,is_test,is_valid\n")
        f.writelines(f"b/{v},240,320,{m},{i >= 3},False\n"
                     for i, (v, m) in enumerate(mos.items()))
    # scores: monotone in MOS except v2/v3 swapped (one discordant pair).
    score = {"v1": 30.0, "v2": 45.0, "v3": 41.0, "v4": 58.0, "v5": 70.0, "v6": 71.0}
    rows = [{"video_id": f"b/{v}", "uri": f"/x/b/{v}.mp4", "source_id": None, "crf": None,
             "score": s} for v, s in score.items()]
    rows += [{"video_id": f"s1_{c}", "uri": f"/x/s1_{c}.mp4", "source_id": "s1", "crf": c,
              "score": s} for c, s in ((20, 80.0), (30, 82.0), (40, 60.0))]
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), out_dir / "scores-00000-of-00001.parquet")
    pq.write_table(pa.table({"video_id": ["z"], "stage": ["read"]}),
                   out_dir / "failures-00000-of-00001.parquet")
    return str(out_dir), str(labels), mos, score


def test_evaluate_cli_prints_table_and_writes_outputs(lsvq_case, tmp_path, capsys):
    scores_dir, labels, mos, score = lsvq_case
    out = str(tmp_path / "eval")
    assert evaluate.main(["--scores", scores_dir, "--labels", labels, "--dataset", "lsvq",
                          "--output", out]) == 0
    printed = capsys.readouterr().out
    assert "6 of 6 labelled videos scored" in printed
    assert "Diff=10" in printed and "Diff=20" in printed

    summary = json.loads(Path(os.path.join(out, "metrics.json")).read_text())
    by_subset = {r["subset"]: r for r in summary["metrics"]}
    assert set(by_subset) == {"all", "train", "test"}
    # one discordant pair (v2, v3) among 15: KRCC = 13/15; SRCC: rank d^2 = 2 -> 1 - 12/210
    assert by_subset["all"]["krcc"] == pytest.approx(13 / 15)
    assert by_subset["all"]["srcc"] == pytest.approx(1 - 6 * 2 / (6 * 35))
    assert by_subset["all"]["plcc"] == pytest.approx(
        metrics.plcc(list(score.values()), list(mos.values())))
    assert by_subset["train"]["n"] == 3
    assert by_subset["train"]["srcc"] == pytest.approx(0.5)  # ranks (1,3,2) vs (1,2,3)
    assert by_subset["train"]["plcc_logistic"] is None  # 3 points: reported, not NaN
    assert "at least 5" in by_subset["train"]["logistic_message"]
    assert "n/c" in printed and "logistic: need at least 5" in printed

    # s1 ladder: (20,30) flip, (30,40) ok, (20,40) ok
    fr = {(r["group"], r["diff"]): r for r in summary["flip_rate"]}
    assert (fr[("crf_diff", 10)]["pairs"], fr[("crf_diff", 10)]["flips"]) == (2, 1)
    assert (fr[("crf_diff", 20)]["pairs"], fr[("crf_diff", 20)]["flips"]) == (1, 0)
    assert fr[("all", None)]["flip_rate"] == pytest.approx(1 / 3)

    table = pq.read_table(os.path.join(out, "metrics.parquet")).to_pylist()
    assert [r["subset"] for r in table] == [r["subset"] for r in summary["metrics"]]
    assert os.path.exists(os.path.join(out, "metrics.csv"))
    assert pq.read_table(os.path.join(out, "flip_rate.parquet")).num_rows == len(fr)
    assert pq.read_table(os.path.join(out, "predictions.parquet")).num_rows == 6


def test_evaluate_dmos_with_scored_references(tmp_path):
    scores = [{"video_id": "G1_orig", "score": 80.0}, {"video_id": "G2_orig", "score": 60.0}]
    drops = {"G1": (5.0, 20.0, 12.0), "G2": (1.0, 30.0, 8.0)}
    for vid, (vod, vodlb, cbr) in drops.items():
        base = 80.0 if vid == "G1" else 60.0
        scores += [{"video_id": f"{vid}_vod", "score": base - vod},
                   {"video_id": f"{vid}_vodlb", "score": base - vodlb},
                   {"video_id": f"{vid}_cbr", "score": base - cbr}]
    scores_path = str(tmp_path / "scores.parquet")
    pq.write_table(pa.Table.from_pylist(scores), scores_path)
    labels = tmp_path / "mos.csv"
    labels.write_text("vid,category,MOS full\nG1_orig,Gaming,4.2\nG2_orig,Gaming,3.1\n"
                      "G1_vod,Gaming,4.0\nG2_vod,Gaming,3.0\nG1_cbr,Gaming,3.5\n")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["vid", "VOD", "VODLB", "CBR"])
    # DMOS in the same order as the score drops: predicted DMOS is rank-perfect
    ws.append(["G1", 0.2, 1.5, 0.9])
    ws.append(["G2", 0.1, 2.0, 0.5])
    dmos = str(tmp_path / "DMOS.xlsx")
    wb.save(dmos)
    summary = evaluate.evaluate(scores_path, str(labels), "youtube_ugc",
                                str(tmp_path / "out"), dmos_path=dmos)
    row = next(r for r in summary["metrics"] if r["target"] == "DMOS")
    assert row["n"] == 6
    assert row["prediction"] == "score(reference) - score(variant)"
    assert row["srcc"] == pytest.approx(1.0)
    # no source_id/crf in these scores: no ladder rows; Table 1's DMOS variant pairs
    # (3 per source, DMOS in the score drops' order): 6 pairs, none flipped
    assert [(f["group"], f["pairs"], f["flips"], f["ties"])
            for f in summary["flip_rate"]] == [("dmos_pairs", 6, 0, 0)]


def test_evaluate_joins_on_file_name_and_fails_clearly_without_matches(tmp_path):
    pq.write_table(pa.Table.from_pylist(
        [{"video_id": f"id{i}", "uri": f"gs://b/SDR_A_{i}.mp4", "score": float(i * i)}
         for i in range(6)]), tmp_path / "s.parquet")
    labels = tmp_path / "shorts.txt"
    labels.write_text("".join(f"SDR_A_{i}.mp4 {1 + i * 0.5}\n" for i in range(6)))
    summary = evaluate.evaluate(str(tmp_path / "s.parquet"), str(labels), "shorts_sdr",
                                str(tmp_path / "o"))
    assert summary["joined_on"] == "file name" and summary["matched"] == 6
    assert summary["metrics"][0]["srcc"] == pytest.approx(1.0)
    labels.write_text("other.mp4 1\n")
    with pytest.raises(ValueError, match="no scored video matches"):
        evaluate.evaluate(str(tmp_path / "s.parquet"), str(labels), "shorts_sdr",
                          str(tmp_path / "o2"))


def test_evaluate_on_a_real_scoring_run(pipeline_output, tmp_path):
    """Labels in LSVQ's format for the run's videos; flip rates must equal the
    pipeline's own flip_rate table, and a written catalog must pass the pipeline's check."""
    from beam_pipelines import catalog
    from trainer import datasets

    scores = tables.read_table(pipeline_output, "scores")
    labels = tmp_path / "labels_test_1080p.csv"
    # pseudo-MOS falling with CRF, so SRCC is computable on the 6 renditions
    labels.write_text("name,mos\n" + "".join(
        f"{s['video_id']},{100 - s['crf']}\n" for s in scores))
    summary = evaluate.evaluate(pipeline_output, str(labels), "lsvq", str(tmp_path / "e"))
    assert summary["matched"] == 6 and summary["joined_on"] == "video_id"
    row = summary["metrics"][0]
    assert row["srcc"] == pytest.approx(metrics.srcc(
        [s["score"] for s in scores], [100 - s["crf"] for s in scores]))
    table = [r for r in tables.read_table(pipeline_output, "flip_rate")
             if r["source_id"] == "*" and r["level"] == "rung_diff"]
    ours = {r["diff"]: (r["pairs"], r["flips"], r["ties"])
            for r in summary["flip_rate"] if r["group"] == "rung_diff"}
    assert ours == {r["rung_diff"]: (r["pairs"], r["flips"], r["ties"]) for r in table}

    rows = datasets.read_labels("lsvq", str(labels), check_files=False).rows
    out = str(tmp_path / "catalog.parquet")
    datasets.write_catalog(rows, out)
    catalog.check_catalog(out)
    read = list(catalog.iter_raw_rows(out))
    assert [err for err, _ in read] == [None] * 6
    assert [raw["video_id"] for _, raw in read] == [s["video_id"] for s in scores]
