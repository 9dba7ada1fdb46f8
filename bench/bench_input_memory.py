r"""Training input memory: does the reader's peak RSS grow with the data set?

    python -m bench.bench_input_memory [--work /tmp/cpllm_bench_input] [--sources 30]
                                       [--steps 40] [--batch_size 16] [--model cpllm_tiny]

Writes two synthetic training sets of real TFRecords in the bundled preset's record shape
(K = 8 key frames of 64x64, M = 16 patches of 32x32: 0.49 MB a video), 1x = `--sources`
sources of 4 CRF rungs and 10x = ten times the sources, cached in `--work`. Then, each
in a fresh subprocess, reads `--steps` mixed pair/single batches of `--batch_size` videos
through `input_pipeline.train_dataset` (augmentation on, the bundled preset's
tokenizer building the decoder text, as `trainer.train` does) with
  - memory: `input_pipeline.load_split` (the split in host memory);
  - streaming: `record_stream` (an index in memory, each batch read from the files;
    the index is built by the run, not taken from a cache).
Reports each run's peak RSS (the process's own `ru_maxrss`, imports and TensorFlow
included) and the ratio 10x / 1x per reader. Target (issue 11): streaming 10x / 1x <=
1.2. Prints a Markdown table.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

CRFS = (20, 28, 36, 44)


def write_set(root: str, num_sources: int, shards: int = 4) -> str:
    """A data dir (manifest.json, train/) of num_sources x len(CRFS) random videos."""
    import tensorflow as tf

    from beam_pipelines import records

    if os.path.exists(os.path.join(root, "manifest.json")):
        return root
    spec = records.RecordSpec(num_keyframes=8, image_size=64, max_patches=16,
                              patch_size=32, max_description_tokens=128)
    os.makedirs(os.path.join(root, "train"), exist_ok=True)
    rng = np.random.default_rng(0)
    writers = [tf.io.TFRecordWriter(os.path.join(root, "train",
                                                 f"data-{i:05d}-of-{shards:05d}.tfrecord"))
               for i in range(shards)]
    n = 0
    for s in range(num_sources):
        for crf in CRFS:
            writers[n % shards].write(records.encode_example(
                video_id=f"s{s:05d}_crf{crf}", source_id=f"s{s:05d}", crf=crf,
                is_original=False, label=100.0 - crf, vmaf=100.0 - crf,
                high_frames=rng.integers(0, 256, spec.high_shape, np.uint8),
                low_patches=rng.integers(0, 256, spec.low_shape, np.uint8),
                patch_mask=np.ones(spec.low_shape[:2], np.float32),
                description="", description_token_ids=()))
            n += 1
    for w in writers:
        w.close()
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump({"spec": spec.to_dict(), "examples": n}, f)
    return root


def read(data_dir: str, reader: str, steps: int, batch_size: int, model: str) -> dict:
    """Runs in the subprocess: reads `steps` batches, returns figures."""
    import resource

    from beam_pipelines import records
    from beam_pipelines.prepare import load_preprocessor
    from trainer import input_pipeline, record_stream

    pre = load_preprocessor(model)
    prompt_ids = pre.describe_prompt_ids()
    spec = records.RecordSpec.from_manifest(os.path.join(data_dir, "manifest.json"))
    t0 = time.time()
    if reader == "memory":
        split = input_pipeline.attach_text(input_pipeline.load_split(data_dir, "train", spec),
                                           lambda d: pre.tokenize_description(d, 88))
    else:
        split = input_pipeline.attach_text(
            record_stream.StreamingSplit(record_stream.load_index(data_dir, "train", spec),
                                         spec),
            lambda d: pre.tokenize_description(d, 88),
            lambda ids: pre.training_text_from_ids(prompt_ids, ids, 88))
    t_open = time.time() - t0
    schedule = input_pipeline.BatchSchedule(split, batch_size=batch_size, mode="mix",
                                            pair_fraction=0.75, seed=0)
    ds = input_pipeline.train_dataset(split, schedule, start_step=0, num_steps=steps,
                                      regression_targets="all", augment_frames=True,
                                      read_parallelism=2 if reader == "streaming" else 1)
    t0 = time.time()
    checksum = 0
    for batch in ds.as_numpy_iterator():
        checksum += int(batch["low_patches"][:, 0, 0, 0, 0, 0].sum())
    return {"videos": len(split), "open_s": t_open, "read_s": time.time() - t0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "checksum": checksum}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/tmp/cpllm_bench_input")
    parser.add_argument("--sources", type=int, default=30)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--model", default="cpllm_tiny")
    parser.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        print("RESULT " + json.dumps(read(args._child[0], args._child[1], args.steps,
                                          args.batch_size, args.model)))
        return
    sets = {}
    for scale in (1, 10):
        t0 = time.time()
        sets[scale] = write_set(os.path.join(args.work, f"x{scale}"), args.sources * scale)
        print(f"data x{scale}: {args.sources * scale * len(CRFS)} videos "
              f"({time.time() - t0:.0f} s to write or find)", file=sys.stderr)
    results = {}
    for reader in ("streaming", "memory"):
        for scale in (1, 10):
            out = subprocess.run(
                [sys.executable, "-m", "bench.bench_input_memory", "--steps", str(args.steps),
                 "--batch_size", str(args.batch_size), "--model", args.model,
                 "--_child", sets[scale], reader],
                capture_output=True, text=True, check=False)
            line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if out.returncode or not line:
                raise SystemExit(f"{reader} x{scale} failed:\n{out.stderr[-3000:]}")
            results[(reader, scale)] = json.loads(line[0][len("RESULT "):])
            print(f"{reader} x{scale}: {results[(reader, scale)]}", file=sys.stderr)
    print("| reader | videos 1x / 10x | peak RSS 1x | peak RSS 10x | 10x / 1x "
          "| open 1x / 10x | read of the batches 1x / 10x |")
    print("|---|---|---:|---:|---:|---|---|")
    for reader in ("streaming", "memory"):
        a, b = results[(reader, 1)], results[(reader, 10)]
        print(f"| {reader} | {a['videos']} / {b['videos']} | {a['peak_rss_mb']:.0f} MB "
              f"| {b['peak_rss_mb']:.0f} MB | **{b['peak_rss_mb'] / a['peak_rss_mb']:.2f}** "
              f"| {a['open_s']:.1f} s / {b['open_s']:.1f} s "
              f"| {a['read_s']:.1f} s / {b['read_s']:.1f} s |")


if __name__ == "__main__":
    main()
