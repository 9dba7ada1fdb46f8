r"""Long videos by segment: does a 10-minute video cost more than its segments?

    python -m bench.bench_segments [--cache /tmp/cpllm_bench_segments] [--model cpllm_tiny]
                                   [--segment_seconds 60] [--what long,short,ten]

Runs of `python -m beam_pipelines.score --segment_seconds 60`, each a fresh subprocess
(wall time from start to exit; peak RSS and CPU seconds, user + system of the process and
the ffmpeg processes it waited for, from os.wait4; as in bench.bench_pipeline, imports,
model load and XLA compile count on every side). On a shared machine CPU seconds are the
steadier measure of cost: wall time also counts the time other jobs held the cores.
- long: one 10-minute video (10 segments of 60 s, K key frames each);
- short: one 60-second video (one segment: scored whole, K key frames);
- ten: ten 60-second videos (the same work as the long one's segments, as videos).
Videos: ffmpeg's testsrc2 at 160x120, 10 fps, H.264 ultrafast with a 2 s GOP (fast to
encode; the seek decode costs K x GOP per segment whatever the resolution), cached.
`--what` lists the runs in order (a name may repeat: each ratio uses the median of its
runs). Targets: long / short peak RSS <= 1.2 (memory flat in the video's length); long /
ten CPU and wall <= 1.1 and long / short <= 10 (cost no more than proportional to the
number of segments). Prints a Markdown table.
"""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SIZE = "160x120"
FPS = 10
LONG_S = 600
SHORT_S = 60


def make_video(path, seconds):
    from beam_pipelines.media import ffmpeg_bin

    if not os.path.exists(path):
        tmp = path + ".part.mp4"
        ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size={SIZE}:rate={FPS}", "-t", str(seconds),
                        "-c:v", "libx264", "-preset", "ultrafast", "-g", str(2 * FPS),
                        "-pix_fmt", "yuv420p", "-y", tmp], timeout_s=1800, check=True)
        os.replace(tmp, path)
    return path


def write_catalog(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["video_id", "uri"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_measured(args):
    """(wall s, peak RSS MiB, CPU s (user + sys, waited-for children included), stdout)."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{args} failed: {out.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out.decode()


def score(catalog, out_dir, model, segment_seconds):
    shutil.rmtree(out_dir, ignore_errors=True)
    wall, rss, cpu, out = run_measured([sys.executable, "-m", "beam_pipelines.score",
                                        "--catalog", catalog, "--output_dir", out_dir,
                                        "--model", model,
                                        "--segment_seconds", str(segment_seconds)])
    lines = [line for line in out.strip().splitlines() if line.startswith("[score]")]
    return wall, rss, cpu, lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(),
                                                        "cpllm_bench_segments"))
    parser.add_argument("--model", default="cpllm_tiny")
    parser.add_argument("--segment_seconds", type=float, default=60.0)
    parser.add_argument("--what", default="long,short,ten")
    args = parser.parse_args(argv)
    os.makedirs(args.cache, exist_ok=True)
    long_uri = make_video(os.path.join(args.cache, f"testsrc2_{LONG_S}s.mp4"), LONG_S)
    short_uri = make_video(os.path.join(args.cache, f"testsrc2_{SHORT_S}s.mp4"), SHORT_S)
    catalogs = {
        "long": [{"video_id": "long", "uri": long_uri}],
        "short": [{"video_id": "short", "uri": short_uri}],
        "ten": [{"video_id": f"short_{i}", "uri": short_uri}
                for i in range(LONG_S // SHORT_S)],
    }
    out = os.path.join(args.cache, "out")
    runs = {}
    for name in args.what.split(","):
        cat = write_catalog(os.path.join(args.cache, f"{name}.csv"), catalogs[name])
        wall, rss, cpu, lines = score(cat, out, args.model, args.segment_seconds)
        runs.setdefault(name, []).append((wall, rss, cpu))
        print(f"{name}: wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS {rss:.0f} MiB; "
              + " | ".join(lines), flush=True)
    measured = {name: [statistics.median(v) for v in zip(*r)] for name, r in runs.items()}
    rows = []
    what = "one 10 min video (10 segments)"
    for base, base_name, cost_target in (("short", "one 60 s video", "≤ 10"),
                                         ("ten", "ten 60 s videos", "≤ 1.1")):
        if "long" not in measured or base not in measured:
            continue
        (wl, rl, cl), (wb, rb, cb) = measured["long"], measured[base]
        rows.append((f"CPU s, {what} / {base_name}", cl, cb, cost_target))
        rows.append((f"wall s, {what} / {base_name}", wl, wb, cost_target))
        rows.append((f"peak RSS MiB, {what} / {base_name}", rl, rb, "≤ 1.2"))
    print("\n| measurement | value | baseline | ratio | target |")
    print("|---|---:|---:|---:|---|")
    for name, value, base, target in rows:
        print(f"| {name} | {value:.1f} | {base:.1f} | **{value / base:.2f}** | {target} |")
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
