r"""BD-rate on our score against BD-rate on VMAF: do they agree on which encoder wins?

    python -m bench.bench_bdrate [--sources out/tiny_data/sources_holdout.csv]
        [--num_sources 10] [--skip_sources 0] [--preset_a veryfast] [--preset_b slow]
        [--work DIR] [--model cpllm_tiny] [--piecewise | --both_fits]

For each of the first `--num_sources` held-out masters after the first `--skip_sources`
(sorted by source_id; content families, a motion and a frame size the bundled model
never trained on), two x264 ladders at the coarse CRFs (19..49 step 5) are encoded with
`beam_pipelines.ladder` (`--preset_a` is ladder A, the reference; `--preset_b` ladder
B), each rendition's VMAF against its master measured there (`vmaf_raw`), both ladders
scored with `beam_pipelines.score` and the bundled model, and `beam_pipelines.bdrate`
run twice on the same renditions: once with the model's score as quality, once with VMAF
(both with the cubic fit, or both with PCHIP under `--piecewise`; `--both_fits` prints a
table for each fit from the one scoring run). Besides each source's BD-rate the table
gives the mean, the median and the mean over reliable sources (`bdrate`'s all-sources
row). Targets (issue 12): the two BD-rates agree in sign on every source, and their
means differ by no more than the tolerance documented in BENCHMARKS.md. Prints a
Markdown table.
"""
import argparse
import csv
import math
import os
import time

from beam_pipelines import ladder_defaults


def _masters(path, n, skip=0):
    with open(path, newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["source_id"])
    return [{"video_id": r["source_id"], "uri": r["uri"], "source_id": r["source_id"]}
            for r in rows[skip:skip + n]]


def _write_csv(path, rows, fields):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def build_ladder(masters_csv, out, preset):
    from beam_pipelines import ladder

    if not os.path.exists(os.path.join(out, "catalog.csv")):
        ladder.run([f"--catalog={masters_csv}", f"--output_dir={out}",
                    "--crfs=" + ",".join(map(str, ladder_defaults.COARSE)),
                    f"--preset={preset}", "--label=vmaf",
                    "--direct_running_mode=multi_threading", "--direct_num_workers=2"])
    with open(os.path.join(out, "catalog.csv"), newline="") as f:
        return [r for r in csv.DictReader(f) if r["crf"] not in ("", None)]


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
    fits = parser.add_mutually_exclusive_group()
    fits.add_argument("--piecewise", action="store_true",
                      help="PCHIP interpolation on both axes instead of the cubic fit.")
    fits.add_argument("--both_fits", action="store_true",
                      help="A table for the cubic fit, then one for PCHIP, from one "
                      "scoring run.")
    args = parser.parse_args(argv)
    methods = [False, True] if args.both_fits else [args.piecewise]

    from beam_pipelines import catalog, score

    os.makedirs(args.work, exist_ok=True)
    masters = _masters(args.sources, args.num_sources, args.skip_sources)
    masters_csv = os.path.join(args.work, "masters.csv")
    _write_csv(masters_csv, masters, ["video_id", "uri", "source_id"])
    t0 = time.time()
    runs = {}
    for side, preset in (("a", args.preset_a), ("b", args.preset_b)):
        ladder_dir = os.path.join(args.work, f"ladder_{preset}")
        renditions = build_ladder(masters_csv, ladder_dir, preset)
        cat = os.path.join(ladder_dir, "renditions.csv")
        _write_csv(cat, renditions, ["video_id", "uri", "source_id", "crf"])
        vmaf_table = os.path.join(ladder_dir, "vmaf_raw.csv")
        path = os.path.join(ladder_dir, "catalog.csv")
        _write_csv(vmaf_table, [{"uri": catalog.resolve_uri(r["uri"], path),
                                 "vmaf": r["vmaf_raw"]} for r in renditions],
                   ["uri", "vmaf"])
        scores_dir = os.path.join(args.work, f"scores_{preset}")
        score.run(["--catalog", cat, "--output_dir", scores_dir, "--model", args.model])
        runs[side] = (scores_dir, vmaf_table, len(renditions))
    wall = time.time() - t0
    for piecewise in methods:
        _fit_and_print(args, runs, masters, wall, piecewise)
    return 0


def _fit_and_print(args, runs, masters, wall, piecewise):
    """BD-rate on score and on VMAF with one fit; prints the Markdown table."""
    from beam_pipelines import bdrate

    results = {}
    for metric in ("score", "vmaf"):
        rows = bdrate.run(["--scores", runs["a"][0], "--scores", runs["b"][0],
                           "--metric", metric, "--vmaf", runs["a"][1], "--vmaf", runs["b"][1],
                           "--output_dir", os.path.join(
                               args.work, f"bdrate_{metric}" + ("_pchip" if piecewise else "")),
                           *(["--piecewise"] if piecewise else [])])
        results[metric] = {r["source_id"]: r for r in rows}

    print(f"\nB = x264 {args.preset_b} vs A = x264 {args.preset_a}, coarse CRFs, "
          f"{len(masters)} held-out sources, {runs['a'][2]} + {runs['b'][2]} renditions, "
          f"model {args.model}, {'PCHIP' if piecewise else 'cubic fit'}, "
          f"{wall:.0f} s to build and score\n")
    print("| source | BD-rate on score | BD-rate on VMAF | same sign | score rungs beaten by "
          "a cheaper one (A / B) | score fit bends back (A / B) |")
    print("|---|---:|---:|:---:|---:|:---:|")
    agree = compared = agree_rising = rising = 0
    for source in sorted(results["vmaf"]):
        s, v = (results[m][source]["bd_rate_percent"] for m in ("score", "vmaf"))
        same = "" if s is None or v is None else ("yes" if math.copysign(1, s) ==
                                                  math.copysign(1, v) else "**no**")
        row = results["score"][source]
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
        s, v = (results[m].get("*", {}).get(column) for m in ("score", "vmaf"))
        print(f"| {label} | {_fmt(s)} | {_fmt(v)} | | | |")
    print(f"\nsign agreement: {agree} / {compared} sources; {agree_rising} / {rising} of "
          "those whose score BD-rate is reliable (no beaten rung, no fit bent back past "
          "1.5x)")


def _fmt(x):
    return "n/a" if x is None else f"{x:+.1f} %"


if __name__ == "__main__":
    raise SystemExit(main())
