"""How the pairwise answer (`CPLLM.compare`) agrees with the score head, on held-out pairs.

    python -m trainer.eval_compare --preset cpllm_tiny --data_dir out/holdout64 \
        [--output out/eval_compare.json] [--max_pairs_per_source 6] [--pairs extremes] \
        [--answers_output out/compare_answers.jsonl]

For every held-out source, pairs of its renditions are put to `compare()` as (A, B) and
as (B, A): `--pairs neighbours` (default) neighbouring rungs of its ladders (up to
`--max_pairs_per_source`, the hard case: 2 or 5 CRF apart), `--pairs extremes` its
lowest-CRF rendition against its highest-CRF one. Figures:
  parsed          share of answers in the trained form
                  ("Score A: 71. Score B: 45. Video A is better.")
  agree_head      share of parsed answers naming the video the score head scores higher
  agree_crf       share of parsed answers naming the lower-CRF video
  swap_consistent share of pairs whose two orders name the same video
  mae_vs_head     mean |answer score - score head score|, points on the 0-100 scale
  verdict_matches_scores  share of parsed answers whose verdict words name the video
                  with the higher of the answer's own two scores (`compare()` decides by
                  the scores)
"""
from __future__ import annotations

import json
import os

import numpy as np
from absl import app, flags, logging



def neighbour_pairs(source_id, crf, max_per_source: int) -> list[tuple[int, int]]:
    """(i, j) row pairs of the same source at neighbouring CRFs (i the lower CRF),
    `max_per_source` of them per source, evenly spread over its ladder."""
    pairs = []
    for s in sorted(set(source_id.tolist())):
        rows = np.flatnonzero((source_id == s) & (crf >= 0))
        rows = rows[np.argsort(crf[rows], kind="stable")]
        mine = [(int(a), int(b)) for a, b in zip(rows[:-1], rows[1:]) if crf[a] != crf[b]]
        if len(mine) > max_per_source:
            keep = ((np.arange(max_per_source) + 0.5) * len(mine) / max_per_source)
            mine = [mine[int(k)] for k in keep]
        pairs += mine
    return pairs


def extreme_pairs(source_id, crf) -> list[tuple[int, int]]:
    """(i, j) per source: its lowest-CRF rendition i and its highest-CRF rendition j."""
    pairs = []
    for s in sorted(set(source_id.tolist())):
        rows = np.flatnonzero((source_id == s) & (crf >= 0))
        if len(rows) >= 2 and crf[rows].min() != crf[rows].max():
            rows = rows[np.argsort(crf[rows], kind="stable")]
            pairs.append((int(rows[0]), int(rows[-1])))
    return pairs


def figures(answers: list[dict]) -> dict:
    """The module docstring's figures from per-question records {better, score_a,
    score_b, head_a, head_b, crf_a, crf_b, source, pair}."""
    parsed = [a for a in answers if a["source"] == "text"]
    out = {"questions": len(answers), "parsed": len(parsed) / max(len(answers), 1)}
    if parsed:
        out["verdict_matches_scores"] = float(np.mean(
            [a.get("text_verdict", a["better"]) == a["better"] for a in parsed]))
        head = ["A" if a["head_a"] >= a["head_b"] else "B" for a in parsed]
        crf = ["A" if a["crf_a"] < a["crf_b"] else "B" for a in parsed]
        out["agree_head"] = float(np.mean([a["better"] == h for a, h in zip(parsed, head)]))
        out["agree_crf"] = float(np.mean([a["better"] == c for a, c in zip(parsed, crf)]))
        out["mae_vs_head"] = float(np.mean(
            [abs(a["score_a"] - a["head_a"]) + abs(a["score_b"] - a["head_b"])
             for a in parsed]) / 2)
    by_pair: dict = {}
    for a in answers:
        if a["source"] == "text":
            # The video named better, by its row (swapped questions name rows the same way).
            by_pair.setdefault(a["pair"], []).append(a["row_a"] if a["better"] == "A"
                                                     else a["row_b"])
    both = [v for v in by_pair.values() if len(v) == 2]
    if both:
        out["swap_consistent"] = float(np.mean([v[0] == v[1] for v in both]))
    return out


def evaluate(preset: str, data_dir: str, split: str = "holdout",
             max_pairs_per_source: int = 6, pairs: str = "neighbours"
             ) -> tuple[dict, list[dict]]:
    """(The module docstring's figures, every question's record with the answer's "text"),
    as `eval_describe.evaluate`. Records are read from storage only for the
    renditions the pairs name (`record_stream`), so memory stays flat whatever the
    split's size."""
    from beam_pipelines import records
    from cpllm_model import CPLLM
    from trainer import record_stream

    model = CPLLM.from_preset(preset)
    spec = records.RecordSpec.from_manifest(os.path.join(data_dir, "manifest.json"))
    spec.check_read_by(model.preprocessor, preset)
    data = record_stream.StreamingSplit(record_stream.load_index(data_dir, split, spec),
                                        spec)
    if pairs == "extremes":
        rows = extreme_pairs(data.source_id, data.crf)
    else:
        rows = neighbour_pairs(data.source_id, data.crf, max_pairs_per_source)
    named = sorted({r for pair in rows for r in pair})
    head = {}
    for i in range(0, len(named), 16):
        batch = named[i:i + 16]
        head.update(zip(batch, np.asarray(model.score(data.take(batch))["score"]).tolist()))
    answers = []
    for n, (i, j) in enumerate(rows):
        frames = data.take([i, j])
        for a, b in ((i, j), (j, i)):
            video = [{k: v[0 if r == i else 1] for k, v in frames.items()} for r in (a, b)]
            r = model.compare(*video)
            answers.append({"better": r["better"], "text_verdict": r.get("text_verdict"),
                            "score_a": float(r["score_a"]),
                            "score_b": float(r["score_b"]), "source": r["source"],
                            "head_a": float(head[a]), "head_b": float(head[b]),
                            "crf_a": int(data.crf[a]), "crf_b": int(data.crf[b]),
                            "row_a": a, "row_b": b, "pair": n, "text": r["text"],
                            "video_a": str(data.video_id[a]),
                            "video_b": str(data.video_id[b])})
        if (n + 1) % 10 == 0 or n + 1 == len(rows):
            logging.info("compared %d / %d pairs (both orders)", n + 1, len(rows))
    return figures(answers), answers


def write_results(result: dict, answers: list[dict], output: str | None,
                  answers_output: str | None) -> None:
    """Prints the figures; writes them as JSON to `output` and the answers as JSON lines
    to `answers_output` where given (shared by eval_compare and eval_describe)."""
    print(json.dumps(result, indent=1, sort_keys=True))
    if output:
        with open(output, "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
    if answers_output:
        with open(answers_output, "w") as f:
            f.writelines(json.dumps(a, sort_keys=True) + "\n" for a in answers)


def define_flags():
    """The command line's flags (defined only when run as a program: other trainer
    modules define flags of the same names)."""
    flags.DEFINE_string("preset", "cpllm_tiny", "Preset name or directory.")
    flags.DEFINE_string("data_dir", None, "Records (manifest.json and the split).")
    flags.DEFINE_string("split", "holdout", "Split to evaluate.")
    flags.DEFINE_integer("max_pairs_per_source", 6, "Neighbouring-rung pairs per source.")
    flags.DEFINE_enum("pairs", "neighbours", ["neighbours", "extremes"],
                      "Which renditions of a source are compared (see the docstring).")
    flags.DEFINE_string("output", None, "Write the figures here as JSON.")
    flags.DEFINE_string("answers_output", None, "Write every question (videos, answer "
                        "text, parsed scores, head scores, CRFs) here as JSON lines.")


def main(argv):
    del argv
    args = flags.FLAGS
    result, answers = evaluate(args.preset, args.data_dir, args.split,
                               args.max_pairs_per_source, args.pairs)
    write_results(result, answers, args.output, args.answers_output)


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["data_dir"])
    app.run(main)
