r"""BD-rate on our score against BD-rate on VMAF: do they agree on which encoder wins?

    python -m bench.bench_bdrate [--sources out/tiny_data/sources_holdout.csv]
        [--num_sources 10] [--skip_sources 0] [--preset_a veryfast] [--preset_b slow]
        [--work DIR] [--model cpllm_tiny] [--piecewise | --both_fits]
        [--height_b 360 [--display_height]]

For each of the first `--num_sources` held-out masters after the first `--skip_sources`
(sorted by source_id; content families, a motion and a frame size the bundled model
never trained on), two x264 ladders at the coarse CRFs (19..49 step 5) are encoded with
`beam_pipelines.ladder` (`--preset_a` is ladder A, the reference; `--preset_b` ladder
B), each rendition's VMAF against its master measured there (`vmaf_raw`), both ladders
scored with `beam_pipelines.score` and the bundled model in one run (each rendition a
`ladder_id`, the preset's name: ladder consistency reads a source's renditions of both
encoders against one mean), and `beam_pipelines.bdrate`
run twice on the same renditions: once with the model's score as quality, once with VMAF
(both with the cubic fit, or both with PCHIP under `--piecewise`; `--both_fits` prints a
table for each fit from the one scoring run). Besides each source's BD-rate the table
gives the mean, the median and the mean over reliable sources (`bdrate`'s all-sources
row). With `--height_b H` ladder B is ladder A's rungs downscaled to H rows instead
(`ladder --heights H`, Lanczos; their VMAF measured at the master's size, as a viewer sees
them; masters not taller than H are left out), so the two ladders are CRF ladders at two
frame sizes; `--display_height` scores B's rungs shown at the master's height
(`score`'s `display_height` column) instead of at their own size. Ladders and score
tables are kept in --work and reused by a later run with the same ladder and model
(the model named by its directory's name). Targets (issue 12): the two BD-rates agree in sign on every source, and their
means differ by no more than the tolerance documented in BENCHMARKS.md. Prints a
Markdown table.
"""
import argparse
import csv
import math
import os
import time

from beam_pipelines import ladder_defaults


def _masters(path, n=None, skip=0):
    """Masters sorted by source_id, after the first `skip`: the first `n` (None: all)."""
    with open(path, newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["source_id"])
    return [{"video_id": r["source_id"], "uri": r["uri"], "source_id": r["source_id"]}
            for r in rows[skip:None if n is None else skip + n]]


def _write_csv(path, rows, fields):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def build_ladder(masters_csv, out, preset, heights=()):
    """The renditions of `ladder` (every source's coarse CRFs; with `heights` also
    downscaled to each), as catalog rows; cached in `out`."""
    from beam_pipelines import ladder

    if not os.path.exists(os.path.join(out, "catalog.csv")):
        ladder.run([f"--catalog={masters_csv}", f"--output_dir={out}",
                    "--crfs=" + ",".join(map(str, ladder_defaults.COARSE)),
                    f"--preset={preset}", "--label=vmaf",
                    *([f"--heights={','.join(map(str, heights))}"] if heights else []),
                    "--direct_running_mode=multi_threading", "--direct_num_workers=2"])
    with open(os.path.join(out, "catalog.csv"), newline="") as f:
        return [r for r in csv.DictReader(f) if r["crf"] not in ("", None)]


def split_by_height(renditions, height):
    """(rungs at the master's own size, rungs downscaled to `height` rows) of one
    `ladder --heights` catalog, told apart by the ladder's own rung names."""
    from beam_pipelines import ladder

    own = [r for r in renditions if not r.get("display_height")]
    return own, [r for r in renditions if r["video_id"] == ladder.rendition_name(
        r["source_id"], int(r["crf"]), height)]


def taller_than(masters, height, n):
    """The first `n` masters whose frames have more than `height` rows."""
    from beam_pipelines.media import probe

    out = []
    for m in masters:
        if len(out) == n:
            break
        if probe.probe_local(m["uri"]).height > height:
            out.append(m)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", default="out/tiny_data/sources_holdout.csv")
    parser.add_argument("--num_sources", type=int, default=10)
    parser.add_argument("--skip_sources", type=int, default=0,
                        help="Leave out the first N masters (sorted by source_id), e.g. "
                        "those an earlier benchmark already used.")
    parser.add_argument("--preset_a", default="veryfast")
    parser.add_argument("--preset_b", default="slow")
    parser.add_argument("--work", default="/tmp/cpllm_bench_bdrate")
    parser.add_argument("--model", default="cpllm_tiny")
    parser.add_argument("--height_b", type=int, default=0,
                        help="Ladder B = ladder A's rungs downscaled to this many rows "
                        "(VMAF at the master's size); --preset_b is then unused.")
    parser.add_argument("--display_height", action="store_true",
                        help="With --height_b: score B's rungs shown at the master's "
                        "height (score's display_height) instead of at their own size.")
    fits = parser.add_mutually_exclusive_group()
    fits.add_argument("--piecewise", action="store_true",
                      help="PCHIP interpolation on both axes instead of the cubic fit.")
    fits.add_argument("--both_fits", action="store_true",
                      help="A table for the cubic fit, then one for PCHIP, from one "
                      "scoring run.")
    args = parser.parse_args(argv)
    if args.display_height and not args.height_b:
        parser.error("--display_height needs --height_b")
    methods = [False, True] if args.both_fits else [args.piecewise]

    from beam_pipelines import catalog, score

    os.makedirs(args.work, exist_ok=True)
    if args.height_b:
        masters = taller_than(_masters(args.sources, skip=args.skip_sources),
                              args.height_b, args.num_sources)
    else:
        masters = _masters(args.sources, args.num_sources, args.skip_sources)
    masters_csv = os.path.join(args.work, "masters.csv")
    _write_csv(masters_csv, masters, ["video_id", "uri", "source_id"])
    t0 = time.time()
    if args.height_b:
        ladder_dir = os.path.join(args.work, f"ladder_{args.preset_a}_h{args.height_b}")
        own, small = split_by_height(
            build_ladder(masters_csv, ladder_dir, args.preset_a, [args.height_b]),
            args.height_b)
        view = "display" if args.display_height else "own"
        sides = (("a", own, ladder_dir, f"{args.preset_a}_own"),
                 ("b", small, ladder_dir, f"{args.preset_a}_h{args.height_b}_{view}"))
    else:
        sides = []
        for side, preset in (("a", args.preset_a), ("b", args.preset_b)):
            ladder_dir = os.path.join(args.work, f"ladder_{preset}")
            sides.append((side, build_ladder(masters_csv, ladder_dir, preset), ladder_dir,
                          preset))
    runs = {}
    if not args.height_b:
        # Both encoders' ladders in one scoring run: ladder consistency then reads each
        # source's renditions of both against one mean (separate runs would give each
        # ladder its own), and bdrate takes the two ladder_ids of that run.
        joint = []
        for side, renditions, ladder_dir, name in sides:
            path = os.path.join(ladder_dir, "catalog.csv")
            _write_csv(os.path.join(ladder_dir, f"vmaf_raw_{side}.csv"),
                       [{"uri": catalog.resolve_uri(r["uri"], path), "vmaf": r["vmaf_raw"]}
                        for r in renditions], ["uri", "vmaf"])
            joint += [{**r, "video_id": f"{name}__{r['video_id']}", "ladder_id": name,
                       "uri": catalog.resolve_uri(r["uri"], path)} for r in renditions]
        cat = os.path.join(args.work, f"renditions_{args.preset_a}+{args.preset_b}.csv")
        _write_csv(cat, joint, ["video_id", "uri", "source_id", "crf", "ladder_id"])
        model_name = os.path.basename(os.path.normpath(args.model))
        scores_dir = os.path.join(args.work, f"scores_{args.preset_a}+{args.preset_b}_"
                                  f"{model_name}")
        if not os.path.exists(os.path.join(scores_dir, "scores-00000-of-00001.parquet")):
            score.run(["--catalog", cat, "--output_dir", scores_dir, "--model", args.model])
        for side, renditions, ladder_dir, name in sides:
            runs[side] = (scores_dir, os.path.join(ladder_dir, f"vmaf_raw_{side}.csv"),
                          len(renditions), name)
        sides = []
    for side, renditions, ladder_dir, name in sides:
        cat = os.path.join(ladder_dir, f"renditions_{side}.csv")
        fields = ["video_id", "uri", "source_id", "crf"]
        if side == "b" and args.display_height:
            fields.append("display_height")
        path = os.path.join(ladder_dir, "catalog.csv")
        # renditions_*.csv sits beside catalog.csv: their relative uris resolve the same
        _write_csv(cat, renditions, fields)
        vmaf_table = os.path.join(ladder_dir, f"vmaf_raw_{side}.csv")
        _write_csv(vmaf_table, [{"uri": catalog.resolve_uri(r["uri"], path),
                                 "vmaf": r["vmaf_raw"]} for r in renditions],
                   ["uri", "vmaf"])
        model_name = os.path.basename(os.path.normpath(args.model))
        scores_dir = os.path.join(args.work, f"scores_{name}_{model_name}")
        if not os.path.exists(os.path.join(scores_dir, "scores-00000-of-00001.parquet")):
            score.run(["--catalog", cat, "--output_dir", scores_dir, "--model", args.model])
        runs[side] = (scores_dir, vmaf_table, len(renditions), None)
    wall = time.time() - t0
    for piecewise in methods:
        _fit_and_print(args, runs, masters, wall, piecewise)
    return 0


def _fit_and_print(args, runs, masters, wall, piecewise):
    """BD-rate on the model's scores (alone, bdrate's default axis, and with ladder
    consistency) and on VMAF with one fit; prints the Markdown table."""
    from beam_pipelines import bdrate

    results = {}
    if runs["a"][0] == runs["b"][0]:  # one run: the two ladder_ids
        which = ["--scores", runs["a"][0], "--ladder_a", runs["a"][3],
                 "--ladder_b", runs["b"][3]]
    else:
        which = ["--scores", runs["a"][0], "--scores", runs["b"][0]]
    model_metrics = (bdrate.DEFAULT_METRIC, "score")
    for metric in (*model_metrics, "vmaf"):
        rows = bdrate.run([*which, "--metric", metric, "--vmaf", runs["a"][1], "--vmaf", runs["b"][1],
                           "--output_dir", os.path.join(
                               args.work, f"bdrate_{metric}" + ("_pchip" if piecewise else "")),
                           *(["--piecewise"] if piecewise else [])])
        results[metric] = {r["source_id"]: r for r in rows}

    b_name = (f"x264 {args.preset_a} downscaled to {args.height_b} rows (scored "
              f"{'at the master height' if args.display_height else 'at own size'})"
              if args.height_b else f"x264 {args.preset_b}")
    print(f"\nB = {b_name} vs A = x264 {args.preset_a}, coarse CRFs, "
          f"{len(masters)} held-out sources, {runs['a'][2]} + {runs['b'][2]} renditions, "
          f"model {args.model}, {'PCHIP' if piecewise else 'cubic fit'}, "
          f"{wall:.0f} s to build and score\n")
    main_metric = bdrate.DEFAULT_METRIC
    print(f"| source | BD-rate on {main_metric} | BD-rate on VMAF | same sign | "
          f"{main_metric} rungs beaten by a cheaper one (A / B) | its fit bends back "
          "(A / B) |")
    print("|---|---:|---:|:---:|---:|:---:|")
    agree = compared = agree_rising = rising = 0
    for source in sorted(results["vmaf"]):
        s, v = (results[m][source]["bd_rate_percent"] for m in (main_metric, "vmaf"))
        same = "" if s is None or v is None else ("yes" if _same_sign(s, v) else "**no**")
        row = results[main_metric][source]
        beaten = ("" if row["beaten_rungs_a"] is None
                  else f"{row['beaten_rungs_a']} / {row['beaten_rungs_b']}")
        falls = ("" if row["fit_fall_factor_a"] is None else " / ".join(
            f"{row[f'fit_fall_factor_{x}']:.2f}x" for x in "ab"))
        if same and source != "*":
            compared += 1
            agree += same == "yes"
            if not bdrate.is_unreliable(row):
                rising += 1
                agree_rising += same == "yes"
        name = "mean" if source == "*" else source

        print(f"| {name} | {_fmt(s)} | {_fmt(v)} | {same} | {beaten} | {falls} |")
    for label, column in (("median", "median_bd_rate_percent"),
                          ("mean over each metric's reliable sources",
                           "reliable_mean_bd_rate_percent")):
        s, v = (results[m].get("*", {}).get(column) for m in (main_metric, "vmaf"))
        print(f"| {label} | {_fmt(s)} | {_fmt(v)} | | | |")
    print(f"\nsign agreement: {agree} / {compared} sources; {agree_rising} / {rising} of "
          f"those whose {main_metric} BD-rate is reliable (no beaten rung, no fit bent back "
          "past 1.5x)")
    print("\n| quality axis | sign agreement with VMAF | mean | median | mean over reliable "
          "sources |\n|---|---:|---:|---:|---:|")
    for metric in (*model_metrics, "vmaf"):
        rows = results[metric]
        signs = [(rows[k]["bd_rate_percent"], results["vmaf"][k]["bd_rate_percent"])
                 for k in rows if k != "*" and k in results["vmaf"]]
        signs = [(s, v) for s, v in signs if s is not None and v is not None]
        agreed = sum(_same_sign(s, v) for s, v in signs)
        star = rows.get("*", {})
        print(f"| {metric} | {'' if metric == 'vmaf' else f'{agreed} / {len(signs)}'} | "
              f"{_fmt(star.get('bd_rate_percent'))} | "
              f"{_fmt(star.get('median_bd_rate_percent'))} | "
              f"{_fmt(star.get('reliable_mean_bd_rate_percent'))} |")


def _same_sign(a, b):
    return math.copysign(1, a) == math.copysign(1, b)


def _fmt(x):
    return "n/a" if x is None else f"{x:+.1f} %"


if __name__ == "__main__":
    raise SystemExit(main())
