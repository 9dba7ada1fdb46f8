r"""BD-rate of one ladder against another, per source, from scores tables.

    python -m beam_pipelines.bdrate --scores DIR_A --scores DIR_B \
        [--metric score_alone|score|vmaf] [--vmaf TABLE ...] [--piecewise] \
        [--output_dir DIR]
    python -m beam_pipelines.bdrate --scores DIR --ladder_a ID --ladder_b ID ...
    python -m beam_pipelines.bdrate --scores DIR --height_b 360 ...

Ladder A is the reference, B the tested one: with two --scores directories A is every
scores row of DIR_A and B every row of DIR_B (--ladder_a / --ladder_b then keep only
that ladder_id on each side); with one directory, A and B are the rows whose
`ladder_id` is --ladder_a and --ladder_b; with one directory and --height_b H (a
`beam_pipelines.ladder --heights` run, scored once), B is the rungs H rows tall and A
each source's rungs at its own, tallest size: CRF ladders at two frame sizes (a source
not taller than H gets a `missing` row). Rungs are paired by `source_id` (rows without
one are not part of a ladder and are left out). A source's own row, scored with its
ladder (`video_id` equal to its `source_id` and no `crf`, as `beam_pipelines.ladder`'s
catalog.csv lists the original), is the reference the rungs were encoded from, not a
rung: it is left out of both ladders (`catalog.is_original`). Rate: `bitrate_kbps`;
quality (--metric): `score_alone`, the model's score of each video alone (the default:
it does not depend on which renditions a scoring run held, and it is the closer to
VMAF's BD-rate between two encoders, BENCHMARKS.md; tables written before it existed
fall back to `score`, saying so), `score` (read against the other renditions of its
source in its scoring run: two directories scored apart had a mean each, which the run
prints a note about) or `vmaf`, read from the scores row when it has such a column, else
from --vmaf tables (CSV/JSONL/Parquet with `uri` and `vmaf`, e.g. the catalog.csv that
`beam_pipelines.ladder` writes), matched by the rendition's resolved uri.

The math is `beam_pipelines.bjontegaard` (cubic fit of log-rate over the overlapping
quality interval; --piecewise: PCHIP). Output: DIR/bdrate-00000-of-00001.parquet
(schemas.BDRATE_SCHEMA; DIR defaults to the last --scores directory), one row per source
in either ladder and one row source_id "*" with the mean BD-rate over the sources that
have one (and, beside it, their median and the mean over the reliable ones, below). A
source without a BD-rate has a row all the same, with a `status` (too_few_rungs,
no_overlap, missing: only in one ladder, several_ladders: pick one with
--ladder_a/--ladder_b) and a `reason`. `beaten_rungs_a/_b` count the rungs that a
cheaper rung of the same ladder beats on quality: above 0 the fits' assumption (quality
rises with rate) fails. `fit_fall_factor_a/_b` give how far a ladder's fit bends back
inside the overlap (the largest factor by which its rate at a lower quality exceeds its
rate at a higher one; 1.0: it never falls), which a cubic does through rising rungs
whose qualities bunch up, and then runs away. A beaten rung, or a factor above
`bjontegaard.FIT_FALL_LIMIT` (1.5), marks the source's BD-rate unreliable in the
summary.
A short summary goes to stdout.
"""
from __future__ import annotations

import argparse
import collections
import io
import math
import statistics
import sys

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from beam_pipelines import bjontegaard, catalog, outputs, schemas, tables

METRICS = ("score_alone", "score", "vmaf")
DEFAULT_METRIC = "score_alone"
TABLE = "bdrate"
SEPARATE_RUNS_NOTE = (
    "[bdrate] note: the two --scores directories are separate scoring runs, so each "
    "ladder's scores were read against its own renditions' mean detail (ladder "
    "consistency, docs/PIPELINE.md); for one mean per source score both ladders in one run "
    "(catalog column ladder_id, then --ladder_a / --ladder_b), or compare the model's "
    "scores alone with --metric score_alone (the default).")
NO_SCORE_ALONE_NOTE = (
    "[bdrate] note: some scores rows have no score_alone (tables written before it "
    "existed), so the quality axis is score.")
MISSING = "missing"
SEVERAL_LADDERS = "several_ladders"
NO_SOURCES = "no_sources"


class BDRateError(ValueError):
    """The inputs as a whole cannot be used (no scores table, bad flags)."""


def read_vmaf(paths):
    """{resolved uri: vmaf} from tables with `uri` and `vmaf` columns."""
    out = {}
    for path in paths:
        for _, raw in catalog.iter_raw_rows(path):
            row = {str(k).strip().lower(): v for k, v in raw.items() if k is not None}
            uri, value = catalog._text(row.get("uri")), catalog._text(row.get("vmaf"))
            if uri is None or value is None:
                continue
            try:
                out[catalog.resolve_uri(uri, path)] = float(value)
            except ValueError:
                continue
    return out


def split_by_height(rows, height):
    """(A, B, {source_id: own height}) of one multi-size run: B the rows `height` rows
    tall, A each source's rows at its tallest height; a source not taller than `height`
    keeps only its B rows (and is named in the dict)."""
    tallest = collections.defaultdict(int)
    for r in rows:
        if r.get("source_id") is not None and r.get("height") is not None:
            tallest[r["source_id"]] = max(tallest[r["source_id"]], int(r["height"]))
    rows_a = [r for r in rows if r.get("height") is not None
              and int(r["height"]) == tallest.get(r.get("source_id")) > height]
    rows_b = [r for r in rows if r.get("height") is not None and int(r["height"]) == height]
    too_short = {s: h for s, h in tallest.items() if h <= height}
    return rows_a, rows_b, too_short


def _quality(row, metric, vmaf_by_uri):
    value = row.get(metric)
    if value is None and metric == "vmaf":
        value = vmaf_by_uri.get(row.get("uri"))
    return None if value is None else float(value)


def _rate(row):
    value = row.get("bitrate_kbps")
    return None if value is None else float(value)


def default_metric(rows):
    """`DEFAULT_METRIC` when every row carries it, else "score" (older tables)."""
    if all(r.get(DEFAULT_METRIC) is not None for r in rows):
        return DEFAULT_METRIC
    return "score"


def compute(rows_a, rows_b, *, label_a, label_b, metric=DEFAULT_METRIC, piecewise=False,
            vmaf_by_uri=None):
    """BD-rate table rows (schemas.BDRATE_SCHEMA) of B against A, sources sorted, then
    the all-sources row."""
    vmaf_by_uri = vmaf_by_uri or {}
    method = "pchip" if piecewise else "cubic"
    sides = []
    for rows in (rows_a, rows_b):
        by_source = collections.defaultdict(list)
        for r in rows:
            if r.get("source_id") is not None and not catalog.is_original(r):
                by_source[r["source_id"]].append(r)
        sides.append(by_source)
    base = {"ladder_a": label_a, "ladder_b": label_b, "metric": metric, "method": method}
    out = []
    for source in sorted(set(sides[0]) | set(sides[1])):
        a, b = sides[0].get(source, []), sides[1].get(source, [])
        row = dict(base, source_id=source, status=bjontegaard.OK, bd_rate_percent=None,
                   quality_low=None, quality_high=None, rungs_a=len(a), rungs_b=len(b),
                   reason=None, beaten_rungs_a=None, beaten_rungs_b=None,
                   fit_fall_factor_a=None, fit_fall_factor_b=None,
                   median_bd_rate_percent=None, reliable_mean_bd_rate_percent=None)
        several = [f"{name} has ladders {sorted({str(r.get('ladder_id')) for r in rs})}"
                   for name, rs in (("A", a), ("B", b))
                   if len({r.get("ladder_id") for r in rs}) > 1]
        if not a or not b:
            row.update(status=MISSING, reason=f"source only in ladder {'A' if a else 'B'}")
        elif several:
            row.update(status=SEVERAL_LADDERS,
                       reason="; ".join(several) + ": choose with --ladder_a/--ladder_b")
        else:
            res = bjontegaard.bd_rate(
                [_nan(_rate(r)) for r in a], [_nan(_quality(r, metric, vmaf_by_uri)) for r in a],
                [_nan(_rate(r)) for r in b], [_nan(_quality(r, metric, vmaf_by_uri)) for r in b],
                piecewise=piecewise)
            row.update(status=res.status, bd_rate_percent=res.bd_rate_percent,
                       quality_low=res.quality_low, quality_high=res.quality_high,
                       rungs_a=res.rungs_a, rungs_b=res.rungs_b, reason=res.reason or None,
                       beaten_rungs_a=res.beaten_a, beaten_rungs_b=res.beaten_b,
                       fit_fall_factor_a=res.fit_fall_a, fit_fall_factor_b=res.fit_fall_b)
        out.append(row)
    ok = [r["bd_rate_percent"] for r in out if r["status"] == bjontegaard.OK]
    reliable = [r["bd_rate_percent"] for r in out
                if r["status"] == bjontegaard.OK and not is_unreliable(r)]
    unreliable = len(ok) - len(reliable)
    mean = dict(base, source_id=schemas.ALL_SOURCES, quality_low=None, quality_high=None,
                rungs_a=None, rungs_b=None, beaten_rungs_a=None, beaten_rungs_b=None,
                fit_fall_factor_a=None, fit_fall_factor_b=None,
                median_bd_rate_percent=None, reliable_mean_bd_rate_percent=None)
    if ok:
        mean.update(status=bjontegaard.OK, bd_rate_percent=sum(ok) / len(ok),
                    median_bd_rate_percent=statistics.median(ok),
                    reliable_mean_bd_rate_percent=(sum(reliable) / len(reliable)
                                                   if reliable else None),
                    reason=f"mean over {len(ok)} of {len(out)} sources"
                    + (f", {unreliable} of them unreliable (rungs beaten by a cheaper "
                       "rung, or a fit that bends back)" if unreliable else ""))
    else:
        mean.update(status=NO_SOURCES, bd_rate_percent=None,
                    reason=f"no BD-rate for any of {len(out)} sources")
    out.append(mean)
    return out


def _robust(row):
    """The '*' row's median and mean over reliable sources, as summary text."""
    if row.get("median_bd_rate_percent") is None:
        return ""
    reliable = row.get("reliable_mean_bd_rate_percent")
    return (f"; median {row['median_bd_rate_percent']:+.2f} %"
            + ("" if reliable is None else f", mean over reliable sources {reliable:+.2f} %"))


def _beaten(row) -> bool:
    """A source row with a rung that a cheaper rung of the same ladder beats."""
    return bool(row.get("beaten_rungs_a") or row.get("beaten_rungs_b"))


def _bent(row) -> list[str]:
    """Which ladders ("A", "B") of a source row have a fit that bends back too far."""
    return [name for name in ("A", "B")
            if (row.get(f"fit_fall_factor_{name.lower()}") or 1.0)
            > bjontegaard.FIT_FALL_LIMIT]


def is_unreliable(row) -> bool:
    """A source row whose BD-rate is unreliable: a beaten rung, or a fit that bends back
    by more than `bjontegaard.FIT_FALL_LIMIT`."""
    return _beaten(row) or bool(_bent(row))


def _why_unreliable(row):
    """' UNRELIABLE: ...' for a source row whose BD-rate is unreliable, else ''."""
    why = []
    if _beaten(row):
        why.append(f"{row['beaten_rungs_a']} rung(s) of A and {row['beaten_rungs_b']} of B "
                   "are beaten by a cheaper rung (quality does not rise with bitrate)")
    for name in _bent(row):
        why.append(f"the {row['method']} fit of {name} gives "
                   f"{row[f'fit_fall_factor_{name.lower()}']:.3g}x the rate at a lower "
                   "quality inside the overlap")
    return " UNRELIABLE: " + "; ".join(why) if why else ""


def _nan(value):
    return math.nan if value is None else value


def write(rows, output_dir):
    """Replaces OUTPUT_DIR/bdrate-*.parquet with one shard; returns its path."""
    outputs.clear_previous(output_dir, [(TABLE, ".parquet", True)])
    path = FileSystems.join(output_dir, f"{TABLE}-00000-of-00001.parquet")
    tmp = FileSystems.join(output_dir, f".{TABLE}.partial")
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.BDRATE_SCHEMA), buf)
    with FileSystems.create(tmp) as f:
        f.write(buf.getvalue())
    FileSystems.rename([tmp], [path])
    return path


def summary(rows):
    """A few lines of text: one per source, the mean, then the sources whose rungs all
    rise but whose cubic fit bends back (a hint to use --piecewise)."""
    first = rows[-1]
    lines = [f"[bdrate] B={first['ladder_b']} vs A={first['ladder_a']}, metric "
             f"{first['metric']}, {first['method']} fit"]
    for r in rows:
        name = "mean" if r["source_id"] == schemas.ALL_SOURCES else r["source_id"]
        if r["bd_rate_percent"] is not None:
            lines.append(f"  {name}: {r['bd_rate_percent']:+.2f} %"
                         + (f" ({r['reason']})" if r["reason"] else "")
                         + _robust(r) + _why_unreliable(r))
        else:
            lines.append(f"  {name}: {r['status']}: {r['reason']}")
    bent = [r["source_id"] for r in rows
            if r["method"] == "cubic" and _bent(r) and not _beaten(r)]
    if bent:
        lines.append(f"  {len(bent)} source(s) with no beaten rung have a cubic fit that "
                     "bends back inside the overlap; --piecewise (PCHIP) answers them: "
                     + ", ".join(bent))
    return "\n".join(lines)


def _parse(argv):
    parser = argparse.ArgumentParser(
        description="Bjøntegaard delta rate per source of ladder B against ladder A, from "
        "scores tables (bitrate_kbps vs score or VMAF).")
    parser.add_argument("--scores", action="append", required=True,
                        help="Scores output directory (local or gs://): once with "
                        "--ladder_a/--ladder_b, or twice (A then B).")
    parser.add_argument("--ladder_a", help="ladder_id of the reference ladder A.")
    parser.add_argument("--ladder_b", help="ladder_id of the tested ladder B.")
    parser.add_argument("--height_b", type=int,
                        help="With one --scores directory: B = the rungs this many rows "
                        "tall, A = each source's rungs at its own (tallest) size.")
    parser.add_argument("--metric", choices=METRICS,
                        help="Quality axis. score_alone (default): the model's score of "
                        "each video alone, the closer to VMAF's BD-rate between two "
                        "encoders (BENCHMARKS.md), the same whichever renditions a run "
                        "scored; tables without it fall back to score. score: each "
                        "rendition read against the other renditions of its source in its "
                        "scoring run. vmaf: see --vmaf.")
    parser.add_argument("--vmaf", action="append", default=[],
                        help="Table (CSV/JSONL/Parquet) with uri and vmaf columns, for "
                        "--metric vmaf when the scores rows have no vmaf column.")
    parser.add_argument("--piecewise", action="store_true",
                        help="Piecewise-cubic (PCHIP) interpolation instead of the cubic fit.")
    parser.add_argument("--output_dir",
                        help="Where bdrate-*.parquet goes (default: the last --scores).")
    args = parser.parse_args(argv)
    if len(args.scores) > 2:
        parser.error("--scores is given once or twice")
    if args.height_b is not None:
        if len(args.scores) != 1 or args.ladder_a or args.ladder_b:
            parser.error("--height_b takes one --scores directory and no --ladder_a/_b")
        if args.height_b < 1:
            parser.error(f"--height_b {args.height_b} must be a height in rows")
    elif len(args.scores) == 1 and not (args.ladder_a and args.ladder_b):
        parser.error("with one --scores directory, --ladder_a and --ladder_b are required "
                     "(or --height_b)")
    return args


def run(argv=None):
    """Computes and writes the table; returns its rows."""
    args = _parse(argv)
    runs = []
    for d in args.scores:
        rows = tables.read_table(d, "scores")
        if not rows:
            raise BDRateError(f"no scores-*.parquet rows in {d!r}")
        runs.append(rows)

    def keep(rows, ladder):
        return [r for r in rows if ladder is None
                or (r.get("ladder_id") or r.get("source_id")) == ladder]

    too_short = {}
    if args.height_b is not None:
        rows_a, rows_b, too_short = split_by_height(runs[0], args.height_b)
        label_a, label_b = "own size", f"{args.height_b} rows"
    elif len(runs) == 1:
        rows_a, rows_b = keep(runs[0], args.ladder_a), keep(runs[0], args.ladder_b)
        label_a, label_b = args.ladder_a, args.ladder_b
    else:
        rows_a, rows_b = keep(runs[0], args.ladder_a), keep(runs[1], args.ladder_b)
        label_a, label_b = args.ladder_a or args.scores[0], args.ladder_b or args.scores[1]
    metric = args.metric
    if metric is None:
        metric = default_metric(rows_a + rows_b)
        if metric != DEFAULT_METRIC:
            print(NO_SCORE_ALONE_NOTE)
    if len(runs) == 2 and metric == "score" and any(
            r.get("score_alone") is not None and r["score"] != r["score_alone"]
            for r in rows_a + rows_b):
        print(SEPARATE_RUNS_NOTE)
    for label, rows in ((label_a, rows_a), (label_b, rows_b)):
        if not rows:
            raise BDRateError(f"ladder {label!r}: no scores rows")
    vmaf_by_uri = read_vmaf(args.vmaf) if metric == "vmaf" else {}
    rows = compute(rows_a, rows_b, label_a=label_a, label_b=label_b, metric=metric,
                   piecewise=args.piecewise, vmaf_by_uri=vmaf_by_uri)
    for row in rows:
        if row["source_id"] in too_short:
            row["reason"] = (f"its own size is {too_short[row['source_id']]} rows: no rung "
                             f"taller than --height_b {args.height_b} to compare with")
    path = write(rows, args.output_dir or args.scores[-1])
    print(summary(rows))
    print(f"[bdrate] wrote {path}")
    return rows


def main(argv=None):
    try:
        run(argv)
    except (BDRateError, catalog.CatalogError) as e:
        print(f"[bdrate] error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
