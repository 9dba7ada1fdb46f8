"""Pluggable annotators that give each training video its three-sentence description.

The paper had an MLLM write three sentences per video: content, style, technical quality.
An annotator is any object with `describe(row: dict) -> str | None`, where `row` is a
catalog row (video_id, uri, source_id, crf, mos, optional description, content, motion,
blockiness, blur, vmaf, ...). `None` means "no description" (the example is kept, with an
empty description and no text loss).

- `CatalogDescriptions`: takes the catalog's `description` column (real datasets whose
  descriptions were written elsewhere).
- `GeneratedDescriber`: deterministic sentences from what is known about generated data:
  the source content name, its motion, the CRF, and the measured blockiness/blur and
  pseudo-MOS. Same row in, same text out.
- `FirstOf(a, b, ...)`: the first annotator that returns text.
- `get(name)`: "catalog" | "generated" | "none" | "auto" (catalog column, else
  generated sentences where the content is known, else none).
"""
from __future__ import annotations

import math

# Known sample contents (skimage images, ffmpeg generators): (content phrase, style).
# Wording follows the tiny tokenizer's corpus (`cpllm_model.tokenizer_corpus`), so the
# sentences tokenize compactly.
_PHOTO = "natural footage"
_SYNTH = "a synthetic pattern"
_CONTENT = {
    "astronaut": ("an astronaut in a white space suit", _PHOTO),
    "coffee": ("a cup of coffee on a saucer", _PHOTO),
    "chelsea": ("a tabby cat looking at the camera", _PHOTO),
    "cat": ("a cat with striped fur", _PHOTO),
    "rocket": ("a rocket on the launch pad", _PHOTO),
    "camera": ("a cameraman with a tripod", _PHOTO),
    "coins": ("old coins on a dark table", _PHOTO),
    "hubble_deep_field": ("a deep field of galaxies", "scientific imagery"),
    "immunohistochemistry": ("stained cells under a microscope", "scientific imagery"),
    "retina": ("the back of a human eye with its blood vessels", "scientific imagery"),
    "colorwheel": ("a color wheel", _PHOTO),
    "moon": ("the cratered surface of the moon", _PHOTO),
    "clock": ("a clock on a wall", _PHOTO),
    "brick": ("a brick wall", _PHOTO),
    "grass": ("a patch of grass", _PHOTO),
    "gravel": ("gravel on the ground", _PHOTO),
    "page": ("a page of printed text", _PHOTO),
    "text": ("printed text on a plain background", _PHOTO),
    "testsrc": ("a test pattern with color bars", _SYNTH),
    "testsrc2": ("a moving test card with a counter", _SYNTH),
    "smptebars": ("SMPTE color bars", _SYNTH),
    "smptehdbars": ("SMPTE color bars", _SYNTH),
    "mandelbrot": ("a zoom into the Mandelbrot fractal", "computer generated graphics"),
    "life": ("a game of life simulation", "an animation"),
    "cellauto": ("cellular automaton cells blinking", "an animation"),
    "rgbtestsrc": ("red, green and blue test bars", _SYNTH),
    "gradients": ("smoothly moving color gradients", "an animation"),
}

# Motion of an animated still (source_id "<content>__<motion>...") -> style phrase.
_MOTION_STYLE = {
    "pan": "a still image animated with a slow pan",
    "zoom": "a still image animated with a slow zoom",
}

# Pseudo-MOS bands (0-100, VMAF-like scale), highest first.
_LEVELS = ((90.0, "excellent"), (75.0, "good"), (55.0, "fair"), (35.0, "poor"), (-1e9, "bad"))
# blockdetect / blurdetect means above which an artifact is called visible.
BLOCKY = 20.0
VERY_BLOCKY = 35.0
BLURRY = 6.0


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


class GeneratedDescriber(Describer):
    """Three deterministic sentences: content, style, technical quality.

    Reads `content` / `motion` (else parsed from a `source_id` of the form
    "<content>__<motion>[_<n>]"), `crf`, `mos` (pseudo-MOS), `blockiness`, `blur`.
    Example: "The video shows a rocket on the launch pad. The style is a still image
    animated with a slow pan. The picture has blocking artifacts and blurring from
    compression at CRF 43."
    """

    name = "generated"

    def __init__(self, known_content_only: bool = False):
        # True: rows whose content is neither a `content` column value nor a known
        # sample name (e.g. real videos with opaque ids) get no description.
        self.known_content_only = known_content_only

    @staticmethod
    def _content_motion(row: dict) -> tuple[str, str]:
        parts = str(row.get("source_id") or row.get("video_id") or "").split("__")
        content = str(row.get("content") or parts[0] or "unknown")
        motion = str(row.get("motion") or (parts[1] if len(parts) > 1 else ""))
        return content, motion

    def describe(self, row: dict) -> str | None:
        content, motion = self._content_motion(row)
        if self.known_content_only and not row.get("content") and content not in _CONTENT:
            return None
        phrase, style = _CONTENT.get(content, (content.replace("_", " "), _PHOTO))
        if style == _PHOTO:
            style = next((v for k, v in _MOTION_STYLE.items() if motion.startswith(k)), style)
        return (f"The video shows {phrase}. The style is {style}. "
                f"{self._quality_sentence(row)}")

    def _quality_sentence(self, row: dict) -> str:
        crf = _num(row.get("crf"))
        mos = _num(row.get("mos"))
        block = _num(row.get("blockiness"))
        blur = _num(row.get("blur"))
        artifacts = []
        if block is not None and block >= BLOCKY:
            artifacts.append("visible macroblocks" if block >= VERY_BLOCKY
                             else "blocking artifacts")
        if blur is not None and blur >= BLURRY:
            artifacts.append("blurring")
        if mos is not None and mos < 40.0 and len(artifacts) < 2:
            artifacts.append("loss of fine texture")
        if crf is None:
            where = "in the original"
        else:
            where = f"from compression at CRF {int(crf)}"
        if not artifacts:
            if crf is None:
                return "The picture is sharp and clean."
            return f"The picture is sharp and clean, encoded with H.264 at CRF {int(crf)}."
        return f"The picture has {' and '.join(artifacts)} {where}."


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
    """"catalog" | "generated" | "none" | "auto": the catalog column, else generated
    sentences for generated content (a `content` column or a known sample name), else
    no description (real videos without one)."""
    if name == "catalog":
        return CatalogDescriptions()
    if name == "generated":
        return GeneratedDescriber()
    if name == "auto":
        return FirstOf(CatalogDescriptions(), GeneratedDescriber(known_content_only=True))
    if name == "none":
        return FirstOf()
    raise ValueError(f"unknown describer {name!r}")
