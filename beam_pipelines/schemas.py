"""Table schemas of the scoring pipeline: pyarrow (Parquet) and BigQuery.

Five tables (contracts in docs/INTERFACES.md "Tables" and docs/PIPELINE.md):

- scores: one row per scored video (`on_hull`: on its ladder's rate-quality hull).
- failures: the dead letter, one row per catalog row that could not be scored, and one
  per ladder that could not be summarised (stage "ladder", video_id and uri null).
- flip_rate: per-ladder aggregates; `level` is "pair" (one CRF pair) or "rung_diff"
  (all pairs `rung_diff` rungs apart); `source_id` is "*" for the all-sources rows.
- ladder_summary: one row per (source_id, ladder_id): rungs, bitrate and score range,
  adjacent-CRF flips, convex-hull rungs (beam_pipelines/rate_quality.py).
- ladder_advice: one row per (source_id, ladder_id, target score): the cheapest rung
  whose score meets the target, or met = false.

and the BD-rate table of `beam_pipelines.bdrate` (written from scores tables, not by the
scoring pipeline; see docs/EVALUATION.md).

The pyarrow and BigQuery schemas are derived from one column list so they cannot drift.
Row dicts use plain Python types (str, int, float, list, datetime) so they serialise in
both sinks; `to_bigquery_row` turns timestamps into the ISO strings BigQuery expects.
"""

import datetime

import pyarrow as pa

# Where a scores row's bitrate_kbps comes from (see dofns.rendition_bitrate).
BITRATE_SOURCES = ("stream", "container", "file_size", "catalog")

# Failure stages, in pipeline order. The first six are per catalog row (every catalog row
# is in exactly one of scores and those failures); "ladder" is per (source_id, ladder_id)
# that cannot be summarised (rate_quality), its rows are also in the scores table.
VIDEO_STAGES = ("catalog", "read", "probe", "decode", "preprocess", "inference")
LADDER_STAGE = "ladder"
STAGES = VIDEO_STAGES + (LADDER_STAGE,)

# Flip-rate aggregation levels and the source_id of the all-sources rows.
LEVEL_PAIR = "pair"
LEVEL_RUNG_DIFF = "rung_diff"
ALL_SOURCES = "*"

# (name, arrow type, BigQuery type, BigQuery mode, description)
_TS = pa.timestamp("us", tz="UTC")
_SCORES = [
    ("video_id", pa.string(), "STRING", "REQUIRED", "Catalog video_id (unique)."),
    ("uri", pa.string(), "STRING", "REQUIRED", "Video location as given in the catalog."),
    ("source_id", pa.string(), "STRING", "NULLABLE", "Ladder source (title), if any."),
    ("crf", pa.int64(), "INT64", "NULLABLE", "Ladder rung (CRF), if any."),
    (
        "ladder_id",
        pa.string(),
        "STRING",
        "NULLABLE",
        "Encoder/configuration that made the rendition (catalog; default source_id).",
    ),
    (
        "bitrate_kbps",
        pa.float64(),
        "FLOAT64",
        "NULLABLE",
        "Rendition bitrate in kb/s (see bitrate_source).",
    ),
    (
        "bitrate_source",
        pa.string(),
        "STRING",
        "NULLABLE",
        "stream|container|file_size|catalog: where bitrate_kbps comes from.",
    ),
    (
        "on_hull",
        pa.bool_(),
        "BOOL",
        "NULLABLE",
        "On its ladder's rate-quality convex hull (null: no bitrate, or on no ladder).",
    ),
    (
        "score",
        pa.float64(),
        "FLOAT64",
        "REQUIRED",
        "Video score: score_alone made consistent within its ladder (ladder_consistency); "
        "equal to score_alone on no ladder, a ladder of one, or with the step off.",
    ),
    (
        "score_alone",
        pa.float64(),
        "FLOAT64",
        "NULLABLE",  # a column added to existing tables: BigQuery adds NULLABLE ones only
        "The model's score of this video alone: mean of frame_scores (scored by segment: "
        "the mean of segment_scores).",
    ),
    (
        "fine_detail",
        pa.float64(),
        "FLOAT64",
        "NULLABLE",
        "Detail kept in the key frames' cells: log(1 + mean |Laplacian|) less 6/11 of the "
        "block edges' excess (cpllm_model.fine_detail).",
    ),
    ("frame_scores", pa.list_(pa.float64()), "FLOAT64", "REPEATED", "One score per key frame."),
    (
        "frame_times_s",
        pa.list_(pa.float64()),
        "FLOAT64",
        "REPEATED",
        "Key-frame timestamps in seconds.",
    ),
    # Long videos by segment (score --segment_seconds N; beam_pipelines/segments.py):
    # null (Parquet) / empty (BigQuery REPEATED) for a video scored whole.
    (
        "segment_seconds",
        pa.float64(),
        "FLOAT64",
        "NULLABLE",
        "N of --segment_seconds when the video was scored by segment (null: scored whole).",
    ),
    (
        "segment_starts_s",
        pa.list_(pa.float64()),
        "FLOAT64",
        "REPEATED",
        "Start of each segment in seconds (0, N, 2N, ...); null/empty: scored whole.",
    ),
    (
        "segment_scores",
        pa.list_(pa.float64()),
        "FLOAT64",
        "REPEATED",
        "One score per segment (mean of its K frame scores), in time order.",
    ),
    (
        "worst_segment_start_s",
        pa.float64(),
        "FLOAT64",
        "NULLABLE",
        "Start of the lowest-scoring segment (earliest on a tie), seconds.",
    ),
    (
        "worst_segment_score",
        pa.float64(),
        "FLOAT64",
        "NULLABLE",
        "Score of that segment (min of segment_scores).",
    ),
    ("description", pa.string(), "STRING", "NULLABLE", "Model description (with --describe)."),
    ("width", pa.int64(), "INT64", "REQUIRED", "Display width after rotation."),
    ("height", pa.int64(), "INT64", "REQUIRED", "Display height after rotation."),
    (
        "display_height",
        pa.int64(),
        "INT64",
        "NULLABLE",
        ("Height the video was scored as shown at (catalog display_height or "
         "--display_height): a shorter video was enlarged to it first. Null: its own size."),
    ),
    ("duration_s", pa.float64(), "FLOAT64", "REQUIRED", "Duration in seconds."),
    ("fps", pa.float64(), "FLOAT64", "REQUIRED", "Average frame rate."),
    ("codec", pa.string(), "STRING", "REQUIRED", "Video codec name."),
    ("model_id", pa.string(), "STRING", "REQUIRED", "Preset the scores come from."),
    ("scored_at", _TS, "TIMESTAMP", "REQUIRED", "When the video was scored (UTC)."),
]
_FAILURES = [
    ("video_id", pa.string(), "STRING", "NULLABLE", "Catalog video_id (may be empty)."),
    ("uri", pa.string(), "STRING", "NULLABLE", "Catalog uri (may be missing)."),
    (
        "stage",
        pa.string(),
        "STRING",
        "REQUIRED",
        "catalog|read|probe|decode|preprocess|inference (a video), ladder (a ladder).",
    ),
    ("error_type", pa.string(), "STRING", "REQUIRED", "Exception class name."),
    ("message", pa.string(), "STRING", "REQUIRED", "Human-readable reason."),
    ("attempts", pa.int64(), "INT64", "REQUIRED", "Tries made before giving up."),
]
_FLIP_RATE = [
    ("source_id", pa.string(), "STRING", "REQUIRED", "Source, or '*' for all sources."),
    ("level", pa.string(), "STRING", "REQUIRED", "'pair' or 'rung_diff'."),
    ("crf_low", pa.int64(), "INT64", "NULLABLE", "Lower CRF (null at level rung_diff)."),
    ("crf_high", pa.int64(), "INT64", "NULLABLE", "Higher CRF (null at level rung_diff)."),
    (
        "rung_diff",
        pa.int64(),
        "INT64",
        "REQUIRED",
        "Rungs apart in the source's sorted CRF ladder.",
    ),
    ("pairs", pa.int64(), "INT64", "REQUIRED", "Compared pairs."),
    ("flips", pa.int64(), "INT64", "REQUIRED", "Pairs where higher CRF scored higher."),
    ("ties", pa.int64(), "INT64", "REQUIRED", "Pairs with equal scores."),
    ("flip_rate", pa.float64(), "FLOAT64", "REQUIRED", "flips / pairs."),
]
# Rate-quality per ladder (rate_quality.py): one row per (source_id, ladder_id).
_LADDER_SUMMARY = [
    ("source_id", pa.string(), "STRING", "REQUIRED", "Source (title)."),
    ("ladder_id", pa.string(), "STRING", "REQUIRED", "Encoder/configuration (default source_id)."),
    ("rungs", pa.int64(), "INT64", "REQUIRED", "Scored renditions in the ladder."),
    ("rungs_with_bitrate", pa.int64(), "INT64", "REQUIRED", "Of them, with a bitrate."),
    ("min_bitrate_kbps", pa.float64(), "FLOAT64", "REQUIRED", "Lowest rung bitrate, kb/s."),
    ("max_bitrate_kbps", pa.float64(), "FLOAT64", "REQUIRED", "Highest rung bitrate, kb/s."),
    ("min_score", pa.float64(), "FLOAT64", "REQUIRED", "Lowest rung score."),
    ("max_score", pa.float64(), "FLOAT64", "REQUIRED", "Highest rung score."),
    (
        "crf_pairs",
        pa.int64(),
        "INT64",
        "REQUIRED",
        "Rendition pairs at adjacent distinct CRFs of the scored rungs.",
    ),
    ("flips", pa.int64(), "INT64", "REQUIRED", "Of them, the higher CRF scored higher."),
    ("hull_rungs", pa.int64(), "INT64", "REQUIRED", "Rungs on the rate-quality convex hull."),
    (
        "hull_video_ids",
        pa.list_(pa.string()),
        "STRING",
        "REPEATED",
        "The hull rungs' video_ids, in bitrate order.",
    ),
    (
        "frame_sizes",
        pa.int64(),
        "INT64",
        "NULLABLE",
        ("Distinct frame sizes (width x height) among the rungs. Above 1 the hull and "
         "advice compare rungs of several sizes, which the bundled model does not rank "
         "like VMAF at display size, at its own resolution or with display_height "
         "(docs/EVALUATION.md)."),
    ),
]
# One row per (source_id, ladder_id, target_score); met = false rows have null advice.
_LADDER_ADVICE = [
    ("source_id", pa.string(), "STRING", "REQUIRED", "Source (title)."),
    ("ladder_id", pa.string(), "STRING", "REQUIRED", "Encoder/configuration (default source_id)."),
    ("target_score", pa.float64(), "FLOAT64", "REQUIRED", "Target from --target_scores."),
    ("met", pa.bool_(), "BOOL", "REQUIRED", "Some rung with a bitrate scores >= target."),
    ("cheapest_video_id", pa.string(), "STRING", "NULLABLE", "Cheapest rung meeting it."),
    ("crf", pa.int64(), "INT64", "NULLABLE", "Its CRF."),
    ("width", pa.int64(), "INT64", "NULLABLE", "Its width."),
    ("height", pa.int64(), "INT64", "NULLABLE", "Its height."),
    ("bitrate_kbps", pa.float64(), "FLOAT64", "NULLABLE", "Its bitrate, kb/s."),
    ("score", pa.float64(), "FLOAT64", "NULLABLE", "Its score."),
    (
        "savings_fraction",
        pa.float64(),
        "FLOAT64",
        "NULLABLE",
        "1 - bitrate_kbps / reference_bitrate_kbps.",
    ),
    ("reference_video_id", pa.string(), "STRING", "REQUIRED", "The highest-bitrate rung."),
    ("reference_bitrate_kbps", pa.float64(), "FLOAT64", "REQUIRED", "Its bitrate, kb/s."),
    ("reason", pa.string(), "STRING", "NULLABLE", "Why not met (the ladder's best rung)."),
]
# BD-rate table (`python -m beam_pipelines.bdrate`, not written by the scoring pipeline):
# one row per source (B vs A) and one all-sources row (source_id "*").
_BDRATE = [
    ("source_id", pa.string(), "STRING", "REQUIRED", "Source, or '*' for the mean row."),
    ("ladder_a", pa.string(), "STRING", "REQUIRED", "Reference ladder (ladder_id or dir)."),
    ("ladder_b", pa.string(), "STRING", "REQUIRED", "Tested ladder (ladder_id or dir)."),
    ("metric", pa.string(), "STRING", "REQUIRED", "Quality column: 'score' or 'vmaf'."),
    ("method", pa.string(), "STRING", "REQUIRED", "'cubic' or 'pchip' (--piecewise)."),
    ("status", pa.string(), "STRING", "REQUIRED", "ok|too_few_rungs|no_overlap|missing|..."),
    (
        "bd_rate_percent",
        pa.float64(),
        "FLOAT64",
        "NULLABLE",
        "Mean rate difference of B vs A at equal quality, % (negative: B cheaper).",
    ),
    ("quality_low", pa.float64(), "FLOAT64", "NULLABLE", "Overlap interval, low end."),
    ("quality_high", pa.float64(), "FLOAT64", "NULLABLE", "Overlap interval, high end."),
    ("rungs_a", pa.int64(), "INT64", "NULLABLE", "Usable rungs of A (sources: row '*')."),
    ("rungs_b", pa.int64(), "INT64", "NULLABLE", "Usable rungs of B (sources: row '*')."),
    ("reason", pa.string(), "STRING", "NULLABLE", "Why there is no BD-rate (or the mean's base)."),
    (
        "beaten_rungs_a",
        pa.int64(),
        "INT64",
        "NULLABLE",
        "Rungs of A that a cheaper rung of A beats on quality (>0: unreliable BD-rate).",
    ),
    (
        "beaten_rungs_b",
        pa.int64(),
        "INT64",
        "NULLABLE",
        "Rungs of B that a cheaper rung of B beats on quality (>0: unreliable BD-rate).",
    ),
    (
        "fit_fall_factor_a",
        pa.float64(),
        "FLOAT64",
        "NULLABLE",
        "A's fit: largest rate ratio, lower over higher quality (1: rises; >1.5 unreliable).",
    ),
    (
        "fit_fall_factor_b",
        pa.float64(),
        "FLOAT64",
        "NULLABLE",
        "B's fit: largest rate ratio, lower over higher quality (1: rises; >1.5 unreliable).",
    ),
    (
        "median_bd_rate_percent",
        pa.float64(),
        "FLOAT64",
        "NULLABLE",
        "Row '*': median of the sources' BD-rates (one runaway fit cannot move it).",
    ),
    (
        "reliable_mean_bd_rate_percent",
        pa.float64(),
        "FLOAT64",
        "NULLABLE",
        "Row '*': mean over the reliable sources (no beaten rung, no bent fit).",
    ),
]


# The last column of every table the scoring pipeline writes (issue 14 item 12): the run
# that wrote the row. score.run fills it; dead_letter.failure_row leaves it None (prepare, ladder and
# sources write FAILURES_SCHEMA too: their run_id is null).
RUN_ID_COLUMN = ("run_id", pa.string(), "STRING", "NULLABLE",
                 "Scoring run that wrote the row: UTC start time + random suffix.")
for _columns in (_SCORES, _FAILURES, _FLIP_RATE, _LADDER_SUMMARY, _LADDER_ADVICE):
    _columns.append(RUN_ID_COLUMN)


def _arrow(columns):
    return pa.schema(
        [pa.field(name, typ, nullable=(mode != "REQUIRED")) for name, typ, _, mode, _ in columns]
    )


def _bigquery(columns):
    return {
        "fields": [
            {"name": name, "type": bq_type, "mode": mode, "description": doc}
            for name, _, bq_type, mode, doc in columns
        ]
    }


SCORES_SCHEMA = _arrow(_SCORES)
FAILURES_SCHEMA = _arrow(_FAILURES)
FLIP_RATE_SCHEMA = _arrow(_FLIP_RATE)
LADDER_SUMMARY_SCHEMA = _arrow(_LADDER_SUMMARY)
LADDER_ADVICE_SCHEMA = _arrow(_LADDER_ADVICE)
BDRATE_SCHEMA = _arrow(_BDRATE)

SCORES_BQ_SCHEMA = _bigquery(_SCORES)
FAILURES_BQ_SCHEMA = _bigquery(_FAILURES)
FLIP_RATE_BQ_SCHEMA = _bigquery(_FLIP_RATE)
LADDER_SUMMARY_BQ_SCHEMA = _bigquery(_LADDER_SUMMARY)
LADDER_ADVICE_BQ_SCHEMA = _bigquery(_LADDER_ADVICE)
BDRATE_BQ_SCHEMA = _bigquery(_BDRATE)

# Table name -> (pyarrow schema, BigQuery schema) of the tables the scoring pipeline writes.
TABLES = {
    "scores": (SCORES_SCHEMA, SCORES_BQ_SCHEMA),
    "failures": (FAILURES_SCHEMA, FAILURES_BQ_SCHEMA),
    "flip_rate": (FLIP_RATE_SCHEMA, FLIP_RATE_BQ_SCHEMA),
    "ladder_summary": (LADDER_SUMMARY_SCHEMA, LADDER_SUMMARY_BQ_SCHEMA),
    "ladder_advice": (LADDER_ADVICE_SCHEMA, LADDER_ADVICE_BQ_SCHEMA),
}


# BigQuery has no NULL array: a null REPEATED column is written as [] there.
REPEATED_COLUMNS = frozenset(
    name for cols in (_SCORES, _FAILURES, _FLIP_RATE, _LADDER_SUMMARY, _LADDER_ADVICE, _BDRATE)
    for name, _, _, mode, _ in cols if mode == "REPEATED")


def to_bigquery_row(row):
    """A table row as BigQuery JSON: timestamps become ISO-8601 strings, a null REPEATED
    column (e.g. segment_scores of a video scored whole) an empty array."""
    return {k: (v.isoformat() if isinstance(v, datetime.datetime)
                else [] if v is None and k in REPEATED_COLUMNS else v)
            for k, v in row.items()}
