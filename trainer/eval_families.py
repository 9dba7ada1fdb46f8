"""Held-out content families: a preset side by side with no-reference baselines.

    python -m trainer.eval_families --preset cpllm_tiny --data_dir out/tiny_data \
        [--output out/eval_families.json] [--markdown out/eval_families.md] \
        [--scores_output out/scores.parquet]
    python -m trainer.eval_families --scores a.parquet --scores b.parquet --data_dir D

`--scores_output` keeps every rendition's score (video_id, score). `--scores` (repeated)
reads such files instead of scoring: the model's figure is then the mean of the files'
scores per video, which is what a preset with those runs as `score_members`
(`trainer.ensemble`) scores, up to float rounding (its frame scores are the runs' mean).

Scores every rendition of the held-out split with the production score path
(`CPLLM.score`, no decoder) and compares four scorers on the same renditions:
  cpllm         the preset's score (0-100)
  blockdetect   -(ffmpeg blockdetect mean), no reference
  blurdetect    -(ffmpeg blurdetect mean), no reference
  -crf          minus the encoder's CRF: an oracle a no-reference model does not have
Figures, pooled over all held-out sources and per held-out group (`holdout_group` of
DIR/catalog.csv: a held-out family, motion or frame size):
  srcc_coarse    Spearman vs VMAF (measured against the lossless master) over the
                 coarse ladder's renditions (CRF 19..49 step 5), all sources pooled
  srcc_within    mean over sources of each source's own Spearman vs VMAF over its coarse
                 rungs: does the scorer order one title's rungs (scale-free)
  srcc_titles    Spearman between the sources' mean score and mean VMAF over their
                 coarse rungs: does it order titles by how well they compress (a
                 constant scorer per title, like -crf, has none). Pooled SRCC mixes the
                 two: a scorer needs both to reach a high srcc_coarse
  flip_coarse1   flip rate between neighbouring coarse rungs (one 5-CRF step)
  flip_fine1     flip rate between neighbouring fine rungs (one 2-CRF step, 24..36)
  score_min, score_max  range of the scorer's values
And for the model alone (its 0-100 scale is VMAF's, by training), `offset`: the mean of
score - VMAF over the coarse rungs per motion and per family, pooled (`offsets`), which
shows where the titles' calibration goes wrong.
A flip: the higher CRF scores strictly higher; ties are counted apart (`tie_*`). A
scorer's non-finite values (blockdetect on content without a block grid) leave those
renditions out of its figures; `n_coarse` says how many were used.
"""
from __future__ import annotations

import csv
import json
import os

import numpy as np
from absl import app, flags, logging
from scipy import stats

from beam_pipelines import ladder_defaults
from trainer import metrics

COARSE = ladder_defaults.COARSE
FINE = ladder_defaults.FINE
SCORERS = ("cpllm", "blockdetect", "blurdetect", "-crf")


def _num(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v if np.isfinite(v) else float("nan")


def _flip(source, crf, score, crfs):
    sel = np.isin(crf, crfs) & np.isfinite(score)
    if sel.sum() < 2:
        return None, None, 0
    try:
        per = metrics.flip_rate_by_diff(source[sel], crf[sel], score[sel], by="rung_diff")
    except metrics.MetricError:
        return None, None, 0
    one = [g for g in per if int(g.key) == 1]
    if not one:
        return None, None, 0
    return one[0].flips / one[0].pairs, one[0].ties / one[0].pairs, one[0].pairs


def figures(source, crf, vmaf, score) -> dict:
    """The module docstring's figures for one scorer on one set of renditions."""
    out = {}
    sel = np.isin(crf, COARSE) & np.isfinite(score) & np.isfinite(vmaf)
    out["n_coarse"] = int(sel.sum())
    if sel.sum() > 2 and np.ptp(score[sel]) > 0:
        out["srcc_coarse"] = float(stats.spearmanr(score[sel], vmaf[sel]).statistic)
    within, title_score, title_vmaf = [], [], []
    for s in np.unique(source[sel]):
        one = sel & (source == s)
        if one.sum() > 2 and np.ptp(score[one]) > 0 and np.ptp(vmaf[one]) > 0:
            within.append(stats.spearmanr(score[one], vmaf[one]).statistic)
        title_score.append(score[one].mean())
        title_vmaf.append(vmaf[one].mean())
    if within:
        out["srcc_within"] = float(np.mean(within))
    if len(title_score) > 2 and np.ptp(title_score) > 0:
        out["srcc_titles"] = float(stats.spearmanr(title_score, title_vmaf).statistic)
    for name, crfs in (("coarse1", COARSE), ("fine1", FINE)):
        flip, tie, pairs = _flip(source, crf, score, crfs)
        if flip is not None:
            out[f"flip_{name}"], out[f"tie_{name}"], out[f"pairs_{name}"] = flip, tie, pairs
    fin = score[np.isfinite(score)]
    if len(fin):
        out["score_min"], out["score_max"] = float(fin.min()), float(fin.max())
    return out


def table(rows: list[dict], model_scores: dict) -> dict:
    """{group: {scorer: figures}} for catalog `rows` of the held-out renditions."""
    rows = [r for r in rows if r["video_id"] in model_scores and r.get("crf") not in ("", None)]
    source = np.array([r["source_id"] for r in rows])
    group = np.array([r.get("holdout_group") or "?" for r in rows])
    crf = np.array([int(float(r["crf"])) for r in rows])
    vmaf = np.array([_num(r.get("vmaf_raw")) for r in rows])
    scorers = {
        "cpllm": np.array([model_scores[r["video_id"]] for r in rows], np.float64),
        "blockdetect": -np.array([_num(r.get("blockiness")) for r in rows]),
        "blurdetect": -np.array([_num(r.get("blur")) for r in rows]),
        "-crf": -crf.astype(np.float64),
    }
    out = {"offsets": offsets(rows, scorers["cpllm"], crf, vmaf)}
    for g in ["pooled", *sorted(set(group))]:
        sel = np.ones(len(rows), bool) if g == "pooled" else group == g
        out[g] = {"sources": len(set(source[sel]))}
        for name, sc in scorers.items():
            out[g][name] = figures(source[sel], crf[sel], vmaf[sel], sc[sel])
    return out


def markdown(result: dict) -> str:
    lines = ["| group | sources | scorer | SRCC vs VMAF (coarse) | SRCC within a title (mean) "
             "| SRCC of title means | flip, 1 coarse step | flip, 1 fine step | score range |",
             "|---|---:|---|---:|---:|---:|---:|---:|---|"]

    def f(x):
        return "–" if x is None else f"{x:.3f}"

    for g, by in result.items():
        if g == "offsets":
            continue
        for name in SCORERS:
            m = by[name]
            rng = (f"{m['score_min']:.1f} … {m['score_max']:.1f}" if "score_min" in m else "–")
            lines.append(f"| {g} | {by['sources']} | {name} | {f(m.get('srcc_coarse'))} | "
                         f"{f(m.get('srcc_within'))} | {f(m.get('srcc_titles'))} | "
                         f"{f(m.get('flip_coarse1'))} | {f(m.get('flip_fine1'))} | {rng} |")
    if result.get("offsets"):
        lines += ["", "| sources of | count | model score − VMAF (coarse rungs, mean) |",
                  "|---|---:|---:|"]
        lines += [f"| {k} | {v['sources']} | {v['offset']:+.1f} |"
                  for k, v in result["offsets"].items() if k != "titles"]
        if "titles" in result["offsets"]:
            t = result["offsets"]["titles"]
            lines += ["", f"RMS of the titles' mean offsets: {t['rms_offset']:.1f} points. "
                      "Pooled SRCC were each title's offset shrunk by "
                      + ", ".join(f"{float(a):.0%}: {v:.3f}"
                                  for a, v in t["srcc_if_shrunk"].items()) + "."]
    return "\n".join(lines) + "\n"


def score_split(preset: str, data_dir: str, split: str = "holdout",
                batch_size: int = 16, low_level_views: int | None = None,
                progress: bool = False) -> dict[str, float]:
    """{video_id: the preset's score} for every video of `split`.

    The records are read batch by batch (`record_stream`), so memory stays flat whatever
    the split's size. `low_level_views`: V to score with instead of the preset's."""
    from beam_pipelines import records
    from cpllm_model import CPLLM
    from trainer import eval_callback, record_stream

    model = CPLLM.from_preset(preset)
    if low_level_views is not None:
        model.set_low_level_views(low_level_views)
    spec = records.RecordSpec.from_manifest(os.path.join(data_dir, "manifest.json"))
    spec.check_read_by(model.preprocessor, preset)
    logging.info("records as prepared: %s; scored with V = %d", spec,
                 model.backbone.low_level_views)
    data = record_stream.StreamingSplit(record_stream.load_index(data_dir, split, spec),
                                        spec)
    done = [0]

    def score(frames):
        out = model.score(frames)["score"]
        done[0] += batch_size
        if progress:
            logging.info("scored %d / %d videos", min(done[0], len(data)), len(data))
        return out

    scores = eval_callback.HeldOutEvaluator(data, batch_size).predict(score)
    return dict(zip((str(v) for v in data.video_id), scores.tolist()))


def offsets(rows: list[dict], score, crf, vmaf) -> dict:
    """The model's calibration across titles, over the coarse rungs (score - VMAF):

    {"motion:<m>" | "family:<f>": {"sources", "offset"}}: the mean offset of the
    sources of each motion and each family;
    "titles": {"rms_offset": RMS over sources of each source's mean offset,
               "srcc_if_shrunk": {fraction: pooled SRCC with every source's mean offset
               shrunk by that fraction, its order inside the title unchanged}}: how much
    better the titles' calibration must be for a given pooled SRCC.
    """
    sel = np.isin(crf, COARSE) & np.isfinite(score) & np.isfinite(vmaf)
    out = {}
    for column in ("motion", "family"):
        values = np.array([r.get(column) or "?" for r in rows])
        for v in sorted(set(values[sel])):
            one = sel & (values == v)
            out[f"{column}:{v}"] = {
                "sources": len({rows[i]["source_id"] for i in np.flatnonzero(one)}),
                "offset": float(np.mean(score[one] - vmaf[one]))}
    source = np.array([r["source_id"] for r in rows])[sel]
    residual = score[sel] - vmaf[sel]
    names, index = np.unique(source, return_inverse=True)
    if len(names) > 2:
        title_offset = np.bincount(index, residual) / np.bincount(index)
        out["titles"] = {
            "rms_offset": float(np.sqrt(np.mean(title_offset ** 2))),
            "srcc_if_shrunk": {
                f"{a:.2f}": float(stats.spearmanr(score[sel] - a * title_offset[index],
                                                  vmaf[sel]).statistic)
                for a in (0.0, 0.25, 0.5, 0.75, 1.0)}}
    return out


def catalog_rows(data_dir: str) -> list[dict]:
    with open(os.path.join(data_dir, "catalog.csv"), newline="") as f:
        return list(csv.DictReader(f))


def read_mean_scores(paths: list[str]) -> dict[str, float]:
    """{video_id: mean score over the files}; every file must hold the same videos."""
    import pyarrow.parquet as pq

    tables = [pq.read_table(p).to_pydict() for p in paths]
    ids = sorted(tables[0]["video_id"])
    for path, t in zip(paths, tables):
        if sorted(t["video_id"]) != ids:
            raise ValueError(f"{path} scores other videos than {paths[0]}")
    each = [dict(zip(t["video_id"], t["score"])) for t in tables]
    return {i: float(np.mean([e[i] for e in each])) for i in ids}


def write_scores(path: str, scores: dict[str, float]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = sorted(scores)
    pq.write_table(pa.table({"video_id": pa.array(ids, pa.string()),
                             "score": pa.array([scores[i] for i in ids], pa.float64())}),
                   path)


def evaluate(preset: str, data_dir: str, split: str = "holdout", batch_size: int = 16,
             scores_output: str | None = None, low_level_views: int | None = None,
             progress: bool = False) -> dict:
    scores = score_split(preset, data_dir, split, batch_size, low_level_views, progress)
    if scores_output:
        write_scores(scores_output, scores)
    return table(catalog_rows(data_dir), scores)


def define_flags():
    """The command line's flags (defined only when run as a program: other trainer
    modules, e.g. fit_motion_shift, define flags of the same names)."""
    flags.DEFINE_string("preset", "cpllm_tiny", "Preset name or directory.")
    flags.DEFINE_string("data_dir", None,
                        "make_tiny_dataset output (manifest.json, catalog.csv).")
    flags.DEFINE_string("split", "holdout", "Split to evaluate.")
    flags.DEFINE_integer("batch_size", 16, "Videos per score call (padded, fixed shape).")
    flags.DEFINE_string("output", None, "Write the figures here as JSON.")
    flags.DEFINE_string("markdown", None, "Write a Markdown table here.")
    flags.DEFINE_multi_string("scores", [], "Score files (--scores_output of earlier runs) to "
                              "average per video instead of scoring --preset.")
    flags.DEFINE_string("scores_output", None, "Write every rendition's model score here "
                        "as Parquet (video_id, score).")
    flags.DEFINE_integer("low_level_views", None, "Views per low-level patch (1..8) to score "
                         "with instead of the preset's own.")


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    if FLAGS.scores:
        if FLAGS.scores_output or FLAGS.low_level_views is not None:
            raise app.UsageError("--scores reads scores made earlier: --scores_output and "
                                 "--low_level_views apply only when scoring --preset")
        result = table(catalog_rows(FLAGS.data_dir), read_mean_scores(FLAGS.scores))
    else:
        result = evaluate(FLAGS.preset, FLAGS.data_dir, FLAGS.split, FLAGS.batch_size,
                          FLAGS.scores_output, FLAGS.low_level_views, progress=True)
    text = json.dumps(result, indent=1, sort_keys=True)
    print(markdown(result))
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(text + "\n")
    if FLAGS.markdown:
        with open(FLAGS.markdown, "w") as f:
            f.write(markdown(result))


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["data_dir"])
    app.run(main)
