r"""Key-frame decode benchmark: K = 8 frames vs a full decode and vs plain ffmpeg.

    python -m bench.bench_decode [--cache /tmp/cpllm_bench] [--long_minutes 10]

Clips (cached under --cache): a 10 s 1080p30 H.264 clip with a fixed 2 s GOP
(testsrc2, x264 veryfast, no scene-cut I-frames), and the same clip stream-copied end to
end to 30 s and to 10 minutes (-stream_loop: same GOP structure, generated in seconds).

For each clip, one run of each (the 10 s / 30 s commands: best of 3):
  (a) full decode of every frame:  ffmpeg -i F -map 0:v:0 -f null -
  (b) plain ffmpeg command lines that write just the 8 frames (rgb24 rawvideo):
      select  - one pass, select filter
      seeks   - one process, 8 input-side -ss inputs, trim=end_frame=1, concat
      8 procs - 8 sequential "ffmpeg -ss S -i F -frames:v 1" (8 command lines)
  ours: beam_pipelines.media.keyframes.decode_keyframes(F, 8) (probe + decode + numpy).
Frames decoded are ffmpeg's own counts ("N frames decoded", -v verbose).
Prints a Markdown table for BENCHMARKS.md.
"""
import argparse
import os
import re
import subprocess
import time

import numpy as np

from beam_pipelines.media import ffmpeg_bin, keyframes, probe

K = 8
_DECODED = re.compile(rb"\(video\): \d+ packets read \(\d+ bytes\); (\d+) frames decoded")


def make_clips(cache: str, long_minutes: float) -> dict:
    os.makedirs(cache, exist_ok=True)
    base = os.path.join(cache, "h264_1080p_10s_gop2s.mp4")
    if not os.path.exists(base):
        t = time.time()
        ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=size=1920x1080:rate=30:duration=10", "-c:v", "libx264",
                        "-preset", "veryfast", "-g", "60", "-keyint_min", "60",
                        "-sc_threshold", "0", "-pix_fmt", "yuv420p", base + ".tmp.mp4"],
                       timeout_s=1200, check=True)
        os.replace(base + ".tmp.mp4", base)
        print(f"generated {base} in {time.time() - t:.1f} s")
    clips = {"10 s": base}
    for label, loops in (("30 s", 2), (f"{long_minutes:g} min", int(long_minutes * 6) - 1)):
        path = os.path.join(cache, f"h264_1080p_{label.replace(' ', '')}_gop2s.mp4")
        if not os.path.exists(path):
            ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-y", "-stream_loop",
                            str(loops), "-i", base, "-c", "copy", path + ".tmp.mp4"],
                           timeout_s=1200, check=True)
            os.replace(path + ".tmp.mp4", path)
        clips[label] = path
    return clips


def timed(args_list, repeats):
    """Best wall time of running the ffmpeg command lines in sequence; decoded frames."""
    best, decoded = float("inf"), 0
    for _ in range(repeats):
        t = time.perf_counter()
        decoded = 0
        for args in args_list:
            proc = subprocess.run([ffmpeg_bin.ffmpeg_exe(), "-nostdin", "-hide_banner",
                                   "-nostats", "-v", "verbose", *args],
                                  capture_output=True, timeout=1800, check=True)
            decoded += sum(int(n) for n in _DECODED.findall(proc.stderr))
        best = min(best, time.perf_counter() - t)
    return best, decoded


def commands(path: str, seeks: np.ndarray):
    raw_out = ["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-y",
               "/dev/null"]
    sel = "+".join(f"gte(t,{s:.6f})*not(gte(prev_t,{s:.6f}))" for s in seeks)
    multi = []
    for s in seeks:
        multi += ["-ss", f"{s:.6f}", "-i", path]
    graph = ";".join(f"[{j}:v:0]trim=end_frame=1[v{j}]" for j in range(len(seeks)))
    graph += ";" + "".join(f"[v{j}]" for j in range(len(seeks)))
    graph += f"concat=n={len(seeks)}:v=1:a=0[out]"
    return {
        "(a) full decode": [["-i", path, "-map", "0:v:0", "-f", "null", "-"]],
        "(b) select, 1 pass": [["-i", path, "-vf", f"select='{sel}'", *raw_out]],
        "(b) 8 seeks, 1 process": [[*multi, "-filter_complex", graph, "-map", "[out]",
                                    *raw_out]],
        "(b) 8 processes": [["-ss", f"{s:.6f}", "-i", path, "-frames:v", "1", *raw_out]
                            for s in seeks],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default="/tmp/cpllm_bench")
    parser.add_argument("--long_minutes", type=float, default=10.0)
    args = parser.parse_args(argv)
    clips = make_clips(args.cache, args.long_minutes)
    print(f"ffmpeg: {ffmpeg_bin.ffmpeg_exe()}; CPU cores: {os.cpu_count()}")
    rows = []
    for label, path in clips.items():
        info = probe.probe(path)
        seeks = keyframes.seek_points(keyframes.target_times(info.duration_s, K), info.fps)
        repeats = 1 if info.duration_s > 60 else 3
        results = {name: timed(cmds, repeats) for name, cmds in commands(path, seeks).items()}
        for strategy in ("auto", "select", "seek"):
            if strategy == "select" and info.duration_s > 60:
                continue  # a full pass: same cost as (a), not worth a second 10-min decode
            best, kf = float("inf"), None
            for _ in range(repeats):
                t = time.perf_counter()
                kf = keyframes.decode_keyframes(path, K, strategy=strategy, timeout_s=1800)
                best = min(best, time.perf_counter() - t)
            name = f"ours ({strategy}{': ' + kf.strategy if strategy == 'auto' else ''})"
            results[name] = (best, kf.decoded_frames)
        full = results["(a) full decode"][0]
        plain = min(v[0] for k, v in results.items() if k.startswith("(b)") and "processes"
                    not in k)
        for name, (sec, decoded) in results.items():
            rows.append((label, name, sec, decoded, sec / full, sec / plain))
    print("\n| clip | method | wall s | frames decoded | × (a) | × best (b) 1-cmd |")
    print("|---|---|---:|---:|---:|---:|")
    for label, name, sec, decoded, ra, rb in rows:
        print(f"| {label} | {name} | {sec:.2f} | {decoded} | {ra:.3f} | {rb:.2f} |")


if __name__ == "__main__":
    main()
