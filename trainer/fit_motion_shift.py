"""Fit a motion shift of a preset's score logits on scored renditions (w, c of
`cpllm_model.motion_shift.MotionShift`), and apply it to other scores.

    # 1. the calibration catalog: every rendition of the first N sources (sorted ids)
    python -m trainer.fit_motion_shift --catalog out/presets_data/catalog.csv \
        --max_sources 64 --write_catalog /tmp/calib/catalog.csv
    # 2. score it with the preset (any scoring run's output directory will do)
    python -m beam_pipelines.score --catalog /tmp/calib/catalog.csv --output_dir /tmp/calib/out
    # 3. fit (w, c); optionally shift other scores with it
    python -m trainer.fit_motion_shift --catalog out/presets_data/catalog.csv \
        --max_sources 64 --scores /tmp/calib/out \
        [--apply_to out/scores_G.parquet --apply_catalog out/holdout_fill256/catalog.csv \
         --output /tmp/calib/scores_shifted.parquet]

Or, for a per-frame motion input (`high_level_frames` 2: each key frame against the frame
after it), on prepared records whose high-level view holds those pairs (`prepare
--high_level_frames 2`), scores and activity both read from the records:

    python -m trainer.fit_motion_shift --preset out/cpllm_tiny_paths/path3 \
        --records out/tiny_data_hf2 --records out/illustration_data_hf2 --split train

The fit: least squares, on the 0-100 scale, of 100 * sigmoid(logit(score / 100) + w *
log(1 + activity) + c) against each rendition's `vmaf_raw`. activity (`activity_of`): the
mean absolute difference of consecutive key frames (K = 8, `decode_keyframes`), each
resized to 64 x 64 (PIL bilinear), on the 0-255 scale, of the rendition itself.
docs/TRAINING.md "Calibrating titles by their motion" (the fit of the init config
`cpllm_tiny_motion_init.py`).
"""
from __future__ import annotations

import csv
import os

import numpy as np
from absl import app, flags

from cpllm_model import motion_shift
from trainer import eval_families

FRAMES, SIDE = 8, 64


def calibration_rows(catalog: str, max_sources: int = 0) -> list[dict]:
    """The catalog's renditions (rows with a CRF) of its first `max_sources` sources."""
    with open(catalog, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("crf")]
    sources = sorted({r["source_id"] for r in rows})
    keep = set(sources[:max_sources] if max_sources else sources)
    return [r for r in rows if r["source_id"] in keep]


def activity_of(uri: str) -> float:
    """Mean |frame k+1 - frame k| of the video's K key frames at 64 x 64, 0-255 scale."""
    from PIL import Image

    from beam_pipelines.media import keyframes

    frames = keyframes.decode_keyframes(uri, FRAMES).frames
    small = np.stack([np.asarray(Image.fromarray(f).resize((SIDE, SIDE), Image.BILINEAR),
                                 np.float32) for f in frames])
    return float(motion_shift.activity(small[None])[0])


def shifted(score, activity, w: float, c: float):
    """score in (0, 100) -> 100 * sigmoid(logit(score / 100) + w * log(1 + activity) + c)."""
    p = np.asarray(score, np.float64) / 100.0
    logit = np.log(p / (1.0 - p)) + w * np.log1p(np.asarray(activity, np.float64)) + c
    return 100.0 / (1.0 + np.exp(-logit))


def fit(score, activity, vmaf) -> tuple[float, float]:
    """(w, c) minimising the squared error of `shifted` against `vmaf`."""
    from scipy import optimize

    vmaf = np.asarray(vmaf, np.float64)
    result = optimize.least_squares(
        lambda p: shifted(score, activity, p[0], p[1]) - vmaf, [0.0, 0.0])
    return float(result.x[0]), float(result.x[1])


def records_fit_data(preset: str, data_dir: str, split: str = "train",
                     batch_size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score, activity, vmaf), float64[N] each, of the renditions (crf >= 0, finite VMAF)
    of `split` of the records in `data_dir`, scored by `preset` read with the records'
    high-level view (`trainer.train.with_added_layers` takes on Hf, no weight changes);
    activity is `motion_shift.activity` of each record's own high-level frames."""
    from beam_pipelines import records
    from cpllm_model import CPLLM
    from trainer import eval_callback, record_stream, train

    spec = records.RecordSpec.from_manifest(os.path.join(data_dir, "manifest.json"))
    model = CPLLM.from_preset(preset)
    if spec.high_level_frames != model.preprocessor.high_level_frames:
        model = train.with_added_layers(model, {"high_level_frames":
                                                 spec.high_level_frames})
    spec.check_read_by(model.preprocessor, preset)
    data = record_stream.StreamingSplit(record_stream.load_index(data_dir, split, spec),
                                        spec)
    moved = []

    def score(frames):
        moved.append(np.asarray(motion_shift.activity(frames["high_frames"],
                                                      spec.high_level_frames)))
        return model.score(frames)["score"]

    scores = eval_callback.HeldOutEvaluator(data, batch_size).predict(score)
    act = np.concatenate(moved)[:len(scores)]
    keep = (np.asarray(data.crf) >= 0) & np.isfinite(np.asarray(data.vmaf))
    return (scores[keep].astype(np.float64), act[keep].astype(np.float64),
            np.asarray(data.vmaf, np.float64)[keep])


def read_scores(path: str) -> dict[str, float]:
    """{video_id: score} of a scoring run's output directory (its scores table) or of one
    Parquet file (video_id, score), e.g. `eval_families --scores_output`."""
    from beam_pipelines import tables

    if not os.path.isdir(path):
        return eval_families.read_mean_scores([path])
    rows = tables.read_table(path, "scores", columns=["video_id", "score"])
    if not rows:
        raise FileNotFoundError(f"no scores-*.parquet in {path}")
    return {r["video_id"]: r["score"] for r in rows}


def apply_shift(scores: dict[str, float], catalog: str, w: float, c: float,
                output: str) -> int:
    """Writes `shifted` scores (video_id, score) of every video of `scores` that `catalog`
    has a uri for to the Parquet file `output`; returns how many."""
    uris = {r["video_id"]: r["uri"] for r in calibration_rows(catalog)}
    ids = sorted(i for i in scores if i in uris)
    new = shifted([scores[i] for i in ids], [activity_of(uris[i]) for i in ids], w, c)
    eval_families.write_scores(output, dict(zip(ids, map(float, new))))
    return len(ids)


def define_flags():
    """The command line's flags (defined only when run as a program: `eval_families`
    defines --scores and --output too, also only as a program)."""
    flags.DEFINE_string("preset", None, "With --records: the preset whose scores are "
                        "shifted.")
    flags.DEFINE_multi_string("records", None, "Prepared records to fit on (scores and "
                              "activity read from them; instead of --catalog).")
    flags.DEFINE_string("split", "train", "The --records split to fit on.")
    flags.DEFINE_string("catalog", None, "Calibration catalog (catalog.csv: video_id, uri, "
                        "source_id, crf, vmaf_raw).")
    flags.DEFINE_integer("max_sources", 0, "Use the first N sources (sorted ids); 0: all.")
    flags.DEFINE_string("write_catalog", None, "Write the calibration renditions as a "
                        "scoring catalog here and stop.")
    flags.DEFINE_string("scores", None, "Scores of the calibration renditions: a scoring "
                        "run's output directory (scores-*.parquet) or a Parquet file "
                        "(video_id, score).")
    flags.DEFINE_string("apply_to", None, "Scores (Parquet: video_id, score) to shift.")
    flags.DEFINE_string("apply_catalog", None, "Catalog with the uri of every --apply_to "
                        "video.")
    flags.DEFINE_string("output", None, "Where the shifted --apply_to scores go (Parquet).")


def run(catalog, max_sources=0, write_catalog=None, scores=None, apply_to=None,
        apply_catalog=None, output=None):
    """The command line's work (flags as arguments); returns the fitted (w, c), or None
    with `write_catalog`."""
    if not write_catalog and not scores:
        raise app.UsageError("--scores (or --write_catalog) is required")
    if apply_to and not (apply_catalog and output):
        raise app.UsageError("--apply_to needs --apply_catalog and --output")
    rows = calibration_rows(catalog, max_sources)
    if write_catalog:
        with open(write_catalog, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf"],
                               extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {len(rows)} renditions to {write_catalog}")
        return None
    calibration = read_scores(scores)
    rows = [r for r in rows if r["video_id"] in calibration]
    print(f"measuring the motion of {len(rows)} calibration renditions", flush=True)
    w, c = fit([calibration[r["video_id"]] for r in rows],
               [activity_of(r["uri"]) for r in rows], [float(r["vmaf_raw"]) for r in rows])
    print(f"{len(rows)} renditions: w = {w:.4f}, c = {c:.4f}")
    if apply_to:
        other = read_scores(apply_to)
        n = apply_shift(other, apply_catalog, w, c, output)
        print(f"shifted {n} of {len(other)} scores into {output}")
    return w, c


def run_on_records(preset, data_dirs, split="train"):
    """`records_fit_data` of every directory, pooled, fitted: returns (w, c)."""
    parts = [records_fit_data(preset, d, split) for d in data_dirs]
    score, act, vmaf = (np.concatenate([p[i] for p in parts]) for i in range(3))
    w, c = fit(score, act, vmaf)
    rmse = [float(np.sqrt(np.mean((s - vmaf) ** 2))) for s in (score, shifted(score, act, w, c))]
    print(f"{len(score)} renditions: w = {w:.4f}, c = {c:.4f}; activity median "
          f"{np.median(act):.3f}; RMSE against VMAF {rmse[0]:.2f} -> {rmse[1]:.2f}")
    return w, c


def main(argv):
    del argv
    f = flags.FLAGS
    if f.records:
        if not f.preset:
            raise app.UsageError("--records needs --preset")
        run_on_records(f.preset, f.records, f.split)
        return
    if not f.catalog:
        raise app.UsageError("--catalog (or --records) is required")
    run(f.catalog, f.max_sources, f.write_catalog, f.scores, f.apply_to, f.apply_catalog,
        f.output)


if __name__ == "__main__":
    define_flags()
    app.run(main)
