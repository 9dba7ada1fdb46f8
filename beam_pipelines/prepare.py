"""Catalog -> sharded TFRecords of preprocessed key frames + labels + descriptions (Beam).

    python -m beam_pipelines.prepare --catalog CAT --output_dir DIR --model cpllm_tiny \
        [--holdout_sources a,b | --holdout_fraction 0.2] [--describer auto] [--num_shards 2]

Input: a catalog (`beam_pipelines.catalog`: video_id, uri, optional source_id, crf, mos,
description), e.g. the one `beam_pipelines.ladder` writes (its extra columns `vmaf`,
`blockiness`, `blur` are picked up when present). `mos` is the label (pseudo-MOS for
renditions); a row without `crf` is an original; a row with `display_height` (a rung
of a multi-size ladder) gets its patches cut as shown at that height, as score does
(`CPLLMPreprocessor.frame_inputs`). A repeated `video_id` is handled as in
score: the first valid row in file order is prepared, with that row's extra columns;
the later rows are `catalog` / `DuplicateVideoId` failure rows.

Output (format: `beam_pipelines.records`):
  DIR/train/data-SSSSS-of-NNNNN.tfrecord, DIR/holdout/data-...tfrecord
  DIR/failures/failures-*.parquet   videos that could not be decoded/preprocessed
                                    (schemas.FAILURES_SCHEMA; catalog problems too)
  DIR/manifest.json   {"spec": RecordSpec, "model": ..., "examples": N, "sources": N,
                       "originals": N, "splits": {split: {"examples", "sources"}},
                       "failures": N, "holdout_sources": [...], "describer": ...}

Splits are by source: every rendition of a source lands in the same split, so held-out
sources are never seen in training. With `--num_shards N` the shards are by source too:
every rendition of a source lands in the same file, shard `crc32(source_id) mod N`
(`shard_of`), written in video_id order (the same files and order on every run), and
all N files exist even when some are empty. A trainer reading one group of the files
(multi-host shard groups) then holds whole ladders. The records never travel through
the grouping by shard: each bundle appends its records to a file in DIR/_staging/RUN_ID/
and passes on only (shard, (video_id, file, offset)); `WriteShard` reads its shard's
records back from there, and the staging directory is deleted once the run has
succeeded. With `--num_shards 0` Beam picks the shards and spreads a source over them.
A source is held out when it is listed in `--holdout_sources`, or when
`sha256(source_id)` falls in the first `--holdout_fraction` of the hash space
(deterministic across runs and runners).

Run as a program, prepare then checks that the shard files hold every example the
manifest counts (`verify`) and fails if they do not.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import math
import shutil
import uuid
import zlib

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineState

from beam_pipelines import catalog, dead_letter, outputs, runner, schemas, tables

SPLITS = ("train", "holdout")
EXTRA_COLUMNS = ("vmaf", "blockiness", "blur", "content", "motion")
_NAMESPACE = "cpllm.prepare"
# (prefix, suffix, sharded) of what the pipeline writes, for outputs.clear_previous.
OUTPUTS = (
    *((f"{split}/data", ".tfrecord", True) for split in SPLITS),
    ("failures/failures", ".parquet", True),
    ("manifest", ".json", False),
)


def parse_args(argv=None):
    """This pipeline's flags (plain argparse, see `ladder.parse_args`) and Beam's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", required=True, help="Catalog (csv/jsonl/parquet).")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument(
        "--model",
        default="cpllm_tiny",
        help="Preset whose preprocessor and tokenizer shape the data.",
    )
    parser.add_argument(
        "--holdout_sources",
        default="",
        help="Comma-separated source_ids for the holdout split, or @FILE (local or gs://): "
        "one source_id per line, e.g. a dataset's whole test split.",
    )
    parser.add_argument(
        "--holdout_fraction",
        type=float,
        default=0.0,
        help="Hash fraction of sources held out (when no list is given).",
    )
    parser.add_argument(
        "--describer", default="auto", choices=("auto", "catalog", "generated", "none")
    )
    parser.add_argument(
        "--max_description_tokens",
        type=int,
        default=0,
        help="Padded token length in the parser spec (0: the preset's sequence_length).",
    )
    parser.add_argument(
        "--num_shards", type=int, default=0,
        help="Shard files per split, each holding whole sources (crc32(source_id) mod N); "
             "0: Beam decides and spreads a source over its shards."
    )
    parser.add_argument("--decode_timeout_s", type=float, default=120.0)
    parser.add_argument(
        "--max_patches",
        type=int,
        default=0,
        help="Low-level patches per frame M in the records (0: the preset's). The model "
        "averages over patches, so it trains on fewer than it scores with: cpllm_tiny "
        "trains on 16 and scores with its preset's M (preprocessor.json max_patches).",
    )
    parser.add_argument(
        "--patch_fill", default="", choices=("", "true", "false"),
        help="Whether a frame with fewer grid cells than M fills the spare patch slots "
        "with its own cells in other orientations ('': the preset's choice). Training "
        "records of cpllm_tiny are written without (false), like the recorded builds.",
    )
    parser.add_argument(
        "--low_level_frames", type=int, default=0,
        help="Frames per low-level patch clip T (0: the preset's). With T > 1 every key "
        "frame is decoded with the T - 1 frames after it and the M patch slots hold M / T "
        "clips (`CPLLMPreprocessor.low_level_frames`): records for a model trained with "
        "model.backbone_overrides low_level_frames=T.",
    )
    parser.add_argument(
        "--high_level_frames", type=int, default=0,
        help="Frames per key frame in the high-level view Hf (0: the preset's). With "
        "Hf > 1 every key frame is decoded with the Hf - 1 frames after it and the S x S "
        "view keeps them (`CPLLMPreprocessor.high_level_frames`): records for a model "
        "whose motion input reads a frame against the next (model.backbone_overrides "
        "high_level_frames=Hf).",
    )
    return parser.parse_known_args(argv)


def parse_holdout_sources(value: str) -> list[str]:
    """`--holdout_sources`: "a,b" or "@FILE" (one source_id per line; blank lines and
    lines starting with # are skipped) -> sorted unique source_ids."""
    if value.startswith("@"):
        path = value[1:]
        if not FileSystems.exists(path):
            raise ValueError(f"--holdout_sources: no file {path}")
        with FileSystems.open(path) as f:
            lines = f.read().decode("utf-8").splitlines()
        ids = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        if not ids:
            raise ValueError(f"--holdout_sources: {path} lists no source_id")
    else:
        ids = [s.strip() for s in value.split(",") if s.strip()]
    return sorted(set(ids))


def split_of(source_id: str, holdout_sources=(), holdout_fraction: float = 0.0) -> str:
    """'holdout' for listed sources or those hashing below `holdout_fraction`, else 'train'."""
    if holdout_sources:
        listed = holdout_sources if isinstance(holdout_sources, frozenset) else set(holdout_sources)
        return "holdout" if source_id in listed else "train"
    h = int.from_bytes(hashlib.sha256(source_id.encode()).digest()[:8], "big") / 2.0**64
    return "holdout" if h < holdout_fraction else "train"


@functools.lru_cache(maxsize=8)
def records_preprocessor(model: str, max_patches: int = 0, patch_fill: bool | None = None,
                         low_level_frames: int = 0, high_level_frames: int = 0):
    """`load_preprocessor(model)`, with M = `max_patches` patches per frame when > 0, the
    given `patch_fill` when not None, T = `low_level_frames` frames per patch clip and
    Hf = `high_level_frames` frames per high-level view when > 0 (a copy: the preset's
    own preprocessor is shared and left as it is)."""
    import copy

    from cpllm_model.frames import clip_length, high_level_frames_check

    pre = load_preprocessor(model)
    if max_patches and max_patches < 1:
        raise ValueError(f"max_patches must be >= 1, got {max_patches}")
    wanted = {"max_patches": max_patches, "low_level_frames": low_level_frames,
              "high_level_frames": high_level_frames}
    wanted = {k: int(v) for k, v in wanted.items() if v and v != getattr(pre, k)}
    if patch_fill is not None and bool(patch_fill) != pre.patch_fill:
        wanted["patch_fill"] = bool(patch_fill)
    if wanted:
        pre = copy.copy(pre)
        for name, value in wanted.items():
            setattr(pre, name, value)
    clip_length(pre.low_level_frames, pre.max_patches)
    high_level_frames_check(pre.high_level_frames)
    return pre


def parse_patch_fill(value: str) -> bool | None:
    """`--patch_fill`: '' -> None (the preset's), 'true' / 'false' -> bool."""
    return None if value == "" else value == "true"


@functools.lru_cache(maxsize=4)
def load_preprocessor(model: str):
    """The preset's CPLLMPreprocessor (frame shapes and tokenizer); no weights are loaded.

    `model`: a bundled preset name ("cpllm_tiny"), a preset directory or gs:// path. While
    the bundled cpllm_tiny has not been written yet (it is trained on this data), its
    preprocessor is built from `cpllm_model.presets.TINY`, the same shapes and tokenizer.
    """
    import os

    from cpllm_model import CPLLMPreprocessor, preset_registry

    if model == "cpllm_tiny" and not os.path.exists(
            os.path.join(preset_registry.resolve(model), "preprocessor.json")):
        from cpllm_model import presets

        keys = ("num_keyframes", "image_size", "low_level_max_side", "patch_size",
                "max_patches", "sequence_length")
        return CPLLMPreprocessor(presets.tiny_tokenizer(), **{k: presets.TINY[k] for k in keys})
    # The preprocessor alone (config and tokenizer, safe mode); from gs:// only its config
    # and asset files, never the weights (issue 14 item 9).
    return CPLLMPreprocessor.from_preset(model)


def _number(value):
    if value is None or value == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _extras(path):
    """(video_id, {extra column: value}) for the catalog's optional extra columns.

    One pair per video_id, from the row `catalog.ReadCatalog` keeps: the first row in
    file order that is a valid entry (malformed rows are skipped exactly as ReadCatalog
    skips them; later rows with the same id are its `DuplicateVideoId` failure rows).
    So a video's extras always come from the same row as its uri, crf and mos, whatever
    order CoGroupByKey hands the grouped values in (issue 14 item 5).
    """
    seen = set()
    for error, raw in catalog.iter_raw_rows(path):
        if error is not None:
            continue
        try:
            video_id = catalog.normalize_row(raw, path)["video_id"]
        except catalog.RowError:
            continue  # a failure row of ReadCatalog: never the entry that is kept
        if video_id in seen:
            continue
        seen.add(video_id)
        row = {str(k).strip().lower(): v for k, v in raw.items() if k is not None}
        yield video_id, {c: row[c] for c in EXTRA_COLUMNS if row.get(c) not in (None, "")}


def _merge(element):
    video_id, grouped = element
    extras = list(grouped["extras"])
    if len(extras) > 1:  # _extras emits one per id; more would make the choice arbitrary
        raise ValueError(f"{len(extras)} extras rows for video_id {video_id!r}")
    for entry in grouped["entries"]:
        extra = extras[0] if extras else {}
        row = dict(entry)
        for c in ("vmaf", "blockiness", "blur"):
            row[c] = _number(extra.get(c))
        row["content"] = extra.get("content")
        row["motion"] = extra.get("motion")
        row["source_id"] = row.get("source_id") or row["video_id"]
        row["is_original"] = row.get("crf") is None
        yield row


class DecodeAndPreprocess(beam.DoFn):
    """catalog row -> row + model frame inputs (uint8 high frames, patches, mask).

    Also measures blockiness/blur (ffmpeg, no reference) when the catalog lacks them and
    the describer writes generated sentences, and merges `frame_stats.measure` of the key
    frames into the row (for the describer). Failures go to the 'failures' output.
    """

    def __init__(self, model, measure_artifacts, decode_timeout_s, max_patches=0,
                 patch_fill=None, low_level_frames=0, high_level_frames=0):
        self.model = model
        self.measure_artifacts = measure_artifacts
        self.decode_timeout_s = decode_timeout_s
        self.max_patches = max_patches
        self.patch_fill = patch_fill
        self.low_level_frames = low_level_frames
        self.high_level_frames = high_level_frames
        self.ok = Metrics.counter(_NAMESPACE, "videos_preprocessed")
        self.failed = Metrics.counter(_NAMESPACE, "videos_failed")

    def setup(self):
        self.preprocessor = records_preprocessor(self.model, self.max_patches, self.patch_fill,
                                                 self.low_level_frames,
                                                 self.high_level_frames)

    def process(self, row):
        from beam_pipelines import frame_stats, vmaf
        from beam_pipelines.media import keyframes, storage

        stage = "read"
        try:
            with storage.local_copy(row["uri"]) as path:
                stage = "decode"
                # Native size up to the model's cap (the same decode as scoring).
                kf = keyframes.decode_keyframes(
                    path, k=self.preprocessor.num_keyframes,
                    timeout_s=self.decode_timeout_s, **self.preprocessor.decode_options())
                if self.measure_artifacts and (row["blockiness"] is None or row["blur"] is None):
                    row = dict(row, **vmaf.no_reference(path, timeout_s=self.decode_timeout_s))
            stage = "preprocess"
            # What the model can see (brightness, colour, detail, motion, flat regions,
            # edges) for the describer, measured on the decoded key frames. Its float
            # `motion` replaces the catalog's motion-type column (only the describer reads it).
            row = dict(row, **frame_stats.measure(kf.frames[::kf.frames_per_key]))
            # A rung of a multi-size ladder: its patches as shown at the ladder's size.
            inputs = self.preprocessor.frame_inputs(
                kf.frames, display_height=row.get("display_height"))
        except Exception as e:  # noqa: BLE001 - every failure goes to the dead letter
            self.failed.inc()
            yield dead_letter.tagged(dead_letter.failure_from_exception(
                row["video_id"], row["uri"], e, dead_letter.stage_of(e, stage)))
            return
        self.ok.inc()
        yield dict(row, **inputs)


class Describe(beam.DoFn):
    """row -> row + description (annotator) + description_token_ids (preset tokenizer)."""

    def __init__(self, describer_name, model):
        self.describer_name = describer_name
        self.model = model

    def setup(self):
        from beam_pipelines import describer

        self.describer = describer.get(self.describer_name)
        self.tokenizer = load_preprocessor(self.model).tokenizer

    def process(self, row):
        import numpy as np

        text = self.describer.describe(row) or ""
        ids = np.asarray(self.tokenizer(text)).reshape(-1).tolist() if text else []
        yield dict(row, description=text, description_token_ids=ids)


class EncodeExample(beam.DoFn):
    """row -> (split, serialized tf.train.Example)."""

    def __init__(self, holdout_sources, holdout_fraction):
        self.holdout_sources = frozenset(holdout_sources)
        self.holdout_fraction = holdout_fraction

    def process(self, row):
        from beam_pipelines import records

        split = split_of(row["source_id"], self.holdout_sources, self.holdout_fraction)
        data = records.encode_example(
            video_id=row["video_id"],
            source_id=row["source_id"],
            crf=row["crf"],
            is_original=row["is_original"],
            label=row.get("mos"),
            vmaf=row.get("vmaf"),
            high_frames=row["high_frames"],
            low_patches=row["low_patches"],
            patch_mask=row["patch_mask"],
            description=row["description"],
            description_token_ids=row["description_token_ids"],
        )
        yield {
            "split": split,
            "source_id": row["source_id"],
            "video_id": row["video_id"],
            "is_original": row["is_original"],
            "data": data,
        }


def shard_of(source_id: str, num_shards: int) -> int:
    """The shard file a source's records go to (CRC-32: the same on every machine)."""
    return zlib.crc32(source_id.encode("utf-8")) % num_shards


class StageRecords(beam.DoFn):
    """example -> (shard, (video_id, staging file, offset)): the serialized example is
    appended to this bundle's TFRecord file in `staging_dir`, and only where it lies goes
    on. The grouping by shard then moves small tuples, never the records themselves (a
    grouped shard of large records, hundreds of MB to GBs, was silently cut short on the
    DirectRunner's multi_threading workers)."""

    def __init__(self, staging_dir: str, num_shards: int):
        self.staging_dir = staging_dir
        self.num_shards = num_shards

    def start_bundle(self):
        self._file = None

    def process(self, ex):
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.tfrecordio import _TFRecordUtil

        if self._file is None:
            self._path = FileSystems.join(self.staging_dir, f"{uuid.uuid4().hex}.tfrecord")
            self._file = FileSystems.create(
                self._path, compression_type=CompressionTypes.UNCOMPRESSED)
            self._offset = 0
        offset = self._offset
        _TFRecordUtil.write_record(self._file, ex["data"])
        self._offset += _TFRecordUtil.encoded_num_bytes(ex["data"])
        yield shard_of(ex["source_id"], self.num_shards), (ex["video_id"], self._path, offset)

    def finish_bundle(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    def teardown(self):
        if getattr(self, "_file", None) is not None:
            self._file.close()


class WriteShard(beam.DoFn):
    """(shard, [(video_id, staging file, offset) or None, ...]) -> the TFRecord file
    `PREFIX-SSSSS-of-NNNNN.tfrecord` with the shard's records, read back from the staging
    files of `StageRecords`, in video_id order (None: the marker that makes an empty
    shard's file exist). Written to a temp name, then renamed."""

    def __init__(self, prefix: str, num_shards: int):
        self.prefix = prefix
        self.num_shards = num_shards

    def process(self, element):
        import itertools

        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.tfrecordio import _TFRecordUtil  # the framing Beam writes

        shard, items = element
        items = sorted(x for x in items if x is not None)
        path = f"{self.prefix}-{shard:05d}-of-{self.num_shards:05d}.tfrecord"
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for staged, group in itertools.groupby(items, key=lambda x: x[1]):
                with FileSystems.open(
                        staged, compression_type=CompressionTypes.UNCOMPRESSED) as src:
                    for _video_id, _, offset in group:
                        src.seek(offset)
                        _TFRecordUtil.write_record(f, _TFRecordUtil.read_record(src))
        FileSystems.rename([tmp], [path])
        yield path


class _Counts(beam.CombineFn):
    """Examples/sources overall and per split."""

    def create_accumulator(self):
        return {s: [0, set()] for s in SPLITS}, 0

    def add_input(self, acc, ex):
        per, originals = acc
        per[ex["split"]][0] += 1
        per[ex["split"]][1].add(ex["source_id"])
        return per, originals + int(ex["is_original"])

    def merge_accumulators(self, accs):
        out, originals = self.create_accumulator()
        for per, o in accs:
            originals += o
            for s in SPLITS:
                out[s][0] += per[s][0]
                out[s][1] |= per[s][1]
        return out, originals

    def extract_output(self, acc):
        per, originals = acc
        return {
            "examples": sum(per[s][0] for s in SPLITS),
            "sources": len(set().union(*(per[s][1] for s in SPLITS))),
            "originals": originals,
            "splits": {
                s: {
                    "examples": per[s][0],
                    "sources": len(per[s][1]),
                    "source_ids": sorted(per[s][1]),
                }
                for s in SPLITS
            },
        }


def run(argv=None, test_pipeline=None):
    """Builds and runs the prepare pipeline; returns the PipelineResult."""
    opts, pipeline_args = parse_args(argv)
    options = PipelineOptions(pipeline_args)
    from cpllm_model import preset_registry

    paths = {"catalog": opts.catalog, "output_dir": opts.output_dir}
    if opts.model not in preset_registry.BUNDLED_PRESETS:  # they ship in the package
        paths["model"] = opts.model
    # Local paths on a runner whose workers are other machines: refused before anything.
    runner.check_paths(options, paths)
    catalog.check_catalog(opts.catalog)
    out = opts.output_dir
    holdout = parse_holdout_sources(opts.holdout_sources)
    if opts.max_patches < 0:
        raise ValueError(f"--max_patches must be >= 0, got {opts.max_patches}")
    patch_fill = parse_patch_fill(opts.patch_fill)
    for flag in ("low_level_frames", "high_level_frames"):
        if getattr(opts, flag) < 0:
            raise ValueError(f"--{flag} must be >= 0, got {getattr(opts, flag)}")
    preprocessor = records_preprocessor(opts.model, opts.max_patches, patch_fill,
                                        opts.low_level_frames,
                                        opts.high_level_frames)  # fail fast

    from beam_pipelines import records

    spec = records.RecordSpec.from_preprocessor(
        preprocessor, opts.max_description_tokens or int(preprocessor.sequence_length)
    )
    p = test_pipeline or beam.Pipeline(runner=runner.offline_runner(options), options=options)

    cat = p | "ReadCatalog" >> catalog.ReadCatalog(opts.catalog)
    extras = (
        p
        | "CatalogPathForExtras" >> beam.Create([opts.catalog])
        | "ReadExtraColumns" >> beam.FlatMap(_extras)
    )
    rows = (
        {
            "entries": cat.entries | "KeyEntries" >> beam.Map(lambda e: (e["video_id"], e)),
            "extras": extras,
        }
        | "JoinExtras" >> beam.CoGroupByKey()
        | "MergeExtras" >> beam.FlatMap(_merge)
        | "Reshuffle" >> beam.Reshuffle()
    )
    prepped = rows | "DecodeAndPreprocess" >> beam.ParDo(
        DecodeAndPreprocess(
            opts.model, opts.describer in ("auto", "generated"), opts.decode_timeout_s,
            max_patches=opts.max_patches, patch_fill=patch_fill,
            low_level_frames=opts.low_level_frames,
            high_level_frames=opts.high_level_frames,
        )
    ).with_outputs(dead_letter.FAILURES, main="rows")
    examples = (
        prepped.rows
        | "Describe" >> beam.ParDo(Describe(opts.describer, opts.model))
        | "EncodeExample" >> beam.ParDo(EncodeExample(holdout, opts.holdout_fraction))
    )
    by_split = examples | "PartitionBySplit" >> beam.Partition(
        lambda ex, n: SPLITS.index(ex["split"]), len(SPLITS)
    )
    n = opts.num_shards
    staging = outputs.staging_dir(out, outputs.new_run_id())
    for name, pcoll in zip(SPLITS, by_split):
        prefix = FileSystems.join(out, name, "data")
        if not n:
            _ = (
                pcoll
                | f"Serialized_{name}" >> beam.Map(lambda ex: ex["data"])
                | f"Write_{name}"
                >> beam.io.WriteToTFRecord(prefix, file_name_suffix=".tfrecord")
            )
            continue
        empty = p | f"EveryShard_{name}" >> beam.Create([(i, None) for i in range(n)])
        _ = (
            (
                pcoll
                | f"StageRecords_{name}"
                >> beam.ParDo(StageRecords(FileSystems.join(staging, name), n)),
                empty,
            )
            | f"WithEmptyShards_{name}" >> beam.Flatten()
            | f"GroupByShard_{name}" >> beam.GroupByKey()
            | f"Write_{name}" >> beam.ParDo(WriteShard(prefix, n))
        )
    failures = (cat.failures, prepped.failures) | "AllFailures" >> beam.Flatten()
    _ = tables.write_parquet(  # snappy, one shard: a small table (issue 14 item 17)
        failures, FileSystems.join(out, "failures", "failures"), schemas.FAILURES_SCHEMA,
        label="WriteFailures", num_shards=1,
    )
    n_failures = failures | "CountFailures" >> beam.combiners.Count.Globally()
    header = {
        "format_version": records.FORMAT_VERSION,
        "spec": spec.to_dict(),
        "model": opts.model,
        "catalog": opts.catalog,
        "describer": opts.describer,
        "holdout_sources": holdout,
        "holdout_fraction": opts.holdout_fraction,
    }
    _ = (
        examples
        | "CountExamples" >> beam.CombineGlobally(_Counts())
        | "ManifestJson"
        >> beam.Map(
            lambda counts, nf: json.dumps(
                dict(header, **counts, failures=nf), indent=1, sort_keys=True
            ),
            nf=beam.pvalue.AsSingleton(n_failures),
        )
        | "WriteManifest"
        >> beam.io.WriteToText(
            FileSystems.join(out, "manifest"), file_name_suffix=".json", shard_name_template=""
        )
    )

    # Same rule as score: earlier shards go once the pipeline is built, so a re-run with
    # another --num_shards leaves only this run's shards (and its manifest) in DIR.
    outputs.clear_previous(out, OUTPUTS)
    result = p.run()
    result.wait_until_finish()
    if result.state == PipelineState.DONE:
        remove_staging(out)
    return result


def remove_staging(output_dir: str) -> None:
    """Deletes OUTPUT_DIR/_staging/: this run's staged records and any a failed run left."""
    root = FileSystems.join(output_dir, outputs.STAGING)
    if "://" not in root:
        shutil.rmtree(root, ignore_errors=True)
        return
    staged = [m.path for m in FileSystems.match([root + "/**"])[0].metadata_list]
    if staged:  # object stores have no directories to remove
        FileSystems.delete(staged)


def _count_file(path: str, size: int) -> int:
    """Records in one uncompressed TFRecord file of `size` bytes, from their 12-byte
    headers (length, its checksum) alone: the data is skipped. ValueError when damaged."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.tfrecordio import _TFRecordUtil

    n = pos = 0
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        while pos < size:
            f.seek(pos)
            header = f.read(12)
            if len(header) < 12 or _TFRecordUtil._masked_crc32c(header[:8]) != int.from_bytes(
                    header[8:], "little"):
                raise ValueError(f"{path}: no valid TFRecord header at byte {pos}")
            pos += 16 + int.from_bytes(header[:8], "little")
            n += 1
    if pos != size:
        raise ValueError(f"{path}: the last record is cut short ({size} of {pos} bytes)")
    return n


def count_records(output_dir: str) -> dict:
    """{split: number of records in DIR/<split>/*.tfrecord}, read from the record headers
    alone (local or gs://). Raises ValueError on a damaged file."""
    counts = {}
    for split in SPLITS:
        match = FileSystems.match([FileSystems.join(output_dir, split, "*.tfrecord")])[0]
        counts[split] = sum(_count_file(m.path, m.size_in_bytes) for m in match.metadata_list)
    return counts


def verify(output_dir: str) -> dict:
    """Checks the records on disk against manifest.json's per-split counts.

    Raises RuntimeError on a mismatch or a damaged file; returns the counts.
    """
    with FileSystems.open(FileSystems.join(output_dir, "manifest.json")) as f:
        manifest = json.loads(f.read().decode())
    expected = {s: manifest["splits"][s]["examples"] for s in SPLITS}
    advice = (f"Do not train on {output_dir}: run prepare again into it (the run replaces "
              "every shard and the manifest) and report it if this happens again.")
    try:
        counts = count_records(output_dir)
    except ValueError as e:
        raise RuntimeError(f"damaged TFRecord file: {e}. {advice}") from e
    if counts != expected:
        lost = ", ".join(f"{s}: {counts[s]} records in the files, {expected[s]} counted"
                         for s in SPLITS if counts[s] != expected[s])
        raise RuntimeError(
            f"the shard files in {output_dir} do not hold the examples manifest.json "
            f"counts ({lost}). {advice}")
    return counts


def main(argv=None):
    logging.getLogger().setLevel(logging.INFO)
    run(argv)
    opts, _ = parse_args(argv)
    counts = verify(opts.output_dir)
    logging.getLogger(__name__).info("the shard files hold every example counted: %s", counts)


if __name__ == "__main__":
    # Run the importable module, not __main__: DoFns pickled from __main__ look up
    # their module's globals in the worker's __main__, which lacks them
    # (multi_processing workers, Dataflow).
    from beam_pipelines import prepare as _pipeline  # noqa: PLW0406
    _pipeline.main()
