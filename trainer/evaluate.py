r"""The paper's evaluation of a scores table against a dataset's labels.

    python -m trainer.evaluate --scores OUT_DIR_OR_PARQUET --labels FILE \
        --dataset lsvq|youtube_ugc|live_yt_gaming|shorts_sdr|shorts_hdr2sdr|konvid_1k|... \
        [--dmos FILE] [--video_root DIR] --output DIR

Scores: the scoring pipeline's Parquet (`scores-*.parquet` in a directory, or one file;
a CSV with `video_id, score` also works). Labels: read by `trainer.datasets`. Rows are
joined on `video_id` (falling back to the video file's name when no id matches).

Reported (printed as the paper's tables, and written to DIR as `metrics.csv`,
`metrics.parquet`, `flip_rate.csv`, `flip_rate.parquet`, `predictions.parquet`,
`metrics.json`):
- SRCC, KRCC, PLCC raw and PLCC after the 4-parameter logistic (non-convergence is
  reported, never hidden) against MOS, for all matched videos and per split;
- the same against DMOS (`--dmos`, YouTube-UGC's VP9 DMOS workbook or a CSV
  `vid, variant, dmos`): the predicted DMOS is score(reference) - score(variant) when the
  reference (`<vid>` or `<vid>_orig`) was scored, else -score;
- flip rate by CRF difference (Table 3) and by rung difference over every ladder in the
  scores table (rows with `source_id` and `crf`; renditions are paired within one
  (source_id, ladder_id)), for all ladders and per label split of the ladders whose
  source_id is a labelled video (LSVQ-test, LSVQ-1080p);
- with `--dmos`, the flip rate over pairs of DMOS-labelled variants of one source (Table 1's
  FR): a flip when the variant with the larger DMOS scores strictly higher.

Then the paper's Tables 1-3 (and its LSVQ ablation layout) with the paper's own CP-LLM row
and the difference (`trainer.paper_results`), printed and written to
`DIR/paper_tables.txt`. `--tables DIR [DIR ...]` prints them over several evaluations
(e.g. one per Table 2 dataset) from their `metrics.json`, without rescoring.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from trainer import datasets, metrics, paper_results

METRIC_COLUMNS = ("dataset", "subset", "target", "n", "srcc", "krcc", "plcc",
                  "plcc_logistic", "logistic_converged", "logistic_message", "prediction")


def _files(path: str) -> list[str]:
    """`path` itself when it is a file, else the `scores*.parquet` files in it (local
    or gs://, through Beam's FileSystems)."""
    from apache_beam.io.filesystems import FileSystems

    if os.path.isfile(path):
        return [path]
    if "://" in path and FileSystems.exists(path) and not path.endswith("/"):
        match = FileSystems.match([path])[0].metadata_list
        if match and match[0].path == path:
            return [path]
    pattern = FileSystems.join(path, "scores*.parquet")
    files = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    if not files:
        raise FileNotFoundError(f"scores {path!r}: not a file, and no scores*.parquet in it")
    return files


def read_scores(path: str) -> list[dict]:
    """Rows (video_id, uri, score, source_id, crf, ladder_id where present) of a scores
    table: a
    Parquet or CSV file, or a directory holding `scores*.parquet` files (local or gs://)."""
    from apache_beam.io.filesystems import FileSystems

    from beam_pipelines import tables

    wanted = ("video_id", "uri", "score", "source_id", "crf", "ladder_id")
    rows = []
    for f in _files(path):
        if f.endswith(".csv"):
            with FileSystems.open(f, compression_type="uncompressed") as fh:
                table = pacsv.read_csv(fh)
        else:
            table = tables.read_file(f)
        missing = {"video_id", "score"} - set(table.column_names)
        if missing:
            raise ValueError(f"{f}: scores table lacks columns {sorted(missing)}")
        table = table.select([c for c in wanted if c in table.column_names])
        rows.extend(table.to_pylist())
    return rows


def _stem(uri: str | None) -> str:
    return os.path.splitext(os.path.basename(uri or ""))[0]


def join(scores: list[dict], labels: list[dict]) -> tuple[list[dict], str]:
    """Label rows with a `score` added, matched on video_id, else on file name stem."""
    by_id = {s["video_id"]: s for s in scores}
    matched = [dict(r, score=by_id[r["video_id"]]["score"]) for r in labels
               if r["video_id"] in by_id]
    if matched:
        return matched, "video_id"
    by_stem = {_stem(s.get("uri")) or s["video_id"]: s for s in scores}
    matched = [dict(r, score=by_stem[_stem(r["uri"])]["score"]) for r in labels
               if _stem(r["uri"]) in by_stem]
    return matched, "file name"


def _metric_row(dataset, subset, target, pred, label, prediction="score") -> dict:
    row = {"dataset": dataset, "subset": subset, "target": target, "n": len(pred),
           "prediction": prediction}
    try:
        c = metrics.correlations(pred, label)
    except metrics.MetricError as e:
        row.update(srcc=None, krcc=None, plcc=None, plcc_logistic=None,
                   logistic_converged=False, logistic_message=f"not computed: {e}")
        return row
    row.update({k: c[k] for k in ("srcc", "krcc", "plcc", "plcc_logistic",
                                  "logistic_converged", "logistic_message")})
    return row


def mos_metrics(dataset: str, matched: list[dict]) -> list[dict]:
    """One metric row for all matched videos, plus one per split when there are several."""
    rows = [_metric_row(dataset, "all", "MOS", [m["score"] for m in matched],
                        [m["mos"] for m in matched])]
    splits = sorted({m["split"] for m in matched if m.get("split")})
    if len(splits) > 1:
        for split in splits:
            sub = [m for m in matched if m.get("split") == split]
            rows.append(_metric_row(dataset, split, "MOS", [m["score"] for m in sub],
                                    [m["mos"] for m in sub]))
    return rows


def dmos_metrics(dataset: str, scores: list[dict], dmos_rows: list[dict]) -> list[dict]:
    """DMOS correlation; predicted DMOS = score(reference) - score(variant) where the
    reference was scored, else -score(variant)."""
    by_id = {s["video_id"]: s["score"] for s in scores}
    by_stem = {_stem(s.get("uri")): s["score"] for s in scores if s.get("uri")}
    pred, label, with_ref = [], [], 0
    for r in dmos_rows:
        score = by_id.get(r["video_id"], by_stem.get(_stem(r["uri"])))
        if score is None:
            continue
        src = r.get("source_id")
        ref = next((by_id[k] for k in (src, f"{src}_orig") if k in by_id), None)
        if ref is not None:
            with_ref += 1
            pred.append(ref - score)
        else:
            pred.append(-score)
        label.append(r["dmos"])
    if with_ref == len(pred):
        how = "score(reference) - score(variant)"
    elif with_ref == 0:
        how = "-score(variant)"
    else:
        raise ValueError(f"DMOS: {with_ref} of {len(pred)} variants have a scored reference; "
                         "score all references or none")
    return [_metric_row(dataset, "all", "DMOS", pred, label, prediction=how)]


FLIP_COLUMNS = ("subset", "group", "diff", "pairs", "flips", "ties", "flip_rate",
                "tie_rate")


def _flip_row(subset, group, g) -> dict:
    return {"subset": subset, "group": group, "diff": None if g.key < 0 else g.key,
            "pairs": g.pairs, "flips": g.flips, "ties": g.ties, "flip_rate": g.flip_rate,
            "tie_rate": g.tie_rate}


def _ladder_flip_rows(subset: str, ladder: list[dict]) -> list[dict]:
    # one ladder = one (source_id, ladder_id): two encoders' ladders of a source never pair
    args = ([(s["source_id"], s.get("ladder_id") or s["source_id"]) for s in ladder],
            [s["crf"] for s in ladder], [s["score"] for s in ladder])
    out = [_flip_row(subset, by, g) for by in ("crf_diff", "rung_diff")
           for g in metrics.flip_rate_by_diff(*args, by=by)]
    return out + [_flip_row(subset, "all", metrics.flip_rate(*args))]


def flip_rates(scores: list[dict], labels: list[dict] | None = None) -> list[dict]:
    """Flip-rate rows (by crf_diff and rung_diff, plus the overall row `group="all"`) of
    the ladders in the scores table, subset "all"; and the same per label split (subset =
    the split) for the ladders whose source_id is a labelled video_id with a split. Empty
    when the table has no ladder."""
    ladder = [s for s in scores if s.get("source_id") not in (None, "")
              and s.get("crf") is not None]
    if not ladder:
        return []
    split_of = {r["video_id"]: r["split"] for r in labels or () if r.get("split")}
    subsets = [("all", ladder)]
    for split in sorted({split_of[s["source_id"]] for s in ladder
                         if s["source_id"] in split_of}):
        subsets.append((split, [s for s in ladder if split_of.get(s["source_id"]) == split]))
    out = []
    for subset, rows in subsets:
        try:
            out += _ladder_flip_rows(subset, rows)
        except metrics.MetricError as e:
            print(f"[evaluate] flip rate ({subset}) not computed: {e}", file=sys.stderr)
    return out


def dmos_flip_rate(scores: list[dict], dmos_rows: list[dict]) -> list[dict]:
    """Table 1's FR: over every pair of DMOS-labelled variants of one source with
    different DMOS, a flip when the variant with the larger DMOS (the worse one) scores
    strictly higher; equal scores are ties (not flips). One row (subset "all", group
    "dmos_pairs") or none when no source has two scored, labelled variants."""
    by_id = {s["video_id"]: s["score"] for s in scores}
    by_stem = {_stem(s.get("uri")): s["score"] for s in scores if s.get("uri")}
    per_source: dict = {}
    for r in dmos_rows:
        score = by_id.get(r["video_id"], by_stem.get(_stem(r["uri"])))
        if score is not None and r.get("source_id"):
            per_source.setdefault(r["source_id"], []).append((float(r["dmos"]), float(score)))
    pairs = flips = ties = 0
    for variants in per_source.values():
        for i, (d_a, s_a) in enumerate(variants):
            for d_b, s_b in variants[i + 1:]:
                if d_a == d_b:
                    continue
                (_, s_better), (_, s_worse) = sorted([(d_a, s_a), (d_b, s_b)])
                pairs += 1
                flips += s_worse > s_better
                ties += s_worse == s_better
    if not pairs:
        return []
    return [_flip_row("all", "dmos_pairs", metrics.FlipCount(-1, pairs, flips, ties))]


def _fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/c"
    return f"{v:.{digits}f}"


def format_tables(metric_rows: list[dict], flip_rows: list[dict]) -> str:
    """The paper's tables as text: SRCC / PLCC per target, then FR by CRF difference."""
    header = (f"{'dataset':<16} {'subset':<12} {'target':<6} {'n':>6}  "
              f"{'SRCC/PLCC':>13}  {'PLCC raw':>8}  {'KRCC':>6}  note")
    lines = [header]
    for r in metric_rows:
        note = "" if r["logistic_converged"] else f"logistic: {r['logistic_message']}"
        lines.append(f"{r['dataset']:<16} {r['subset']:<12} {r['target']:<6} {r['n']:>6}  "
                     f"{_fmt(r['srcc']) + ' / ' + _fmt(r['plcc_logistic']):>13}  "
                     f"{_fmt(r['plcc']):>8}  {_fmt(r['krcc']):>6}  {note}")
    lines.append("(PLCC after the 4-parameter logistic; 'PLCC raw' without it; n/c: not "
                 "computed)")
    by_crf = [f for f in flip_rows if f["group"] == "crf_diff" and f["subset"] == "all"]
    if by_crf:
        overall = next(f for f in flip_rows if f["group"] == "all" and f["subset"] == "all")
        lines.append("")
        lines.append("FR     | " + " | ".join(f"Diff={f['diff']:<3}" for f in by_crf)
                     + " | all")
        lines.append("rate   | " + " | ".join(f"{f['flip_rate']:<8.3f}" for f in by_crf)
                     + f" | {overall['flip_rate']:.3f}")
        lines.append("pairs  | " + " | ".join(f"{f['pairs']:<8d}" for f in by_crf)
                     + f" | {overall['pairs']}")
        lines.append("ties   | " + " | ".join(f"{f['ties']:<8d}" for f in by_crf)
                     + f" | {overall['ties']}")
    return "\n".join(lines)


# ------------------------------------------------------------- the paper's tables


def _pair(srcc, plcc) -> str:
    return f"{_fmt(srcc)} / {_fmt(plcc)}"


def _delta(run, paper) -> str:
    if run is None or paper is None or (isinstance(run, float) and math.isnan(run)):
        return "-"
    return f"{run - paper:+.3f}"


def _pair_delta(row, paper) -> str:
    if row is None:
        return "-"
    return f"{_delta(row['srcc'], paper[0])} / {_delta(row['plcc_logistic'], paper[1])}"


def _metric(summary, target: str, subset: str = "all"):
    return next((r for r in summary["metrics"]
                 if r["target"] == target and r["subset"] == subset), None)


def _split_metric(summary, split: str):
    """The MOS row of one label split: its own row, or the "all" row when every matched
    video is of that split (e.g. LSVQ's labels_test_1080p.csv)."""
    row = _metric(summary, "MOS", split)
    if row is None and summary.get("splits") == [split]:
        row = _metric(summary, "MOS", "all")
    return row


def _flip(summary, group: str = "all", subset: str = "all"):
    return next((f for f in summary["flip_rate"]
                 if f["group"] == group and f.get("subset", "all") == subset), None)


def _rate(row) -> str:
    return "-" if row is None else _fmt(row["flip_rate"])


def _grid(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    return [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _cell(cells: dict, key, summary, value):
    if key in cells:
        raise ValueError(f"{key!r} is in two evaluations ({cells[key][0]['scores']} and "
                         f"{summary['scores']}): pass each once")
    cells[key] = (summary, value)


def paper_tables(summaries: list[dict], *, all_models: bool = False) -> str:
    """The paper's Tables 1-3 and its LSVQ ablation layout, each with this run's row, the
    paper's CP-LLM row and their difference (run - paper), for whatever the evaluation
    summaries (`evaluate`'s return value or `metrics.json`) cover. `all_models` adds the
    paper's other models. Empty string when no table applies."""
    P = paper_results

    def shown(model):
        return all_models or model == P.MODEL

    out = []

    table1 = {}
    for s in summaries:
        if _metric(s, "DMOS"):
            _cell(table1, "dmos", s, s)
    if table1:
        s = table1["dmos"][1]
        mos, dmos, fr = _metric(s, "MOS"), _metric(s, "DMOS"), _flip(s, "dmos_pairs")
        rows = [["Model", "MOS SRCC/PLCC", "DMOS SRCC/PLCC", "FR"],
                [f"this run ({s['dataset']})", _pair(mos["srcc"], mos["plcc_logistic"]),
                 _pair(dmos["srcc"], dmos["plcc_logistic"]), _rate(fr)]]
        rows += [[f"{m} (paper)", _pair(*P.TABLE1[m][0]), _pair(*P.TABLE1[m][1]),
                  _fmt(P.TABLE1[m][2])] for m in P.TABLE1 if shown(m)]
        ours = P.TABLE1[P.MODEL]
        rows.append(["run - CP-LLM (paper)", _pair_delta(mos, ours[0]),
                     _pair_delta(dmos, ours[1]),
                     _delta(None if fr is None else fr["flip_rate"], ours[2])])
        out += ["Table 1 (YT-Compress: MOS, DMOS, flip rate on its compression variants)",
                *_grid(rows),
                (f"(FR: {fr['pairs'] if fr else 0} same-source DMOS variant pairs; "
                "the paper's pairing for YT-Compress is not in its text)"), ""]

    table2 = {}
    for s in summaries:
        if s["dataset"] in P.TABLE2_DATASETS:
            _cell(table2, s["dataset"], s, _metric(s, "MOS"))
    if table2:
        names = list(P.TABLE2_DATASETS)
        rows = [["SRCC/PLCC", *P.TABLE2_DATASETS.values()],
                ["this run", *(_pair(table2[d][1]["srcc"], table2[d][1]["plcc_logistic"])
                               if d in table2 else "-" for d in names)]]
        rows += [[f"{m} (paper)", *(_pair(*P.TABLE2[m][d]) for d in names)]
                 for m in P.TABLE2 if shown(m)]
        rows.append(["run - CP-LLM (paper)",
                     *(_pair_delta(table2[d][1], P.TABLE2[P.MODEL][d]) if d in table2
                       else "-" for d in names)])
        out += ["Table 2 (cross-dataset MOS)", *_grid(rows),
                "(-: not in these evaluations)", ""]

    lsvq = {}
    for s in summaries:
        if s["dataset"] == "lsvq":
            for split in P.LSVQ_SPLITS:
                row, fr = _split_metric(s, split), _flip(s, "all", split)
                if row is not None or fr is not None:
                    _cell(lsvq, split, s, (row, fr))
    if lsvq:
        splits = list(P.LSVQ_SPLITS)
        got = {k: lsvq[k][1] if k in lsvq else (None, None) for k in splits}
        rows = [["SRCC/PLCC", *P.LSVQ_SPLITS.values()],
                ["this run", *(_pair(got[k][0]["srcc"], got[k][0]["plcc_logistic"])
                               if got[k][0] else "-" for k in splits)],
                ["CP-LLM (paper)", *(_pair(*P.LSVQ_FINAL[k]) for k in splits)],
                ["run - CP-LLM (paper)", *(_pair_delta(got[k][0], P.LSVQ_FINAL[k])
                                           for k in splits)]]
        fr_rows = [["FR", *P.LSVQ_SPLITS.values()],
                   ["this run", *(_rate(got[k][1]) for k in splits)],
                   ["CP-LLM (paper)", *(_fmt(P.LSVQ_FINAL_FR[k]) for k in splits)],
                   ["run - CP-LLM (paper)",
                    *(_delta(got[k][1]["flip_rate"] if got[k][1] else None,
                             P.LSVQ_FINAL_FR[k]) for k in splits)]]
        out += [("LSVQ (the paper's ablation tables; its final configuration: mix input, "
                "frozen high-level encoder)"), *_grid(rows), "", *_grid(fr_rows),
                ("(FR per split: the ladders whose source_id is a labelled video of that "
                "split; -: none)"), ""]

    table3 = []
    repeated = len({s["dataset"] for s in summaries}) < len(summaries)
    for s in summaries:
        tag = s["dataset"] + (f" {os.path.basename(s['labels'])}" if repeated else "")
        subsets = sorted({f.get("subset", "all") for f in s["flip_rate"]
                          if f["group"] == "crf_diff"}, key=lambda x: (x != "all", x))
        for subset in subsets:
            by_diff = {f["diff"]: f for f in s["flip_rate"]
                       if f["group"] == "crf_diff" and f.get("subset", "all") == subset}
            table3.append((f"this run ({tag}, {subset})", by_diff,
                           _flip(s, "all", subset)))
    if table3:
        diffs = sorted({d for _, by_diff, _ in table3 for d in by_diff})
        rows = [["FR", "Answer / Score", *(f"Diff={d}" for d in diffs), "all"]]
        for name, by_diff, overall in table3:
            rows.append([name, "Score", *(_rate(by_diff.get(d)) for d in diffs),
                         _rate(overall)])
            rows.append(["  pairs", "", *(str(by_diff[d]["pairs"]) if d in by_diff else "-"
                                          for d in diffs),
                         str(overall["pairs"]) if overall else "-"])
        paper = [["FR", "Answer / Score", *("Diff=?" for _ in P.TABLE3_DIFFS)]]
        paper += [[f"{m} (paper)", P.TABLE3[m][0], *(_fmt(v) for v in P.TABLE3[m][1])]
                  for m in P.TABLE3 if shown(m)]
        out += ["Table 3 (flip rate by CRF difference)", *_grid(rows), "",
                ("the paper's Table 3 (LSVQ-test-1080p compression variants; the CRF "
                "difference of each column is lost, columns in the paper's order):"),
                *_grid(paper), ""]
    return "\n".join(out).rstrip("\n")


def _write_table(rows: list[dict], columns, stem: str) -> None:
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    pq.write_table(table, stem + ".parquet")
    pacsv.write_csv(table, stem + ".csv")


def evaluate(scores_path: str, labels_path: str, dataset: str, output_dir: str, *,
             dmos_path: str | None = None, video_root: str | None = None) -> dict:
    """Runs the evaluation, writes the files, returns the JSON-ready summary."""
    scores = read_scores(scores_path)
    labels = datasets.read_labels(dataset, labels_path, video_root=video_root,
                                  check_files=False)
    matched, joined_on = join(scores, labels.rows)
    if not matched:
        raise ValueError(f"no scored video matches a label of {labels_path} (tried video_id "
                         f"and file name); first scored ids: "
                         f"{[s['video_id'] for s in scores[:3]]}, first labelled: "
                         f"{[r['video_id'] for r in labels.rows[:3]]}")
    metric_rows = mos_metrics(dataset, matched)
    dmos_labels = None
    if dmos_path:
        dmos_labels = datasets.read_labels("youtube_ugc_dmos", dmos_path,
                                           video_root=video_root, check_files=False)
        metric_rows += dmos_metrics(dataset, scores, dmos_labels.rows)
    flip_rows = flip_rates(scores, labels.rows)
    if dmos_labels is not None:
        flip_rows += dmos_flip_rate(scores, dmos_labels.rows)

    os.makedirs(output_dir, exist_ok=True)
    _write_table(metric_rows, METRIC_COLUMNS, os.path.join(output_dir, "metrics"))
    if flip_rows:
        _write_table(flip_rows, FLIP_COLUMNS, os.path.join(output_dir, "flip_rate"))
    pq.write_table(pa.Table.from_pylist(
        [{"video_id": m["video_id"], "score": float(m["score"]), "mos": float(m["mos"]),
          "split": m.get("split")} for m in matched]),
        os.path.join(output_dir, "predictions.parquet"))
    summary = {
        "dataset": dataset, "scores": scores_path, "labels": labels_path,
        "dmos": dmos_path, "scored": len(scores), "labelled": len(labels.rows),
        "matched": len(matched), "joined_on": joined_on,
        "labelled_not_scored": len(labels.rows) - len(matched),
        "label_rows_skipped": len(labels.skipped),
        "dmos_labelled": None if dmos_labels is None else len(dmos_labels.rows),
        "splits": sorted({m["split"] for m in matched if m.get("split")}),
        "metrics": metric_rows, "flip_rate": flip_rows,
    }
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(output_dir, "paper_tables.txt"), "w") as f:
        f.write(paper_tables([summary], all_models=True) + "\n")
    return summary


def read_summary(path: str) -> dict:
    """An evaluation's summary: `path`/metrics.json, or the JSON file itself."""
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.json")
    with open(path) as f:
        return json.load(f)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores",
                        help="Scores Parquet/CSV file, or the scoring run's output dir.")
    parser.add_argument("--labels", help="The dataset's label file.")
    parser.add_argument("--dataset", choices=sorted(datasets.READERS))
    parser.add_argument("--dmos", default=None,
                        help="DMOS file (YouTube-UGC DMOS workbook or CSV vid,variant,dmos).")
    parser.add_argument("--video_root", default=None,
                        help="Where the videos lie (default: the label file's directory).")
    parser.add_argument("--output", help="Directory for the result files.")
    parser.add_argument("--tables", nargs="+", metavar="DIR",
                        help="Only print the paper's tables over these earlier evaluations "
                             "(their --output dirs or metrics.json files), e.g. one per "
                             "Table 2 dataset; nothing is rescored.")
    parser.add_argument("--paper_models", choices=("ours", "all"), default="ours",
                        help="Paper rows to print beside the run: CP-LLM only (default) or "
                             "every model the paper compares (paper_tables.txt has all).")
    args = parser.parse_args(argv)
    all_models = args.paper_models == "all"
    if args.tables:
        print(paper_tables([read_summary(p) for p in args.tables], all_models=all_models)
              or "no paper table applies to these evaluations")
        return 0
    missing = [f"--{k}" for k in ("scores", "labels", "dataset", "output")
               if getattr(args, k) is None]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)} "
                     "(or --tables DIR ...)")
    summary = evaluate(args.scores, args.labels, args.dataset, args.output,
                       dmos_path=args.dmos, video_root=args.video_root)
    print(f"{summary['dataset']}: {summary['matched']} of {summary['labelled']} labelled "
          f"videos scored (joined on {summary['joined_on']}; {summary['scored']} scores)")
    print(format_tables(summary["metrics"], summary["flip_rate"]))
    tables = paper_tables([summary], all_models=all_models)
    if tables:
        print("\n" + tables)
    print(f"\nwritten: {os.path.join(args.output, 'metrics.json')} (+ .csv/.parquet, "
          "paper_tables.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
