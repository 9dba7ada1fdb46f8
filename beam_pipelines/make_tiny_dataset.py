"""Builds the training data of the bundled `cpllm_tiny`: generated ladders -> TFRecords.

    python -m beam_pipelines.make_tiny_dataset --output_dir DIR [--seed 0] \
        [--num_train 240] [--num_holdout 36] [--until masters|ladder|prepare] \
        [--train_from N] [--train_rung_steps 2,3,4] [--families graphics] \
        [--train_mixed_presets] [--keep_rungs 1,3,5] [--heights 720,480,360,240] \
        [--id_prefix n24_]

1. Sources (`beam_pipelines.sources`, a Beam pipeline): `--num_train` + `--num_holdout`
   distinct lossless masters drawn from procedural content families, scikit-image
   pictures and ffmpeg generators, at 9 frame sizes from 426x240 to 1920x1080 (landscape,
   4:3, portrait, square), with camera noise, grain, motion blur and 5 kinds of motion.
   Held-out sources are whole families (dead leaves, text), one motion (rotation) and one
   frame size (960x540) that never occur in training (`sources.HOLDOUT`).
   `--id_prefix` starts every source's name (source_id, video_id): a build of another
   seed numbers its sources from t0001 too, and the trainer refuses a video_id that two
   builds share.
2. Ladders (`beam_pipelines.ladder`, label = VMAF against the lossless master, made
   non-increasing in CRF): training sources 6 rungs spanning CRF 15..51 (shifted per
   source, `sources.TRAIN_RUNGS`) with a per-source x264 preset (ultrafast..medium), or
   with `--train_mixed_presets` a fast and a slow preset alternating rung by rung;
   held-out sources the coarse (19..49 step 5) and fine (24..36 step 2) ladders together.
   `--keep_rungs` keeps only these rungs (0-based, in CRF order) of each planned ladder;
   `--heights` adds each kept rung downscaled to these heights below the source's (a
   multi-size ladder, VMAF at the source's size, `ladder --heights`).
3. `beam_pipelines.prepare` with the cpllm_tiny preprocessor and measured descriptions,
   split by source (train / holdout).
4. No-reference baselines on the held-out ladders (ffmpeg blockdetect and blurdetect, and
   the -CRF oracle) -> DIR/baseline.json.

Every stage keeps what an earlier run of the same command wrote (masters and renditions
are deterministic), so an interrupted build resumes.

Outputs in DIR: manifest.json, train/, holdout/, failures/ (prepare), catalog.csv (all
renditions with labels and source properties), sources/ (masters + catalog),
ladder_train/, ladder_holdout/, baseline.json, build_info.json (command, seed, counts,
timings).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time

import numpy as np

from beam_pipelines import sources as sources_lib

# Low-level patches per frame in the training records (the preset scores with more: the
# model averages its patch features, so more patches only lower the variance), all cut
# from the frame's grid (no fill), as in the recorded builds.
TRAIN_PATCHES = 16
COARSE = sources_lib.COARSE
FINE = sources_lib.FINE
# Source properties carried from the source catalog onto every rendition row.
SOURCE_FIELDS = ("family", "motion", "width", "height", "split", "ladder_preset", "noise",
                 "grain", "blur_taps", "picture", "generator")


def _write_csv(path, rows, fields):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def blockdetect_baseline(rows: list[dict]) -> dict:
    """ffmpeg blockdetect as a no-reference quality score (-blockiness) on held-out
    ladders, per spacing: Spearman against VMAF and flip rate by rung distance.

    `srcc_pooled`: over all renditions of all held-out sources (quality across content);
    `srcc_per_source_mean`: mean of the per-ladder SRCCs (order within a ladder);
    `flip_rate_by_rung`: {rung_diff: flip rate} of -blockiness (a flip: the higher CRF
    scores strictly higher); `vmaf_flip_rate_by_rung`: the same for the raw VMAF labels.
    (`trainer.eval_families` gives the full side-by-side table with blurdetect and -CRF.)
    """
    from scipy import stats

    from beam_pipelines import flip_rate, schemas

    out = {}
    for name, crfs in (("coarse", COARSE), ("fine", FINE)):
        # blockdetect has no value (inf/nan) on content without a block grid: skipped
        sel = [r for r in rows if r["crf"] != "" and int(r["crf"]) in crfs
               and np.isfinite(float(r["blockiness"]))]
        block = np.array([float(r["blockiness"]) for r in sel])
        ref = np.array([float(r["vmaf_raw"]) for r in sel])
        sources = [r["source_id"] for r in sel]
        rung_crfs = [int(r["crf"]) for r in sel]
        per = []
        for s in sorted(set(sources)):
            idx = [i for i, x in enumerate(sources) if x == s]
            if len(idx) > 2:
                per.append(stats.spearmanr(-block[idx], ref[idx]).statistic)

        def flips(scores, sources=sources, rung_crfs=rung_crfs):
            rows = flip_rate.flip_rate_rows(zip(sources, rung_crfs, scores))
            return {str(r["rung_diff"]): round(r["flip_rate"], 4) for r in rows
                    if r["source_id"] == schemas.ALL_SOURCES
                    and r["level"] == schemas.LEVEL_RUNG_DIFF}

        out[name] = {
            "crfs": list(crfs), "renditions": len(sel), "sources": len(per),
            "srcc_pooled": float(stats.spearmanr(-block, ref).statistic),
            "srcc_per_source_mean": float(np.nanmean(per)),
            "srcc_per_source": [float(x) for x in per],
            "flip_rate_by_rung": flips(-block),
            "vmaf_flip_rate_by_rung": flips(ref),
        }
    return out


def select_sources(rows: list[dict], num_train: int, num_holdout: int,
                   id_prefix: str = "") -> list[dict]:
    """The source catalog's rows numbered at most `num_train` (training) or `num_holdout`
    (held out) in their split, the number read from the source's name after `id_prefix`
    (`sources.source_number`). With the same `num_train`, the first N of each split are
    the same sources whatever `num_holdout` (`sources.plan`), so a smaller `num_holdout`
    reuses a larger build's masters."""
    limit = {"train": num_train, "holdout": num_holdout}
    return [r for r in rows
            if sources_lib.source_number(r["source_id"], id_prefix) <= limit[r["split"]]]


def keep_rungs(source: dict, indices: str) -> None:
    """Keeps only rungs `indices` ("1,3,5", 0-based in CRF order) of a planned source's
    `ladder_crfs` (and of its `ladder_presets`, rung by rung); ValueError if one is out
    of range."""
    crfs = source["ladder_crfs"].split(";")
    presets = source.get("ladder_presets", "").split(";") if source.get("ladder_presets") else []
    keep = [int(i) for i in indices.split(",") if i.strip()]
    if not keep or min(keep) < 0 or max(keep) >= len(crfs):
        raise ValueError(f"--keep_rungs {indices!r}: {source['source_id']} has "
                         f"{len(crfs)} rungs")
    source["ladder_crfs"] = ";".join(crfs[i] for i in keep)
    if presets:
        source["ladder_presets"] = ";".join(presets[i] for i in keep)


def check_ladders_made_renditions(plan: list[dict], rows: list[dict], out: str) -> None:
    """Fails loudly when a planned split's ladder produced no rendition at all (every
    one went to its failures table), instead of a build that ends with 0 examples."""
    from collections import Counter

    from beam_pipelines import dead_letter, tables

    made = Counter(r["split"] for r in rows)
    for split, n in sorted(Counter(p["split"] for p in plan).items()):
        if made[split]:
            continue
        ladder_dir = os.path.join(out, f"ladder_{split}")
        failures = tables.read_table(ladder_dir, dead_letter.FAILURES,
                                     columns=["error_type", "message"])
        common = Counter((f["error_type"], f["message"][:300]) for f in failures)
        detail = "; ".join(f"{c} x {t}: {m}" for (t, m), c in common.most_common(2))
        raise RuntimeError(
            f"ladder {split}: none of the {n} sources gave a rendition "
            f"({len(failures)} failure rows in {ladder_dir}/failures-*.parquet"
            f"{': ' + detail if detail else ''}). An ffmpeg on PATH wins over the "
            "pinned imageio-ffmpeg binary (beam_pipelines.media.ffmpeg_bin): it must have "
            "libx264 and libvmaf.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--seed", type=int, default=0, help="Source plan and render seed.")
    parser.add_argument("--num_train", type=int, default=240, help="Training sources.")
    parser.add_argument("--num_holdout", type=int, default=36, help="Held-out sources.")
    parser.add_argument("--frames", type=int, default=12, help="Frames per master.")
    parser.add_argument("--fps", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2,
                        help="Parallel ffmpeg/Beam workers (threads).")
    parser.add_argument("--train_from", type=int, default=1,
                        help="Leave out training sources numbered below this: with "
                             "--num_holdout 0 and a new --output_dir, the sources a larger "
                             "--num_train adds to an earlier build of the same seed "
                             "(train on both with the config's data.extra_train_dirs).")
    parser.add_argument("--train_rung_steps", default="",
                        help="Training ladders of 6 rungs this many CRF apart, e.g. 2,3,4 "
                             "(cycling by source; sources.train_rungs); default 6 apart.")
    parser.add_argument("--families", default="",
                        help="Draw only these content families, e.g. graphics (an "
                             "extension build; sources.KNOWN_FAMILIES); default the recorded "
                             "builds' families and weights.")
    parser.add_argument("--train_mixed_presets", action="store_true",
                        help="Training ladders alternate a fast and a slow x264 preset "
                             "rung by rung (sources.mixed_presets); default one preset "
                             "per source.")
    parser.add_argument("--keep_rungs", default="",
                        help="Keep only these rungs of each planned ladder, 0-based in CRF "
                             "order, e.g. 1,3,5 (a multi-size build's cost); default all.")
    parser.add_argument("--heights", default="",
                        help="Also encode every rung downscaled to each of these heights "
                             "below the source's, e.g. 720,480,360,240, labelled by VMAF at "
                             "the source's size (multi-size ladders); default none.")
    parser.add_argument("--id_prefix", type=sources_lib.parse_id_prefix, default="",
                        help="Prefix of every source_id and video_id, e.g. n24_ (lowercase "
                             "letters, digits, underscores): names unique across builds, "
                             "since a build of another seed numbers its sources from t0001 "
                             "too and the trainer refuses a video_id in two builds; default "
                             "none (the recorded builds' names).")
    parser.add_argument("--model", default="cpllm_tiny")
    parser.add_argument("--until", default="prepare", choices=("masters", "ladder", "prepare"),
                        help="Stop after this stage (a later run resumes).")
    args = parser.parse_args(argv)

    from beam_pipelines import ladder, prepare

    out = os.path.abspath(args.output_dir)
    os.makedirs(out, exist_ok=True)
    timings = {}
    t0 = time.time()
    beam_args = ["--direct_running_mode=multi_threading",
                 f"--direct_num_workers={args.workers}"]

    src_dir = os.path.join(out, "sources")
    src_csv = os.path.join(src_dir, "catalog.csv")
    if not os.path.exists(src_csv):
        sources_lib.run([f"--output_dir={src_dir}", f"--num_train={args.num_train}",
                         f"--num_holdout={args.num_holdout}", f"--seed={args.seed}",
                         f"--frames={args.frames}", f"--fps={args.fps}",
                         f"--train_from={args.train_from}",
                         f"--train_rung_steps={args.train_rung_steps}",
                         f"--families={args.families}",
                         f"--id_prefix={args.id_prefix}",
                         *(["--train_mixed_presets"] if args.train_mixed_presets else []),
                         *beam_args])
    plan = select_sources(_read_csv(src_csv), args.num_train, args.num_holdout,
                          args.id_prefix)
    for p in plan:
        p["blur_taps"] = p.pop("blur", "")
        if args.keep_rungs:
            keep_rungs(p, args.keep_rungs)
    timings["masters_s"] = round(time.time() - t0, 1)
    print(f"{len(plan)} masters ({timings['masters_s']} s)", flush=True)
    if args.until == "masters":
        return

    catalogs = []
    for split in ("train", "holdout"):
        t = time.time()
        if not any(p["split"] == split for p in plan):
            continue
        split_csv = os.path.join(out, f"sources_{split}.csv")
        _write_csv(split_csv, [p for p in plan if p["split"] == split],
                   ["video_id", "uri", "source_id", "ladder_preset", "ladder_crfs",
                    "ladder_presets"])
        ladder_dir = os.path.join(out, f"ladder_{split}")
        if not os.path.exists(os.path.join(ladder_dir, "catalog.csv")):
            ladder.run([f"--catalog={split_csv}", f"--output_dir={ladder_dir}",
                        "--label=vmaf", f"--heights={args.heights}", *beam_args])
        catalogs.append(os.path.join(ladder_dir, "catalog.csv"))
        timings[f"ladder_{split}_s"] = round(time.time() - t, 1)
        print(f"ladder {split} ({timings[f'ladder_{split}_s']} s)", flush=True)

    rows = [r for c in catalogs for r in _read_csv(c)]
    by_source = {p["source_id"]: p for p in plan}
    for r in rows:
        src = by_source[r["source_id"]]
        r.update({k: src.get(k, "") for k in SOURCE_FIELDS})  # "split" among them
        r["content"] = src["family"]
        r["holdout_group"] = sources_lib.holdout_reason(
            {"family": src["family"], "motion": src["motion"],
             "width": int(src["width"]), "height": int(src["height"])})
    check_ladders_made_renditions(plan, rows, out)
    fields = [*ladder.CSV_COLUMNS, "content", *SOURCE_FIELDS, "holdout_group"]
    catalog_csv = os.path.join(out, "catalog.csv")
    _write_csv(catalog_csv, rows, fields)
    holdout = sorted(p["source_id"] for p in plan if p["split"] == "holdout")
    holdout_rows = [r for r in rows if r["source_id"] in set(holdout)]
    baseline = blockdetect_baseline(holdout_rows) if holdout_rows else {}
    with open(os.path.join(out, "baseline.json"), "w") as f:
        json.dump(baseline, f, indent=1)
    if args.until == "ladder":
        return

    t = time.time()
    prepare_args = [f"--catalog={catalog_csv}", f"--output_dir={out}",
                    f"--model={args.model}", "--holdout_sources=" + ",".join(holdout),
                    "--describer=generated", "--num_shards=4",
                    f"--max_patches={TRAIN_PATCHES}", "--patch_fill=false", *beam_args]
    prepare.run(prepare_args)
    prepare.verify(out)  # every counted example is in the shard files, else RuntimeError
    timings["prepare_s"] = round(time.time() - t, 1)
    timings["total_s"] = round(time.time() - t0, 1)

    stats = []
    for c in catalogs:
        with open(os.path.join(os.path.dirname(c), "ladder_stats.json")) as f:
            stats.append(json.load(f))
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    info = {
        "command": "python -m beam_pipelines.make_tiny_dataset " + " ".join(
            argv if argv is not None else sys.argv[1:]),
        "seed": args.seed, "frames": args.frames, "fps": args.fps, "workers": args.workers,
        "coarse_crfs": list(COARSE), "fine_crfs": list(FINE),
        "train_rungs": list(sources_lib.TRAIN_RUNGS),
        "sources": {"train": len(plan) - len(holdout), "holdout": len(holdout)},
        "holdout_rule": {k: [list(v) if isinstance(v, tuple) else v for v in vs]
                         for k, vs in sources_lib.HOLDOUT.items()},
        "ladder_stats": dict(zip(("train", "holdout"), stats)),
        "examples": manifest["examples"], "splits": {
            k: {"examples": v["examples"], "sources": v["sources"]}
            for k, v in manifest["splits"].items()},
        "prepare_failures": manifest["failures"],
        "timings": timings,
    }
    with open(os.path.join(out, "build_info.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps({k: info[k] for k in ("sources", "examples", "splits", "timings")}))
    print(json.dumps({k: {m: v[m] for m in ("renditions", "srcc_pooled",
                                             "srcc_per_source_mean")}
                      for k, v in baseline.items()}))


if __name__ == "__main__":
    main()
