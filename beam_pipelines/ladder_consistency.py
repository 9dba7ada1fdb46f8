"""Ladder consistency: a rendition's score read against the other renditions of its source.

The model scores each video alone (`score_alone`). The renditions of one source (every
scored row with that `source_id`: its ladder, or its ladders when two encoders made one
each) share their content, so what differs between them is mostly what the encoder
removed, and the first thing a higher CRF removes is pixel-scale detail, camera noise and
film grain. `fine_detail` (`cpllm_model.fine_detail`: the detail the key frames' cells
kept inside the coding blocks, less the block edges' excess, measured on the very cells
the model reads) tracks that loss rung by rung; across sources it mostly says how detailed the content is, so only its part
relative to the source's renditions is used:

    score = 100 * sigmoid(logit(score_alone / 100) + beta * (fine_detail - source mean))

Detail is compared only between renditions of one frame size (`width`, `height` and
`display_height` alike): a smaller rendition of the same picture packs more detail into
each pixel, so a ladder of several sizes (`ladder --heights`) is read size by size. Two
encoders' ladders of one source at one size share one mean, so the step never moves one
ladder against the other by their mean detail (BD-rate compares them). The mean is over
that size's rungs with a `fine_detail` (the source's own row, `catalog.is_original`, is
not a rung: it is adjusted against the mean but not in it), summed in `video_id` order,
so a re-run gives the same scores bit for bit. beta is the preset's
`ladder_detail_weight`, fitted on training ladders (`trainer.fit_ladder_consistency`;
docs/TRAINING.md "Ladder consistency"); 0 turns the step off. A row keeps `score` =
`score_alone` when it has no `source_id`, it is the only rung of its size with a
`fine_detail`, it has no `fine_detail`, or `score_alone` is 0 or 100.

Consequence to know: a rendition's `score` depends on which other renditions of its
source the run scored (adding a rung moves the mean, so all of the source's scores at
that size move together, their order unchanged); `score_alone` never does.
"""
import math

import apache_beam as beam

from beam_pipelines import catalog


def _logit(p):
    return math.log(p / (1.0 - p))


def adjust_ladder(rows, weight):
    """The rows of one source (all its ladders) with `score` made consistent (module
    docstring); pure.

    rows: scores rows with `score_alone`, `fine_detail` (None allowed) and their frame
    size. Returns new dicts in the input order."""
    rows = list(rows)
    means = {}
    for size in {frame_size(r) for r in rows}:
        rungs = sorted((r for r in rows if frame_size(r) == size and _usable(r)
                        and not catalog.is_original(r)), key=lambda r: r["video_id"])
        if weight > 0 and len(rungs) >= 2:
            means[size] = math.fsum(float(r["fine_detail"]) for r in rungs) / len(rungs)
    out = []
    for r in rows:
        score = r["score_alone"]
        p = score / 100.0
        mean = means.get(frame_size(r))
        if mean is not None and _usable(r) and 0.0 < p < 1.0:
            z = _logit(p) + weight * (float(r["fine_detail"]) - mean)
            score = (100.0 / (1.0 + math.exp(-z)) if z >= 0
                     else 100.0 * math.exp(z) / (1.0 + math.exp(z)))
        out.append({**r, "score": score})
    return out


def frame_size(row):
    """(width, height, display_height) of a scores row: rungs compared by detail."""
    return row.get("width"), row.get("height"), row.get("display_height")


def _source(row):
    source_id = row.get("source_id")
    return None if source_id in (None, "") else source_id


def _usable(row):
    d = row.get("fine_detail")
    return d is not None and math.isfinite(float(d))


class LadderConsistency(beam.PTransform):
    """Scores rows (`score_alone`, `fine_detail`) -> the same rows with `score` made
    consistent within each source's renditions (`adjust_ladder`); rows without a
    `source_id` keep `score` = `score_alone`."""

    def __init__(self, weight):
        super().__init__()
        weight = float(weight)
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"ladder detail weight must be a finite number >= 0, got {weight}")
        self._weight = weight

    def expand(self, scores):
        weight = self._weight
        on_ladder, off_ladder = scores | "SplitBySource" >> beam.Partition(
            lambda row, _: 0 if _source(row) is not None else 1, 2
        )
        adjusted = (
            on_ladder
            | "KeyBySource" >> beam.Map(lambda r: (_source(r), r))
            | "GroupBySource" >> beam.GroupByKey()
            | "AdjustRenditions" >> beam.FlatMap(lambda kv: adjust_ladder(kv[1], weight))
        )
        alone = off_ladder | "NoSource" >> beam.Map(
            lambda r: {**r, "score": r["score_alone"]})
        return (adjusted, alone) | "AllScoreRows" >> beam.Flatten()
