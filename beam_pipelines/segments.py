"""Long videos by segment: `score --segment_seconds N` (issue 12 section 4).

A video longer than N seconds (more exactly: longer than N + min(1 s, N / 2), see
`media.keyframes.segment_bounds`) is cut into segments [0, N), [N, 2N), ..., the last one
ending at the video's end, and each segment is scored on its own K key frames, decoded
the same way a whole video is (`media.keyframes.SegmentedVideo`, one segment in memory at
a time). Shorter videos, and every video without the flag, are scored whole as before and
get null segment columns.

Scores table columns of a segmented video:
- `score`: the **mean of the segment scores** (each segment counts once; each segment
  score is the mean of its K frame scores, so this is also the mean of `frame_scores`);
- `segment_seconds` (N), `segment_starts_s`, `segment_scores` (one per segment, in
  time order);
- `worst_segment_start_s`, `worst_segment_score`: the segment with the lowest score (the
  earliest one on a tie), given apart from the mean: one bad minute does not drag a long
  video's mean far, but it is what a viewer remembers;
- `frame_scores`, `frame_times_s`: the S x K frames, in time order.

Why S batch items of K frames, not one item of S x K frames. The backbone reshapes by
the batch's own K, so `CPLLM.score` could score one S·K-frame item, but
`inference.KerasCPLLMHandler` pads every batch to one fixed shape [B, K, ...] so that XLA
compiles once per process and a video's score does not depend on its batch-mates. One
S·K item would give a new shape (a new compile) for every distinct S, could not share a
batch with K-frame videos, and would hold all S·K frames of a long video in memory at
once. As S items of K frames, segments batch with ordinary videos and with each other at
the one compiled shape, a batch never holds more than B·K frames however long a video is,
and the bisection of a bad batch works unchanged. The price is this join: each segment
carries its video_id, DecodeKeyframes emits a plan (how many segments) once all were
decoded, and `JoinSegments` groups plan and segment results by video_id into one row.

Accounting (every catalog row in exactly one of scores and failures): a segment that
fails to decode makes the video a failure row in DecodeKeyframes and no plan is emitted,
so the segments already scored are dropped here; a segment that fails in inference (the
handler's per-video error, RunInference's dead letter, a non-finite score) makes the
video one `inference` failure row naming the segment.
"""
import math

import apache_beam as beam
from apache_beam.metrics import Metrics

from beam_pipelines import dead_letter

NAMESPACE = "cpllm.pipeline"
PLANS = "segment_plans"  # DecodeKeyframes output: (video_id, {"plan": {...}})
RESULTS = "segment_results"  # ToScoreRow / dead-letter output: (video_id, result(...))
SCORES = "scores"
MIN_SEGMENT_SECONDS = 1.0


def check_segment_seconds(value):
    """None or the validated N; raises ValueError with the reason (score: ConfigError)."""
    if value is None:
        return None
    try:
        n = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"--segment_seconds must be a number of seconds, got {value!r}") \
            from None
    if not math.isfinite(n) or n < MIN_SEGMENT_SECONDS:
        raise ValueError(f"--segment_seconds must be a finite number of seconds >= "
                         f"{MIN_SEGMENT_SECONDS:g}, got {value!r}")
    return n


def result(meta, out, model_id):
    """What one segment contributes to the join: its meta, the handler's output (or an
    error), the model id."""
    return {"meta": meta, "inference": out, "model_id": model_id}


def join_row(video_id, plan, results):
    """(table, row): ("scores", row) or ("failures", row) for one segmented video.

    `results`: the result() dicts of its segments (any order); `plan`: {"segments": S,
    "starts_s": [...]} from DecodeKeyframes."""
    by_index = {}
    for r in results:
        by_index.setdefault(int(r["meta"]["segment"]["index"]), r)
    ordered = [by_index[j] for j in sorted(by_index)]
    uri = ordered[0]["meta"]["uri"] if ordered else None
    expected = int(plan["segments"])
    if sorted(by_index) != list(range(expected)):
        return dead_letter.FAILURES, dead_letter.failure_row(
            video_id, uri, "inference", "MissingSegments",
            f"scored segments {sorted(by_index)} of {expected}", 1)
    for j, r in enumerate(ordered):
        out, seg = r["inference"], r["meta"]["segment"]
        where = f"segment {j} of {expected} (start {seg['start_s']:g} s)"
        if "error_type" in out:
            return dead_letter.FAILURES, dead_letter.failure_row(
                video_id, uri, "inference", out["error_type"],
                f"{where}: {out['message']}"[:2000], 1)
        values = [float(out["score"]), *map(float, out["frame_scores"])]
        if not all(map(math.isfinite, values)):
            return dead_letter.FAILURES, dead_letter.failure_row(
                video_id, uri, "inference", "NonFiniteScore",
                f"{where}: model returned a non-finite score ({out['score']})", 1)
    seg_scores = [float(r["inference"]["score"]) for r in ordered]
    starts = [float(r["meta"]["segment"]["start_s"]) for r in ordered]
    worst = min(range(len(seg_scores)), key=lambda j: (seg_scores[j], j))
    meta = dict(ordered[0]["meta"])
    meta.update(
        frame_times_s=[float(t) for r in ordered for t in r["meta"]["frame_times_s"]],
        segment_starts_s=starts,
        segment_scores=seg_scores,
        worst_segment_start_s=starts[worst],
        worst_segment_score=seg_scores[worst],
    )
    details = [r["inference"].get("fine_detail") for r in ordered]
    out = {
        "score": math.fsum(seg_scores) / len(seg_scores),
        "fine_detail": (None if None in details
                        else math.fsum(map(float, details)) / len(details)),
        "frame_scores": [float(s) for r in ordered for s in r["inference"]["frame_scores"]],
        "description": None,
    }
    from beam_pipelines import dofns

    return SCORES, dofns.score_row(video_id, meta, out, ordered[0]["model_id"])


class _Join(beam.DoFn):

    def __init__(self):
        self.videos_scored = Metrics.counter(NAMESPACE, "videos_scored")
        self.failed = Metrics.counter(NAMESPACE, "failed_inference")

    def process(self, element):
        video_id, items = element
        items = list(items)
        plans = [i["plan"] for i in items if "plan" in i]
        if not plans:
            # A segment failed to decode: DecodeKeyframes wrote the video's failure row.
            return
        table, row = join_row(video_id, plans[0], [i for i in items if "plan" not in i])
        if table == SCORES:
            self.videos_scored.inc()
            yield row
        else:
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(dead_letter.FAILURES, row)


class JoinSegments(beam.PTransform):
    """(plans, *segment results) -> {"scores": rows, "failures": rows}: one row per
    segmented video (GroupByKey on video_id; plans and results are small, scores only)."""

    def expand(self, pcolls):
        joined = (
            pcolls
            | "FlattenSegments" >> beam.Flatten()
            | "GroupSegments" >> beam.GroupByKey()
            | "JoinSegmentRows" >> beam.ParDo(_Join()).with_outputs(dead_letter.FAILURES, main=SCORES)
        )
        return {SCORES: joined[SCORES], dead_letter.FAILURES: joined[dead_letter.FAILURES]}
