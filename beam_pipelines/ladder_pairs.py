"""The pairs of one transcoding ladder's renditions: the one definition of a flip.

Two renditions of one ladder are compared when their CRFs differ (two at the same CRF,
e.g. two codecs, are not compared with each other). The pair is a *flip* when the
higher-CRF rendition scores strictly higher, a *tie* when the scores are equal.
`rung_diff` is how many rungs apart the two CRFs are in the ladder's sorted distinct CRFs
(23, 28, 33: 23 vs 33 is rung_diff 2); the rungs are the renditions' CRFs together with
any `rungs` given (the catalog's whole ladder, so that a rendition that failed to score
does not shift the other pairs' rung_diff). A score that is not finite is an error,
never a silent non-flip.

Pure Python (no Beam, no TensorFlow): the flip-rate table (`flip_rate`), the trainer's
evaluation (`trainer.metrics`), the report's flipped pairs and the ladder summary's
adjacent-CRF flips (`rate_quality`) all count with `ladder_pairs`.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable
from typing import Any


class NonFiniteScore(ValueError):
    """A rendition's score is NaN or infinite: its pairs cannot be ranked."""


@dataclasses.dataclass(frozen=True)
class Pair:
    """Two renditions of one ladder, the lower CRF first; `item_*` are the caller's own
    objects (a scores row, an index), passed through."""

    crf_low: int
    crf_high: int
    rung_diff: int
    score_low: float
    score_high: float
    item_low: Any = None
    item_high: Any = None

    @property
    def flip(self) -> bool:
        return self.score_high > self.score_low

    @property
    def tie(self) -> bool:
        return self.score_high == self.score_low

    @property
    def crf_diff(self) -> int:
        return self.crf_high - self.crf_low


def ladder_pairs(renditions: Iterable[tuple], rungs: Iterable[int] = (), *,
                 adjacent_only: bool = False) -> list[Pair]:
    """Every different-CRF pair of one ladder's renditions.

    Args:
      renditions: (crf, score) or (crf, score, item) of one ladder; renditions of equal
        CRF keep their input order.
      rungs: further CRFs of the ladder (scored or not) that count as rungs.
      adjacent_only: only pairs one rung apart (rung_diff 1).

    Returns:
      Pairs ordered by the lower rendition, then the higher one (sorted by CRF).

    Raises:
      NonFiniteScore: a score is NaN or infinite (the message names its CRF).
    """
    table = []
    for crf, score, *item in renditions:
        score = float(score)
        if not math.isfinite(score):
            raise NonFiniteScore(f"score at CRF {crf} is not finite ({score!r})")
        table.append((int(crf), score, item[0] if item else None))
    table.sort(key=lambda r: r[0])
    crfs = sorted({c for c, _, _ in table} | {int(c) for c in rungs})
    rung = {c: i for i, c in enumerate(crfs)}
    out = []
    for (lo, s_lo, i_lo), (hi, s_hi, i_hi) in itertools.combinations(table, 2):
        diff = rung[hi] - rung[lo]
        if hi == lo or (adjacent_only and diff != 1):
            continue
        out.append(Pair(lo, hi, diff, s_lo, s_hi, i_lo, i_hi))
    return out
