r"""Batch video-quality scoring: catalog in, quality tables out.

    python -m beam_pipelines.score --catalog catalog.csv --output_dir out/ \
        [--model cpllm_tiny] [--describe] [--num_keyframes K] [--segment_seconds N] \
        [--display_height H] \
        [--bigquery_dataset PROJECT:DATASET] [Beam options, e.g. \
        --direct_running_mode=multi_processing --direct_num_workers=2]

Pipeline (every catalog row ends in exactly one of scores / failures):

    ReadCatalog -> DecodeKeyframes -> RunInference(KerasCPLLMHandler) -> ToScoreRow
         |               |                    |                            |
         +---------------+---- failures ------+----------------------------+
    score rows -> FlipRate -> flip_rate
               -> RateQuality -> scores (with on_hull), ladder_summary, ladder_advice,
                                 failures (stage "ladder": ladders not summarised)

Writes OUTPUT_DIR/scores-*.parquet, failures-*.parquet, flip_rate-*.parquet,
ladder_summary-*.parquet and ladder_advice-*.parquet (and the same tables in BigQuery
with --bigquery_dataset), every row with the run's `run_id`. The run writes into
OUTPUT_DIR/_staging/RUN_ID/; only after the job succeeded are the previous shards of
these tables in OUTPUT_DIR replaced by the new ones, so a failed job leaves the earlier
tables intact and a re-run never leaves duplicates. See docs/PIPELINE.md.
"""
import argparse
import collections
import logging
import sys

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    SetupOptions,
)
from apache_beam.runners.runner import PipelineState

from beam_pipelines import (
    bigquery_sink,
    catalog,
    dead_letter,
    decode_limits,
    dofns,
    flip_rate,
    inference,
    ladder_consistency,
    outputs,
    rate_quality,
    runner,
    schemas,
    segments,
    tables,
)

if __name__ == "__main__":
    # `python -m beam_pipelines.score`: run the importable module, not __main__, and
    # before __main__ defines ScoreOptions: two PipelineOptions subclasses that both add
    # --catalog make every options parse fail ("conflicting option string"), and DoFns
    # pickled from __main__ look up their globals in a worker's __main__, which lacks them.
    from beam_pipelines import score as _pipeline  # noqa: PLW0406

    sys.exit(_pipeline.main())

_LOG = logging.getLogger("cpllm.pipeline")
TABLE_NAMES = ("scores", "failures", "flip_rate", "ladder_summary", "ladder_advice")
BIGQUERY_METHODS = bigquery_sink.METHODS
SHARE_MODEL_MIN_BYTES = 1 << 30  # --share_model_across_processes auto: larger presets share
RESHUFFLE_CHOICES = ("auto", "yes", "no")  # --reshuffle_decoded


ConfigError = runner.ConfigError  # flags that cannot work together (before the pipeline starts)
PAPER_PRESET = "cpllm_paper"


class ScoreOptions(PipelineOptions):
    """Options of the scoring pipeline (Beam's own options are accepted too)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--catalog",
            help="Video catalog: CSV, JSONL or Parquet, local path or gs://. Columns "
            "video_id, uri (required); source_id, crf, mos, description, bitrate_kbps, "
            "ladder_id (optional). Relative uris are resolved against the catalog's directory.",
        )
        parser.add_argument(
            "--output_dir",
            help="Directory (local or gs://) for scores-*.parquet, failures-*.parquet, "
            "flip_rate-*.parquet, ladder_summary-*.parquet and ladder_advice-*.parquet. "
            "Earlier shards of these tables are replaced.",
        )
        parser.add_argument(
            "--target_scores",
            default=",".join(f"{t:g}" for t in rate_quality.DEFAULT_TARGETS),
            help="Comma-separated target scores of the ladder_advice table: per ladder "
            "(source_id x ladder_id) and target, the cheapest rung (lowest bitrate) whose "
            "score is >= the target and its bitrate saving against the highest-bitrate "
            "rung; a target no rung meets gets a row with met = false (default: "
            + ",".join(f"{t:g}" for t in rate_quality.DEFAULT_TARGETS) + ").",
        )
        parser.add_argument(
            "--model",
            default="cpllm_tiny",
            help="CP-LLM preset: the bundled cpllm_tiny (default) or a trained preset "
            "directory, local or gs:// (e.g. trainer.train --export_preset DIR). "
            "cpllm_paper is refused: its score head is untrained; train it first. With a "
            "non-local runner use gs:// directories.",
        )
        parser.add_argument(
            "--ladder_detail_weight",
            type=float,
            default=None,
            help="beta of the ladder-consistency step: each rendition's score is read "
            "against the other rungs of its ladder (source_id x ladder_id) by its fine "
            "detail relative to the ladder's mean (beam_pipelines.ladder_consistency; "
            "score_alone keeps the model's score of the video alone). Default: the "
            "preset's fitted ladder_detail_weight; 0 turns the step off.",
        )
        parser.add_argument(
            "--describe",
            action="store_true",
            help="Also generate a text description per video with the decoder (slower; "
            "uses --describe_batch_size).",
        )
        parser.add_argument(
            "--num_keyframes",
            type=int,
            default=None,
            help="Key frames per video K (default: the model's num_keyframes). The "
            "score is the mean of per-frame scores, so any K scores with any preset "
            "(cost grows with K); --describe keeps the model's own K.",
        )
        parser.add_argument(
            "--segment_seconds",
            type=float,
            default=None,
            help="Score videos longer than N seconds by segment: each N-second segment "
            "on its own K key frames (decoded one segment at a time, memory flat); the "
            "video's score is the mean of its segment scores, the worst segment is given "
            "apart (segment_scores, worst_segment_start_s, ... in the scores table). "
            "Shorter videos are scored whole (null segment columns). Default: off, every "
            "video scored whole. Not with --describe.",
        )
        parser.add_argument(
            "--display_height",
            type=int,
            default=None,
            help="Score every video as shown at this height (e.g. 1080, the largest rung "
            "of a multi-size ladder): a shorter rendition's frames are enlarged to it "
            "(bilinear, aspect kept) before the model's patches are cut, so a 360p rung "
            "is judged by the upscaled picture a viewer sees, as VMAF at display size "
            "judges it. A model must be trained for it: the bundled cpllm_tiny was not, and "
            "ranks mixed sizes no better this way (README). A catalog's display_height "
            "column wins per row. Default: each video at its own size (compare rungs of "
            "one size only).",
        )
        parser.add_argument(
            "--max_batch_size",
            type=int,
            default=4,
            help="Videos per inference batch; every batch is padded to this size so the "
            "model compiles once (default: 4).",
        )
        parser.add_argument(
            "--describe_batch_size",
            type=int,
            default=2,
            help="Batch size used instead of --max_batch_size with --describe (default: 2).",
        )
        parser.add_argument(
            "--max_new_tokens",
            type=int,
            default=64,
            help="Maximum description length in tokens with --describe (default: 64).",
        )
        parser.add_argument(
            "--max_attempts",
            type=int,
            default=3,
            help="Tries per video on transient (non-media) errors such as an OSError "
            "while reading, before it becomes a failure row (default: 3).",
        )
        parser.add_argument(
            "--decode_timeout_s",
            type=float,
            default=120.0,
            help="Timeout of each ffmpeg call while decoding one video (default: 120).",
        )
        parser.add_argument(
            "--max_side",
            type=int,
            default=None,
            help="Frames with a longer side above this are downscaled by ffmpeg while "
            "decoding (bounds memory on 8K input; default: the model preprocessor's "
            "decode_max_side(), i.e. native size up to low_level_max_side, the same "
            "decode as prepare).",
        )
        parser.add_argument(
            "--model_dtype",
            default=None,
            choices=("float32", "bfloat16"),
            help="Compute dtype of the model (default: the preset's, float32). On CPUs "
            "with AMX, bfloat16 under KERAS_BACKEND=tensorflow was the fastest paper-size "
            "score path measured (BENCHMARKS.md); JAX stays the default backend. Scores "
            "move by a few points (up to 2.7 measured for the bundled cpllm_tiny).",
        )
        parser.add_argument(
            "--max_concurrent_decodes",
            type=int,
            default=2,
            help="Videos read and decoded at once per worker process (each may hold a "
            "temp copy of a gs:// video on the worker's disk; default: 2).",
        )
        parser.add_argument(
            "--decoder_threads",
            type=int,
            default=None,
            help="ffmpeg decoder threads per input (default: the worker's cores // "
            "--max_concurrent_decodes).",
        )
        parser.add_argument(
            "--reshuffle_decoded",
            choices=RESHUFFLE_CHOICES,
            default="auto",
            help="A Reshuffle between decoding and inference, so that the runner scales "
            "the two steps apart and batches form across workers. auto (default): yes on "
            "runners whose workers are other machines (Dataflow), no on the local runners, "
            "where the Reshuffle holds every decoded video in memory until all are decoded "
            "(about 19 MB a video for the bundled model: 1,000 renditions need some 20 GB).",
        )
        parser.add_argument(
            "--inference_min_ram",
            default=None,
            help="Beam resource hint min_ram for the RunInference step only, e.g. 16GB "
            "(runners that honour hints, e.g. Dataflow, give that step a machine with "
            "that much memory; default: none).",
        )
        parser.add_argument(
            "--inference_accelerator",
            default=None,
            help="Beam resource hint accelerator for the RunInference step only, e.g. "
            "'type:nvidia-l4;count:1;install-nvidia-driver' (Dataflow right fitting; "
            "default: none, the step runs on the job's workers).",
        )
        parser.add_argument(
            "--share_model_across_processes",
            nargs="?",
            const="true",
            default="auto",
            choices=("auto", "true", "false"),
            help="One model per machine instead of one per worker process (Beam's "
            "multi_process_shared). auto (default): shared when --inference_accelerator "
            f"is set or the preset's weights reach {SHARE_MODEL_MIN_BYTES >> 30} GiB (a "
            "~3B preset would otherwise be loaded by every process); the flag alone: true.",
        )
        parser.add_argument(
            "--progress_every",
            type=int,
            default=10,
            help="Log a progress line every N videos per worker (0: never; default 10).",
        )
        parser.add_argument(
            "--bigquery_dataset",
            default=None,
            help="Also write the five tables to BigQuery dataset PROJECT:DATASET.",
        )
        parser.add_argument(
            "--bigquery_method",
            default=bigquery_sink.DEFAULT_METHOD,
            choices=BIGQUERY_METHODS,
            help="BigQuery write method (default FILE_LOADS: each run replaces the tables, "
            "an empty table included; needs --bigquery_temp_location or --temp_location). "
            "STREAMING_INSERTS appends: read the DATASET.<table>_latest views, which show "
            "the newest completed run's rows once each (see docs/PIPELINE.md).",
        )
        parser.add_argument(
            "--bigquery_temp_location",
            default=None,
            help="gs:// directory for FILE_LOADS temp files (default: Beam's "
            "--temp_location). A local directory works with emulators only and turns off "
            "Beam's up-front validation.",
        )


def _parse(argv):
    """Parses our flags with a real argparse parser (so --help lists them)."""
    parser = argparse.ArgumentParser(
        prog="python -m beam_pipelines.score",
        description="Score every video of a catalog with CP-LLM on Apache Beam and write "
        "scores, failures, flip-rate, ladder-summary and ladder-advice tables.",
        epilog="Any Beam pipeline option is accepted as well, e.g. --runner "
        "(default: an offline DirectRunner that never downloads Prism), "
        "--direct_running_mode={in_memory,multi_threading,multi_processing}, "
        "--direct_num_workers=N, and for Dataflow --project, --region, "
        "--temp_location, --setup_file, --sdk_container_image, --dataflow_service_options"
        "=worker_accelerator=... (see docs/PIPELINE.md).",
    )
    ScoreOptions._add_argparse_args(parser)
    known, _ = parser.parse_known_args(argv)
    if not known.catalog or not known.output_dir:
        parser.error("--catalog and --output_dir are required")
    return known


def _with_run_id(row, run_id):
    return dict(row, run_id=run_id)


def clear_previous_outputs(output_dir):
    """Deletes earlier shards (and leftover Beam temp dirs) of our tables."""
    outputs.clear_previous(output_dir, [(name, ".parquet", True) for name in TABLE_NAMES])


def _write_parquet(pcoll, output_dir, name):
    # Snappy; every table but scores is small: one shard (issue 14 item 17).
    return tables.write_parquet(
        pcoll, FileSystems.join(output_dir, name), schemas.TABLES[name][0],
        label=f"Write_{name}_Parquet", num_shards=0 if name == "scores" else 1,
    )


def _write_bigquery(pcoll, opts, name):
    """DATASET.name with --bigquery_method (beam_pipelines/bigquery_sink.py)."""
    try:
        bigquery_sink.split_dataset(opts.bigquery_dataset)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    file_loads = opts.bigquery_method == "FILE_LOADS"
    temp = opts.bigquery_temp_location or pcoll.pipeline.options.view_as(
        GoogleCloudOptions).temp_location
    if file_loads and not temp:
        raise ConfigError("--bigquery_method FILE_LOADS needs --bigquery_temp_location or "
                          "--temp_location (gs:// on Dataflow)")
    rows = pcoll | f"ToBigQueryRow_{name}" >> beam.Map(schemas.to_bigquery_row)
    # Beam insists on a gs:// temp location; a local one (emulators, local runners
    # only: check_config refuses it on others) skips that validation.
    return bigquery_sink.write(
        rows, opts, name, schemas.TABLES[name][1],
        local_validation_off=file_loads and runner.runs_on_this_machine(opts)
        and runner.runs_on_this_machine(pcoll.pipeline.options) and runner.is_local_path(temp))


def model_preprocessing(preset):
    """(FrameInputs, default K, default max_side) of a preset, without its weights.

    max_side is the preprocessor's `decode_max_side()` (= `low_level_max_side`): frames
    are decoded at native size up to that cap, never pre-scaled to S, so scoring feeds
    `frame_inputs` exactly what `prepare` does.
    """
    frame_inputs = dofns.FrameInputs(preset)
    pre = frame_inputs.preprocessor()
    k = getattr(pre, "num_keyframes", None) or 8
    side = pre.decode_max_side() if hasattr(pre, "decode_max_side") else None
    return frame_inputs, int(k), (int(side) if side else None)


def inference_hints(opts):
    """Beam resource hints of the RunInference step: only those asked for."""
    hints = {}
    if opts.inference_min_ram:
        hints["min_ram"] = opts.inference_min_ram
    if opts.inference_accelerator:
        hints["accelerator"] = opts.inference_accelerator
    return hints


def reshuffles_decoded(opts, options) -> bool:
    """Whether `build` puts a Reshuffle between decoding and inference
    (`--reshuffle_decoded`; auto: only where the workers are other machines)."""
    if opts.reshuffle_decoded == "auto":
        return not runner.runs_on_this_machine(options)
    return opts.reshuffle_decoded == "yes"


def share_model(opts):
    """Whether RunInference keeps one model per machine (`--share_model_across_processes`;
    auto: on an accelerator, or for a preset of SHARE_MODEL_MIN_BYTES of weights or more)."""
    from cpllm_model import preset_io

    choice = opts.share_model_across_processes
    if choice != "auto":
        return choice == "true"
    if opts.inference_accelerator:
        return True
    size = preset_io.weights_bytes(opts.model)
    return size is not None and size >= SHARE_MODEL_MIN_BYTES


def inference_step(handler, opts):
    step = RunInference(handler).with_exception_handling(exc_class=inference.DEAD_LETTER_ERRORS)
    hints = inference_hints(opts)
    return step.with_resource_hints(**hints) if hints else step


def build(p, opts):
    """Adds the scoring pipeline to `p`; returns {table name: PCollection of rows}."""
    frame_inputs, default_k, default_side = model_preprocessing(opts.model)
    if opts.num_keyframes is not None and opts.num_keyframes < 1:
        raise ConfigError(f"--num_keyframes must be >= 1, got {opts.num_keyframes}")
    if opts.describe and opts.num_keyframes and opts.num_keyframes != default_k:
        # Scores are a mean of per-frame scores (any K); the decoder was trained on the
        # vision prefix of K = default_k frames, so descriptions keep that K.
        raise ConfigError(f"--describe reads the model's K = {default_k} key frames; "
                          f"--num_keyframes {opts.num_keyframes} is for scoring only")
    if opts.max_concurrent_decodes < 1 or (opts.decoder_threads is not None
                                           and opts.decoder_threads < 1):
        raise ConfigError("--max_concurrent_decodes and --decoder_threads must be >= 1")
    try:
        targets = rate_quality.parse_targets(opts.target_scores)
    except ValueError as e:
        raise ConfigError(f"--target_scores: {e}") from None
    ladder_weight = opts.ladder_detail_weight
    if ladder_weight is None:
        from cpllm_model import preset_io

        ladder_weight = preset_io.task_config(opts.model).get("ladder_detail_weight", 0.0)
    if not (ladder_weight >= 0 and ladder_weight < float("inf")):
        raise ConfigError(f"--ladder_detail_weight must be a finite number >= 0, got "
                          f"{ladder_weight}")
    try:  # long videos by segment (beam_pipelines/segments.py)
        segment_seconds = segments.check_segment_seconds(opts.segment_seconds)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if opts.display_height is not None:
        try:
            catalog.display_height(opts.display_height, "--display_height")
        except catalog.RowError as e:
            raise ConfigError(str(e)) from None
    if segment_seconds is not None and opts.describe:
        raise ConfigError("--segment_seconds scores long videos by segment; --describe "
                          "describes a video's K key frames as one clip: use one or the other")
    k = opts.num_keyframes or default_k
    if k != default_k:
        frame_inputs = dofns.FrameInputs(opts.model, num_keyframes=k)
    batch_size = opts.describe_batch_size if opts.describe else opts.max_batch_size
    handler = KeyedModelHandler(
        inference.KerasCPLLMHandler(
            opts.model,
            max_batch_size=batch_size,
            describe=opts.describe,
            max_new_tokens=opts.max_new_tokens,
            share_across_processes=share_model(opts),
            dtype=opts.model_dtype,
        )
    )
    cat = p | "ReadCatalog" >> catalog.ReadCatalog(opts.catalog)
    decoded = cat.entries | "DecodeKeyframes" >> beam.ParDo(
        dofns.DecodeKeyframes(
            frame_inputs,
            k,
            max_side=opts.max_side or default_side,
            timeout_s=opts.decode_timeout_s,
            max_attempts=opts.max_attempts,
            progress_every=opts.progress_every,
            segment_seconds=segment_seconds,
            display_height=opts.display_height,
            # At most --max_concurrent_decodes videos (temp copies, ffmpeg processes) at
            # once per worker process, --decoder_threads each (issue 14 item 16).
            reader=decode_limits.BoundedReader(
                dofns.default_reader, opts.max_concurrent_decodes, opts.decoder_threads),
            segment_opener=decode_limits.BoundedReader(
                dofns.default_segment_opener, opts.max_concurrent_decodes,
                opts.decoder_threads),
        )
    ).with_outputs(dead_letter.FAILURES, segments.PLANS, main="decoded")
    # Decoding (CPU) and inference (model memory, accelerator) are separate stages: the
    # Reshuffle breaks their fusion, so batches form across workers and the runner
    # scales the two steps (and the inference hints) apart (issue 14 item 16). Local
    # runners materialise it, every decoded video at once: there decoding fuses with
    # inference and memory stays flat.
    spread = decoded.decoded
    if reshuffles_decoded(opts, p.options):
        spread = spread | "ReshuffleDecoded" >> beam.Reshuffle()
    predictions, inference_errors = spread | "RunInference" >> inference_step(handler, opts)
    scored = predictions | "ToScoreRow" >> beam.ParDo(dofns.ToScoreRow()).with_outputs(
        dead_letter.FAILURES, segments.RESULTS, main="scores"
    )
    failed_batches = inference_errors.failed_inferences | "FailedBatches" >> beam.FlatMap(
        dofns.inference_failure_rows
    ).with_outputs(segments.RESULTS, main=dead_letter.FAILURES)
    batch_failures = failed_batches.failures
    score_rows, segment_failures = scored.scores, []
    if segment_seconds is not None:
        # Segments were scored as K-frame batch items: one row per video again.
        joined = (decoded[segments.PLANS], scored[segments.RESULTS],
                  failed_batches[segments.RESULTS]) | "JoinSegments" >> segments.JoinSegments()
        score_rows = (scored.scores, joined[segments.SCORES]) | "AllScoreRows" >> beam.Flatten()
        segment_failures = [joined[dead_letter.FAILURES]]
    score_rows = score_rows | "LadderConsistency" >> ladder_consistency.LadderConsistency(
        ladder_weight)
    # Rungs from the catalog's ladder, so a failed rendition does not shift rung_diff.
    flips = score_rows | "FlipRate" >> flip_rate.FlipRate(ladder=cat.entries)
    # Per (source_id, ladder_id): the rate-quality hull (on_hull in the scores rows), the
    # ladder summary and advice; a ladder that cannot be summarised is a failure row.
    rq = score_rows | "RateQuality" >> rate_quality.RateQuality(targets)
    failures = (
        cat.failures,
        decoded[dead_letter.FAILURES],
        scored[dead_letter.FAILURES],
        batch_failures,
        *segment_failures,
        rq[dead_letter.FAILURES],
    ) | "AllFailures" >> beam.Flatten()
    return {
        "scores": rq["scores"],
        "failures": failures,
        "flip_rate": flips,
        "ladder_summary": rq[rate_quality.SUMMARY],
        "ladder_advice": rq[rate_quality.ADVICE],
    }


def summarize(output_dir):
    """Counts from the written tables: {"scored", "failed", "failed_by_stage", ...}.

    "failed" and "failed_by_stage" count catalog rows (scored + failed = catalog rows);
    "ladders_failed" counts the failure rows at stage "ladder" (one per ladder that could
    not be summarised), "ladders" the ladder_summary rows."""
    scored = len(tables.read_table(output_dir, "scores", ["video_id"]))
    stages = collections.Counter(r["stage"] for r in tables.read_table(output_dir, "failures", ["stage"]))
    # Ladder failures are per ladder, not per catalog row: counted apart.
    ladders_failed = stages.pop(schemas.LADDER_STAGE, 0)
    flips = tables.read_table(output_dir, "flip_rate")
    overall = [
        r
        for r in flips
        if r["source_id"] == schemas.ALL_SOURCES and r["level"] == schemas.LEVEL_PAIR
    ]
    pairs = sum(r["pairs"] for r in overall)
    return {
        "scored": scored,
        "failed": sum(stages.values()),
        "failed_by_stage": dict(sorted(stages.items())),
        "flip_rate_rows": len(flips),
        "ladder_pairs": pairs,
        "flip_rate": (sum(r["flips"] for r in overall) / pairs) if pairs else None,
        "ladders": len(tables.read_table(output_dir, "ladder_summary", ["source_id"])),
        "ladders_failed": ladders_failed,
        "advice_rows": len(tables.read_table(output_dir, "ladder_advice", ["met"])),
    }


def pipeline_metrics(result):
    """Our Beam counters and distributions: {"videos_read": n, ..., "batch_size": {...}}."""
    out = {}
    try:
        queried = result.metrics().query()
    except Exception as e:  # noqa: BLE001 - a runner without metrics must not fail the run
        _LOG.warning("metrics unavailable: %s", e)
        return out
    for counter in queried.get("counters", []):
        if counter.key.metric.namespace.startswith("cpllm"):
            name = counter.key.metric.name
            out[name] = out.get(name, 0) + (counter.committed or counter.attempted or 0)
    for dist in queried.get("distributions", []):
        if dist.key.metric.namespace.startswith("cpllm"):
            d = dist.committed or dist.attempted
            if d is not None and d.count:
                out[dist.key.metric.name] = {"count": d.count, "mean": d.sum / d.count,
                                             "min": d.min, "max": d.max}
    return out


def _print_summary(output_dir, summary):
    stages = ", ".join(f"{k}: {v}" for k, v in summary["failed_by_stage"].items()) or "none"
    total = summary["scored"] + summary["failed"]
    print(
        f"[score] {total} catalog rows: {summary['scored']} scored, {summary['failed']} "
        f"failed ({stages}); flip rate "
        + (
            f"{summary['flip_rate']:.3f} over {summary['ladder_pairs']} ladder pairs"
            if summary["flip_rate"] is not None
            else "n/a (no ladder pairs)"
        )
        + f"; {summary.get('ladders', 0)} ladders summarised"
        + (f" ({summary['ladders_failed']} not: failures stage ladder)"
           if summary.get("ladders_failed") else "")
        + f"; tables in {output_dir}",
        flush=True,
    )
    m = summary.get("metrics") or {}
    if m:
        batch = m.get("batch_size") or {}
        print(
            f"[score] metrics: videos read {m.get('videos_read', 0)}, decoded "
            f"{m.get('videos_decoded', 0)}, scored {m.get('videos_scored', 0)}, frames "
            f"decoded {m.get('frames_decoded', 0)}, retries {m.get('retries', 0)}"
            + (f", segments {m['segments_decoded']}" if m.get("segments_decoded") else "")
            + (f", inference batches {batch['count']} (mean size {batch['mean']:.2f})"
               if batch else ""),
            flush=True,
        )


def check_config(options):
    """Raises ConfigError for flags that cannot work, before anything is read or built.

    - `--model cpllm_paper`: the paper's architecture assembled from keras-hub presets
      with an untrained, unseeded score head (different in every process), downloaded
      from Kaggle by every worker: its scores mean nothing. Train it and pass the trained
      preset directory.
    - With a runner whose workers are other machines (anything but DirectRunner,
      FnApiRunner, PrismRunner): local --catalog, --output_dir, --model directory,
      --temp_location, --staging_location or --bigquery_temp_location.
    """
    from cpllm_model import preset_registry

    opts = options.view_as(ScoreOptions)
    if str(opts.model).strip() == PAPER_PRESET:
        raise ConfigError(
            f"--model {PAPER_PRESET} cannot score: it is the paper's untrained architecture "
            "(keras-hub presets downloaded from Kaggle on every worker, with an untrained, "
            "unseeded score head, so scores are meaningless and differ per process). Train "
            "it (python -m trainer.train --config trainer/configs/cpllm_paper.py --workdir "
            "DIR --export_preset PRESET_DIR) and pass the trained preset directory: "
            "--model PRESET_DIR (local or gs://)."
        )
    paths = {"catalog": opts.catalog, "output_dir": opts.output_dir,
             "bigquery_temp_location": opts.bigquery_temp_location}
    if opts.model not in preset_registry.BUNDLED_PRESETS:  # they ship in the package
        paths["model"] = opts.model
    runner.check_paths(options, paths)


def run(argv=None, test_pipeline=None):
    """Builds and runs the pipeline; returns the summary dict (see `summarize`)."""
    known = _parse(argv)
    options = PipelineOptions(argv)
    check_config(options)  # before the catalog is read or any job is built
    catalog.check_catalog(known.catalog)  # a catalog that is not a table fails here
    options.view_as(SetupOptions).save_main_session = False
    opts = options.view_as(ScoreOptions)
    p = test_pipeline or beam.Pipeline(runner=runner.offline_runner(options), options=options)
    table_pcolls = build(p, opts)  # flag errors surface here, before anything is deleted
    # Each run writes into its own staging directory; the earlier tables are replaced
    # only after the job succeeded (issue 14 item 12). Every row carries the run_id.
    run_id = outputs.new_run_id()
    staging = outputs.staging_dir(opts.output_dir, run_id)
    for name, pcoll in table_pcolls.items():
        pcoll = pcoll | f"RunId_{name}" >> beam.Map(_with_run_id, run_id)
        _write_parquet(pcoll, staging, name)
        if opts.bigquery_dataset:
            _write_bigquery(pcoll, opts, name)
    result = p.run()
    state = result.wait_until_finish() or result.state
    if state != PipelineState.DONE:  # runners that report failure without raising
        raise RuntimeError(f"scoring run {run_id} ended in state {state}; the tables in "
                           f"{opts.output_dir} were left as they were")
    outputs.publish(staging, opts.output_dir, [(n, ".parquet", True) for n in TABLE_NAMES])
    if opts.bigquery_dataset:
        # Only a completed job is recorded: the <table>_latest views show its rows.
        bigquery_sink.record_run(opts.bigquery_dataset, run_id, opts.bigquery_method,
                                 catalog=opts.catalog, output_dir=opts.output_dir)
        bigquery_sink.create_latest_views(
            opts.bigquery_dataset, {n: schemas.TABLES[n][1] for n in TABLE_NAMES})
    summary = summarize(opts.output_dir)
    summary["run_id"] = run_id
    summary["metrics"] = pipeline_metrics(result)
    _print_summary(opts.output_dir, summary)
    return summary


def main(argv=None):
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("cpllm").setLevel(logging.INFO)
    try:
        run(argv)
    except (catalog.CatalogError, ConfigError) as e:
        print(f"[score] error: {e}", file=sys.stderr)
        return 2
    return 0

