"""trainer.evaluate's paper tables (Tables 1-3, the LSVQ ablation layout) on tiny scores
tables written to Parquet and read back, on a real scoring run, and the paper's numbers
in docs/EVALUATION.md against trainer.paper_results."""
import os
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.stats

from beam_pipelines import tables
from trainer import evaluate, paper_results

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _write_scores(path, rows):
    os.makedirs(path, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows),
                   os.path.join(path, "scores-00000-of-00001.parquet"))
    return str(path)


def _line(text, start):
    """The cells of the printed table row that starts with `start`."""
    row = next(ln for ln in text.splitlines() if ln.startswith(start))
    return [c.strip() for c in row.split("|")]


def _block(text, title):
    """The lines of the printed table titled `title`, up to the next blank line pair."""
    lines = text.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith(title))
    out = []
    for ln in lines[i + 1:]:
        if not ln and out and not out[-1]:
            break
        if ln.startswith(("Table ", "LSVQ (")):
            break
        out.append(ln)
    return "\n".join(out)


# ------------------------------------------------------------------ LSVQ + Table 3

# Originals: MOS and score per video (LSVQ names); test split v0..v5, train v6..v9.
LSVQ_MOS = {f"yfcc/{i}": m for i, m in enumerate(
    (22.0, 35.0, 41.0, 50.0, 63.0, 80.0, 30.0, 45.0, 60.0, 75.0))}
LSVQ_SCORE = {f"yfcc/{i}": s for i, s in enumerate(
    (30.0, 33.0, 47.0, 45.0, 61.0, 77.0, 28.0, 52.0, 50.0, 70.0))}
# Ladders of v0 (test) and v6 (train), CRF -> score; v0 flips at 23 -> 28 (one 5-step
# pair), v6 flips at 18 -> 28 (a 10-step pair); "other" is a ladder of no labelled video.
LADDERS = {"yfcc/0": {18: 60.0, 23: 50.0, 28: 55.0, 33: 40.0},
           "yfcc/6": {18: 70.0, 28: 75.0},
           "other": {18: 50.0, 28: 40.0}}
# The 1080p set: 6 videos, one ladder with no flip.
HD_MOS = {f"hd/{i}": m for i, m in enumerate((20.0, 32.0, 44.0, 56.0, 68.0, 80.0))}
HD_SCORE = {f"hd/{i}": s for i, s in enumerate((25.0, 30.0, 50.0, 48.0, 70.0, 72.0))}
HD_LADDER = {"hd/0": {20: 40.0, 30: 30.0, 40: 20.0}}


def _ladder_rows(ladders):
    return [{"video_id": f"{src}_crf{c}", "uri": f"/v/{src}_crf{c}.mp4", "source_id": src,
             "crf": c, "ladder_id": None, "score": s}
            for src, rungs in ladders.items() for c, s in rungs.items()]


def _original_rows(scores):
    return [{"video_id": v, "uri": f"/v/{v}.mp4", "source_id": None, "crf": None,
             "ladder_id": None, "score": s} for v, s in scores.items()]


@pytest.fixture()
def lsvq_evals(tmp_path):
    """Two evaluations as a user runs them: labels_train_test.csv and
    labels_test_1080p.csv, each against its own scoring run."""
    labels = tmp_path / "labels_train_test.csv"
    labels.write_text("name,height,width,mos,is_test,is_valid\n" + "".join(
        f"{v},1080,1920,{m},{i < 6},False\n" for i, (v, m) in enumerate(LSVQ_MOS.items())))
    run = _write_scores(tmp_path / "run", _original_rows(LSVQ_SCORE) + _ladder_rows(LADDERS))
    a = evaluate.evaluate(run, str(labels), "lsvq", str(tmp_path / "eval_test"))
    hd_labels = tmp_path / "labels_test_1080p.csv"
    hd_labels.write_text("name,height,width,mos\n" + "".join(
        f"{v},1080,1920,{m}\n" for v, m in HD_MOS.items()))
    hd_run = _write_scores(tmp_path / "hd_run",
                           _original_rows(HD_SCORE) + _ladder_rows(HD_LADDER))
    b = evaluate.evaluate(hd_run, str(hd_labels), "lsvq", str(tmp_path / "eval_1080p"))
    return tmp_path, a, b


def test_flip_rate_per_split_and_table3(lsvq_evals):
    _, summary, _ = lsvq_evals
    fr = {(f["subset"], f["group"], f["diff"]): f for f in summary["flip_rate"]}
    # all ladders: v0 pairs 6 (1 flip), v6 1 (1 flip), other 1 (0 flips)
    assert (fr[("all", "all", None)]["pairs"], fr[("all", "all", None)]["flips"]) == (8, 2)
    # per split: only the ladders of labelled videos of that split
    assert (fr[("test", "all", None)]["pairs"], fr[("test", "all", None)]["flips"]) == (6, 1)
    assert (fr[("train", "all", None)]["pairs"], fr[("train", "all", None)]["flips"]) == (1, 1)
    # v0: Diff=5 pairs (18,23) (23,28) (28,33): one flip
    assert (fr[("test", "crf_diff", 5)]["pairs"], fr[("test", "crf_diff", 5)]["flips"]) == (3, 1)
    # v6: Diff=10 pair (18,28) flips; v0's (18,28) does not; other's (18,28) does not
    assert (fr[("all", "crf_diff", 10)]["pairs"], fr[("all", "crf_diff", 10)]["flips"]) == (4, 1)
    assert not any(s == "other" for s, _, _ in fr)

    text = evaluate.paper_tables([summary])
    t3 = _block(text, "Table 3")
    header = _line(t3, "FR ")
    assert header[2:] == ["Diff=5", "Diff=10", "Diff=15", "all"]
    row = _line(t3, "this run (lsvq, test)")
    assert row[1:] == ["Score", f"{1 / 3:.3f}", "0.000", "0.000", f"{1 / 6:.3f}"]
    assert _line(t3, "this run (lsvq, all)")[-1] == f"{2 / 8:.3f}"
    paper = _line(t3, "CP-LLM (paper)")
    assert paper[1:] == ["Score", *(f"{v:.3f}" for v in paper_results.TABLE3["CP-LLM"][1])]
    assert "Diff=?" in t3 and "lost" in t3


def test_lsvq_layout_against_the_paper(lsvq_evals):
    tmp_path, summary, hd = lsvq_evals
    test_ids = list(LSVQ_MOS)[:6]
    srcc = scipy.stats.spearmanr([LSVQ_SCORE[v] for v in test_ids],
                                 [LSVQ_MOS[v] for v in test_ids]).statistic
    row = next(r for r in summary["metrics"] if r["subset"] == "test")
    assert row["srcc"] == pytest.approx(srcc)
    assert row["plcc_logistic"] is not None  # 6 points: the logistic is fitted
    hd_srcc = scipy.stats.spearmanr(list(HD_SCORE.values()), list(HD_MOS.values())).statistic
    assert hd["splits"] == ["test_1080p"] and hd["metrics"][0]["subset"] == "all"
    hd_row = hd["metrics"][0]

    # one evaluation: LSVQ-test filled, LSVQ-1080p not in it
    text = evaluate.paper_tables([summary])
    lsvq = _block(text, "LSVQ (")
    cells = _line(lsvq, "this run")
    assert cells[1] == f"{srcc:.3f} / {row['plcc_logistic']:.3f}" and cells[2] == "-"
    assert _line(lsvq, "CP-LLM (paper)")[1:] == ["0.851 / 0.850", "0.747 / 0.796"]
    delta = _line(lsvq, "run - CP-LLM (paper)")
    assert delta[1] == f"{srcc - 0.851:+.3f} / {row['plcc_logistic'] - 0.850:+.3f}"
    fr_this = [ln for ln in lsvq.splitlines() if ln.startswith("this run")][1]
    assert [c.strip() for c in fr_this.split("|")][1:] == [f"{1 / 6:.3f}", "-"]

    # both evaluations through the CLI's --tables: the 1080p column from the second one
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert evaluate.main(["--tables", str(tmp_path / "eval_test"),
                              str(tmp_path / "eval_1080p" / "metrics.json")]) == 0
    both = _block(buf.getvalue(), "LSVQ (")
    cells = _line(both, "this run")
    assert cells[2] == f"{hd_srcc:.3f} / {hd_row['plcc_logistic']:.3f}"
    fr_this = [ln for ln in both.splitlines() if ln.startswith("this run")][1]
    assert [c.strip() for c in fr_this.split("|")][1:] == [f"{1 / 6:.3f}", "0.000"]
    t3 = _block(buf.getvalue(), "Table 3")  # one dataset twice: rows name the label file
    assert _line(t3, "this run (lsvq labels_test_1080p.csv, test_1080p)")[-1] == "0.000"
    assert _line(t3, "this run (lsvq labels_train_test.csv, test)")[-1] == f"{1 / 6:.3f}"
    fr_delta = [ln for ln in both.splitlines() if ln.startswith("run - CP-LLM")][1]
    assert [c.strip() for c in fr_delta.split("|")][1:] == [
        f"{1 / 6 - 0.072:+.3f}", f"{0.0 - 0.082:+.3f}"]
    # the written paper_tables.txt holds every model of the paper's Table 3
    written = (tmp_path / "eval_test" / "paper_tables.txt").read_text()
    assert "Gemini 2.0 (paper) | Answer" in written and "CoINVQ (paper)" in written

    # the same split in two evaluations is ambiguous
    with pytest.raises(ValueError, match="two evaluations"):
        evaluate.paper_tables([summary, summary])


def test_ladders_pair_within_source_and_ladder_id(tmp_path):
    # one source, two encoders at the same CRFs: x264 flips, x265 does not; pairing
    # across ladder_ids (e.g. x264 CRF 20 vs x265 CRF 30) would add 2 more pairs.
    rows = [{"video_id": f"{enc}_{c}", "uri": f"/v/{enc}_{c}.mp4", "source_id": "s",
             "crf": c, "ladder_id": enc, "score": s}
            for enc, rungs in (("x264", {20: 50.0, 30: 60.0}), ("x265", {20: 70.0, 30: 40.0}))
            for c, s in rungs.items()]
    rows += [{"video_id": f"m{i}", "uri": f"/v/m{i}.mp4", "source_id": None, "crf": None,
              "ladder_id": None, "score": float(i)} for i in range(5)]
    run = _write_scores(tmp_path / "run", rows)
    labels = tmp_path / "labels_test_1080p.csv"
    labels.write_text("name,mos\n" + "".join(f"m{i},{10 * i}\n" for i in range(5)))
    summary = evaluate.evaluate(run, str(labels), "lsvq", str(tmp_path / "e"))
    overall = next(f for f in summary["flip_rate"] if f["group"] == "all")
    assert (overall["pairs"], overall["flips"]) == (2, 1)
    read = pq.read_table(tmp_path / "e" / "flip_rate.parquet").to_pylist()
    assert {r["subset"] for r in read} == {"all"} and len(read) == len(summary["flip_rate"])


# --------------------------------------------------------------- Tables 1 and 2

UGC_SCORE = {"G1": 80.0, "G2": 60.0, "G3": 72.0, "G4": 40.0, "G5": 55.0, "G6": 66.0}
UGC_MOS = {"G1": 4.3, "G2": 3.0, "G3": 3.8, "G4": 2.1, "G5": 3.2, "G6": 3.1}
# DMOS per variant (larger: worse) and the variant's score
VARIANTS = {
    "G1": {"vod": (0.2, 75.0), "cbr": (0.9, 70.0), "vodlb": (1.5, 72.0)},  # (cbr, vodlb) flips
    "G2": {"vod": (0.4, 50.0), "cbr": (0.4, 58.0), "vodlb": (1.1, 50.0)},  # (vod, vodlb) tie
    "G3": {"vod": (0.1, 71.0), "cbr": (0.8, 60.0), "vodlb": (2.0, 50.0)},  # in order
}


@pytest.fixture()
def ugc_eval(tmp_path):
    rows = [{"video_id": f"{v}_orig", "uri": f"/u/{v}.mkv", "score": s}
            for v, s in UGC_SCORE.items()]
    rows += [{"video_id": f"{v}_{var}", "uri": f"/u/{v}_{var}.webm", "score": s}
             for v, variants in VARIANTS.items() for var, (_, s) in variants.items()]
    run = _write_scores(tmp_path / "ugc_run", rows)
    mos = tmp_path / "mos.csv"
    mos.write_text("vid,category,MOS full\n" + "".join(
        f"{v}_orig,Gaming,{m}\n" for v, m in UGC_MOS.items()))
    dmos = tmp_path / "dmos.csv"
    dmos.write_text("vid,variant,dmos\n" + "".join(
        f"{v},{var},{d}\n" for v, variants in VARIANTS.items()
        for var, (d, _) in variants.items()))
    return tmp_path, evaluate.evaluate(run, str(mos), "youtube_ugc", str(tmp_path / "e_ugc"),
                                       dmos_path=str(dmos))


def test_table1_dmos_and_its_flip_rate(ugc_eval):
    _, summary = ugc_eval
    fr = next(f for f in summary["flip_rate"] if f["group"] == "dmos_pairs")
    # G1: 3 pairs, 1 flip; G2: (vod, cbr) equal DMOS -> not a pair; 2 pairs, 1 tie;
    # G3: 3 pairs in order
    assert (fr["pairs"], fr["flips"], fr["ties"]) == (8, 1, 1)
    mos = next(r for r in summary["metrics"] if r["target"] == "MOS")
    dmos = next(r for r in summary["metrics"] if r["target"] == "DMOS")
    pred = [UGC_SCORE[v] - s for v, variants in VARIANTS.items() for _, s in variants.values()]
    label = [d for variants in VARIANTS.values() for d, _ in variants.values()]
    assert dmos["srcc"] == pytest.approx(scipy.stats.spearmanr(pred, label).statistic)
    assert mos["srcc"] == pytest.approx(scipy.stats.spearmanr(
        list(UGC_SCORE.values()), list(UGC_MOS.values())).statistic)

    text = evaluate.paper_tables([summary], all_models=True)
    t1 = _block(text, "Table 1")
    assert _line(t1, "Model")[1:] == ["MOS SRCC/PLCC", "DMOS SRCC/PLCC", "FR"]
    run = _line(t1, "this run (youtube_ugc)")
    assert run[1].startswith(f"{mos['srcc']:.3f} / ")
    assert run[2].startswith(f"{dmos['srcc']:.3f} / ") and run[3] == f"{1 / 8:.3f}"
    assert _line(t1, "CP-LLM (paper)")[1:] == ["0.801 / 0.800", "0.540 / 0.605", "0.085"]
    assert _line(t1, "Q-Align (paper)")[1:] == ["0.795 / 0.799", "0.507 / 0.581", "0.118"]
    delta = _line(t1, "run - CP-LLM (paper)")
    assert delta[1].startswith(f"{mos['srcc'] - 0.801:+.3f} / ")
    assert delta[3] == f"{1 / 8 - 0.085:+.3f}"
    assert "8 same-source DMOS variant pairs" in t1
    # the same MOS evaluation is Table 2's YouTube-UGC column
    t2 = _block(text, "Table 2")
    cells = _line(t2, "this run")
    assert cells[1].startswith(f"{mos['srcc']:.3f} / ") and cells[2:] == ["-", "-", "-"]
    assert _line(t2, "MBVQA (paper)")[1] == "0.788 / 0.804"
    assert "Table 3" not in text  # no CRF ladder in these scores


def test_table2_over_several_evaluations(ugc_eval, capsys):
    tmp_path, ugc = ugc_eval
    summaries = {"ugc": ugc}
    for name, (dataset, scores) in {"sdr": ("shorts_sdr", (1, 3, 2, 5, 4, 6)),
                                    "hdr": ("shorts_hdr2sdr", (6, 5, 4, 3, 2, 1))}.items():
        rows = [{"video_id": f"{name}{i}", "uri": f"/s/{name.upper()}_{i}.mp4",
                 "score": float(s)} for i, s in enumerate(scores)]
        run = _write_scores(tmp_path / f"{name}_run", rows)
        labels = tmp_path / f"{name}.txt"
        labels.write_text("".join(f"{name.upper()}_{i}.mp4 {1 + 0.5 * i}\n" for i in range(6)))
        summaries[name] = evaluate.evaluate(run, str(labels), dataset,
                                            str(tmp_path / f"e_{name}"))
    assert evaluate.main(["--tables", *(str(tmp_path / f"e_{n}") for n in summaries)]) == 0
    t2 = _block(capsys.readouterr().out, "Table 2")
    assert _line(t2, "SRCC/PLCC")[1:] == list(paper_results.TABLE2_DATASETS.values())
    cells = _line(t2, "this run")
    sdr_srcc = scipy.stats.spearmanr((1, 3, 2, 5, 4, 6), range(6)).statistic
    assert cells[2] == "-"  # LIVE-YT-Gaming not evaluated
    assert cells[3].startswith(f"{sdr_srcc:.3f} / ")
    assert cells[4].startswith("-1.000 / ")
    paper = paper_results.TABLE2["CP-LLM"]
    delta = _line(t2, "run - CP-LLM (paper)")
    assert delta[3].startswith(f"{sdr_srcc - paper['shorts_sdr'][0]:+.3f} / ")
    assert delta[4].startswith(f"{-1.0 - paper['shorts_hdr2sdr'][0]:+.3f} / ")
    assert "DOVER (paper)" not in t2  # CP-LLM only unless --paper_models all


def test_cli_needs_inputs_or_tables(capsys):
    with pytest.raises(SystemExit):
        evaluate.main(["--scores", "x"])
    assert "--labels" in capsys.readouterr().err


# ------------------------------------------------------ a real scoring run (Table 3)


def test_table3_on_a_real_scoring_run(pipeline_output, tmp_path):
    """Table 3's cells on the pipeline's own run equal its flip_rate table (pairs pooled
    by CRF difference over all sources)."""

    scores = tables.read_table(pipeline_output, "scores")
    labels = tmp_path / "labels_test_1080p.csv"
    labels.write_text("name,mos\n" + "".join(
        f"{s['video_id']},{100 - s['crf']}\n" for s in scores))
    summary = evaluate.evaluate(pipeline_output, str(labels), "lsvq", str(tmp_path / "e"))
    pooled = {}
    for r in tables.read_table(pipeline_output, "flip_rate"):
        if r["source_id"] == "*" and r["level"] == "pair":
            p = pooled.setdefault(r["crf_high"] - r["crf_low"], [0, 0])
            p[0] += r["pairs"]
            p[1] += r["flips"]
    t3 = _block(evaluate.paper_tables([summary]), "Table 3")
    header = _line(t3, "FR ")
    assert header[2:-1] == [f"Diff={d}" for d in sorted(pooled)]
    rates = _line(t3, "this run (lsvq, all)")[2:-1]
    pairs = next(ln for ln in t3.splitlines() if ln.startswith("  pairs"))
    assert rates == [f"{pooled[d][1] / pooled[d][0]:.3f}" for d in sorted(pooled)]
    assert [c.strip() for c in pairs.split("|")][2:-1] == [str(pooled[d][0])
                                                            for d in sorted(pooled)]


# ------------------------------------------------------------ the docs' numbers


def _doc_tables():
    """{heading: [cells of each body row]} of the markdown tables under the docs'
    "The paper's numbers" section."""
    with open(os.path.join(REPO, "docs", "EVALUATION.md")) as f:
        text = f.read()
    section = text.split("### The paper's numbers", 1)[1].split("\n## ", 1)[0]
    tables, heading = {}, None
    for ln in section.splitlines():
        if ln.startswith("#### "):
            heading = ln[5:].split(":")[0].strip()
            tables[heading] = []
        elif ln.startswith("|") and heading and not re.match(r"^\|[\s\-:|]+\|$", ln):
            tables[heading].append([c.strip() for c in ln.strip("|").split("|")])
    return {h: rows[1:] for h, rows in tables.items()}  # drop the header rows


def _pair_text(p):
    return f"{p[0]:.3f} / {p[1]:.3f}"


def test_the_docs_show_the_numbers_of_paper_results():
    P = paper_results
    docs = _doc_tables()

    def model(name):
        return P.MODEL if name == "CP-LLM (ours)" else name

    assert {model(r[0]): r[1:] for r in docs["Table 1"]} == {
        m: [_pair_text(a), _pair_text(b), f"{fr:.3f}"] for m, (a, b, fr) in P.TABLE1.items()}
    assert {model(r[0]): r[1:] for r in docs["Table 2"]} == {
        m: [_pair_text(v[d]) for d in P.TABLE2_DATASETS] for m, v in P.TABLE2.items()}
    assert {model(r[0]): r[1:] for r in docs["Table 3"]} == {
        m: [kind, *(f"{v:.3f}" for v in rates)] for m, (kind, rates) in P.TABLE3.items()}
    for heading, sp, fr in (("Ablation A", P.ABLATION_INPUT, P.ABLATION_INPUT_FR),
                            ("Ablation B", P.ABLATION_HIGH_LEVEL, P.ABLATION_HIGH_LEVEL_FR)):
        assert {r[0]: r[1:] for r in docs[heading]} == {
            v: [_pair_text(sp[v]["test"]), _pair_text(sp[v]["test_1080p"]),
                f"{fr[v]['test']:.3f}", f"{fr[v]['test_1080p']:.3f}"] for v in sp}
