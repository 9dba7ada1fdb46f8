r"""Which of two videos looks better? The model's pairwise mode on the command line.

    python -m beam_pipelines.compare A.mp4 B.mp4 [--model cpllm_tiny] [--json] \
        [--num_keyframes K]

Decodes K key frames of each video (`media.keyframes.decode_keyframes`, K from the
model unless `--num_keyframes` sets it: a pair is 2 K videos' worth of vision tokens in
the decoder's context, and the paper-size recipe trains pairs at K = 4), runs
`CPLLM.compare` (both videos in one prompt, paper Fig. 6) and prints the answer and
both scores:

    A  a.mp4  score 71.20
    B  b.mp4  score 55.43
    better: A  (from the model's answer: "...")

When the decoder's answer does not parse (an untrained decoder), the model falls back to
its score head and the output says so. Exit status 2 when a video cannot be read.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys


@functools.lru_cache(maxsize=2)
def load_model(preset: str):
    """CPLLM.from_preset, once per preset and process."""
    from cpllm_model import CPLLM

    return CPLLM.from_preset(preset)


def compare_videos(model, uri_a: str, uri_b: str, *, timeout_s: float = 120.0,
                   num_keyframes: int | None = None) -> dict:
    """{"better": "A"|"B", "score_a", "score_b", "text", "source", "uri_a", "uri_b"};
    K = `num_keyframes` key frames per video (default: the model's)."""
    from beam_pipelines.media import keyframes

    k = num_keyframes or model.num_keyframes
    if k < 1:
        raise ValueError(f"num_keyframes must be >= 1, got {k}")
    inputs = []
    for uri in (uri_a, uri_b):
        kf = keyframes.decode_keyframes(uri, k=k, timeout_s=timeout_s,
                                        **model.preprocessor.decode_options())
        inputs.append(model.preprocessor.frame_inputs(kf.frames, num_keyframes=k))
    result = dict(model.compare(inputs[0], inputs[1]))
    result.update(uri_a=uri_a, uri_b=uri_b,
                  score_a=float(result["score_a"]), score_b=float(result["score_b"]))
    return result


def format_result(r: dict) -> str:
    how = {"text": f"from the model's answer: {r['text']!r}",
           "score_head": "the answer did not parse; from the score head"}.get(
               r.get("source"), r.get("text", ""))
    return (f"A  {r['uri_a']}  score {r['score_a']:.2f}\n"
            f"B  {r['uri_b']}  score {r['score_b']:.2f}\n"
            f"better: {r['better']}  ({how})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Compare the quality of two videos.")
    parser.add_argument("video_a", help="First video (local path or gs://).")
    parser.add_argument("video_b", help="Second video (local path or gs://).")
    parser.add_argument("--model", default="cpllm_tiny",
                        help="Preset name, local preset dir or gs:// preset.")
    parser.add_argument("--timeout_s", type=float, default=120.0,
                        help="Limit for each ffmpeg call.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.add_argument("--num_keyframes", type=int, default=None,
                        help="Key frames per video (default: the model's K). Two videos "
                             "of K frames share the decoder's context; use the K the "
                             "preset's pairs were trained with (4 for cpllm_paper).")
    args = parser.parse_args(argv)
    if args.num_keyframes is not None and args.num_keyframes < 1:
        parser.error(f"--num_keyframes must be >= 1, got {args.num_keyframes}")

    from beam_pipelines.media import errors

    model = load_model(args.model)
    try:
        result = compare_videos(model, args.video_a, args.video_b, timeout_s=args.timeout_s,
                                num_keyframes=args.num_keyframes)
    except errors.MediaError as e:
        print(f"compare: cannot {e.stage} video: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
