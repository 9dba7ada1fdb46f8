r"""Rungs of one title at several frame sizes: does the score order them like VMAF?

    python -m bench.bench_cross_resolution [--masters_glob GLOB] [--work DIR]
        [--model cpllm_tiny] [--heights 1080,720,480,360,240] [--crfs 23,33]

An adaptive-streaming ladder holds the same title at several frame sizes. A viewer sees
every rung at the display size, and VMAF is measured there: each rendition upscaled
(bicubic) to the master's size and compared with the master. The model scores each
rendition at its own resolution (`native`), which says how clean its pixels are, not how
much detail the downscale removed. This measures how far the two agree, and whether
scoring each rung as shown at the master's height (`display`: `score --display_height`,
the key frames enlarged by `cpllm_model.frames.display_frames` before the patches are
cut) makes the model see the downscale.

For every master (default: the 1920x1080 held-out masters of `out/holdout_big`, content
the bundled model never trained on), each height of `--heights` (width kept to the
master's aspect, even) at each CRF of `--crfs` is encoded with x264 `veryfast` (Lanczos
downscale, one thread: the same bytes on any machine), its VMAF measured at the master's
size, and its K key frames scored both ways. Prints, per scoring, the SRCC between score
and VMAF over each title's rungs (mean over titles, and pooled), the same over the rungs
of one frame size (CRF only), and the scores by height. Deterministic given the masters.
"""
import argparse
import glob
import json
import os
import time

import numpy as np
from scipy import stats


def encode(master, dst, width, height, crf):
    from beam_pipelines.media import ffmpeg_bin

    if not os.path.exists(dst):
        tmp = dst + ".part.mp4"
        ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-y", "-i", master,
                        "-vf", f"scale={width}:{height}:flags=lanczos", "-an",
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf),
                        "-pix_fmt", "yuv420p", "-threads", "1", "-fflags", "+bitexact",
                        "-flags:v", "+bitexact", tmp], timeout_s=600, check=True)
        os.replace(tmp, dst)
    return dst


def srcc(a, b):
    return float(stats.spearmanr(a, b).statistic)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--masters_glob",
                        default="out/holdout_big/sources/masters/*_1920x1080.mkv")
    parser.add_argument("--work", default="/tmp/cpllm_bench_cross_resolution")
    parser.add_argument("--model", default="cpllm_tiny")
    parser.add_argument("--heights", default="1080,720,480,360,240")
    parser.add_argument("--crfs", default="23,33")
    args = parser.parse_args(argv)

    from beam_pipelines import vmaf as vmaf_lib
    from beam_pipelines.media import keyframes, probe
    from cpllm_model import CPLLM

    masters = sorted(glob.glob(args.masters_glob))
    if not masters:
        parser.error(f"no masters match {args.masters_glob!r} (make_tiny_dataset builds "
                     "them; docs/TRAINING.md)")
    heights = [int(h) for h in args.heights.split(",")]
    crfs = [int(c) for c in args.crfs.split(",")]
    os.makedirs(args.work, exist_ok=True)
    model = CPLLM.from_preset(args.model)
    k = model.preprocessor.num_keyframes

    def score(frames, display_height=None):
        x = model.preprocessor.frame_inputs(frames, display_height=display_height)
        return float(model.score({n: v[None] for n, v in x.items()})["score"][0])

    t0 = time.time()
    rows = []
    for master in masters:
        info = probe.probe_local(master)
        mw, mh = info.width, info.height
        title = os.path.splitext(os.path.basename(master))[0]
        for h in heights:
            w = int(round(mw * h / mh / 2)) * 2
            for crf in crfs:
                path = encode(master, os.path.join(args.work, f"{title}_{h}p_crf{crf}.mp4"),
                              w, h, crf)
                frames = keyframes.decode_keyframes(
                    path, k, **model.preprocessor.decode_options()).frames
                rows.append({"title": title, "height": h, "crf": crf,
                             "vmaf": vmaf_lib.vmaf(path, master, size=(mw, mh), n_threads=2),
                             "native": score(frames), "display": score(frames, mh)})
                print(json.dumps(rows[-1]), flush=True)
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)

    titles = sorted({r["title"] for r in rows})
    print(f"\n{len(titles)} titles x {len(heights)} heights x {len(crfs)} CRFs, model "
          f"{args.model}, {time.time() - t0:.0f} s\n")
    print("| scoring | SRCC vs VMAF over a title's rungs (mean of titles) | pooled | "
          "over one size's rungs (CRF only, mean) |")
    print("|---|---:|---:|---:|")
    for name in ("native", "display"):
        per_title = [srcc([r[name] for r in rows if r["title"] == t],
                          [r["vmaf"] for r in rows if r["title"] == t]) for t in titles]
        per_size = [srcc([r[name] for r in rows if (r["title"], r["height"]) == (t, h)],
                         [r["vmaf"] for r in rows if (r["title"], r["height"]) == (t, h)])
                    for t in titles for h in heights] if len(crfs) > 1 else [float("nan")]
        print(f"| {name} | {np.mean(per_title):.3f} | "
              f"{srcc([r[name] for r in rows], [r['vmaf'] for r in rows]):.3f} | "
              f"{np.nanmean(per_size):.3f} |")
    print("\n| title | CRF | " + " | ".join(f"{h}p VMAF / native / display" for h in heights)
          + " |")
    print("|---|---:|" + "---:|" * len(heights))
    for t in titles:
        for crf in crfs:
            cells = []
            for h in heights:
                (r,) = [r for r in rows if (r["title"], r["height"], r["crf"]) == (t, h, crf)]
                cells.append(f"{r['vmaf']:.1f} / {r['native']:.1f} / {r['display']:.1f}")
            print(f"| {t} | {crf} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
