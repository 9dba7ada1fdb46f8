"""How the generated descriptions (`CPLLM.describe`) agree with what was measured, on
held-out renditions.

    python -m trainer.eval_describe --preset cpllm_tiny --data_dir out/holdout_fill256 \
        [--rungs_per_source 3] [--max_sources 0] [--output out/eval_describe.json]

Each held-out source gives `--rungs_per_source` renditions spread evenly over its CRF
ladder (lowest and highest CRF included). Each one is described greedily. Its answer is
set against the description its record holds: the one `beam_pipelines.describer` wrote
from that rendition's measured properties and VMAF, which is what stage 2 trains on.
Figures:
  described              renditions described
  parsed                 share of answers with the three sentences (content, style,
                         "The quality is LEVEL...")
  content_matches        share of parsed answers whose content sentence (brightness,
                         colour, detail, motion) is the record's word for word
  style_matches          likewise the style sentence
  level_matches          share whose quality level (excellent / good / fair / poor / bad)
                         is the record's, i.e. VMAF's band
  level_within_one       share at most one band from it
  level_matches_score    share whose level is the band of the preset's own score
  level_srcc_vmaf        Spearman correlation of the answer's level (bad 0 ... excellent 4)
                         with VMAF, over the parsed answers
  level_srcc_vmaf_within_source  the mean of that correlation within each source's
                         described rungs (sources whose levels or VMAF all tie are left
                         out): does the word fall along a ladder?
  artifacts_match        share whose artifact words after the level (e.g. "visible
                         blocking", "loss of fine detail") are the record's
"""
from __future__ import annotations

import os
import re

import numpy as np
from absl import app, flags, logging

from trainer import eval_compare

LEVELS = ("bad", "poor", "fair", "good", "excellent")
_SENTENCES = re.compile(r"^(?P<content>[^.]*\.)\s*(?P<style>The style is [^.]*\.)\s*"
                        r"(?P<quality>The quality is (?P<level>\w+)(?P<rest>[^.]*)\.)")


def parse(text: str) -> dict | None:
    """{content, style, level, artifacts} of a description in the trained form, else
    None. artifacts: what follows the level (": visible blocking" -> "visible
    blocking"; " with no visible compression artifacts" -> that phrase)."""
    m = _SENTENCES.match((text or "").strip())
    if m is None or m["level"] not in LEVELS:
        return None
    rest = m["rest"].strip()
    return {"content": m["content"].strip(), "style": m["style"].strip(),
            "level": m["level"], "artifacts": rest.removeprefix(":").removeprefix(
                "with").strip()}


def rungs(source_id, crf, per_source: int) -> list[int]:
    """Rows of each source's renditions, `per_source` of them spread evenly over its
    ladder by CRF (its lowest and highest CRF first among them), in source order."""
    out = []
    for s in sorted(set(source_id.tolist())):
        rows = np.flatnonzero((source_id == s) & (crf >= 0))
        rows = rows[np.argsort(crf[rows], kind="stable")]
        if len(rows) > per_source:
            rows = rows[np.unique(np.linspace(0, len(rows) - 1, per_source).round()
                                  .astype(int))]
        out += [int(r) for r in rows]
    return out


def figures(answers: list[dict]) -> dict:
    """The module docstring's figures from per-rendition records {text, reference,
    score, vmaf, source_id}."""
    from scipy import stats

    from beam_pipelines.describer import quality_level

    out = {"described": len(answers)}
    parsed = []
    for a in answers:
        got, want = parse(a["text"]), parse(a["reference"])
        if got is not None:
            parsed.append((a, got, want))
    out["parsed"] = len(parsed) / max(len(answers), 1)
    if not parsed:
        return out
    known = [(g, w) for _, g, w in parsed if w is not None]  # references in the form
    if known:
        for key in ("content", "style", "artifacts"):
            name = "artifacts_match" if key == "artifacts" else f"{key}_matches"
            out[name] = float(np.mean([g[key] == w[key] for g, w in known]))
        level = np.array([LEVELS.index(g["level"]) for g, _ in known])
        ref = np.array([LEVELS.index(w["level"]) for _, w in known])
        out["level_matches"] = float(np.mean(level == ref))
        out["level_within_one"] = float(np.mean(np.abs(level - ref) <= 1))
    out["level_matches_score"] = float(np.mean(
        [g["level"] == quality_level(a["score"]) for a, g, _ in parsed]))
    level = np.array([LEVELS.index(g["level"]) for _, g, _ in parsed], float)
    vmaf = np.array([a["vmaf"] for a, _, _ in parsed], float)
    ok = np.isfinite(vmaf)
    if ok.sum() > 2 and np.ptp(level[ok]) > 0:
        out["level_srcc_vmaf"] = float(stats.spearmanr(level[ok], vmaf[ok]).statistic)
    source = np.array([a["source_id"] for a, _, _ in parsed])
    within = []
    for s in sorted(set(source.tolist())):
        mine = (source == s) & ok
        if mine.sum() > 1 and np.ptp(level[mine]) > 0 and np.ptp(vmaf[mine]) > 0:
            within.append(stats.spearmanr(level[mine], vmaf[mine]).statistic)
    if within:
        out["level_srcc_vmaf_within_source"] = float(np.mean(within))
        out["sources_with_varying_level"] = len(within)
    return out


def evaluate(preset: str, data_dir: str, split: str = "holdout", rungs_per_source: int = 3,
             max_sources: int = 0, batch_size: int = 8) -> tuple[dict, list[dict]]:
    """(figures, per-rendition answers). Only the chosen renditions' records are read
    (`record_stream`), so memory stays flat whatever the split's size."""
    from beam_pipelines import records
    from cpllm_model import CPLLM
    from trainer import record_stream
    from trainer.input_pipeline import FRAME_KEYS

    model = CPLLM.from_preset(preset)
    spec = records.RecordSpec.from_manifest(os.path.join(data_dir, "manifest.json"))
    spec.check_read_by(model.preprocessor, preset)
    data = record_stream.StreamingSplit(record_stream.load_index(data_dir, split, spec),
                                        spec)
    chosen = rungs(data.source_id, data.crf, rungs_per_source)
    if max_sources:
        keep = sorted(set(data.source_id[chosen].tolist()))[:max_sources]
        chosen = [r for r in chosen if data.source_id[r] in keep]
    answers = []
    for i in range(0, len(chosen), batch_size):
        rows = chosen[i:i + batch_size]
        decoded = [records.decode_example(r, spec) for r in data.read(rows)]
        batch = {k: np.stack([x[k] for x, _ in decoded]) for k in FRAME_KEYS}
        texts = model.describe(batch)
        scores = np.asarray(model.score(batch)["score"]).tolist()
        for r, (_, t), text, score in zip(rows, decoded, texts, scores, strict=True):
            answers.append({"video_id": str(data.video_id[r]),
                            "source_id": str(data.source_id[r]), "crf": int(data.crf[r]),
                            "vmaf": float(data.vmaf[r]), "score": float(score),
                            "text": text, "reference": t["description"].decode("utf-8")})
        logging.info("described %d / %d renditions", len(answers), len(chosen))
    return figures(answers), answers


def define_flags():
    """The command line's flags (defined only when run as a program: other trainer
    modules define flags of the same names)."""
    flags.DEFINE_string("preset", "cpllm_tiny", "Preset name or directory.")
    flags.DEFINE_string("data_dir", None, "Records (manifest.json and the split).")
    flags.DEFINE_string("split", "holdout", "Split to evaluate.")
    flags.DEFINE_integer("rungs_per_source", 3, "Renditions described per source, spread "
                         "evenly over its ladder (lowest and highest CRF included).")
    flags.DEFINE_integer("max_sources", 0, "Only the first N sources (0: all).")
    flags.DEFINE_string("output", None, "Write the figures here as JSON.")
    flags.DEFINE_string("answers_output", None, "Write every rendition's answer and "
                        "reference description here as JSON lines.")


def main(argv):
    del argv
    args = flags.FLAGS
    result, answers = evaluate(args.preset, args.data_dir, args.split,
                               args.rungs_per_source, args.max_sources)
    eval_compare.write_results(result, answers, args.output, args.answers_output)


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["data_dir"])
    app.run(main)
