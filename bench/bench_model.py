"""Model benchmarks (results go to BENCHMARKS.md, section "Model").

    python -m bench.bench_model [--parts tiny,paper] [--tf] [--out /tmp/bench_model.json]
        [--tiny_against PRESET]

tiny:  `score` throughput of the bundled cpllm_tiny at batch 8 vs batch 1 (per video),
       the cost of its score members (the preset against its primary run alone,
       `own_run_only`, batch 8), and `describe`-style greedy generation of 64 tokens
       with vs without the KV cache. `--tiny_against PRESET`: that preset's `score` at
       batch 8 in the same run, and the bundled preset's cost relative to it (e.g. the
       same weights exported with another M and V).
paper: the score path (SigLIP so400m@224 + VideoPrism-B@288 + projections + head, random
       weights; the decoder is never run by `score`, so a 1-layer stand-in is used) on one
       video of K = 8 key frames and M = 8 patches: seconds per video, achieved GFLOP/s
       (XLA's cost analysis of the compiled function / wall time) against the matmul rate
       measured in the same process, in fp32 and bf16, and the bf16-vs-fp32 score gap.
--tf:  repeats `paper` in a subprocess with KERAS_BACKEND=tensorflow.
Each configuration is compiled and warmed up once, then timed once (`--repeats`).
"""
import json
import os
import subprocess
import sys
import time

from absl import app, flags

flags.DEFINE_list("parts", ["tiny", "paper"], "Which benchmarks to run.")
flags.DEFINE_bool("tf", False, "Also run the paper score path under TensorFlow.")
flags.DEFINE_integer("repeats", 1, "Timed repetitions after warm-up.")
flags.DEFINE_string("out", "/tmp/bench_model.json", "Where to write the JSON results.")
flags.DEFINE_string("tiny_against", None, "Another preset whose score cost (batch 8) the "
                    "bundled preset's is compared with, in the same run.")
FLAGS = flags.FLAGS


def _timeit(fn, repeats):
    fn()  # compile + warm up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def matmul_gflops(dtype, n=2048, repeats=5):
    """Measured dense matmul rate of the current backend (GFLOP/s)."""
    import keras
    import numpy as np
    from keras import ops

    a = ops.convert_to_tensor(np.random.default_rng(0).normal(size=(n, n)), dtype=dtype)
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        f = jax.jit(lambda x: x @ x)

        def run():
            f(a).block_until_ready()
    else:
        import tensorflow as tf

        f = tf.function(lambda x: tf.matmul(x, x), jit_compile=False)

        def run():
            f(a).numpy()
    return 2 * n**3 / _timeit(run, repeats) / 1e9


def _videos(model, batch, seed=0):
    import numpy as np

    from beam_pipelines import records

    # The shapes the preset reads (K * Hf high-level frames), as its records hold them.
    spec = records.RecordSpec.from_preprocessor(model.preprocessor)
    rng = np.random.default_rng(seed)
    return {
        "high_frames": rng.integers(0, 256, (batch, *spec.high_shape), dtype=np.uint8),
        "low_patches": rng.integers(0, 256, (batch, *spec.low_shape), dtype=np.uint8),
        "patch_mask": np.ones((batch, *spec.low_shape[:2]), "float32"),
    }


def bench_tiny(repeats, against=None):
    from cpllm_model import CPLLM, prompts

    model = CPLLM.from_preset("cpllm_tiny")
    out = {}
    per_video = {}
    for b in (1, 8):
        x = _videos(model, b)
        per_video[b] = _timeit(lambda x=x: model.score(x), max(repeats, 3) * 3) / b
    out["score_s_per_video_b1"] = per_video[1]
    out["score_s_per_video_b8"] = per_video[8]
    out["score_speedup_b8_vs_b1"] = per_video[1] / per_video[8]
    out["score_paths"] = (int(model.backbone.score_own_path)  # the pack: 3, not its own
                          + len(model.backbone.score_members))
    own = CPLLM.from_preset("cpllm_tiny", own_run_only=True)
    x = _videos(own, 8)
    out["score_s_per_video_b8_own_run"] = _timeit(lambda: own.score(x),
                                                  max(repeats, 3) * 3) / 8
    out["score_cost_members_vs_own_run"] = (out["score_s_per_video_b8"]
                                            / out["score_s_per_video_b8_own_run"])
    if against:
        other = CPLLM.from_preset(against)
        x = _videos(other, 8)
        out["against_preset"] = against
        out["score_s_per_video_b8_against"] = _timeit(lambda: other.score(x),
                                                      max(repeats, 3) * 3) / 8
        out["score_cost_vs_against"] = (out["score_s_per_video_b8"]
                                        / out["score_s_per_video_b8_against"])

    x = _videos(model, 1)
    text = model.preprocessor.generation_inputs(prompts.describe_prompt(), 1, 64)
    x.update(text)
    cached = _timeit(lambda: model.generate_tokens(x, 64, stop=False), repeats)
    # the no-cache reference lives with the tests (not part of the package)
    from tests.cpllm_model.generation_reference import greedy_uncached

    uncached = _timeit(lambda: greedy_uncached(model, x, 64), repeats)
    out["describe64_cached_s"] = cached
    out["describe64_uncached_s"] = uncached
    out["describe64_cache_speedup"] = uncached / cached
    return out


def _paper_score_model(dtype):
    import keras
    from keras_hub.models import SigLIPVisionEncoder, VideoPrismBackbone

    from cpllm_model import paper
    from cpllm_model.backbone import CPLLMBackbone
    from cpllm_model.cpllm import CPLLM
    from cpllm_model.preprocessor import CPLLMPreprocessor
    from cpllm_model.presets import tiny_tokenizer

    keras.utils.set_random_seed(0)
    high = SigLIPVisionEncoder(**paper.SIGLIP_SO400M_224, dtype=dtype)
    low = VideoPrismBackbone(**paper.VIDEOPRISM_B, dtype=dtype)
    backbone = CPLLMBackbone(high, low, vocabulary_size=1024, num_layers=1,
                             num_query_heads=1, num_key_value_heads=1,
                             hidden_dim=paper.GEMMA_2B["hidden_dim"], intermediate_dim=64,
                             head_dim=64, num_keyframes=8, max_patches=8,
                             head_hidden_dim=1024, dtype=dtype)
    pre = CPLLMPreprocessor(tiny_tokenizer(), num_keyframes=8, image_size=224,
                            low_level_max_side=3840, patch_size=288, max_patches=8)
    return CPLLM(backbone=backbone, preprocessor=pre)


def bench_paper(repeats):
    import keras
    import numpy as np

    backend = keras.config.backend()
    out = {"backend": backend}
    scores = {}
    for dtype in ("float32", "bfloat16"):
        model = _paper_score_model(dtype)
        x = _videos(model, 1, seed=1)
        seconds = _timeit(lambda m=model, x=x: m.score(x), repeats)
        scores[dtype] = model.score(x)["score"]
        flops = None
        if backend == "jax":
            import jax.numpy as jnp

            fn = model._score_function()
            values = [v.value for v in fn.variables]
            lowered = fn.jitted.lower({k: jnp.asarray(v) for k, v in x.items()}, values)
            analysis = lowered.compile().cost_analysis()
            if isinstance(analysis, list):
                analysis = analysis[0]
            flops = float(analysis["flops"])
            out["score_gflop_per_video"] = flops / 1e9
        else:
            flops = out_flops_from_jax()
        rate = matmul_gflops(dtype)
        out[f"{dtype}_s_per_video"] = seconds
        out[f"{dtype}_matmul_gflops"] = rate
        if flops:
            out[f"{dtype}_achieved_gflops"] = flops / seconds / 1e9
            out[f"{dtype}_fraction_of_matmul"] = flops / seconds / 1e9 / rate
        model = None  # free before building the next dtype
    out["bf16_vs_fp32_max_abs_score_diff"] = float(
        np.max(np.abs(scores["bfloat16"].astype("float64") - scores["float32"])))
    return out


def out_flops_from_jax():
    """FLOPs of the paper score path as counted by XLA under JAX (passed via env)."""
    value = os.environ.get("CPLLM_BENCH_FLOPS")
    return float(value) if value else None


def main(argv):
    del argv
    results = {}
    if "tiny" in FLAGS.parts:
        results["tiny"] = bench_tiny(FLAGS.repeats, FLAGS.tiny_against)
        print(json.dumps(results["tiny"], indent=1), flush=True)
    if "paper" in FLAGS.parts:
        key = "paper_" + __import__("keras").config.backend()
        results[key] = bench_paper(FLAGS.repeats)
        print(json.dumps(results[key], indent=1), flush=True)
    if FLAGS.tf:
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        flops = results.get("paper_jax", {}).get("score_gflop_per_video")
        if flops:
            env["CPLLM_BENCH_FLOPS"] = str(flops * 1e9)
        tf_out = FLAGS.out + ".tf.json"
        subprocess.run(
            [sys.executable, "-m", "bench.bench_model", "--parts=paper", "--notf",
             f"--repeats={FLAGS.repeats}", f"--out={tf_out}"],
            env=env, check=True, timeout=3600,
        )
        with open(tf_out) as f:
            results["paper_tensorflow"] = json.load(f)["paper_tensorflow"]
    with open(FLAGS.out, "w") as f:
        json.dump(results, f, indent=1)
    print(FLAGS.out)


if __name__ == "__main__":
    app.run(main)
