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
- flip rate by CRF difference (Table 3) and by rung difference over every source in the
  scores table that has `source_id` and `crf`.
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

from trainer import datasets, metrics

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
    """Rows (video_id, uri, score, source_id, crf where present) of a scores table: a
    Parquet or CSV file, or a directory holding `scores*.parquet` files (local or gs://)."""
    from apache_beam.io.filesystems import FileSystems

    wanted = ("video_id", "uri", "score", "source_id", "crf")
    rows = []
    for f in _files(path):
        with FileSystems.open(f, compression_type="uncompressed") as fh:
            table = pacsv.read_csv(fh) if f.endswith(".csv") else pq.read_table(fh)
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


def flip_rates(scores: list[dict]) -> list[dict]:
    """Flip-rate rows (by crf_diff and rung_diff, plus the overall row) of the ladders in
    the scores table; empty when it has no ladder."""
    ladder = [s for s in scores if s.get("source_id") not in (None, "")
              and s.get("crf") is not None]
    if not ladder:
        return []
    args = ([s["source_id"] for s in ladder], [s["crf"] for s in ladder],
            [s["score"] for s in ladder])
    try:
        out = []
        for by in ("crf_diff", "rung_diff"):
            for g in metrics.flip_rate_by_diff(*args, by=by):
                out.append({"group": by, "diff": g.key, "pairs": g.pairs, "flips": g.flips,
                            "ties": g.ties, "flip_rate": g.flip_rate, "tie_rate": g.tie_rate})
        g = metrics.flip_rate(*args)
        out.append({"group": "all", "diff": None, "pairs": g.pairs, "flips": g.flips,
                    "ties": g.ties, "flip_rate": g.flip_rate, "tie_rate": g.tie_rate})
        return out
    except metrics.MetricError as e:
        print(f"[evaluate] flip rate not computed: {e}", file=sys.stderr)
        return []


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
    by_crf = [f for f in flip_rows if f["group"] == "crf_diff"]
    if by_crf:
        overall = next(f for f in flip_rows if f["group"] == "all")
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
    flip_rows = flip_rates(scores)

    os.makedirs(output_dir, exist_ok=True)
    _write_table(metric_rows, METRIC_COLUMNS, os.path.join(output_dir, "metrics"))
    if flip_rows:
        _write_table(flip_rows, ("group", "diff", "pairs", "flips", "ties", "flip_rate",
                                 "tie_rate"), os.path.join(output_dir, "flip_rate"))
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
        "metrics": metric_rows, "flip_rate": flip_rows,
    }
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", required=True,
                        help="Scores Parquet/CSV file, or the scoring run's output dir.")
    parser.add_argument("--labels", required=True, help="The dataset's label file.")
    parser.add_argument("--dataset", required=True, choices=sorted(datasets.READERS))
    parser.add_argument("--dmos", default=None,
                        help="DMOS file (YouTube-UGC DMOS workbook or CSV vid,variant,dmos).")
    parser.add_argument("--video_root", default=None,
                        help="Where the videos lie (default: the label file's directory).")
    parser.add_argument("--output", required=True, help="Directory for the result files.")
    args = parser.parse_args(argv)
    summary = evaluate(args.scores, args.labels, args.dataset, args.output,
                       dmos_path=args.dmos, video_root=args.video_root)
    print(f"{summary['dataset']}: {summary['matched']} of {summary['labelled']} labelled "
          f"videos scored (joined on {summary['joined_on']}; {summary['scored']} scores)")
    print(format_tables(summary["metrics"], summary["flip_rate"]))
    print(f"\nwritten: {os.path.join(args.output, 'metrics.json')} (+ .csv/.parquet)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
