"""Flip rate of transcoding ladders: does a score ever go *up* as CRF goes up?

For every ladder of a source (title), every pair of its renditions with different CRFs is
compared. A ladder is (`source_id`, `ladder_id`): the catalog's `ladder_id` says which
encoder/configuration made the rendition and defaults to the `source_id` (one ladder per
source), so two encoders' ladders of one source are never paired with each other. Pairs,
flips, ties and `rung_diff` are `ladder_pairs`' (its docstring defines them); the rungs
are the catalog's (every rendition listed for the ladder, also those that failed to
score) when it is given, so a failed rendition does not shift the other pairs' rung_diff;
without it, the rungs are the scored renditions' CRFs. The table's rows stay per
source: the counts of a source's ladders are summed (per-ladder flips of adjacent rungs:
the ladder_summary table). A source may not be called "*" (schemas.ALL_SOURCES).

Rows (schemas.FLIP_RATE_SCHEMA) at two levels, each per source and for all sources
(`source_id == "*"`):
  level "pair":      one row per (crf_low, crf_high, rung_diff)
  level "rung_diff": one row per rung_diff, all CRF pairs that far apart pooled

`flip_rate_rows` is the pure-Python version (the report's fallback); `FlipRate` is the
same computation as a Beam transform over scores rows.
"""

import collections

import apache_beam as beam

from beam_pipelines import ladder_pairs, schemas


def _source_counts(source_id, renditions, ladder=()):
    """Counts for one ladder of a source.

    Args:
      source_id: the ladder's source.
      renditions: iterable of (crf, score) of one (source_id, ladder_id).
      ladder: that ladder's CRFs in the catalog (scored or not); the rungs are these
        together with the renditions' CRFs.

    Yields:
      ((source_id, level, crf_low, crf_high, rung_diff), (pairs, flips, ties)) for this
      source and for schemas.ALL_SOURCES.
    """
    if source_id == schemas.ALL_SOURCES:
        raise ValueError(f"source_id {schemas.ALL_SOURCES!r} is reserved for the "
                         "all-sources rows of the flip-rate table")
    counts = collections.Counter()
    for pair in ladder_pairs.ladder_pairs(renditions, ladder):
        for key in (
            (schemas.LEVEL_PAIR, pair.crf_low, pair.crf_high, pair.rung_diff),
            (schemas.LEVEL_RUNG_DIFF, None, None, pair.rung_diff),
        ):
            counts[key + ("pairs",)] += 1
            counts[key + ("flips",)] += int(pair.flip)
            counts[key + ("ties",)] += int(pair.tie)
    keys = sorted({k[:4] for k in counts}, key=_sort_key)
    for key in keys:
        value = (counts[key + ("pairs",)], counts[key + ("flips",)], counts[key + ("ties",)])
        yield (source_id,) + key, value
        yield (schemas.ALL_SOURCES,) + key, value


def _sort_key(key):
    level, crf_low, crf_high, diff = key
    return (level, diff, -1 if crf_low is None else crf_low, -1 if crf_high is None else crf_high)


def _sum_counts(values):
    pairs = flips = ties = 0
    for p, f, t in values:
        pairs, flips, ties = pairs + p, flips + f, ties + t
    return pairs, flips, ties


def _to_row(key, value):
    source_id, level, crf_low, crf_high, rung_diff = key
    pairs, flips, ties = value
    return {
        "source_id": source_id,
        "level": level,
        "crf_low": crf_low,
        "crf_high": crf_high,
        "rung_diff": rung_diff,
        "pairs": pairs,
        "flips": flips,
        "ties": ties,
        "flip_rate": flips / pairs,
    }


def _row_order(row):
    return (row["source_id"] != schemas.ALL_SOURCES, row["source_id"]) + _sort_key(
        (row["level"], row["crf_low"], row["crf_high"], row["rung_diff"])
    )


def _ladder_of(source_id, ladder_id):
    """The (source_id, ladder_id) key of a rendition; ladder_id defaults to source_id."""
    return source_id, (ladder_id if ladder_id not in (None, "") else source_id)


def flip_rate_rows(records, ladder=None):
    """Flip-rate table from (source_id, crf, score) triples or (source_id, crf, score,
    ladder_id) 4-tuples (ladder_id None or missing: the source_id); renditions without a
    source_id or crf are ignored. Only renditions of the same (source_id, ladder_id) are
    paired. `ladder`: optional (source_id, crf) pairs or (source_id, crf, ladder_id)
    triples of every catalog rendition, scored or not, that fix the rungs. Returns rows
    sorted: all-sources first. Raises ValueError for source_id "*"."""
    by_ladder = collections.defaultdict(list)
    for source_id, crf, score, *rest in records:
        if source_id is not None and crf is not None:
            by_ladder[_ladder_of(source_id, rest[0] if rest else None)].append((crf, score))
    rungs = collections.defaultdict(set)
    for source_id, crf, *rest in ladder or ():
        if source_id is not None and crf is not None:
            rungs[_ladder_of(source_id, rest[0] if rest else None)].add(int(crf))
    totals = collections.defaultdict(list)
    for key, renditions in by_ladder.items():
        for count_key, value in _source_counts(key[0], renditions, rungs.get(key, ())):
            totals[count_key].append(value)
    return sorted((_to_row(k, _sum_counts(v)) for k, v in totals.items()), key=_row_order)


def overall_flip_rate(records, ladder=None):
    """Fraction of all same-source, different-CRF pairs that flip (the paper's FR)."""
    rows = [
        r
        for r in flip_rate_rows(records, ladder)
        if r["source_id"] == schemas.ALL_SOURCES and r["level"] == schemas.LEVEL_PAIR
    ]
    pairs = sum(r["pairs"] for r in rows)
    return sum(r["flips"] for r in rows) / pairs if pairs else float("nan")


def has_ladder(row):
    return row.get("source_id") is not None and row.get("crf") is not None


def ladder_key(row):
    """(source_id, ladder_id) of a scores row or catalog entry (ladder_id default:
    source_id)."""
    return _ladder_of(row["source_id"], row.get("ladder_id"))


def _with_ladder(element):
    key, grouped = element
    renditions = list(grouped["scores"])
    if renditions:
        yield key, renditions, list(grouped["ladder"])


def _ladder_counts(key, renditions, ladder=()):
    return _source_counts(key[0], renditions, ladder)


class FlipRate(beam.PTransform):
    """Scores rows (dicts with source_id, crf, score, optional ladder_id) -> flip-rate
    rows. Renditions are paired only within one (source_id, ladder_id).

    `ladder`: optional PCollection of catalog entries (dicts with source_id, crf,
    optional ladder_id), all of them, scored or failed: the rungs come from it (see the
    module docstring).
    """

    def __init__(self, ladder=None):
        super().__init__()
        self._ladder = ladder

    def expand(self, scores):
        scored = (
            scores
            | "KeepLadderRows" >> beam.Filter(has_ladder)
            | "KeyByLadder" >> beam.Map(lambda r: (ladder_key(r), (r["crf"], r["score"])))
        )
        if self._ladder is None:
            grouped = (
                scored
                | "GroupByLadder" >> beam.GroupByKey()
                | "NoCatalogLadder" >> beam.MapTuple(lambda k, rs: (k, list(rs), ()))
            )
        else:
            rungs = (
                self._ladder
                | "KeepCatalogLadder" >> beam.Filter(has_ladder)
                | "KeyRungByLadder" >> beam.Map(lambda e: (ladder_key(e), int(e["crf"])))
                | "DistinctRungs" >> beam.Distinct()
            )
            grouped = (
                {"scores": scored, "ladder": rungs}
                | "GroupByLadder" >> beam.CoGroupByKey()
                | "WithCatalogLadder" >> beam.FlatMap(_with_ladder)
            )
        return (
            grouped
            | "CountPairs" >> beam.FlatMapTuple(_ladder_counts)
            | "SumCounts" >> beam.CombinePerKey(_sum_counts)
            | "ToRows" >> beam.MapTuple(_to_row)
        )
