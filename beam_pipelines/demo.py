r"""The main job, end to end on one machine: `make demo`.

1. Builds a sample ladder catalog: lossless masters made from scikit-image's bundled
   images (pan/zoom) and ffmpeg's generators, each encoded with H.264 at several CRFs.
2. Scores it with the bundled `cpllm_tiny` model on DirectRunner
   (`beam_pipelines.score`), writing scores / failures / flip-rate Parquet tables.
3. Writes the static HTML report (`beam_pipelines.report`).

    python -m beam_pipelines.demo --output_dir demo_out

Sample media is cached under `OUTPUT_DIR/media` and reused by later runs.
"""

import argparse
import csv
import logging
import os
import sys
import time

from beam_pipelines.make_tiny_dataset import HOLDOUT

# The bundled model's held-out contents: the demo scores videos whose content the model
# never saw in training.
DEFAULT_SOURCES = HOLDOUT
DEFAULT_CRFS = (18, 23, 28, 33, 38, 43, 48)


def build_catalog(media_dir, sources, crfs, seconds, size):
    """Writes masters + ladders under `media_dir`; returns the catalog CSV path."""
    from beam_pipelines.media import samples

    os.makedirs(media_dir, exist_ok=True)
    rows = []
    for i, source in enumerate(sources):
        master = os.path.join(media_dir, f"{source}_master.mkv")
        if not os.path.exists(master):
            samples.make_clip(master, source, seconds=seconds, size=size)
        ladder_dir = os.path.join(media_dir, source)
        rows.extend(samples.make_ladder(master, ladder_dir, list(crfs), source_id=source))
        print(f"[demo] media {i + 1}/{len(sources)}: {source} ({len(crfs)} renditions)",
              flush=True)
    catalog = os.path.join(media_dir, "catalog.csv")
    with open(catalog, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row[k] for k in writer.fieldnames})
    return catalog


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Build a sample ladder catalog, score it with the bundled model on "
        "DirectRunner, write Parquet tables and an HTML report.")
    parser.add_argument("--output_dir", default="demo_out",
                        help="Where media, tables and the report go (default: demo_out).")
    parser.add_argument("--sources", default=",".join(DEFAULT_SOURCES),
                        help="Comma-separated sample sources (see beam_pipelines.media.samples).")
    parser.add_argument("--crfs", default=",".join(map(str, DEFAULT_CRFS)),
                        help="Comma-separated H.264 CRF rungs of each ladder.")
    parser.add_argument("--seconds", type=float, default=2.0, help="Clip length in seconds.")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--model", default="cpllm_tiny", help="Preset name or directory.")
    parser.add_argument("--describe", action="store_true",
                        help="Also generate a quality description per video (slower).")
    args = parser.parse_args(argv)

    logging.getLogger().setLevel(logging.WARNING)
    out = os.path.abspath(args.output_dir)
    sources = [s for s in args.sources.split(",") if s]
    crfs = [int(c) for c in args.crfs.split(",") if c]
    start = time.time()

    catalog = build_catalog(os.path.join(out, "media"), sources, crfs, args.seconds,
                            (args.width, args.height))
    print(f"[demo] catalog: {catalog} ({len(sources) * len(crfs)} videos)", flush=True)

    from beam_pipelines import score
    tables = os.path.join(out, "tables")
    score_argv = ["--catalog", catalog, "--output_dir", tables, "--model", args.model]
    if args.describe:
        score_argv.append("--describe")
    score.run(score_argv)
    print(f"[demo] tables: {tables}", flush=True)

    from beam_pipelines import report
    report_path = report.main(["--output_dir", tables])
    print(f"[demo] report: {report_path or os.path.join(tables, 'report.html')}")
    print(f"[demo] done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
