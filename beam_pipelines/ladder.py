"""Source catalog -> H.264 CRF ladder with a pseudo-MOS per rendition (Beam pipeline).

    python -m beam_pipelines.ladder --catalog SRC.csv --output_dir DIR \
        --crfs 18,23,28,33,38,43 [--preset veryfast] [--label auto|mos|vmaf] \
        [--heights 720,480,360]

Input: a catalog (CSV/JSONL/Parquet, `beam_pipelines.catalog`) of source videos:
`video_id, uri`, optional `source_id` (defaults to video_id) and `mos`, and optional
per-source ladders: `ladder_crfs` ("19;24;29", replaces --crfs for that source),
`ladder_preset` (replaces --preset) and `ladder_presets` ("veryfast;slow;veryfast", one
x264 preset per rung of `ladder_crfs`, in its order; replaces both presets rung by rung),
and `ladder_heights` ("720;480;360": every CRF rung is also encoded downscaled to each of
these heights below the source's, Lanczos, width kept to the aspect: a multi-size ladder).
Output:
  DIR/videos/<source_id>/crfNN.mp4   the renditions (libx264, yuv420p, same size)
  DIR/videos/<source_id>/hHHHH_crfNN.mp4   with ladder_heights: the downscaled rungs
  DIR/catalog.csv   video_id, uri, source_id, crf, mos, vmaf, vmaf_raw, blockiness, blur,
                    display_height; one row per original (crf empty) and per rendition.
                    A downscaled rung (video_id `<source_id>__hHHHH_crfNN`) has its VMAF
                    measured at the source's size (bicubic upscale, VMAF at display
                    size) and `display_height` = the source's height, which `prepare`
                    and `score` honour (its patches cut as shown at that height).
  DIR/failures/failures-*.parquet   dead letter (schemas.FAILURES_SCHEMA)
  DIR/ladder_stats.json             counts: sources, renditions, order fixes

CRF range. The paper's CRF range was lost in conversion. Default: 18, 23, 28, 33, 38, 43
(steps of 5 from "visually lossless" 18 to heavily blocky 43; libx264's default is 23),
configurable with --crfs.

Pseudo-MOS (column `mos`). Each rendition's VMAF against its source (`vmaf_raw`,
ffmpeg libvmaf) is measured first; the source itself is measured against itself too.
  - `--label=mos` (default when the source row has a MOS): mos = source_mos * vmaf / 100,
    capped at source_mos. A source keeps its MOS; a rendition loses quality in
    proportion to what VMAF says it lost.
  - `--label=vmaf` (default without a source MOS, e.g. generated data): mos = vmaf.
Then, per source and in increasing CRF (the source first), the running minimum is taken:
a higher CRF is never better than a lower one of the same source, which is the paper's
order assumption. VMAF noise that breaks the order is thereby clamped to a tie; each
clamped rendition is counted (`order_fixes` in ladder_stats.json and Beam metrics), and
`vmaf` holds the clamped VMAF. A ladder whose rungs use several x264 presets
(`ladder_presets`) is clamped preset by preset, each chain below the source: a `slow`
rung may beat a `veryfast` one of lower CRF, and is not clamped to it. A multi-size
ladder is clamped size by size the same way.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import tempfile

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from beam_pipelines import (
    catalog,
    dead_letter,
    ladder_defaults,
    outputs,
    runner,
    schemas,
    tables,
)

DEFAULT_CRFS = ladder_defaults.LADDER_CRFS
CSV_COLUMNS = (
    "video_id",
    "uri",
    "source_id",
    "crf",
    "mos",
    "vmaf",
    "vmaf_raw",
    "blockiness",
    "blur",
    "description",
    "display_height",
)
_NAMESPACE = "cpllm.ladder"
# (prefix, suffix, sharded) of what the pipeline writes, for outputs.clear_previous.
OUTPUTS = (
    ("catalog", ".csv", False),
    ("ladder_stats", ".json", False),
    ("failures/failures", ".parquet", True),
)


def parse_args(argv=None):
    """Splits argv into this pipeline's flags and Beam's pipeline options.

    Parsed with a plain argparse parser, as in Beam's wordcount, not a PipelineOptions
    subclass: every PipelineOptions subclass is registered process-wide, so `--catalog`,
    `--output_dir` (also the scoring pipeline's) and `--label` (Dataflow's alias of
    `--labels`) would collide as soon as two pipelines are imported together.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", required=True,
                        help="Source catalog (csv/jsonl/parquet): video_id, uri; optional "
                             "source_id, mos, and per source ladder_crfs (\"19;24;29\", "
                             "replaces --crfs), ladder_preset (replaces --preset), "
                             "ladder_presets (\"veryfast;slow;veryfast\", one x264 preset "
                             "per rung of ladder_crfs), ladder_heights (\"720;480\", each "
                             "CRF rung also encoded at these smaller heights).")
    parser.add_argument("--output_dir", required=True, help="Output directory.")
    parser.add_argument(
        "--crfs", default=",".join(map(str, DEFAULT_CRFS)), help="Comma-separated CRF rungs."
    )
    parser.add_argument("--preset", default="veryfast", help="libx264 preset.")
    parser.add_argument("--heights", default="",
                        help="Also encode every CRF rung downscaled to each of these "
                             "heights below the source's (\"720,480,360\"; a source's "
                             "ladder_heights column wins), VMAF measured at the source's "
                             "size. Default: none, one frame size per ladder.")
    parser.add_argument(
        "--label",
        default="auto",
        choices=("auto", "mos", "vmaf"),
        help="Pseudo-MOS rule (see module docstring).",
    )
    parser.add_argument("--vmaf_threads", type=int, default=1)
    opts, rest = parser.parse_known_args(argv)
    try:  # from here on the list of heights, largest first ([]: one size)
        opts.heights = (parse_heights(opts.heights, name="--heights")
                        if opts.heights.strip() else [])
    except ValueError as e:
        parser.error(str(e))
    return opts, rest


def parse_crfs(text: str) -> list[int]:
    crfs = sorted({int(c) for c in str(text).split(",") if c.strip()})
    if not crfs or crfs[0] < 0 or crfs[-1] > 51:
        raise ValueError(f"--crfs must be integers in [0, 51], got {text!r}")
    return crfs


def rendition_name(source_id: str, crf: int, height: int | None = None) -> str:
    """The video_id of a rung: `<source_id>__crfNN`, downscaled `<source_id>__hHHHH_crfNN`."""
    return f"{source_id}__{rung_stem(crf, height)}"


def rung_stem(crf: int, height: int | None = None) -> str:
    return f"crf{crf:02d}" if height is None else f"h{int(height):04d}_crf{crf:02d}"


def rendition_path(output_dir: str, source_id: str, crf: int, height: int | None = None) -> str:
    return FileSystems.join(output_dir, "videos", _safe(source_id),
                            f"{rung_stem(crf, height)}.mp4")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def pseudo_mos(ladder: list[dict], rule: str) -> tuple[list[dict], int]:
    """Labels one source's ladder; returns (rows with mos/vmaf set, number of order fixes).

    `ladder`: rows with `crf` (None for the source), `vmaf_raw`, the source's `mos`
    on every row as `source_mos` (None when unknown), and optionally the rendition's
    `x264_preset` and `rung_height` (a downscaled rung): the running minimum is taken
    per (preset, height) chain, each chain starting from the source. `rule`: "auto" |
    "mos" | "vmaf".
    """
    def chain(r):
        return r.get("x264_preset"), r.get("rung_height")

    rows = sorted(ladder, key=lambda r: -1 if r["crf"] is None else r["crf"])
    fixes = 0
    best, best_vmaf = {}, {}  # chain (x264 preset, height) -> running minimum
    presets = {chain(r) for r in rows if r["crf"] is not None} or {(None, None)}
    for r in rows:
        chains = presets if r["crf"] is None else {chain(r)}
        source_mos = r.get("source_mos")
        use = rule if rule != "auto" else ("mos" if source_mos is not None else "vmaf")
        if use == "mos" and source_mos is None:
            raise ValueError(f"--label=mos but source {r['source_id']!r} has no mos")
        vmaf = max(0.0, min(100.0, float(r["vmaf_raw"])))
        if use == "mos":
            value = source_mos if r["crf"] is None else min(source_mos, source_mos * vmaf / 100.0)
        else:
            value = vmaf
        top = min(best.get(c, math.inf) for c in chains)
        if value > top:
            fixes += 1
            value = top
        vmaf = min(vmaf, min(best_vmaf.get(c, math.inf) for c in chains))
        for c in chains:
            best[c], best_vmaf[c] = value, vmaf
        r["mos"] = float(value)
        r["vmaf"] = float(vmaf)
    return rows, fixes


class ExpandRungs(beam.DoFn):
    """source entry -> one job per rung: (entry, None) for the source, (entry, crf), and
    (entry, crf, height) for each of its `ladder_heights`.

    `per_source`: {video_id: {"crfs": [...], "preset": str, "rung_presets": {crf: str},
    "heights": [...]}} from the catalog's optional `ladder_crfs` ("19;24;29"),
    `ladder_preset`, `ladder_presets` and `ladder_heights` columns; a source without
    them gets `crfs` and the pipeline's preset, at its own size only.
    """

    def __init__(self, crfs, per_source=None, heights=()):
        self.crfs = list(crfs)
        self.per_source = dict(per_source or {})
        self.heights = list(heights)

    def process(self, entry):
        entry = dict(entry)
        entry["source_id"] = entry.get("source_id") or entry["video_id"]
        own = self.per_source.get(entry["video_id"], {})
        if own.get("preset"):
            entry["ladder_preset"] = own["preset"]
        if own.get("rung_presets"):
            entry["rung_presets"] = own["rung_presets"]
        yield entry, None
        for crf in own.get("crfs") or self.crfs:
            yield entry, crf
            for height in own.get("heights") or self.heights:
                yield entry, crf, height


def parse_rung_presets(crfs_text: str, presets_text: str) -> dict[int, str]:
    """"19;24;29", "veryfast;slow;veryfast" -> {19: "veryfast", 24: "slow", 29: ...}."""
    crfs = [int(c) for c in crfs_text.replace(";", ",").split(",") if c.strip()]
    presets = [p.strip() for p in presets_text.replace(";", ",").split(",") if p.strip()]
    if len(presets) != len(crfs) or len(set(crfs)) != len(crfs):
        raise ValueError(f"ladder_presets {presets_text!r} must name one preset for each "
                         f"of the distinct ladder_crfs {crfs_text!r}")
    return dict(zip(crfs, presets))


def parse_heights(text: str, name: str = "ladder_heights") -> list[int]:
    """"720;480;360" -> [720, 480, 360] (distinct, largest first; ValueError naming
    `name`, the column or flag, unless positive integers)."""
    try:
        heights = sorted({int(h) for h in text.replace(";", ",").split(",") if h.strip()},
                         reverse=True)
    except ValueError:
        raise ValueError(f"{name} {text!r} must be heights in pixels, e.g. "
                         "\"720;480;360\"") from None
    if not heights or heights[-1] < 16:
        raise ValueError(f"{name} {text!r} must be heights of at least 16 pixels")
    return heights


def per_source_ladders(path):
    """{video_id: {"crfs", "preset", "rung_presets", "heights"}} from a catalog's
    `ladder_crfs`, `ladder_preset`, `ladder_presets` and `ladder_heights` (ValueError
    naming the row if the third does not match the first, or the last is not heights)."""
    out = {}
    for error, raw in catalog.iter_raw_rows(path):
        if error is not None:
            continue
        row = {str(k).strip().lower(): v for k, v in raw.items() if k is not None}
        crfs = str(row.get("ladder_crfs") or "").strip()
        preset = str(row.get("ladder_preset") or "").strip()
        rung_presets = str(row.get("ladder_presets") or "").strip()
        heights = str(row.get("ladder_heights") or "").strip()
        if not (crfs or preset or rung_presets or heights) or not row.get("video_id"):
            continue
        video_id = str(row["video_id"]).strip()
        try:
            rungs = parse_rung_presets(crfs, rung_presets) if rung_presets else None
            heights = parse_heights(heights) if heights else None
        except ValueError as e:
            raise ValueError(f"{path}: video_id {video_id!r}: {e}") from None
        out[video_id] = {
            "crfs": parse_crfs(crfs.replace(";", ",")) if crfs else None,
            "preset": preset or None,
            "rung_presets": rungs,
            "heights": heights,
        }
    return out


def _failure(video_id, uri, e, default_stage="decode"):
    return dead_letter.tagged(dead_letter.failure_from_exception(
        video_id, uri, e, dead_letter.stage_of(e, default_stage)))


class EncodeRendition(beam.DoFn):
    """(source entry, crf[, height]) -> rendition row (uri written); the source passes
    through. A height at or above the source's is skipped (a ladder only shrinks)."""

    def __init__(self, output_dir, preset):
        self.output_dir = output_dir
        self.preset = preset
        self.encoded = Metrics.counter(_NAMESPACE, "renditions_encoded")
        self.skipped = Metrics.counter(_NAMESPACE, "heights_not_below_source")

    def process(self, job):
        from beam_pipelines.media import probe, storage, transcode

        entry, crf, *rest = job
        height = rest[0] if rest else None
        row = {
            "source_id": entry["source_id"],
            "source_uri": entry["uri"],
            "source_mos": entry.get("mos"),
            "crf": crf,
        }
        if crf is None:
            # The catalog's description describes the source, technical quality
            # included: it stays on the original only (renditions get none, so they
            # add no text loss in training rather than a wrong quality sentence).
            yield dict(row, video_id=entry["video_id"], uri=entry["uri"],
                       description=entry.get("description"))
            return
        video_id = rendition_name(entry["source_id"], crf, height)
        preset = ((entry.get("rung_presets") or {}).get(crf)
                  or entry.get("ladder_preset") or self.preset)
        dst = rendition_path(self.output_dir, entry["source_id"], crf, height)
        try:
            with storage.local_copy(entry["uri"]) as src:
                if height is not None:
                    info = probe.probe_local(src, uri=entry["uri"])
                    if height >= info.height:
                        self.skipped.inc()
                        return
                    row.update(rung_height=int(height), display_height=int(info.height),
                               display_width=int(info.width))
                if "://" in dst:
                    with tempfile.TemporaryDirectory() as tmp:
                        local = os.path.join(tmp, "out.mp4")
                        transcode.transcode(src, local, crf, preset=preset, height=height)
                        with open(local, "rb") as f, FileSystems.create(dst) as out:
                            out.write(f.read())
                else:
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    transcode.transcode(src, dst, crf, preset=preset, height=height)
        except Exception as e:  # noqa: BLE001 - every failure goes to the dead letter
            yield _failure(video_id, dst, e)
            return
        self.encoded.inc()
        yield dict(row, video_id=video_id, uri=dst, x264_preset=preset)


class MeasureQuality(beam.DoFn):
    """rendition row -> + vmaf_raw (vs. the source; a downscaled rung upscaled to the
    source's size first), blockiness, blur."""

    def __init__(self, vmaf_threads=1):
        self.vmaf_threads = vmaf_threads

    def process(self, row):
        from beam_pipelines import vmaf
        from beam_pipelines.media import storage

        try:
            with (
                storage.local_copy(row["uri"]) as dist,
                storage.local_copy(row["source_uri"]) as ref,
            ):
                row = dict(
                    row,
                    vmaf_raw=vmaf.vmaf(dist, ref, n_threads=self.vmaf_threads,
                                       size=_display_size(row)),
                    **vmaf.no_reference(dist),
                )
        except Exception as e:  # noqa: BLE001
            yield _failure(row["video_id"], row["uri"], e)
            return
        yield row


def _display_size(row):
    """(width, height) a downscaled rung's VMAF is measured at (the source's), else None."""
    if row.get("display_height") is None:
        return None
    return int(row["display_width"]), int(row["display_height"])


class AssignPseudoMos(beam.DoFn):
    """(source_id, rows) -> rows with `mos` (see module docstring); counts order fixes."""

    def __init__(self, rule):
        self.rule = rule
        self.fixes = Metrics.counter(_NAMESPACE, "order_fixes")

    def process(self, element):
        _, rows = element
        labelled, fixes = pseudo_mos(list(rows), self.rule)
        self.fixes.inc(fixes)
        for r in labelled:
            r["order_fixes_in_source"] = fixes
            yield r


def to_csv_line(row: dict) -> str:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(
        [
            "" if row.get(c) is None else (f"{row[c]:.4f}" if isinstance(row[c], float) else row[c])
            for c in CSV_COLUMNS
        ]
    )
    return buf.getvalue()


class _Stats(beam.CombineFn):
    """Ladder-level counts for ladder_stats.json."""

    def create_accumulator(self):
        return {"sources": set(), "renditions": 0, "originals": 0, "sources_with_fixes": set()}

    def add_input(self, acc, row):
        acc["sources"].add(row["source_id"])
        if row["crf"] is None:
            acc["originals"] += 1
        else:
            acc["renditions"] += 1
        if row["order_fixes_in_source"]:
            acc["sources_with_fixes"].add(row["source_id"])
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            out["sources"] |= a["sources"]
            out["sources_with_fixes"] |= a["sources_with_fixes"]
            out["renditions"] += a["renditions"]
            out["originals"] += a["originals"]
        return out

    def extract_output(self, acc):
        return {
            "sources": len(acc["sources"]),
            "originals": acc["originals"],
            "renditions": acc["renditions"],
            "sources_with_order_fixes": len(acc["sources_with_fixes"]),
        }


def run(argv=None, test_pipeline=None):
    """Builds and runs the ladder pipeline; returns the PipelineResult."""
    opts, pipeline_args = parse_args(argv)
    options = PipelineOptions(pipeline_args)
    # Local paths on a runner whose workers are other machines: refused before anything.
    runner.check_paths(options, {"catalog": opts.catalog, "output_dir": opts.output_dir})
    crfs = parse_crfs(opts.crfs)
    catalog.check_catalog(opts.catalog)
    out = opts.output_dir
    if "://" not in out:
        # Rendition uris go into DIR/catalog.csv, whose relative uris are read against
        # DIR itself: write them absolute, or `out/videos/...` reads as out/out/videos/.
        out = os.path.abspath(out)
    p = test_pipeline or beam.Pipeline(runner=runner.offline_runner(options), options=options)

    cat = p | "ReadCatalog" >> catalog.ReadCatalog(opts.catalog)
    encoded = (
        cat.entries
        | "ExpandRungs" >> beam.ParDo(ExpandRungs(
            crfs, per_source_ladders(opts.catalog), opts.heights))
        | "Reshuffle" >> beam.Reshuffle()
        | "EncodeRendition"
        >> beam.ParDo(EncodeRendition(out, opts.preset)).with_outputs(dead_letter.FAILURES, main="rows")
    )
    measured = encoded.rows | "MeasureQuality" >> beam.ParDo(
        MeasureQuality(opts.vmaf_threads)
    ).with_outputs(dead_letter.FAILURES, main="rows")
    labelled = (
        measured.rows
        | "KeyBySource" >> beam.Map(lambda r: (r["source_id"], r))
        | "GroupBySource" >> beam.GroupByKey()
        | "AssignPseudoMos" >> beam.ParDo(AssignPseudoMos(opts.label))
    )
    _ = (
        labelled
        | "FormatCsv" >> beam.Map(to_csv_line)
        | "WriteCatalog"
        >> beam.io.WriteToText(
            FileSystems.join(out, "catalog"),
            file_name_suffix=".csv",
            shard_name_template="",
            header=",".join(CSV_COLUMNS),
        )
    )
    stats = labelled | "LadderStats" >> beam.CombineGlobally(_Stats())
    failures = (cat.failures, encoded.failures, measured.failures) | "AllFailures" >> beam.Flatten()
    fail_count = failures | "CountFailures" >> beam.combiners.Count.Globally()
    _ = (
        stats
        | "StatsJson"
        >> beam.Map(
            lambda s, fixes, nfail: json.dumps(
                dict(s, order_fixes=fixes, failures=nfail), sort_keys=True
            ),
            fixes=beam.pvalue.AsSingleton(
                labelled
                | "FixPairs" >> beam.Map(lambda r: (r["source_id"], r["order_fixes_in_source"]))
                | "DistinctFixPairs" >> beam.Distinct()
                | "FixValues" >> beam.Values()
                | "TotalFixes" >> beam.CombineGlobally(sum)
            ),
            nfail=beam.pvalue.AsSingleton(fail_count),
        )
        | "WriteStats"
        >> beam.io.WriteToText(
            FileSystems.join(out, "ladder_stats"), file_name_suffix=".json", shard_name_template=""
        )
    )
    _ = tables.write_parquet(  # snappy, one shard: a small table (issue 14 item 17)
        failures, FileSystems.join(out, "failures", "failures"), schemas.FAILURES_SCHEMA,
        label="WriteFailures", num_shards=1,
    )

    # Same rule as score: earlier shards go once the pipeline is built, so a re-run never
    # mixes failure shards (or a stale catalog) of two runs.
    outputs.clear_previous(out, OUTPUTS)
    result = p.run()
    result.wait_until_finish()
    return result


def main(argv=None):
    logging.getLogger().setLevel(logging.INFO)
    run(argv)


if __name__ == "__main__":
    # Run the importable module, not __main__: DoFns pickled from __main__ look up
    # their module's globals in the worker's __main__, which lacks them
    # (multi_processing workers, Dataflow).
    from beam_pipelines import ladder as _pipeline  # noqa: PLW0406
    _pipeline.main()
