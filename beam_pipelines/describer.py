"""Pluggable annotators that give each training video its three-sentence description.

The paper had an MLLM write three sentences per video: content, style, technical quality.
An annotator is any object with `describe(row: dict) -> str | None`, where `row` is a
catalog row (video_id, uri, source_id, crf, mos, optional description, blockiness, blur,
vmaf, and the `beam_pipelines.frame_stats` fields measured on its key frames). `None`
means "no description" (the example is kept, with an empty description and no text loss).

- `CatalogDescriptions`: takes the catalog's `description` column (real datasets whose
  descriptions were written elsewhere).
- `MeasuredDescriber`: deterministic sentences from what the model can see, computed
  from measured properties of the rendition (brightness, colourfulness, detail, motion,
  flat regions / edges, blockiness, blur, pseudo-MOS). It never names an object, picture
  or source: the bundled tiny model has no pretrained semantics, and names it cannot see
  were hallucinated on unseen video. Same row in, same text out.
- `FirstOf(a, b, ...)`: the first annotator that returns text.
- `get(name)`: "catalog" | "generated" | "none" | "auto" (catalog column, else measured
  sentences where the row has frame stats, else none).
"""
from __future__ import annotations

import math

# Pseudo-MOS bands (0-100, VMAF-like scale), highest first.
_LEVELS = ((90.0, "excellent"), (75.0, "good"), (55.0, "fair"), (35.0, "poor"), (-1e9, "bad"))

# Word bands over the measured properties: (lower bound, word), highest first; a value
# takes the first band it reaches. Scales are documented in `beam_pipelines.frame_stats`;
# bounds were set on the bundled sample sources (skimage images, ffmpeg generators).
# The wording is a small fixed vocabulary mirrored in `cpllm_model.tokenizer_corpus`
# (keep the two in sync so the sentences tokenize compactly).
BRIGHTNESS = ((150.0, "bright"), (90.0, "well-lit"), (50.0, "dim"), (-1.0, "dark"))  # mean luma
COLOUR = ((80.0, "very colourful"), (30.0, "colourful"), (8.0, "muted"),
          (-1.0, "nearly monochrome"))  # Hasler-Suesstrunk colorfulness
DETAIL = ((100.0, "fine texture"), (40.0, "rich detail"), (15.0, "moderate detail"),
          (-1.0, "smooth surfaces"))  # mean Sobel magnitude
MOTION = ((15.0, "fast motion"), (5.0, "moderate motion"), (1.0, "slow motion"),
          (-1.0, "no motion"))  # mean abs luma change between key frames

# Style: graphics = many near-constant blocks plus sharp edges; uniform = almost no luma
# contrast; smooth gradients = little detail and no sharp edges; else natural.
GRAPHICS_FLAT = 0.3  # flat_fraction at or above which (with edges) content is graphics
GRAPHICS_EDGES = 0.005  # edge_density needed for graphics
UNIFORM_CONTRAST = 4.0  # luma std under which the picture is nearly uniform
GRADIENT_DETAIL = 12.0  # detail under which (with edge_density < GRADIENT_EDGES) ...
GRADIENT_EDGES = 0.002  # ... content is smooth gradients
STYLE_NATURAL = "natural-looking content"
STYLE_GRAPHICS = "graphics with flat regions and sharp edges"
STYLE_GRADIENTS = "smooth gradients"
STYLE_UNIFORM = "a nearly uniform picture"

# blockdetect / blurdetect means (ffmpeg, no reference) -> artifact strength.
# blockdetect is ~10 on clean content and 40+ on heavy H.264 blocking (`vmaf`).
BLOCKY = 20.0  # visible blocking from here
VERY_BLOCKY = 35.0  # strong blocking from here
BLURRY = 6.0  # visible blurring from here
VERY_BLURRY = 9.0  # strong blurring from here
ARTIFACT_FREE = "no visible compression artifacts"
DETAIL_LOSS = "loss of fine detail"  # low quality score but no blocking/blur measured


def _num(x):
    if x is None or x == "":
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def quality_level(score: float) -> str:
    """Word for a 0-100 quality score: excellent/good/fair/poor/bad."""
    for threshold, word in _LEVELS:
        if score >= threshold:
            return word
    return "bad"


class Describer:
    """Interface: `describe(row) -> str | None`."""

    name = "base"

    def describe(self, row: dict) -> str | None:
        raise NotImplementedError


class CatalogDescriptions(Describer):
    """The catalog's own `description` column (None when empty)."""

    name = "catalog"

    def __init__(self, column: str = "description"):
        self.column = column

    def describe(self, row: dict) -> str | None:
        text = row.get(self.column)
        if text is None or (isinstance(text, float) and math.isnan(text)):
            return None
        text = str(text).strip()
        return text or None


def _band(value, bands):
    return next(word for floor, word in bands if value >= floor)


class MeasuredDescriber(Describer):
    """Three deterministic sentences from measured properties: content, style, quality.

    Reads the `frame_stats` fields (brightness, colorfulness, detail, motion,
    flat_fraction, edge_density, contrast), `blockiness` / `blur` (may be None/NaN/inf:
    ignored), `mos` (else `vmaf`; 0-100, may be None). A property that is missing is left
    out of its sentence. Example: "A dim, colourful scene with moderate detail and slow
    motion. The style is natural-looking content. The quality is poor: strong blocking
    and visible blurring."
    """

    name = "generated"

    def __init__(self, measured_only: bool = False):
        # True: rows without frame stats (nothing was measured) get no description.
        self.measured_only = measured_only

    def describe(self, row: dict) -> str | None:
        if self.measured_only and _num(row.get("brightness")) is None:
            return None
        return " ".join((self.content_sentence(row), self.style_sentence(row),
                         self.quality_sentence(row)))

    @staticmethod
    def content_sentence(row: dict) -> str:
        b, c = _num(row.get("brightness")), _num(row.get("colorfulness"))
        d, m = _num(row.get("detail")), _num(row.get("motion"))
        adjectives = [_band(v, bands) for v, bands in ((b, BRIGHTNESS), (c, COLOUR))
                      if v is not None]
        withs = [_band(v, bands) for v, bands in ((d, DETAIL), (m, MOTION)) if v is not None]
        if not adjectives and not withs:
            return "The content was not measured."
        text = "A " + ", ".join(adjectives) + " scene" if adjectives else "A scene"
        if withs:
            text += " with " + " and ".join(withs)
        return text + "."

    @staticmethod
    def style(row: dict) -> str:
        flat, edges = _num(row.get("flat_fraction")), _num(row.get("edge_density"))
        detail, contrast = _num(row.get("detail")), _num(row.get("contrast"))
        if (flat is not None and edges is not None
                and flat >= GRAPHICS_FLAT and edges >= GRAPHICS_EDGES):
            return STYLE_GRAPHICS
        if contrast is not None and contrast < UNIFORM_CONTRAST:
            return STYLE_UNIFORM
        if detail is not None and detail < GRADIENT_DETAIL and (
                edges is None or edges < GRADIENT_EDGES):
            return STYLE_GRADIENTS
        return STYLE_NATURAL

    def style_sentence(self, row: dict) -> str:
        return f"The style is {self.style(row)}."

    @staticmethod
    def artifacts(row: dict) -> list[str]:
        block, blur = _num(row.get("blockiness")), _num(row.get("blur"))
        found = []
        if block is not None and block >= BLOCKY:
            found.append(("strong" if block >= VERY_BLOCKY else "visible") + " blocking")
        if blur is not None and blur >= BLURRY:
            found.append(("strong" if blur >= VERY_BLURRY else "visible") + " blurring")
        return found

    def quality_sentence(self, row: dict) -> str:
        score = _num(row.get("mos"))
        if score is None:
            score = _num(row.get("vmaf"))
        found = self.artifacts(row)
        if score is None:
            if found:
                return f"The picture shows {' and '.join(found)}."
            return f"The picture shows {ARTIFACT_FREE}."
        level = quality_level(score)
        if found:
            return f"The quality is {level}: {' and '.join(found)}."
        if level in ("excellent", "good"):
            return f"The quality is {level} with {ARTIFACT_FREE}."
        return f"The quality is {level}: {DETAIL_LOSS}."


# Former name (the sentences used to name the sample content; they no longer do).
GeneratedDescriber = MeasuredDescriber


class FirstOf(Describer):
    """The first non-empty description among several annotators."""

    name = "first_of"

    def __init__(self, *annotators: Describer):
        self.annotators = annotators

    def describe(self, row: dict) -> str | None:
        for a in self.annotators:
            text = a.describe(row)
            if text:
                return text
        return None


def get(name: str) -> Describer:
    """"catalog" | "generated" | "none" | "auto": the catalog column, else measured
    sentences where the row has frame stats (`frame_stats.measure`, merged in by
    `prepare`), else no description."""
    if name == "catalog":
        return CatalogDescriptions()
    if name == "generated":
        return MeasuredDescriber()
    if name == "auto":
        return FirstOf(CatalogDescriptions(), MeasuredDescriber(measured_only=True))
    if name == "none":
        return FirstOf()
    raise ValueError(f"unknown describer {name!r}")
