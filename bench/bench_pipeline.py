r"""Scoring-pipeline benchmark: overhead, worker scaling, peak memory.

    python -m bench.bench_pipeline [--what overhead,scaling,memory_count,memory_length]
                                   [--cache /tmp/cpllm_bench_pipeline] [--model cpllm_tiny]

Every measurement is one run of a fresh subprocess (wall time from start to exit, peak
RSS from os.wait4), so imports, model load and XLA compile count on both sides:
- overhead: `python -m beam_pipelines.score` on 40 videos (in_memory, one worker) vs the
  same work done standalone in one process (`--standalone`: load the model, decode every
  video with media.keyframes + preprocessor, score in batches padded to 4).
- scaling: --direct_running_mode=multi_processing with --direct_num_workers=2 vs 1.
- memory_count: peak RSS of the pipeline for 200 vs 20 videos.
- memory_length: peak RSS for one 10-minute 1080p video vs one 10-second 1080p video
  (bench.bench_decode's clips; the long one is the short one stream-copied).
Videos: 8 sample sources x 5 H.264 CRFs, 1280x720, 4 s, 24 fps (cached); the 200-video
catalog lists each file 5 times under different ids. Prints a Markdown table.
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "testsrc2", "mandelbrot", "camera",
           "coins")
CRFS = (18, 26, 34, 42, 50)
SIZE = (1280, 720)  # big enough that decoding, not start-up, dominates 40 videos
SECONDS = 4.0


def make_videos(cache):
    from beam_pipelines.media import samples

    rows = []
    for source in SOURCES:
        master = os.path.join(cache, f"{source}_master_{SIZE[1]}p.mkv")
        if not os.path.exists(master):
            samples.make_clip(master, source, seconds=SECONDS, size=SIZE)
        rows += samples.make_ladder(master, os.path.join(cache, f"{source}_{SIZE[1]}p"),
                                    list(CRFS), source_id=source)
    return rows


def write_catalog(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def replicate(rows, copies):
    return [dict(r, video_id=f"{r['video_id']}_{i}", source_id=f"{r['source_id']}_{i}")
            for i in range(copies) for r in rows]


def run_measured(args):
    """(wall seconds, peak RSS MiB, stdout) of one subprocess."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{args} exited {proc.returncode}: {out.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out.decode()


def pipeline(catalog, out_dir, model, extra=()):
    shutil.rmtree(out_dir, ignore_errors=True)
    return run_measured([sys.executable, "-m", "beam_pipelines.score", "--catalog", catalog,
                         "--output_dir", out_dir, "--model", model, *extra])


def standalone(catalog, model, batch_size=4):
    """The pipeline's work without Beam, in this process; prints JSON timings."""
    import numpy as np

    from beam_pipelines import dofns
    from beam_pipelines.media import keyframes
    from cpllm_model import CPLLM

    t0 = time.perf_counter()
    with open(catalog, newline="") as f:
        rows = list(csv.DictReader(f))
    m = CPLLM.from_preset(model)
    frame_inputs = dofns.FrameInputs(model)
    k = frame_inputs.preprocessor().num_keyframes
    t_load = time.perf_counter()
    inputs, decode_s = [], 0.0
    for row in rows:
        t = time.perf_counter()
        kf = keyframes.decode_keyframes(row["uri"], k,
                                        **frame_inputs.preprocessor().decode_options())
        inputs.append(frame_inputs(kf.frames))
        decode_s += time.perf_counter() - t
    infer_s, scores = 0.0, []
    for i in range(0, len(inputs), batch_size):
        chunk = inputs[i:i + batch_size]
        chunk = chunk + [chunk[0]] * (batch_size - len(chunk))
        t = time.perf_counter()
        out = m.score({key: np.stack([x[key] for x in chunk]) for key in chunk[0]})
        infer_s += time.perf_counter() - t
        scores += list(out["score"])
    print(json.dumps({"videos": len(rows), "load_s": t_load - t0, "decode_s": decode_s,
                      "inference_s": infer_s, "total_s": time.perf_counter() - t0}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--what", default="overhead,scaling,memory_count,memory_length")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(),
                                                        "cpllm_bench_pipeline"))
    parser.add_argument("--model", default="cpllm_tiny")
    parser.add_argument("--scaling_copies", type=int, default=1,
                        help="scaling catalog = the 40 videos listed this many times")
    parser.add_argument("--standalone", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.standalone:
        return standalone(args.standalone, args.model)

    os.makedirs(args.cache, exist_ok=True)
    rows = make_videos(args.cache)
    assert len(rows) == 40
    cat40 = write_catalog(os.path.join(args.cache, "catalog40.csv"), rows)
    out = os.path.join(args.cache, "out")
    results = []
    what = args.what.split(",")

    if "overhead" in what:
        p_wall, _, p_out = pipeline(cat40, out, args.model)
        s_wall, _, s_out = run_measured([sys.executable, "-m", "bench.bench_pipeline",
                                         "--standalone", cat40, "--model", args.model])
        detail = json.loads(s_out.strip().splitlines()[-1])
        name = "overhead: pipeline 40 videos, in_memory / standalone decode + inference"
        notes = (f"standalone: load {detail['load_s']:.1f} s, decode {detail['decode_s']:.1f} s, "
                 f"inference {detail['inference_s']:.1f} s")
        results.append((name, p_wall, s_wall, "≤ 1.3", notes))
        print(p_out.strip().splitlines()[-2:])

    if "scaling" in what:
        n = 40 * args.scaling_copies
        cat = write_catalog(os.path.join(args.cache, f"catalog{n}.csv"),
                            replicate(rows, args.scaling_copies))
        w1, _, _ = pipeline(cat, out, args.model, ["--direct_running_mode=multi_processing",
                                                   "--direct_num_workers=1"])
        w2, _, _ = pipeline(cat, out, args.model, ["--direct_running_mode=multi_processing",
                                                   "--direct_num_workers=2"])
        name = f"scaling: throughput 2 workers / 1 worker (multi_processing, {n} videos)"
        results.append((name, n / w2, n / w1, "≥ 1.6",
                        f"wall {w1:.1f} s with 1 worker, {w2:.1f} s with 2"))

    if "memory_count" in what:
        cat20 = write_catalog(os.path.join(args.cache, "catalog20.csv"), rows[::2])
        cat200 = write_catalog(os.path.join(args.cache, "catalog200.csv"), replicate(rows, 5))
        _, r20, _ = pipeline(cat20, out, args.model)
        w200, r200, _ = pipeline(cat200, out, args.model)
        results.append(("memory: peak RSS MiB, 200 videos / 20 videos", r200, r20, "≤ 1.15",
                        f"200 videos took {w200:.0f} s"))

    if "memory_length" in what:
        from bench import bench_decode

        clips = bench_decode.make_clips("/tmp/cpllm_bench", 10)
        short = write_catalog(os.path.join(args.cache, "short.csv"),
                              [{"video_id": "short", "uri": clips["10 s"]}])
        long_ = write_catalog(os.path.join(args.cache, "long.csv"),
                              [{"video_id": "long", "uri": clips["10 min"]}])
        ws, rs, _ = pipeline(short, out, args.model)
        wl, rl, _ = pipeline(long_, out, args.model)
        name = "memory: peak RSS MiB, one 10 min 1080p video / one 10 s 1080p"
        results.append((name, rl, rs, "≤ 1.2", f"wall {wl:.1f} s vs {ws:.1f} s"))

    print("\n| measurement | value | baseline | ratio | target | notes |")
    print("|---|---:|---:|---:|---|---|")
    for name, value, base, target, notes in results:
        print(f"| {name} | {value:.2f} | {base:.2f} | **{value / base:.2f}** | {target} | "
              f"{notes} |")
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
