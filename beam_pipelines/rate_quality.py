"""Rate–quality per title: the convex hull of each ladder and the cheapest rung per target.

A *ladder* is every scored rendition with the same (`source_id`, `ladder_id`) (the
catalog's `ladder_id` defaults to the `source_id`: one ladder per source); renditions
without a `source_id` are on no ladder. The ladder's source itself, scored beside its
rungs (`catalog.is_original`: `video_id` = `source_id`, no CRF, as
`beam_pipelines.ladder`'s catalog.csv lists it), is not a rung: its row keeps `on_hull`
null and it is in no count, range, hull or advice (a ladder of that row alone is read as
one rung). A *rung* is one rendition, a point (`bitrate_kbps`, `score`). Rungs without a
usable bitrate (null, not finite, not positive) stay in the ladder's counts and score
range but have no place on the rate–quality plane: they are never on the hull and never
advised.

Hull rule (`upper_hull`). A rung is on the hull when no *mix* of the ladder's other rungs
gives at least its score for at most its bitrate. A mix is a convex combination
(time-sharing: sum of weights 1, bitrate and score averaged with the same weights), so
the hull rungs are the vertices of the upper-left concave frontier of the points, in
linear bitrate (the mixing argument holds for bits, not for log bits). Concretely:

  1. sort the rungs by (bitrate ascending, score descending, input order);
  2. keep a rung only if it scores strictly higher than every rung kept before it
     (drops a rung that a cheaper-or-equal rung matches or beats: the lower-scoring of
     two equal bitrates, an exact duplicate after its first occurrence, a rung that
     costs more for no more score);
  3. of those, keep the vertices of the upper concave chain (Andrew's monotone chain):
     a rung on or below the straight line between its neighbours on the chain is a mix
     of them and is dropped. Collinear rungs are therefore *not* on the hull.

So the cheapest rung (the best-scoring one among equally cheap rungs) and the cheapest
of the best-scoring rungs are always on the hull; a ladder of one rung is its own hull;
two rungs are both on it unless one is no better than the other for no less bitrate.

Advice rule (`advise`). For each target score t: among the rungs with a bitrate, the
cheapest (lowest bitrate; ties: higher score, then video_id) with score >= t.
`savings_fraction` = 1 - its bitrate / the bitrate of the highest-bitrate rung (the
*reference* rung: the one a ladder without advice would serve; 0 when the advised rung
is that rung). No rung meets t: a row with `met = False`, the advised fields null and
the ladder's best score in `reason` — never a missing row.

Flips (`ladder_summary.flips`): over the ladder's scored rungs with a CRF, sorted by
CRF; each pair of renditions at two *adjacent* distinct CRFs is compared (one pair per
step for a one-rendition-per-CRF ladder) and is a flip when the higher-CRF rendition
scored strictly higher. A rung that failed to score is not in the ladder here, so its
neighbours become adjacent (the flip_rate table instead keeps the catalog's rungs).

Dead letter: a ladder none of whose rungs has a bitrate cannot be summarised
(`NoBitrate`); it gets a failure row at stage `ladder` (video_id and uri null, the
ladder named in the message) and no summary or advice rows; its rows keep on_hull null.

`summarise_ladder` is the pure computation (no Beam); `RateQuality` is the Beam
transform the scoring pipeline uses. Tables: schemas.LADDER_SUMMARY_SCHEMA and
schemas.LADDER_ADVICE_SCHEMA; docs/PIPELINE.md "Tables".
"""

import dataclasses
import math

import apache_beam as beam
from apache_beam.metrics import Metrics

from beam_pipelines import catalog, dead_letter, ladder_pairs

DEFAULT_TARGETS = (70.0, 80.0, 90.0)
NAMESPACE = "cpllm.pipeline"
SUMMARY = "ladder_summary"
ADVICE = "ladder_advice"


class LadderError(ValueError):
    """A ladder that cannot be summarised (becomes a failure row at stage `ladder`)."""


class NoBitrate(LadderError):
    """None of the ladder's rungs has a usable bitrate."""


def parse_targets(text):
    """'70,80,90' -> (70.0, 80.0, 90.0): sorted, duplicates dropped.

    Raises ValueError for an empty list or a value that is not a finite number."""
    targets = set()
    for part in str(text if text is not None else "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"target score {part!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"target score {part!r} is not finite")
        targets.add(value)
    if not targets:
        raise ValueError(f"no target score in {text!r} (e.g. 70,80,90)")
    return tuple(sorted(targets))


def usable_bitrate(value):
    """The bitrate as a float if it is finite and positive, else None."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _cross(o, a, b):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def upper_hull(points):
    """Indices of the hull rungs of (bitrate, score) points, in bitrate order.

    The rule is the module docstring's: Pareto filter in (bitrate asc, score desc,
    input order), then the strict upper concave chain (collinear rungs dropped).
    Every bitrate must be a finite number (use `usable_bitrate` first).
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    frontier, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            frontier.append(i)
            best = points[i][1]
    hull = []
    for i in frontier:
        while len(hull) >= 2 and _cross(points[hull[-2]], points[hull[-1]], points[i]) >= 0:
            hull.pop()
        hull.append(i)
    return hull


def _cheapest_first(rung):
    return (rung["bitrate_kbps"], -rung["score"], rung["video_id"])


def advise(source_id, ladder_id, rungs, targets):
    """ladder_advice rows, one per target (see the module docstring).

    `rungs`: dicts with video_id, crf, width, height, bitrate_kbps (usable, see
    `usable_bitrate`), score; at least one.
    """
    if not rungs:
        raise NoBitrate(f"ladder {_name(source_id, ladder_id)} has no rung with a bitrate")
    reference = max(rungs, key=lambda r: (r["bitrate_kbps"], r["score"], r["video_id"]))
    best = max(rungs, key=lambda r: (r["score"], -r["bitrate_kbps"]))
    rows = []
    for target in targets:
        meeting = [r for r in rungs if r["score"] >= target]
        row = {
            "source_id": source_id,
            "ladder_id": ladder_id,
            "target_score": float(target),
            "met": bool(meeting),
            "cheapest_video_id": None,
            "crf": None,
            "width": None,
            "height": None,
            "bitrate_kbps": None,
            "score": None,
            "savings_fraction": None,
            "reference_video_id": reference["video_id"],
            "reference_bitrate_kbps": reference["bitrate_kbps"],
            "reason": None,
        }
        if meeting:
            pick = min(meeting, key=_cheapest_first)
            row.update(
                cheapest_video_id=pick["video_id"],
                crf=pick.get("crf"),
                width=pick.get("width"),
                height=pick.get("height"),
                bitrate_kbps=pick["bitrate_kbps"],
                score=pick["score"],
                savings_fraction=1.0 - pick["bitrate_kbps"] / reference["bitrate_kbps"],
            )
        else:
            row["reason"] = (
                f"no rung scores >= {target:g}: best is {best['score']:.2f} "
                f"({best['video_id']}, {best['bitrate_kbps']:.1f} kb/s)"
            )
        rows.append(row)
    return rows


def adjacent_crf_flips(rungs):
    """(pairs, flips) over adjacent distinct CRFs of the rungs that have a CRF
    (`ladder_pairs` one rung apart)."""
    pairs = ladder_pairs.ladder_pairs(
        ((r["crf"], r["score"]) for r in rungs if r.get("crf") is not None),
        adjacent_only=True)
    return len(pairs), sum(p.flip for p in pairs)


@dataclasses.dataclass
class LadderResult:
    """What one ladder contributes: on_hull per video_id (None: no bitrate), its
    ladder_summary row and its ladder_advice rows."""

    on_hull: dict
    summary: dict
    advice: list


def frame_sizes(rungs):
    """The distinct (width, height) of the rungs that have both."""
    return {(r["width"], r["height"]) for r in rungs if r.get("width") and r.get("height")}


def _name(source_id, ladder_id):
    return (f"source_id {source_id!r}" if ladder_id == source_id
            else f"source_id {source_id!r}, ladder_id {ladder_id!r}")


def summarise_ladder(source_id, ladder_id, rows, targets=DEFAULT_TARGETS):
    """One ladder's LadderResult from its scores rows (dicts with video_id, crf, width,
    height, bitrate_kbps, score). Raises NoBitrate when no rung has a usable bitrate."""
    scored = sorted(rows, key=lambda r: r["video_id"])  # input order fixes exact ties
    rows = [r for r in scored if not catalog.is_original(r)] or scored
    rated = []
    for r in rows:
        kbps = usable_bitrate(r.get("bitrate_kbps"))
        if kbps is not None:
            rated.append({**r, "bitrate_kbps": kbps, "score": float(r["score"])})
    if not rated:
        ids = ", ".join(r["video_id"] for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        raise NoBitrate(f"ladder {_name(source_id, ladder_id)} cannot be summarised: none of "
                        f"its {len(rows)} scored rungs has a bitrate ({ids})")
    hull = upper_hull([(r["bitrate_kbps"], r["score"]) for r in rated])
    on_hull = {r["video_id"]: None for r in scored}
    on_hull.update({r["video_id"]: False for r in rated})
    on_hull.update({rated[i]["video_id"]: True for i in hull})
    try:
        pairs, flips = adjacent_crf_flips(rows)
    except ladder_pairs.NonFiniteScore as e:
        raise LadderError(f"ladder {_name(source_id, ladder_id)} cannot be summarised: "
                          f"{e}") from None
    scores = [float(r["score"]) for r in rows]
    summary = {
        "source_id": source_id,
        "ladder_id": ladder_id,
        "rungs": len(rows),
        "rungs_with_bitrate": len(rated),
        "min_bitrate_kbps": min(r["bitrate_kbps"] for r in rated),
        "max_bitrate_kbps": max(r["bitrate_kbps"] for r in rated),
        "min_score": min(scores),
        "max_score": max(scores),
        "crf_pairs": pairs,
        "flips": flips,
        "hull_rungs": len(hull),
        "hull_video_ids": [rated[i]["video_id"] for i in hull],
        "frame_sizes": len(frame_sizes(rows)),
    }
    return LadderResult(on_hull, summary, advise(source_id, ladder_id, rated, targets))


def ladder_key(row):
    """(source_id, ladder_id) of a scores row, or None when it is on no ladder."""
    source_id = row.get("source_id")
    if source_id in (None, ""):
        return None
    return source_id, row.get("ladder_id") or source_id


def ladder_results(scores, targets=DEFAULT_TARGETS):
    """Pure version over scores rows: ({(source_id, ladder_id): LadderResult},
    {(source_id, ladder_id): LadderError}). Used by the report and the tests."""
    by_ladder = {}
    for r in scores:
        key = ladder_key(r)
        if key is not None:
            by_ladder.setdefault(key, []).append(r)
    results, errors = {}, {}
    for key in sorted(by_ladder):
        try:
            results[key] = summarise_ladder(*key, by_ladder[key], targets)
        except LadderError as e:
            errors[key] = e
    return results, errors


class SummariseLadder(beam.DoFn):
    """((source_id, ladder_id), scores rows) -> scores rows with on_hull (main output),
    a ladder_summary row, ladder_advice rows; or a failure row (stage `ladder`) and the
    rows with on_hull None."""

    def __init__(self, targets=DEFAULT_TARGETS):
        self._targets = tuple(targets)
        self.ladders = Metrics.counter(NAMESPACE, "ladders_summarised")
        self.failed = Metrics.counter(NAMESPACE, "failed_ladder")

    def process(self, element):
        (source_id, ladder_id), rows = element
        rows = list(rows)
        try:
            result = summarise_ladder(source_id, ladder_id, rows, self._targets)
        except LadderError as e:
            self.failed.inc()
            yield dead_letter.tagged(
                dead_letter.failure_from_exception(None, None, e, "ladder"))
            for r in rows:
                yield {**r, "on_hull": None}
            return
        self.ladders.inc()
        for r in rows:
            yield {**r, "on_hull": result.on_hull[r["video_id"]]}
        yield beam.pvalue.TaggedOutput(SUMMARY, result.summary)
        for row in result.advice:
            yield beam.pvalue.TaggedOutput(ADVICE, row)


class RateQuality(beam.PTransform):
    """Scores rows -> {"scores": the same rows with on_hull, "ladder_summary": ...,
    "ladder_advice": ..., "failures": failure rows of ladders that cannot be
    summarised}. Rows on no ladder (no source_id) pass with on_hull None."""

    def __init__(self, targets=DEFAULT_TARGETS):
        super().__init__()
        self._targets = tuple(targets)

    def expand(self, scores):
        on_ladder, off_ladder = scores | "SplitByLadder" >> beam.Partition(
            lambda row, _: 0 if ladder_key(row) is not None else 1, 2
        )
        out = (
            on_ladder
            | "KeyByLadder" >> beam.Map(lambda r: (ladder_key(r), r))
            | "GroupByLadder" >> beam.GroupByKey()
            | "SummariseLadder"
            >> beam.ParDo(SummariseLadder(self._targets)).with_outputs(
                SUMMARY, ADVICE, dead_letter.FAILURES, main="scores"
            )
        )
        off = off_ladder | "NotOnALadder" >> beam.Map(lambda r: {**r, "on_hull": None})
        return {
            "scores": (out.scores, off) | "ScoresWithOnHull" >> beam.Flatten(),
            SUMMARY: out[SUMMARY],
            ADVICE: out[ADVICE],
            dead_letter.FAILURES: out[dead_letter.FAILURES],
        }
